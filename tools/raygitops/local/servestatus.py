"""Ray Serve as tools/up sees it: the dashboard's REST API, waiting for RUNNING, smoke requests (replica logs: replicalogs.py).

    apps = wait_until_running(Dashboard(url), names, timeout=600, console=Console(), logs=ReplicaLogs(temp))
    for result in smoke_test(config.applications, "http://127.0.0.1:8000"): print(result.ok)
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from raygitops.errors import UserError

if TYPE_CHECKING:
    from raygitops.local.replicalogs import AnyReplicaLogs

POLL_S = 0.5
# Right after RUNNING the proxy may not route the new prefixes yet (404/503 for a moment).
SMOKE_RETRY_S = 15
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Failure)|[\w.]+Error)\b.*")


# --- console --------------------------------------------------------------------------------

class Console:
    """stdout for progress, stderr for what explains a failure; flushed at once (CI logs)."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()

    def out(self, line: str = "") -> None:
        print(line, flush=True)

    def err(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)


# --- Serve's REST API, as KubeRay uses it --------------------------------------------------------

class Dashboard:
    def __init__(self, url: str):
        import requests
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.http.trust_env = False  # a proxy from the environment must not see 127.0.0.1

    def wait_ready(self, timeout: float = 120) -> None:
        """Until the dashboard's Serve module answers: Ray 2.46 starts it as a subprocess after
        the dashboard itself, and a PUT before that gets a bare 500."""
        import requests
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.http.get(f"{self.url}/api/serve/applications/", timeout=10).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise UserError(f"the Ray dashboard at {self.url} does not answer /api/serve/applications/",
                                fix="check the address (--address takes the dashboard URL, e.g. http://127.0.0.1:8265)")
            time.sleep(POLL_S)

    def deploy(self, config: dict, attempts: int = 5) -> None:
        """PUT the config, as KubeRay does; a 5xx is retried (KubeRay retries on its next
        reconcile), a 4xx is Ray rejecting the config."""
        for attempt in range(attempts):
            response = self.http.put(f"{self.url}/api/serve/applications/", json=config, timeout=120)
            if response.status_code == 200:
                return
            if response.status_code < 500 or attempt == attempts - 1:
                break
            time.sleep(2)
        raise UserError(f"Ray rejected the serve config ({response.status_code}): "
                        f"{' '.join(response.text.split())[-600:]}",
                        fix="tools/validate checks the same schema; run it on the overlay")

    def status(self) -> dict:
        response = self.http.get(f"{self.url}/api/serve/applications/", timeout=30)
        response.raise_for_status()
        return response.json()

    def application_names(self) -> set[str]:
        return set(self.status().get("applications") or {})

    def shutdown_serve(self) -> None:
        """DELETE every application, as `serve shutdown` does."""
        self.http.delete(f"{self.url}/api/serve/applications/", timeout=60).raise_for_status()


class Progress:
    """App and deployment states: redrawn in place on a terminal, one line per change elsewhere."""

    def __init__(self, console: Console):
        self.console = console
        self.start = time.monotonic()
        self.last: dict[str, str] = {}
        self.drawn = 0

    def update(self, rows: list[tuple[str, str]]) -> None:
        current = dict(rows)
        if current == self.last:
            return
        elapsed = time.monotonic() - self.start
        if self.console.tty:
            up = f"\x1b[{self.drawn}F" if self.drawn else ""
            text = "".join(f"\x1b[K  {name:<32} {status}\n" for name, status in rows)
            sys.stdout.write(f"{up}{text}\x1b[K  ({elapsed:.0f} s)\n")
            sys.stdout.flush()
            self.drawn = len(rows) + 1
        else:
            for name, status in rows:
                if self.last.get(name) != status:
                    self.console.out(f"  {elapsed:5.1f} s  {name:<32} {status}")
        self.last = current


def _rows(apps: dict, names: list[str]) -> list[tuple[str, str]]:
    rows = []
    for name in names:
        app = apps.get(name) or {}
        rows.append((name, app.get("status", "NOT_STARTED")))
        for deployment, details in sorted((app.get("deployments") or {}).items()):
            replicas = details.get("replicas") or []
            running = sum(1 for r in replicas if r.get("state") == "RUNNING")
            target = details.get("target_num_replicas")
            count = f" {running}/{target} replicas" if target is not None else ""
            rows.append((f"{name}/{deployment}", f"{details.get('status', '?')}{count}"))
    return rows


def _running(apps: dict, names: list[str]) -> bool:
    return all((apps.get(n) or {}).get("status") == "RUNNING"
               and all(d.get("status") == "HEALTHY" for d in (apps[n].get("deployments") or {}).values())
               for n in names)


def _first_problem(apps: dict, names: list[str], failed_only: bool) -> tuple[str, str | None, str, str] | None:
    """(app, deployment or None, status, message) of the first app that failed (or, on a
    timeout, that is not running yet)."""
    for name in names:
        app = apps.get(name) or {}
        status = app.get("status", "NOT_STARTED")
        if failed_only and status not in ("DEPLOY_FAILED", "UNHEALTHY"):
            continue
        if not failed_only and status == "RUNNING" and all(
                d.get("status") == "HEALTHY" for d in (app.get("deployments") or {}).values()):
            continue
        for deployment, details in sorted((app.get("deployments") or {}).items()):
            if details.get("status") != "HEALTHY":
                return name, deployment, details.get("status", "?"), details.get("message") or app.get("message", "")
        return name, None, status, app.get("message", "")
    return None


def summarize(message: str) -> str:
    """The first sentence of Ray's message plus its last exception line: the cause, no traceback."""
    lines = [ANSI.sub("", line).strip() for line in (message or "").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "no message from Ray"
    errors = [line for line in lines if EXCEPTION_LINE.match(line)]
    if not errors or errors[-1] == lines[0]:
        return lines[0][:400]
    first = lines[0].split(". ")[0].rstrip(".")[:240]
    return f"{first} … {errors[-1][:300]}"


# A frame of the app's own code, unpacked from the working_dir zip on the Ray node.
_APP_FRAME = re.compile(r'File "[^"]*/working_dir_files/[^/"]+/([^"]+)", line (\d+)')


def app_frame(message: str) -> tuple[str, int] | None:
    """(apps/…py, line) of the innermost frame of the app's code in Ray's traceback."""
    frames = _APP_FRAME.findall(message or "")
    return (frames[-1][0], int(frames[-1][1])) if frames else None


def traceback_tail(message: str, lines: int = 6) -> list[str]:
    """The end of Ray's traceback from the app's innermost frame on, with the paths of the
    unpacked working_dir shortened to the repository's."""
    text = re.sub(r'"[^"]*/working_dir_files/[^/"]+/', '"', ANSI.sub("", message or ""))
    body = [line.rstrip() for line in text.splitlines() if line.strip()]
    starts = [i for i, line in enumerate(body) if re.match(r'\s*File "[^/"]', line)]  # relative: the app's
    return body[starts[-1]:][:lines + 4] if starts else body[-lines:]


def wait_until_running(dashboard: Dashboard, names: list[str], *, timeout: float, console: Console,
                       logs: AnyReplicaLogs) -> dict:
    """Poll until every app is RUNNING and every deployment HEALTHY; fail on DEPLOY_FAILED,
    UNHEALTHY or the timeout with the deployment's message and its replica log."""
    progress = Progress(console)
    deadline = time.monotonic() + timeout
    while True:
        apps = dashboard.status().get("applications") or {}
        progress.update(_rows(apps, names))
        if _running(apps, names):
            return apps
        problem = _first_problem(apps, names, failed_only=True)
        timed_out = time.monotonic() > deadline
        if problem is None and timed_out:
            problem = _first_problem(apps, names, failed_only=False)
        if problem is not None:
            raise _deploy_error(problem, apps, timeout, console, logs)
        time.sleep(POLL_S)


def _deploy_error(problem: tuple, apps: dict, timeout: float, console: Console,
                  logs: AnyReplicaLogs) -> UserError:
    """The failing deployment's message and where it failed; its replica log's tail printed first."""
    app, deployment, status, message = problem
    log = logs.show_tail(console, apps, app, deployment)
    if "Traceback" in (message or ""):
        console.err(f"Ray's traceback for {app}/{deployment or ''} ends with:")
        for line in traceback_tail(message):
            console.err(f"  | {line[:300]}")
    what = f"{app}/{deployment}" if deployment else app
    prefix = "" if status in ("DEPLOY_FAILED", "UNHEALTHY") else f"not RUNNING after {timeout:.0f} s: "
    frame = app_frame(message)
    return UserError(f"{prefix}{what} is {status}: {summarize(message)}", file=frame[0] if frame else None,
                     line=frame[1] if frame else None,
                     fix=f"fix the app or its config; replica log: {log}" if log
                     else "fix the app or its config; see the Ray dashboard's Serve page")


# --- smoke requests -----------------------------------------------------------------------------

@dataclass
class SmokeResult:
    app: str
    method: str
    url: str
    status: int | None
    millis: float
    body: str
    mismatch: str = ""      # what `expect` wanted and the answer lacked

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.mismatch


def smoke_url(base: str, route_prefix: str, path: str) -> str:
    return base + route_prefix.rstrip("/") + "/" + path.lstrip("/")


def smoke_requests(app) -> list[dict]:
    """An app's smoke requests: `smoke:` in raygitops.yaml is one request or a list of them."""
    return [s for s in (app.smoke if isinstance(app.smoke, list) else [app.smoke]) if s]


def form_fields(fields: dict | None) -> dict[str, str] | None:
    """Form fields as sent (an Aana endpoint reads its input as JSON in the form field `body`): a smoke
    request's `form:`, for the smoke test and the GCS FT check alike."""
    if not fields:
        return None
    return {name: value if isinstance(value, str) else json.dumps(value) for name, value in fields.items()}


def smoke_test(applications, base: str) -> Iterator[SmokeResult]:
    """One request per app, as its `smoke:` in raygitops.yaml says; `expect` fields must be in the JSON answer."""
    import requests
    http = requests.Session()
    http.trust_env = False
    for app, smoke in ((app, smoke) for app in applications for smoke in smoke_requests(app)):
        method = str(smoke.get("method", "GET")).upper()
        url = smoke_url(base, app.route_prefix, str(smoke.get("path", "/")))
        deadline = time.monotonic() + SMOKE_RETRY_S
        while True:
            start = time.perf_counter()
            try:
                response = http.request(method, url, json=smoke.get("json"), data=form_fields(smoke.get("form")), timeout=30)
                status, body = response.status_code, " ".join(response.text.split())
            except requests.RequestException as err:
                status, body = None, f"{type(err).__name__}: {err}"
            millis = (time.perf_counter() - start) * 1000
            if (status is None or status in (404, 503)) and time.monotonic() < deadline:
                time.sleep(0.25)
                continue
            mismatch = _unmet_expectation(smoke.get("expect") or {}, response) if status else ""
            yield SmokeResult(app.name, method, url, status, millis, body, mismatch)
            break


def _unmet_expectation(expect: dict, response) -> str:
    """The first `expect` field the JSON answer lacks or holds another value for ("" when all match)."""
    if not expect:
        return ""
    try:
        answer = response.json()
    except ValueError:
        return "expected a JSON answer"
    for key, wanted in expect.items():
        got = answer.get(key, "(missing)") if isinstance(answer, dict) else "(not an object)"
        if got != wanted:
            return f"expected {key}={wanted!r}, got {got!r}"
    return ""

