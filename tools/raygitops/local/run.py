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
from raygitops.local.db import (LocalPostgres, expand_like_ray, is_postgres, local_secret, migrate, parse_db_config,
                               password_variable, reachable_by_other_users, stop_postgres)
from raygitops.local.gcsft import (LocalGcsFt, check_head_restart, local_gcs_ft, start_ray_with_gcs_ft,
                                   start_redis)
from raygitops.local.redis import gcs_ft_of, stop_redis
from raygitops.local.servestatus import (ANSI, EXCEPTION_LINE, Console, Dashboard, ReplicaLogs, smoke_test, smoke_url,
                                   wait_until_running)
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
REUSED_RAY_TIMEOUT_S = 15


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


def port_in_use(port: int) -> str | None:
    """Why `port` cannot be bound on 127.0.0.1, or None when it is free."""
    with socket.socket() as s:
        # SO_REUSEADDR as uvicorn sets it: a TIME_WAIT leftover is no conflict, a listener is.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOCAL_HOST, port))
        except OSError as err:
            return err.strerror or str(err)
    return None


def require_free_port(port: int, what: str, fix: str) -> None:
    reason = port_in_use(port)
    if reason:
        raise UserError(f"port {port} ({what}) is already in use: {reason}", fix=fix)


# --- checks and the rendered serve config -----------------------------------------------------

def check_inputs(root: Path, overlay_label: str, *, regen: bool, console: Console) -> None:
    """regen --check (regenerating when stale, unless told not to), then tools/validate."""
    from raygitops.generate.regen import check, regenerate
    from raygitops.checks.validate import validate
    from raygitops.output.findings import format_text

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


def rendered_rayservice(root: Path, overlay_label: str) -> dict:
    """The overlay's one RayService, exactly as kustomize renders it."""
    from raygitops.render import render_overlay
    rendered = render_overlay(root / overlay_label, root=root)
    services = [r for r in rendered.resources if isinstance(r, dict) and r.get("kind") == "RayService"]
    if len(services) != 1:
        raise UserError(f"expected one RayService, found {len(services)}", file=overlay_label,
                        fix="tools/up serves an overlay with exactly one RayService")
    return services[0]


def rendered_serve_config(root: Path, overlay_label: str, service: dict | None = None) -> dict:
    """spec.serveConfigV2 of the overlay's RayService, exactly as kustomize renders it."""
    from raygitops.generate.serveconfig import serve_config_of
    config = serve_config_of(service if service is not None else rendered_rayservice(root, overlay_label))
    if config is None or not isinstance(config.get("applications"), list):
        raise UserError("the RayService has no serveConfigV2 with applications", file=overlay_label,
                        fix="run tools/regen and include generated/ in the overlay's components")
    return copy.deepcopy(config)   # serve_config_of's result is shared


def ensure_package(root: Path, digest: str) -> Path:
    """build/working_dir/apps-<digest>.zip, written from apps/ when missing (a fresh clone:
    build/ is not in Git)."""
    from raygitops.generate.workingdir import build_package, package_path, write_package
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
    gcs_ft: "LocalGcsFt | None" = None   # GCS fault tolerance: the local Redis and the second node


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
    ports: tuple[int, ...] = ()   # gcs, dashboard, client, dashboard agent


def start_ray(run: RunDir, *, num_cpus: int, extra_args: list[str], env: dict[str, str],
              on_spawn: Callable[[RayHead], None], restart_of: RayHead | None = None) -> RayHead:
    """`ray start --head` in its own process group, on free ports, with a temp dir of its own;
    `on_spawn` records the group before Ray has finished starting, so Ctrl-C can stop it.
    `restart_of`: a head that died, started again on its ports and temp dir (GCS fault tolerance)."""
    temp_dir = run.ray_temp_dir()
    if restart_of is None:
        shutil.rmtree(temp_dir, ignore_errors=True)  # the previous run's sessions and logs
        temp_dir.mkdir(parents=True)
    gcs, dashboard, client, agent = restart_of.ports if restart_of is not None else free_ports(4)
    command = [*_ray_command(), "start", "--head", f"--temp-dir={temp_dir}",
               f"--port={gcs}", f"--dashboard-host={LOCAL_HOST}", f"--dashboard-port={dashboard}",
               f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent}",
               f"--num-cpus={num_cpus}", "--disable-usage-stats", *extra_args]
    log = run.path / ("ray-restart.log" if restart_of is not None else "ray-start.log")
    head = RayHead(dashboard=f"http://{LOCAL_HOST}:{dashboard}", gcs_address=f"{LOCAL_HOST}:{gcs}",
                   temp_dir=temp_dir, since=time.time(), ports=(gcs, dashboard, client, agent))
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
    lines = [ANSI.sub("", line).strip() for line in log.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    for index in range(len(lines) - 1, -1, -1):
        if EXCEPTION_LINE.match(lines[index]) or "Error:" in lines[index] or lines[index].startswith("Error"):
            reason = lines[index]
            if reason.endswith(":") and index + 1 < len(lines):  # "Failed to start GCS. Last lines:" + cause
                reason += " " + lines[index + 1]
            return reason[:500]
    return lines[-1][:500] if lines else "no output"


def stop_ray(pgid: int | None, since: float) -> int:
    return terminate(_group_members(pgid, since)) if pgid else 0


def start_ray_node(run: RunDir, head: RayHead, *, num_cpus: int, env: dict[str, str],
                   on_spawn: Callable[[int, float], None]) -> None:
    """A second local Ray node joining the head (`ray start --address`), as the worker Pods join
    a KubeRay head, in its own process group. With GCS fault tolerance KubeRay gives workers
    RAY_gcs_rpc_server_reconnect_timeout_s=600 so that they wait for a restarted head
    (v1.7.0 ray-operator/controllers/ray/common/pod.go configureGCSFaultTolerance)."""
    (agent,) = free_ports(1)
    command = [*_ray_command(), "start", f"--address={head.gcs_address}", f"--num-cpus={num_cpus}",
               f"--dashboard-agent-listen-port={agent}", "--disable-usage-stats"]
    log = run.path / "ray-node.log"
    since = time.time()
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**env, "RAY_gcs_rpc_server_reconnect_timeout_s": "600"}, cwd=run.path,
                                   start_new_session=True)
    on_spawn(process.pid, since)
    try:
        code = process.wait(timeout=RAY_START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise UserError(f"the second Ray node did not start in {RAY_START_TIMEOUT_S} s", file=relpath(log, run.root),
                        fix="read the log") from None
    if code != 0:
        raise UserError(f"the second Ray node failed to start: {_ray_start_reason(log)}", file=relpath(log, run.root),
                        fix="read the log")



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
    if state.get("serve_on_reused_ray"):
        # That Ray stays up; the apps go, or they would keep pointing at the Postgres stopped below.
        try:
            Dashboard(state["serve_on_reused_ray"]).shutdown_serve()
            console.out(f"deleted the applications from the Ray at {state['serve_on_reused_ray']}")
        except Exception as err:  # noqa: BLE001 - teardown goes on; the user is told
            console.err(f"could not delete the applications from {state['serve_on_reused_ray']}: {err}")
    ray = state.get("ray") or {}
    if ray.get("pgid"):
        count = stop_ray(ray["pgid"], ray.get("since", 0))
        console.out(f"stopped Ray ({count} processes)" if count else "Ray was not running")
    node = state.get("ray_node") or {}
    if node.get("pgid"):
        count = stop_ray(node["pgid"], node.get("since", 0))
        console.out(f"stopped the second Ray node ({count} processes)" if count else "the second Ray node was not running")
    redis = state.get("redis") or {}
    if redis.get("pid"):
        stop_redis(redis["pid"], run.tag_env)
        console.out("stopped Redis")
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
    node = state.get("ray_node") or {}
    alive = (_is_alive(state.get("up_pid")) and _is_tools_up(state["up_pid"]) and state["up_pid"] != os.getpid()) \
        or bool(ray.get("pgid") and _group_members(ray["pgid"], ray.get("since", 0))) \
        or bool(node.get("pgid") and _group_members(node["pgid"], node.get("since", 0))) \
        or _is_alive((state.get("postgres") or {}).get("pid")) or _is_alive((state.get("redis") or {}).get("pid"))
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
    service = rendered_rayservice(root, run.overlay_label)
    rendered = rendered_serve_config(root, run.overlay_label, service)
    gcs_ft = gcs_ft_of(service)

    from raygitops.config import load_config
    config = load_config(root)
    for app in config.applications:
        if not app.smoke:
            raise UserError(f"application '{app.name}' declares no smoke request", file="raygitops.yaml",
                            line=app.line, fix="add smoke: {method: GET, path: /} (or the request that proves it answers)")
    run.ensure()
    refuse_if_up(run, console)
    pg_port, redis_port = free_ports(2)
    serve_port = options.port
    if serve_port is None and options.address is None:
        configured = int((rendered.get("http_options") or {}).get("port", 8000))
        if port_in_use(configured):
            # Another checkout (or app) has it; an explicit --port stays strict.
            (serve_port,) = free_ports(1)
            console.out(f"local: Serve port {configured} is in use, so this run takes {serve_port} (--port sets it)")
    local = localize(rendered, root=root, run=run, working_dir_url=config.working_dir_url, serve_port=serve_port,
                     pg_port=pg_port, ray_is_ours=options.address is None, secret=lambda: local_secret(run.path))
    if options.address is None:
        require_free_port(local.serve_port, "Serve HTTP", fix="stop what listens there, or choose another with --port")
    local.gcs_ft = local_gcs_ft(gcs_ft, run, redis_port=redis_port if options.address is None else None,
                                num_cpus=options.num_cpus)
    for line in local.lines + (local.gcs_ft.lines if local.gcs_ft else []):
        console.out(line)

    become_subreaper()
    stack = Stack(run)
    keep = False
    try:
        with _terminate_as_interrupt():
            head = _start_and_serve(root, run, options, config, local, stack, console, started)
            if options.check and local.gcs_ft and local.gcs_ft.redis_port:
                check_head_restart(run, options, config, local, stack, console, head)
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
                     console: Console, started: float) -> RayHead:
    secret = local_secret(run.path) if local.postgres else None
    if local.postgres:
        _start_postgres(root, run, local, secret, stack, console)
    ft = local.gcs_ft
    if ft and ft.redis_port:
        start_redis(run, ft, stack, console)
    if options.address is None:
        env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
        env.update(run.tag_env, RAY_USAGE_STATS_ENABLED="0")
        # Ray 2.46's dashboard gives each of its module subprocesses 30 s to start
        # (ray/dashboard/consts.py), then exits; on 2 busy cores that is not enough.
        env.setdefault("RAY_DASHBOARD_SUBPROCESS_MODULE_WAIT_READY_TIMEOUT", "180")
        env.update({variable: secret for variable in local.password_vars if secret})
        if ft and ft.redis_port:
            head = start_ray_with_gcs_ft(run, options, ft, env, stack, console)
        else:
            console.out(f"starting Ray (temp dir {run.ray_temp_dir()}, {options.num_cpus} CPUs)…")
            head = start_ray(run, num_cpus=options.num_cpus, extra_args=options.ray_start_args, env=env,
                             on_spawn=stack.ray_spawned)
    else:
        head = RayHead(dashboard=options.address if "://" in options.address else f"http://{options.address}",
                       gcs_address="", temp_dir=None)
    dashboard = Dashboard(head.dashboard)
    names = [app["name"] for app in local.config["applications"]]
    if options.address is None:
        dashboard.wait_ready()
    else:
        dashboard.wait_ready(timeout=REUSED_RAY_TIMEOUT_S)  # it is running already, or the address is wrong
        # The PUT is declarative: it would delete whatever else that Ray serves.
        foreign = sorted(dashboard.application_names() - set(names))
        if foreign:
            raise UserError(f"the Ray at {head.dashboard} already serves {', '.join(foreign)}, which deploying "
                            f"{run.overlay_label} would delete", fix="use another Ray, or shut those apps down first")
        stack.record(serve_on_reused_ray=head.dashboard)
    console.out(f"Ray dashboard {head.dashboard}; deploying {len(names)} applications "
                "(PUT /api/serve/applications/)…")
    dashboard.deploy(local.config)
    wait_until_running(dashboard, names, timeout=options.timeout, console=console,
                       logs=ReplicaLogs(head.temp_dir))
    base = f"http://{LOCAL_HOST}:{local.serve_port}"
    stack.record(serve=base)
    smoke(config, base, console, ReplicaLogs(head.temp_dir), dashboard)
    console.out(f"ready in {time.perf_counter() - started:.1f} s")
    _print_urls(config, base, head.dashboard, run, console)
    return head


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


def smoke(config, base: str, console: Console, logs: ReplicaLogs, dashboard: Dashboard) -> None:
    results = []
    for result in smoke_test(config.applications, base):
        results.append(result)
        status = result.status if result.status is not None else "no answer"
        console.out(f"smoke {result.app:<12} {result.method} {result.url} → {status} in {result.millis:.0f} ms  "
                    f"{result.body[:100]}" + (f"  ✗ {result.mismatch}" if result.mismatch else ""))
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        apps = dashboard.status().get("applications") or {}
        deployments = sorted(((apps.get(first.app) or {}).get("deployments") or {}))
        where = logs.show_tail(console, apps, first.app, deployments[0] if deployments else None)
        raise UserError(f"{len(failed)} of {len(results)} smoke requests failed; {first.method} {first.url} → "
                        f"{first.status or 'no answer'}: {first.mismatch or first.body[:300]}", file=where,
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
