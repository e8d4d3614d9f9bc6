"""The local Ray head of a run (its temp dir and ports under .run/), stopping it, and the Stack a run started.

    head = start_ray(run, num_cpus=4, extra_args=[], env={})
    stop_recorded(run, read_state(run), console)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from raygitops.errors import UserError
from raygitops.local.db import stop_postgres
from raygitops.local.redis import stop_redis
from raygitops.local.processes import (
    free_ports,
    group_members,
    is_alive,
    is_tools_up,
    reap_children,
    signals_ignored,
    tagged_processes,
    terminate,
)
from raygitops.local.rundir import (
    LOCAL_HOST,
    RAY_START_TIMEOUT_S,
    STATE_FILE,
    RunDir,
    read_state,
    remove_state,
    write_state,
)
from raygitops.local.servestatus import ANSI, EXCEPTION_LINE, Console, Dashboard
from raygitops.yamlio import relpath

# --- Ray ----------------------------------------------------------------------------------------

def _ray_command() -> list[str]:
    ray = Path(sys.executable).parent / "ray"
    return [str(ray)] if ray.exists() else [sys.executable, "-m", "ray.scripts.scripts"]


def _ray_command_after(setup: str) -> list[str]:
    """`ray` (its CLI, `ray start` included) in an interpreter that first runs `setup`: the way to
    set what `ray start` has no option for."""
    return [sys.executable, "-c", f"{setup}\nfrom ray.scripts.scripts import main\nmain()\n"]


# The second node unpacks the working_dir into a directory of its own, as a worker Pod does on its
# own disk. Locally both nodes share the head's session dir, and ray 2.46.0's runtime-env agent
# unpacks a package with overwrite=True (python/ray/_private/runtime_env/working_dir.py
# WorkingDirPlugin.create, packaging.py download_and_unpack_package): the second node's first unpack
# deletes the directory in which the other node has just started a worker (`cd <dir> && exec python`).
# That worker dies at its first os.getcwd(), and its raylet notices only after
# worker_register_timeout_seconds (60 s): a minute in which one app's replicas do not start.
# `ray start` has no option for that directory (RayParams.runtime_env_dir_name, read from
# ray_constants when `ray start` builds its parameters), hence the setup before it.
NODE_RUNTIME_ENV_DIR = "runtime_resources_second_node"
_SECOND_NODE_SETUP = f"""
import ray._private.ray_constants as constants
constants.DEFAULT_RUNTIME_ENV_DIR_NAME = {NODE_RUNTIME_ENV_DIR!r}
"""


# A check (`up --check`) reads one dashboard module, the Serve REST API, and stops its Ray when it
# exits: no one looks at the other pages. Ray 2.46.0's dashboard starts each of its nine modules in
# a process of its own (python/ray/dashboard/head.py _load_subprocess_module_handles), about 9
# CPU-seconds per head start on 2 cores; dashboard.py takes --modules-to-load to start fewer, but
# `ray start` has no option for it (services.py start_api_server builds the command), hence the
# setup before it. A --modules-to-load already there (--include-dashboard=false sets one) is left alone.
SERVE_ONLY_MODULES = "ServeHead,UsageStatsHead"
_SERVE_ONLY_DASHBOARD_SETUP = f"""
import ray._private.ray_constants as constants
import ray._private.services as services
start_ray_process = services.start_ray_process
def start_with_serve_only(command, process_type, *args, **kwargs):
    if process_type == constants.PROCESS_TYPE_DASHBOARD and not any(
            part.startswith("--modules-to-load") for part in command):
        command = [*command, "--modules-to-load={SERVE_ONLY_MODULES}"]
    return start_ray_process(command, process_type, *args, **kwargs)
services.start_ray_process = start_with_serve_only
"""


@dataclass
class RayHead:
    dashboard: str
    gcs_address: str
    temp_dir: Path | None
    pgid: int | None = None
    since: float = 0.0
    ports: tuple[int, ...] = ()   # gcs, dashboard, client, dashboard agent


def start_ray(run: RunDir, *, num_cpus: int, extra_args: list[str], env: dict[str, str],
              on_spawn: Callable[[RayHead], None], restart_of: RayHead | None = None,
              serve_only_dashboard: bool = False) -> RayHead:
    """`ray start --head` in its own process group, on free ports, with a temp dir of its own;
    `on_spawn` records the group before Ray has finished starting, so Ctrl-C can stop it.
    `restart_of`: a head that died, started again on its ports and temp dir (GCS fault tolerance).
    `serve_only_dashboard`: the dashboard runs only its Serve API (see SERVE_ONLY_MODULES)."""
    temp_dir = run.ray_temp_dir()
    if restart_of is None:
        shutil.rmtree(temp_dir, ignore_errors=True)  # the previous run's sessions and logs
        temp_dir.mkdir(parents=True)
    gcs, dashboard, client, agent = restart_of.ports if restart_of is not None else free_ports(4)
    ray = _ray_command_after(_SERVE_ONLY_DASHBOARD_SETUP) if serve_only_dashboard else _ray_command()
    command = [*ray, "start", "--head", f"--temp-dir={temp_dir}",
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
    _wait_for_ray_start(process, log, run, "Ray", "; options given with --ray-start-arg go to `ray start` as they are")
    return head


def _wait_for_ray_start(process, log: Path, run, what: str, hint: str = "") -> None:
    """`ray start` returns once its node runs; a timeout or a non-zero exit is one UserError naming its log."""
    try:
        code = process.wait(timeout=RAY_START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise UserError(f"{what} did not start in {RAY_START_TIMEOUT_S} s", file=relpath(log, run.root),
                        fix="read the log") from None
    if code != 0:
        raise UserError(f"{what} failed to start: {_ray_start_reason(log)}", file=relpath(log, run.root),
                        fix="read the log" + hint)


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
    return terminate(group_members(pgid, since)) if pgid else 0


def start_ray_node(run: RunDir, head: RayHead, *, num_cpus: int, env: dict[str, str],
                   on_spawn: Callable[[int, float], None]) -> None:
    """A second local Ray node joining the head (`ray start --address`), as the worker Pods join
    a KubeRay head, in its own process group. With GCS fault tolerance KubeRay gives workers
    RAY_gcs_rpc_server_reconnect_timeout_s=600 so that they wait for a restarted head
    (v1.7.0 ray-operator/controllers/ray/common/pod.go configureGCSFaultTolerance)."""
    (agent,) = free_ports(1)
    # No second log monitor: the head's already reads every log file of this host, and Ray's help for
    # --include-log-monitor asks for one per physical host, or drivers get each line twice.
    command = [*_ray_command_after(_SECOND_NODE_SETUP), "start", f"--address={head.gcs_address}",
               f"--num-cpus={num_cpus}", f"--dashboard-agent-listen-port={agent}", "--disable-usage-stats",
               "--include-log-monitor=false"]
    log = run.path / "ray-node.log"
    since = time.time()
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**env, "RAY_gcs_rpc_server_reconnect_timeout_s": "600"}, cwd=run.path,
                                   start_new_session=True)
    on_spawn(process.pid, since)
    _wait_for_ray_start(process, log, run, "the second Ray node")



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
        with signals_ignored():
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
    # Both Ray nodes at once: each waits out terminate()'s whole grace period (gcs_server and the
    # raylets outlive a SIGTERM), so one after the other took twice as long.
    recorded = [(state.get(key) or {}, name) for key, name in (("ray", "Ray"), ("ray_node", "the second Ray node"))]
    groups = [(name, group_members(record["pgid"], record.get("since", 0))) for record, name in recorded
              if record.get("pgid")]
    terminate([process for _, members in groups for process in members])
    for name, members in groups:
        console.out(f"stopped {name} ({len(members)} processes)" if members else f"{name} was not running")
    redis = state.get("redis") or {}
    if redis.get("pid"):
        stop_redis(redis["pid"], run.path / "redis")
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


def refuse_if_up(run: RunDir, console: Console) -> None:
    """One `up` per environment; the remains of a killed one are cleaned up first."""
    state = read_state(run)
    if state is None:
        return
    ray = state.get("ray") or {}
    node = state.get("ray_node") or {}
    alive = (is_alive(state.get("up_pid")) and is_tools_up(state["up_pid"]) and state["up_pid"] != os.getpid()) \
        or bool(ray.get("pgid") and group_members(ray["pgid"], ray.get("since", 0))) \
        or bool(node.get("pgid") and group_members(node["pgid"], node.get("since", 0))) \
        or is_alive((state.get("postgres") or {}).get("pid")) or is_alive((state.get("redis") or {}).get("pid"))
    if alive:
        where = f", dashboard {ray['dashboard']}" if ray.get("dashboard") else ""
        raise UserError(f"{run.overlay_label} is already up (tools/up pid {state.get('up_pid')}{where})",
                        file=f"{run.label}/{STATE_FILE}", fix=f"stop it first: tools/down {run.overlay_label}")
    console.out(f"cleaning up after an earlier tools/up of {run.overlay_label} that did not finish")
    stop_recorded(run, state, console)
