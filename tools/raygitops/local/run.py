"""tools/up and tools/down: serve one environment's exact rendered serve config on a local Ray.

    up(root, UpOptions(overlay=root / "overlays/staging", check=True))   # → exit code; tears down
    down(root, [root / "overlays/staging"])                              # stops what `up` started
"""
from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from raygitops.errors import UserError
from raygitops.local.db import LocalPostgres, expand_like_ray, local_secret, migrate
from raygitops.local.gcsft import check_head_restart, local_gcs_ft, start_ray_with_gcs_ft, start_redis
from raygitops.local.inputs import check_inputs, rendered_serve_config
from raygitops.local.localize import LocalConfig, localize, pod_secrets_from_run_dir
from raygitops.local.processes import (
    become_subreaper,
    free_ports,
    group_members,
    is_alive,
    is_tools_up,
    port_in_use,
    require_free_port,
    tagged_processes,
    terminate,
    terminate_as_interrupt,
)
from raygitops.local.rayhead import RayHead, Stack, refuse_if_up, start_ray, stop_recorded
from raygitops.local.rundir import (
    LOCAL_HOST,
    REUSED_RAY_TIMEOUT_S,
    RUN_DIR,
    STATE_FILE,
    RunDir,
    environment_of,
    read_state,
)
from raygitops.local.aana_local import aana_data_into_run_dir, migrate_aana_apps
from raygitops.local.redis import gcs_ft_of
from raygitops.local.replicalogs import AnyReplicaLogs, DashboardReplicaLogs, ReplicaLogs
from raygitops.local.servestatus import Console, Dashboard, smoke_test, smoke_url, wait_until_running
from raygitops.model.dbconfig import exact_db_config
from raygitops.output import plural
from raygitops.yamlio import relpath

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
    service = check_inputs(root, run.overlay_label, regen=options.regen, console=console)   # rendered once
    rendered = rendered_serve_config(root, run.overlay_label, service)

    from raygitops.config import load_config
    config = load_config(root)
    for app in config.applications_in(run.env):
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
    aana_data_into_run_dir(local, config, run)
    pod_secrets_from_run_dir(service, run, local, ray_is_ours=options.address is None)
    if options.address is None:
        require_free_port(local.serve_port, "Serve HTTP", fix="stop what listens there, or choose another with --port")
    local.gcs_ft = local_gcs_ft(gcs_ft_of(service), run, redis_port=redis_port if options.address is None else None,
                                num_cpus=options.num_cpus)
    for line in local.lines + (local.gcs_ft.lines if local.gcs_ft else []):
        console.out(line)

    become_subreaper()
    stack = Stack(run)
    keep = False
    try:
        with terminate_as_interrupt():
            head = _start_and_serve(root, run, options, config, local, stack, console, started)
            if options.check and local.gcs_ft and local.gcs_ft.redis_port:
                check_head_restart(run, options, config, local, stack, console, head, smoke=_smoke)
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
    ft = local.gcs_ft if local.gcs_ft and local.gcs_ft.redis_port else None
    if ft:
        start_redis(run, ft, stack, console)
    migrate_aana_apps(root, local, config, {**os.environ, **run.tag_env,
                                            **{v: secret for v in local.password_vars if secret}}, console)
    if options.address is None:
        env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
        env.update(run.tag_env, RAY_USAGE_STATS_ENABLED="0")
        # Ray 2.46's dashboard gives each of its module subprocesses 30 s to start
        # (ray/dashboard/consts.py), then exits; on 2 busy cores that is not enough.
        env.setdefault("RAY_DASHBOARD_SUBPROCESS_MODULE_WAIT_READY_TIMEOUT", "180")
        env.update({variable: secret for variable in local.password_vars if secret})
        env.update(local.secret_env)
        if ft:
            head = start_ray_with_gcs_ft(run, options, ft, env, stack, console)
        else:
            console.out(f"starting Ray (temp dir {run.ray_temp_dir()}, {options.num_cpus} CPUs)…")
            head = start_ray(run, num_cpus=options.num_cpus, extra_args=options.ray_start_args, env=env,
                             on_spawn=stack.ray_spawned, serve_only_dashboard=options.check)
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
    console.out(f"Ray dashboard {head.dashboard}; deploying {plural(len(names), 'application')} "
                "(PUT /api/serve/applications/)…")
    dashboard.deploy(local.config)
    logs = ReplicaLogs(head.temp_dir) if head.temp_dir else DashboardReplicaLogs(dashboard)
    wait_until_running(dashboard, names, timeout=options.timeout, console=console, logs=logs)
    base = f"http://{LOCAL_HOST}:{local.serve_port}"
    stack.record(serve=base)
    _smoke(config.applications_in(run.env), base, console, logs, dashboard)
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
                              if exact_db_config(env_vars.get("DB_CONFIG")) == db)
        line = migrate(root, expand_like_ray(env_vars, base_env), user=str(db["datastore_config"]["user"]),
                       secret_file=f"{run.label}/secret", env_name=run.env)
        console.out(f"migration with app {name}'s environment: {line}")


def _smoke(applications, base: str, console: Console, logs: AnyReplicaLogs, dashboard: Dashboard) -> None:
    results = []
    for result in smoke_test(applications, base):
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
    for app in config.applications_in(run.env):
        docs = f"   docs {smoke_url(base, app.route_prefix, app.docs)}" if app.docs else ""
        console.out(f"  {app.name:<12} {base}{app.route_prefix}{docs}")
    console.out(f"  {'dashboard':<12} {dashboard}")


def _stay_attached(stack: Stack, console: Console) -> None:
    """Until Ctrl-C (KeyboardInterrupt) or Ray's own death."""
    console.out("Ctrl-C stops Ray" + (" and PostgreSQL" if stack.state.get("postgres") else ""))
    ray = stack.state.get("ray") or {}
    while True:
        time.sleep(2)
        if ray.get("pgid") and not group_members(ray["pgid"], ray.get("since", 0)):
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
    if is_alive(up_pid) and is_tools_up(up_pid):
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


def _purge(run: RunDir, console: Console) -> None:
    for path in (run.path, run.scratch()):
        if path.exists():
            shutil.rmtree(path)
            console.out(f"{run.overlay_label}: deleted {relpath(path, run.root)}")
