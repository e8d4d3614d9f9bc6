"""tools/up and tools/down: serve one environment's exact rendered serve config on a local Ray.

    up(root, UpOptions(overlay=root / "overlays/staging", check=True))   # → exit code; tears down
    down(root, [root / "overlays/staging"])                              # stops what `up` started
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any, Callable, Iterator

from raygitops.errors import UserError
from raygitops.localdb import (LocalPostgres, expand_like_ray, is_postgres, local_secret, migrate, parse_db_config,
                               password_variable, reachable_by_other_users, stop_postgres)
from raygitops.yamlio import relpath

RUN_DIR = ".run"
STATE_FILE = "state.json"
# Every process tools/up starts (Ray's, Postgres') inherits this variable: `down` and the tests
# find exactly ours by it, whatever the process renamed itself to (ray::ServeReplica:…).
TAG = "RAYGITOPS_RUN_DIR"
# Ray's plasma socket is <temp>/session_<date>_<time>_<usec>_<pid>/sockets/plasma_store and a
# unix socket path must fit in 107 bytes, which leaves about 45 for the temp dir.
RAY_TEMP_DIR_MAX = 45
LOCAL_HOST = "127.0.0.1"
RAY_START_TIMEOUT_S = 120
POLL_S = 0.5
# Right after RUNNING the proxy may not route the new prefixes yet (404/503 for a moment).
SMOKE_RETRY_S = 15
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Failure)|[\w.]+Error)\b.*")


# --- console --------------------------------------------------------------------------------

class Console:
    """stdout for progress, stderr for what explains a failure; flushed at once (CI logs)."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()

    def out(self, line: str = "") -> None:
        print(line, flush=True)

    def err(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)


# --- where a run keeps its state ----------------------------------------------------------------

@dataclass(frozen=True)
class RunDir:
    """<repo>/.run/<env>/: state.json, the local secret, the SQLite file, logs. Ray's temp dir and
    Postgres' data go there too unless the path is too long for unix sockets (or, as root, not
    reachable by the postgres user); then under a short /tmp directory named by its hash."""
    root: Path
    env: str

    @property
    def path(self) -> Path:
        return self.root / RUN_DIR / self.env

    @property
    def label(self) -> str:
        return f"{RUN_DIR}/{self.env}"

    @property
    def overlay_label(self) -> str:
        return f"overlays/{self.env}"

    @property
    def tag_env(self) -> dict[str, str]:
        return {TAG: str(self.path)}

    def scratch(self) -> Path:
        digest = sha256(str(self.path).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"raygitops-{digest}"

    def ray_temp_dir(self) -> Path:
        inside = self.path / "ray"
        return inside if len(str(inside)) <= RAY_TEMP_DIR_MAX else self.scratch() / "ray"

    def pg_dir(self) -> Path:
        inside = self.path / "postgres"
        socket_path = inside / "data" / ".s.PGSQL.65535"
        usable = len(str(socket_path)) <= 100 and (os.geteuid() != 0 or reachable_by_other_users(self.root))
        return inside if usable else self.scratch() / "postgres"

    def ensure(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if self.ray_temp_dir().parent == self.scratch() or self.pg_dir().parent == self.scratch():
            self.scratch().mkdir(mode=0o755, exist_ok=True)
            self.scratch().chmod(0o755)  # the postgres user must traverse it when we are root


def read_state(run: RunDir) -> dict | None:
    try:
        return json.loads((run.path / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def write_state(run: RunDir, state: dict) -> None:
    run.path.mkdir(parents=True, exist_ok=True)
    tmp = run.path / f"{STATE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    tmp.replace(run.path / STATE_FILE)


def remove_state(run: RunDir) -> None:
    (run.path / STATE_FILE).unlink(missing_ok=True)


def environment_of(root: Path, overlay: Path) -> str:
    """`overlays/<env>` → env; anything else is a UserError."""
    candidates = [overlay if overlay.is_absolute() else Path.cwd() / overlay, root / overlay]
    for candidate in candidates:
        try:
            rel = candidate.resolve().relative_to(root.resolve())
        except ValueError:
            continue
        if len(rel.parts) == 2 and rel.parts[0] == "overlays" and candidate.is_dir():
            return rel.parts[1]
    raise UserError(f"not an environment overlay: {overlay}", fix="give overlays/<env>, e.g. tools/up overlays/dev")


# --- processes ------------------------------------------------------------------------------------

def tagged_processes(run_path: Path) -> list:
    """Live processes started by tools/up for this run dir (see TAG)."""
    import psutil
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.pid == os.getpid() or process.status() == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get(TAG) == str(run_path):
                found.append(process)
        except psutil.Error:
            continue
    return found


def _group_members(pgid: int, since: float) -> list:
    """Live members of a process group created no earlier than `since` (pgids get reused)."""
    import psutil
    members = []
    for process in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(process.pid) == pgid and process.create_time() >= since - 1 \
                    and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (psutil.Error, OSError):
            continue
    return members


def terminate(processes: list, grace: float = 3.0) -> int:
    """SIGTERM, then SIGKILL what is left after `grace` seconds; returns how many there were.
    Ray's gcs_server takes more than 10 s over a SIGTERM, and a local run has nothing to save."""
    import psutil
    for process in processes:
        try:
            process.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
    return len(processes)


def _is_alive(pid: int | None) -> bool:
    import psutil
    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# --- ports ------------------------------------------------------------------------------------

def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now; bound together so that they differ."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((LOCAL_HOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def require_free_port(port: int, what: str, fix: str) -> None:
    with socket.socket() as s:
        # SO_REUSEADDR as uvicorn sets it: a TIME_WAIT leftover is no conflict, a listener is.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOCAL_HOST, port))
        except OSError as err:
            raise UserError(f"port {port} ({what}) is already in use: {err.strerror}", fix=fix) from None


# --- checks and the rendered serve config -----------------------------------------------------

def check_inputs(root: Path, overlay_label: str, *, regen: bool, console: Console) -> None:
    """regen --check (regenerating when stale, unless told not to), then tools/validate."""
    from raygitops.regen import check, regenerate
    from raygitops.validate import format_text, validate

    ok, report = check(root)
    if not ok:
        if not regen:
            console.err(report)
            raise UserError("generated files are stale (report above)", fix="run tools/regen, or drop --no-regen")
        changed, _, _ = regenerate(root)
        console.out(f"regen: wrote {', '.join(changed) or 'nothing'}")
    result = validate(root, [root / overlay_label])
    for line in format_text(result).splitlines()[:-1]:  # the summary line is for tools/validate
        console.out(f"validate: {line}")
    if result.errors:
        raise UserError(f"{overlay_label} has {len(result.errors)} validation error(s) (above)",
                        fix=f"fix them; tools/validate {overlay_label} shows the same report")


def rendered_serve_config(root: Path, overlay_label: str) -> dict:
    """spec.serveConfigV2 of the overlay's RayService, exactly as kustomize renders it."""
    from raygitops.render import render_overlay
    from raygitops.serveconfig import serve_config_of
    rendered = render_overlay(root / overlay_label, root=root)
    services = [r for r in rendered.resources if isinstance(r, dict) and r.get("kind") == "RayService"]
    if len(services) != 1:
        raise UserError(f"expected one RayService, found {len(services)}", file=overlay_label,
                        fix="tools/up serves an overlay with exactly one RayService")
    config = serve_config_of(services[0])
    if config is None or not isinstance(config.get("applications"), list):
        raise UserError("the RayService has no serveConfigV2 with applications", file=overlay_label,
                        fix="run tools/regen and include generated/ in the overlay's components")
    return copy.deepcopy(config)   # serve_config_of's result is shared


def ensure_package(root: Path, digest: str) -> Path:
    """build/working_dir/apps-<digest>.zip, written from apps/ when missing (a fresh clone:
    build/ is not in Git)."""
    from raygitops.workingdir import build_package, package_path, write_package
    path = package_path(root, digest)
    if path.exists():
        return path
    package = build_package(root)
    if package.digest != digest:
        raise UserError(f"the serve config names apps-{digest}.zip but apps/ now packs to apps-{package.digest}.zip",
                        fix="run tools/regen")
    return write_package(root, package)


# --- local-only substitutions -------------------------------------------------------------------

@dataclass
class LocalConfig:
    """The serve config to deploy, and what tools/up must provide for it."""
    config: dict
    lines: list[str] = field(default_factory=list)
    postgres: list[dict] = field(default_factory=list)      # distinct DB_CONFIGs, after substitution
    app_env: dict[str, dict[str, str]] = field(default_factory=dict)   # app → env_vars, after substitution
    password_vars: list[str] = field(default_factory=list)
    serve_port: int = 8000


def localize(config: dict, *, root: Path, run: RunDir, working_dir_url: str, serve_port: int | None,
             pg_port: int, ray_is_ours: bool, secret: Callable[[], str]) -> LocalConfig:
    """Every local-only change to the rendered serve config, in one place, each reported as a
    `local:` line: the working_dir zip, DB_CONFIG's host and SQLite path, the HTTP address, and
    where the database password comes from."""
    config = copy.deepcopy(config)
    lines: dict[str, str] = {}   # one line per distinct change, in order
    result = LocalConfig(config=config)

    http = config.setdefault("http_options", {})
    old_address = f"{http.get('host', '0.0.0.0')}:{http.get('port', 8000)}"
    http["host"], http["port"] = LOCAL_HOST, serve_port or int(http.get("port", 8000))
    result.serve_port = http["port"]
    if old_address != f"{LOCAL_HOST}:{http['port']}":
        lines["http"] = f"local: http_options {old_address} → {LOCAL_HOST}:{http['port']}"

    pattern = re.compile(re.escape(working_dir_url).replace(re.escape("{hash}"), "(?P<hash>[0-9a-f]+)") + "$")
    for app in config["applications"]:
        for runtime_env in _runtime_envs(app):
            match = pattern.match(str(runtime_env.get("working_dir", "")))
            if match:
                # Ray 2.46 counts file:// among the remote protocols (runtime_env/protocol.py):
                # ServeDeploySchema accepts it, and the zip is unpacked with its single top-level
                # directory dropped, exactly as the https:// one is in the cluster.
                local = ensure_package(root, match.group("hash")).resolve().as_uri()
                lines.setdefault(f"wd {runtime_env['working_dir']}",
                                 f"local: working_dir {runtime_env['working_dir']} → {local}")
                runtime_env["working_dir"] = local
        env_vars = (app.get("runtime_env") or {}).get("env_vars") or {}
        db = parse_db_config(env_vars.get("DB_CONFIG"))
        if db is not None:
            env_vars["DB_CONFIG"] = json.dumps(_local_db(db, run, pg_port, lines), separators=(",", ":"))
            db = json.loads(env_vars["DB_CONFIG"])
            if is_postgres(db):
                _local_password(app, db, run, ray_is_ours, secret, lines, result)
                if db not in result.postgres:
                    result.postgres.append(db)
        result.app_env[app["name"]] = dict(env_vars)
    result.lines = list(lines.values())
    return result


def _runtime_envs(app: dict) -> Iterator[dict]:
    if isinstance(app.get("runtime_env"), dict):
        yield app["runtime_env"]
    for deployment in app.get("deployments") or []:
        env = ((deployment or {}).get("ray_actor_options") or {}).get("runtime_env")
        if isinstance(env, dict):
            yield env


def _local_db(db: dict, run: RunDir, pg_port: int, lines: dict[str, str]) -> dict:
    store = dict(db.get("datastore_config") or {})
    if is_postgres(db):
        old = f"{store.get('host')}:{store.get('port')}"
        store["host"], store["port"] = LOCAL_HOST, pg_port
        lines.setdefault(f"pg {old}", f"local: DB_CONFIG host {old} → {LOCAL_HOST}:{pg_port} (a local PostgreSQL)")
    elif str(db.get("datastore_type", "sqlite")).lower() == "sqlite" and store.get("path"):
        new = run.path / Path(str(store["path"])).name
        lines.setdefault(f"sqlite {store['path']}", f"local: sqlite path {store['path']} → {new}")
        store["path"] = str(new)
    return {**db, "datastore_config": store}


def _local_password(app: dict, db: dict, run: RunDir, ray_is_ours: bool, secret: Callable[[], str],
                    lines: dict[str, str], result: LocalConfig) -> None:
    variable = password_variable(db)
    if variable not in result.password_vars:
        result.password_vars.append(variable)
    if ray_is_ours:
        # As KubeRay's pods get it from the Secret: in the Ray head's environment, which every
        # worker inherits. The serve config stays as rendered.
        lines.setdefault(f"pw {variable}", f"local: {variable} from {run.label}/secret → the Ray head's "
                                           "environment (in the cluster: the pod env from Secret aana-db)")
    else:
        app["runtime_env"].setdefault("env_vars", {})[variable] = secret()
        lines.setdefault(f"pw {variable}", f"local: {variable} from {run.label}/secret → runtime_env env_vars "
                                           "(the Ray at --address was not started by tools/up)")


# --- Ray ----------------------------------------------------------------------------------------

def _ray_command() -> list[str]:
    ray = Path(sys.executable).parent / "ray"
    return [str(ray)] if ray.exists() else [sys.executable, "-m", "ray.scripts.scripts"]


@dataclass
class RayHead:
    dashboard: str
    gcs_address: str
    temp_dir: Path | None
    pgid: int | None = None
    since: float = 0.0


def start_ray(run: RunDir, *, num_cpus: int, extra_args: list[str], env: dict[str, str],
              on_spawn: Callable[[RayHead], None]) -> RayHead:
    """`ray start --head` in its own process group, on free ports, with a temp dir of its own;
    `on_spawn` records the group before Ray has finished starting, so Ctrl-C can stop it."""
    temp_dir = run.ray_temp_dir()
    shutil.rmtree(temp_dir, ignore_errors=True)  # the previous run's sessions and logs
    temp_dir.mkdir(parents=True)
    gcs, dashboard, client, agent = free_ports(4)
    command = [*_ray_command(), "start", "--head", f"--temp-dir={temp_dir}",
               f"--port={gcs}", f"--dashboard-host={LOCAL_HOST}", f"--dashboard-port={dashboard}",
               f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent}",
               f"--num-cpus={num_cpus}", "--disable-usage-stats", *extra_args]
    log = run.path / "ray-start.log"
    head = RayHead(dashboard=f"http://{LOCAL_HOST}:{dashboard}", gcs_address=f"{LOCAL_HOST}:{gcs}",
                   temp_dir=temp_dir, since=time.time())
    with open(log, "w") as output:
        # cwd: the run dir, so that no worker finds apps/ of the checkout instead of the zip.
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, cwd=run.path, start_new_session=True)
    head.pgid = process.pid
    on_spawn(head)
    try:
        code = process.wait(timeout=RAY_START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise UserError(f"ray start did not finish in {RAY_START_TIMEOUT_S} s", file=relpath(log, run.root),
                        fix="read the log") from None
    if code != 0:
        raise UserError(f"Ray failed to start: {_ray_start_reason(log)}", file=relpath(log, run.root),
                        fix="read the log; options given with --ray-start-arg go to `ray start` as they are")
    return head


def _ray_start_reason(log: Path) -> str:
    lines = [_ANSI.sub("", line).strip() for line in log.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    for index in range(len(lines) - 1, -1, -1):
        if _EXCEPTION_LINE.match(lines[index]) or "Error:" in lines[index] or lines[index].startswith("Error"):
            reason = lines[index]
            if reason.endswith(":") and index + 1 < len(lines):  # "Failed to start GCS. Last lines:" + cause
                reason += " " + lines[index + 1]
            return reason[:500]
    return lines[-1][:500] if lines else "no output"


def stop_ray(pgid: int | None, since: float) -> int:
    return terminate(_group_members(pgid, since)) if pgid else 0


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
    lines = [_ANSI.sub("", line).strip() for line in (message or "").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "no message from Ray"
    errors = [line for line in lines if _EXCEPTION_LINE.match(line)]
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
    text = re.sub(r'"[^"]*/working_dir_files/[^/"]+/', '"', _ANSI.sub("", message or ""))
    body = [line.rstrip() for line in text.splitlines() if line.strip()]
    starts = [i for i, line in enumerate(body) if re.match(r'\s*File "[^/"]', line)]  # relative: the app's
    return body[starts[-1]:][:lines + 4] if starts else body[-lines:]


class ReplicaLogs:
    """Serve's log files of a local Ray: <temp>/session_latest/logs/serve/."""

    def __init__(self, temp_dir: Path | None):
        self.dir = temp_dir / "session_latest" / "logs" if temp_dir else None

    def find(self, apps: dict, app: str, deployment: str | None) -> Path | None:
        if self.dir is None:
            return None
        details = ((apps.get(app) or {}).get("deployments") or {}).get(deployment or "", {})
        for replica in details.get("replicas") or []:
            path = self.dir / str(replica.get("log_file_path", "")).lstrip("/")
            if replica.get("log_file_path") and path.is_file():
                return path
        # Replicas that died in __init__ are no longer listed; their files remain.
        pattern = f"replica_{app}_{deployment}_*.log" if deployment else f"*{app}*.log"
        candidates = sorted((self.dir / "serve").glob(pattern), key=lambda p: p.stat().st_mtime)
        candidates = candidates or sorted((self.dir / "serve").glob("controller_*.log"),
                                          key=lambda p: p.stat().st_mtime)
        return candidates[-1] if candidates else None

    def show_tail(self, console: Console, apps: dict, app: str, deployment: str | None, lines: int = 15) -> str | None:
        """Print the last lines of the replica's log; returns the log's path for the message."""
        path = self.find(apps, app, deployment)
        if path is None:
            return None
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        console.err(f"last lines of {path}:")
        for line in tail:
            console.err(f"  | {_ANSI.sub('', line)[:300]}")
        return str(path)


def wait_until_running(dashboard: Dashboard, names: list[str], *, timeout: float, console: Console,
                       logs: ReplicaLogs) -> dict:
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


def _deploy_error(problem: tuple, apps: dict, timeout: float, console: Console, logs: ReplicaLogs) -> UserError:
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

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def smoke_url(base: str, route_prefix: str, path: str) -> str:
    return base + route_prefix.rstrip("/") + "/" + path.lstrip("/")


def smoke_test(applications, base: str) -> Iterator[SmokeResult]:
    """One request per app that declares `smoke:` in raygitops.yaml."""
    import requests
    http = requests.Session()
    http.trust_env = False
    for app in applications:
        if not app.smoke:
            continue
        method = str(app.smoke.get("method", "GET")).upper()
        url = smoke_url(base, app.route_prefix, str(app.smoke.get("path", "/")))
        deadline = time.monotonic() + SMOKE_RETRY_S
        while True:
            start = time.perf_counter()
            try:
                response = http.request(method, url, json=app.smoke.get("json"), timeout=30)
                status, body = response.status_code, " ".join(response.text.split())
            except requests.RequestException as err:
                status, body = None, f"{type(err).__name__}: {err}"
            millis = (time.perf_counter() - start) * 1000
            if (status is None or status in (404, 503)) and time.monotonic() < deadline:
                time.sleep(0.25)
                continue
            yield SmokeResult(app.name, method, url, status, millis, body)
            break


# --- what one `tools/up` started --------------------------------------------------------------------

class Stack:
    """What this run started (Ray, Postgres), recorded in state.json as it happens, so that
    teardown (or `tools/down` after --detach or a crash) stops exactly that."""

    def __init__(self, run: RunDir):
        self.run = run
        self.state: dict[str, Any] = {"environment": run.env, "overlay": run.overlay_label, "up_pid": os.getpid(),
                                      "started": time.time(), "detached": False, "tag": str(run.path)}
        write_state(run, self.state)

    def record(self, **changes: Any) -> None:
        self.state.update(changes)
        write_state(self.run, self.state)

    def ray_spawned(self, head: RayHead) -> None:
        self.record(ray={"pgid": head.pgid, "since": head.since, "temp_dir": str(head.temp_dir),
                         "dashboard": head.dashboard, "gcs_address": head.gcs_address})

    def teardown(self, console: Console) -> None:
        with _signals_ignored():
            stop_recorded(self.run, self.state, console)
            time.sleep(0.2)  # postgres' children exit just after the postmaster
            reap_children()


def stop_recorded(run: RunDir, state: dict, console: Console) -> None:
    """Stop Ray and Postgres as recorded in `state`, then anything else carrying our tag."""
    ray = state.get("ray") or {}
    if ray.get("pgid"):
        count = stop_ray(ray["pgid"], ray.get("since", 0))
        console.out(f"stopped Ray ({count} processes)" if count else "Ray was not running")
    postgres = state.get("postgres") or {}
    if postgres.get("pg_dir"):
        stop_postgres(Path(postgres["pg_dir"]), postgres.get("pid"), run.tag_env)
        console.out("stopped PostgreSQL")
    leftovers = tagged_processes(run.path)
    if leftovers:
        terminate(leftovers)
        console.out(f"stopped {len(leftovers)} more processes of {run.label}")
    remove_state(run)


def become_subreaper() -> None:
    """Adopt the daemons that `ray start` and `pg_ctl` leave behind (Linux), so that teardown
    reaps them instead of leaving zombies for init. Elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass


def reap_children() -> None:
    """Collect the exit status of every adopted child that has ended."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """Teardown runs to the end even when Ctrl-C is pressed again."""
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP stop `up` the way Ctrl-C does: through the teardown."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    saved = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def refuse_if_up(run: RunDir, console: Console) -> None:
    """One `up` per environment; the remains of a killed one are cleaned up first."""
    state = read_state(run)
    if state is None:
        return
    ray = state.get("ray") or {}
    alive = (_is_alive(state.get("up_pid")) and _is_tools_up(state["up_pid"]) and state["up_pid"] != os.getpid()) \
        or bool(ray.get("pgid") and _group_members(ray["pgid"], ray.get("since", 0))) \
        or _is_alive((state.get("postgres") or {}).get("pid"))
    if alive:
        where = f", dashboard {ray['dashboard']}" if ray.get("dashboard") else ""
        raise UserError(f"{run.overlay_label} is already up (tools/up pid {state.get('up_pid')}{where})",
                        file=f"{run.label}/{STATE_FILE}", fix=f"stop it first: tools/down {run.overlay_label}")
    console.out(f"cleaning up after an earlier tools/up of {run.overlay_label} that did not finish")
    stop_recorded(run, state, console)


# --- tools/up -------------------------------------------------------------------------------------

@dataclass
class UpOptions:
    overlay: Path
    check: bool = False
    detach: bool = False
    regen: bool = True
    port: int | None = None
    address: str | None = None
    num_cpus: int = 4
    timeout: float = 120.0
    ray_start_args: list[str] = field(default_factory=list)


def up(root: Path, options: UpOptions, console: Console | None = None) -> int:
    console = console or Console()
    env = environment_of(root, options.overlay)
    run = RunDir(root, env)
    started = time.perf_counter()
    check_inputs(root, run.overlay_label, regen=options.regen, console=console)
    rendered = rendered_serve_config(root, run.overlay_label)

    from raygitops.config import load_config
    config = load_config(root)
    run.ensure()
    refuse_if_up(run, console)
    (pg_port,) = free_ports(1)
    local = localize(rendered, root=root, run=run, working_dir_url=config.working_dir_url, serve_port=options.port,
                     pg_port=pg_port, ray_is_ours=options.address is None, secret=lambda: local_secret(run.path))
    if options.address is None:
        require_free_port(local.serve_port, "Serve HTTP", fix="stop what listens there, or choose another with --port")
    for line in local.lines:
        console.out(line)

    become_subreaper()
    stack = Stack(run)
    keep = False
    try:
        with _terminate_as_interrupt():
            _start_and_serve(root, run, options, config, local, stack, console, started)
            if options.check:
                console.out(f"check passed: {run.overlay_label} is RUNNING and answered every smoke request")
            elif options.detach:
                stack.record(detached=True)
                keep = True
                console.out(f"detached; stop it with: tools/down {run.overlay_label}")
            else:
                _stay_attached(stack, console)
        return 0
    finally:
        if not keep:
            console.out(f"stopping {run.overlay_label}…")
            stack.teardown(console)


def _start_and_serve(root: Path, run: RunDir, options: UpOptions, config, local: LocalConfig, stack: Stack,
                     console: Console, started: float) -> None:
    secret = local_secret(run.path) if local.postgres else None
    if local.postgres:
        _start_postgres(root, run, local, secret, stack, console)
    if options.address is None:
        env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
        env.update(run.tag_env, RAY_USAGE_STATS_ENABLED="0")
        env.update({variable: secret for variable in local.password_vars if secret})
        console.out(f"starting Ray (temp dir {run.ray_temp_dir()}, {options.num_cpus} CPUs)…")
        head = start_ray(run, num_cpus=options.num_cpus, extra_args=options.ray_start_args, env=env,
                         on_spawn=stack.ray_spawned)
    else:
        head = RayHead(dashboard=options.address if "://" in options.address else f"http://{options.address}",
                       gcs_address="", temp_dir=None)
    dashboard = Dashboard(head.dashboard)
    dashboard.wait_ready()
    console.out(f"Ray dashboard {head.dashboard}; deploying {len(local.config['applications'])} applications "
                "(PUT /api/serve/applications/)…")
    dashboard.deploy(local.config)
    names = [app["name"] for app in local.config["applications"]]
    wait_until_running(dashboard, names, timeout=options.timeout, console=console,
                       logs=ReplicaLogs(head.temp_dir))
    base = f"http://{LOCAL_HOST}:{local.serve_port}"
    stack.record(serve=base)
    _smoke(config, base, console, ReplicaLogs(head.temp_dir), dashboard)
    console.out(f"ready in {time.perf_counter() - started:.1f} s")
    _print_urls(config, base, head.dashboard, run, console)


def _start_postgres(root: Path, run: RunDir, local: LocalConfig, secret: str, stack: Stack,
                    console: Console) -> None:
    pg = LocalPostgres(run.pg_dir(), int(local.postgres[0]["datastore_config"]["port"]), run.tag_env)
    fresh = not pg.initialised()
    if fresh:
        console.out(f"creating a local PostgreSQL database in {pg.data}…")
        pg.init()
    stack.record(postgres={"pg_dir": str(pg.pg_dir), "port": pg.port, "pid": None})
    pid = pg.start()
    stack.record(postgres={"pg_dir": str(pg.pg_dir), "port": pg.port, "pid": pid})
    console.out(f"PostgreSQL on {LOCAL_HOST}:{pg.port} (pid {pid})")
    for db in local.postgres:
        store = db["datastore_config"]
        pg.ensure_role(str(store["user"]), secret, str(store["database"]), set_password=fresh)
    # The environment of the Ray head (which workers inherit), then the app's env_vars on top:
    # the migration sees what the app's replicas see, password included.
    base_env = {**os.environ, **run.tag_env, **{v: secret for v in local.password_vars}}
    for db in local.postgres:  # once per distinct database
        name, env_vars = next((name, env_vars) for name, env_vars in local.app_env.items()
                              if parse_db_config(env_vars.get("DB_CONFIG")) == db)
        line = migrate(root, expand_like_ray(env_vars, base_env), user=str(db["datastore_config"]["user"]),
                       secret_file=f"{run.label}/secret", env_name=run.env)
        console.out(f"migration with app {name}'s environment: {line}")


def _smoke(config, base: str, console: Console, logs: ReplicaLogs, dashboard: Dashboard) -> None:
    results = []
    for result in smoke_test(config.applications, base):
        results.append(result)
        status = result.status if result.status is not None else "no answer"
        console.out(f"smoke {result.app:<12} {result.method} {result.url} → {status} in {result.millis:.0f} ms  "
                    f"{result.body[:100]}")
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        apps = dashboard.status().get("applications") or {}
        deployments = sorted(((apps.get(first.app) or {}).get("deployments") or {}))
        where = logs.show_tail(console, apps, first.app, deployments[0] if deployments else None)
        raise UserError(f"{len(failed)} of {len(results)} smoke requests failed; {first.method} {first.url} → "
                        f"{first.status or 'no answer'}: {first.body[:300]}", file=where,
                        fix="the replica log is above" if where else "see the Ray dashboard's logs")
    console.out(f"smoke: {len(results)} of {len(results)} requests answered")


def _print_urls(config, base: str, dashboard: str, run: RunDir, console: Console) -> None:
    console.out(f"serving {run.overlay_label}:")
    for app in config.applications:
        docs = f"   docs {smoke_url(base, app.route_prefix, app.docs)}" if app.docs else ""
        console.out(f"  {app.name:<12} {base}{app.route_prefix}{docs}")
    console.out(f"  {'dashboard':<12} {dashboard}")


def _stay_attached(stack: Stack, console: Console) -> None:
    """Until Ctrl-C (KeyboardInterrupt) or Ray's own death."""
    console.out("Ctrl-C stops Ray" + (" and PostgreSQL" if stack.state.get("postgres") else ""))
    ray = stack.state.get("ray") or {}
    while True:
        time.sleep(2)
        if ray.get("pgid") and not _group_members(ray["pgid"], ray.get("since", 0)):
            raise UserError("Ray exited by itself", file=ray.get("temp_dir"), fix="read session_latest/logs there")


# --- tools/down -----------------------------------------------------------------------------------

def down(root: Path, overlays: list[Path], *, purge: bool = False, console: Console | None = None) -> int:
    """Stop what `tools/up` started for these environments (default: every one with a state
    file); --purge also deletes their local database, secret and logs."""
    console = console or Console()
    if overlays:
        envs = [environment_of(root, overlay) for overlay in overlays]
    else:
        base = root / RUN_DIR
        envs = sorted(p.parent.name for p in base.glob(f"*/{STATE_FILE}"))
        if purge:
            from raygitops.config import load_config
            envs = sorted(set(envs) | {e for e in load_config(root).environments() if (base / e).is_dir()})
    if not envs:
        console.out("nothing is up")
    for env in envs:
        run = RunDir(root, env)
        _down_one(run, console)
        if purge:
            _purge(run, console)
    return 0


def _down_one(run: RunDir, console: Console) -> None:
    state = read_state(run)
    if state is None:
        leftovers = tagged_processes(run.path)
        if leftovers:
            terminate(leftovers)
        console.out(f"{run.overlay_label}: not up" + (f" (stopped {len(leftovers)} stray processes)" if leftovers else ""))
        return
    up_pid = state.get("up_pid")
    if _is_alive(up_pid) and _is_tools_up(up_pid):
        # An attached `up` tears down itself; asking it keeps one code path for stopping.
        console.out(f"{run.overlay_label}: asking tools/up (pid {up_pid}) to stop")
        os.kill(up_pid, signal.SIGTERM)
        import psutil
        try:
            psutil.Process(up_pid).wait(timeout=60)
        except psutil.Error:
            pass
        state = read_state(run)
        if state is None:
            console.out(f"{run.overlay_label}: stopped")
            return
    stop_recorded(run, state, console)
    console.out(f"{run.overlay_label}: stopped")


def _is_tools_up(pid: int) -> bool:
    import psutil
    try:
        command = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
    return "raygitops" in command and " up" in command


def _purge(run: RunDir, console: Console) -> None:
    for path in (run.path, run.scratch()):
        if path.exists():
            shutil.rmtree(path)
            console.out(f"{run.overlay_label}: deleted {relpath(path, run.root)}")
