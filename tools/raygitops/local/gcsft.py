"""GCS fault tolerance in tools/up: a local Redis behind the head, a second Ray node, and the
head-restart step of `up --check`.

    ft = local_gcs_ft(rayservice_gcs_ft_options, run, redis_port=port, num_cpus=4)   # None without GCS FT
    start_redis(run, ft, stack, console); head = start_ray_with_gcs_ft(run, options, ft, env, stack, console)

The head-restart step shows KubeRay's documented RayService high availability (Ray docs "RayService
high availability" and "GCS fault tolerance in KubeRay"): with GCS fault tolerance the worker nodes
outlive the head (KubeRay gives them RAY_gcs_rpc_server_reconnect_timeout_s=600, v1.7.0
ray-operator/controllers/ray/common/pod.go configureGCSFaultTolerance), their Serve proxies and
replicas keep answering while the head is gone, and the new head reloads the cluster's state from
Redis, Serve's applications included, so nobody deploys them again.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from raygitops.errors import UserError
from raygitops.local.db import local_secret
from raygitops.local.processes import group_members, kill
from raygitops.local.rayhead import start_ray, start_ray_node
from raygitops.local.redis import SECRET_FILE, LocalRedis
from raygitops.local.rundir import LOCAL_HOST
from raygitops.local.replicalogs import ReplicaLogs
from raygitops.local.servestatus import POLL_S, Dashboard, form_fields, smoke_requests, smoke_url, wait_until_running

# Bounds of the request loop: it stops by itself even if nobody stops it.
PROBE_INTERVAL_S = 0.2
PROBE_MAX_REQUESTS = 5000
PROBE_MAX_SECONDS = 900
# `ray start --head` refuses to start when this file in the temp dir names its own address and a
# raylet (the worker node's) still names that GCS address (ray/scripts/scripts.py, start:
# "Ray is trying to start at …, but is already running"). A new head Pod has a fresh filesystem;
# deleting the file is the local equivalent.
BOOTSTRAP_FILE = "ray_current_cluster"


@dataclass
class LocalGcsFt:
    """How tools/up runs an environment whose RayService has gcsFaultToleranceOptions."""
    redis_address: str        # as rendered: the cluster's Redis
    redis_port: int | None    # the local Redis; None when not applied (a Ray at --address)
    namespace: str = ""       # RAY_external_storage_namespace: KubeRay uses the RayCluster's UID
    node_cpus: int = 0
    lines: list[str] = field(default_factory=list)
    head_env: dict[str, str] = field(default_factory=dict)
    head_args: list[str] = field(default_factory=list)


def local_gcs_ft(options: dict | None, run, *, redis_port: int | None, num_cpus: int) -> LocalGcsFt | None:
    """The local substitutions for GCS fault tolerance, each a `local:` line (None without it)."""
    if options is None:
        return None
    address = str(options.get("redisAddress") or "(not set)")
    if redis_port is None:
        return LocalGcsFt(address, None, lines=[
            f"local: GCS fault tolerance (redisAddress {address}) is not applied: the Ray at --address "
            "was not started by tools/up"])
    ref = ((options.get("redisPassword") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
    secret = f"Secret {ref['name']}" if isinstance(ref, dict) and ref.get("name") else "its redisPassword"
    return LocalGcsFt(address, redis_port, namespace=f"raygitops-{run.env}-{uuid.uuid4().hex[:12]}",
                      node_cpus=num_cpus, lines=[
        f"local: gcsFaultToleranceOptions.redisAddress {address} → {LOCAL_HOST}:{redis_port} (a local Redis; "
        f"password from {run.label}/{SECRET_FILE}, in the cluster from {secret})",
        f"local: a 0-CPU Ray head and a second Ray node with {num_cpus} CPUs, as the head and worker Pods, "
        "so that replicas can outlive the head"])


def start_redis(run, ft: LocalGcsFt, stack, console) -> None:
    redis = LocalRedis(run.path / "redis", ft.redis_port, local_secret(run.path, SECRET_FILE), run.tag_env)
    stack.record(redis={"pid": None, "port": ft.redis_port})
    pid = redis.start()
    stack.record(redis={"pid": pid, "port": ft.redis_port})
    console.out(f"Redis on {LOCAL_HOST}:{ft.redis_port} (pid {pid}); GCS storage namespace {ft.namespace}")


def start_ray_with_gcs_ft(run, options, ft: LocalGcsFt, env: dict[str, str], stack, console):
    """The head as KubeRay starts it with gcsFaultToleranceOptions (v1.7.0 common/pod.go
    configureRedisFT): RAY_REDIS_ADDRESS, RAY_external_storage_namespace and
    `--redis-password` (KubeRay writes `$REDIS_PASSWORD`, which the container's shell expands, so
    the value is on `ray start`'s command line there too); then the second node."""
    ft.head_env = {**env, "RAY_REDIS_ADDRESS": f"{LOCAL_HOST}:{ft.redis_port}",
                   "RAY_external_storage_namespace": ft.namespace}
    ft.head_args = [f"--redis-password={local_secret(run.path, SECRET_FILE)}", *options.ray_start_args]
    console.out(f"starting the Ray head (temp dir {run.ray_temp_dir()}, 0 CPUs, GCS stored in Redis)…")
    head = start_ray(run, num_cpus=0, extra_args=ft.head_args, env=ft.head_env, on_spawn=stack.ray_spawned,
                     serve_only_dashboard=options.check)
    console.out(f"starting a second Ray node ({ft.node_cpus} CPUs)…")
    start_ray_node(run, head, num_cpus=ft.node_cpus, env=env,
                   on_spawn=lambda pgid, since: stack.record(ray_node={"pgid": pgid, "since": since}))
    return head


def check_head_restart(run, options, config, local, stack, console, head, *, smoke) -> None:
    """Kill the head while the apps' smoke requests go on, start it again on the same GCS
    address and Redis, wait until Serve is RUNNING without deploying anything, and smoke every app.
    Fails when no request was answered while the head was down, or when an app does not answer after."""
    base = stack.state["serve"]
    names = [app["name"] for app in local.config["applications"]]
    with Prober(config.applications_in(run.env), base) as prober:
        if not prober.wait_for_answers("up", 1, timeout=30):
            raise UserError(f"head restart: no request was answered before the kill "
                            f"({prober.count('up').first_failure or 'no request sent'})")
        wait_for_node_proxy(Dashboard(head.dashboard), timeout=max(60.0, options.timeout))
        killed = kill_group(head.pgid, head.since)
        started = time.monotonic()
        prober.mark("down")
        console.out(f"head restart: killed the Ray head ({killed} processes, as a crashed head Pod); "
                    "requests go on")
        forget_bootstrap_address(head.temp_dir)
        new = start_ray(run, num_cpus=0, extra_args=local.gcs_ft.head_args, env=local.gcs_ft.head_env,
                        on_spawn=stack.ray_spawned, restart_of=head, serve_only_dashboard=options.check)
        console.out("head restart: a new head runs on the same GCS address and Redis; waiting for Serve…")
        dashboard = Dashboard(new.dashboard)
        try:
            dashboard.wait_ready(timeout=max(120.0, options.timeout))
        except UserError:
            raise UserError(f"head restart: the new head's dashboard did not answer within "
                            f"{max(120.0, options.timeout):.0f} s", file=f"{run.label}/ray-restart.log",
                            fix="read the log and session_latest/logs/dashboard.log; --timeout sets the wait"
                            ) from None
        wait_until_running(dashboard, names, timeout=options.timeout, console=console,
                           logs=ReplicaLogs(new.temp_dir))
        prober.mark("after")
    line, failure = summary(prober, time.monotonic() - started)
    console.out(line)
    if failure:
        raise UserError(f"head restart: {failure}", file=f"{run.label}/ray-node.log",
                        fix="the replicas died with the head: check that the second node runs them (ray status)")
    smoke(config.applications_in(run.env), base, console, ReplicaLogs(new.temp_dir), dashboard)


@dataclass
class PhaseCount:
    answered: int = 0
    failed: int = 0
    first_failure: str = ""


@dataclass
class Prober:
    """Sends the apps' smoke requests, one at a time and in turn, from a thread, and counts the
    answers per phase ("up", "down", "after"). An answer is a 2xx status."""
    applications: list
    base: str
    phase: str = "up"
    counts: dict[str, PhaseCount] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "Prober":
        self._thread = threading.Thread(target=self._run, name="head-restart-prober", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def mark(self, phase: str) -> None:
        self.phase = phase

    def count(self, phase: str) -> PhaseCount:
        return self.counts.setdefault(phase, PhaseCount())

    def wait_for_answers(self, phase: str, wanted: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            if self.count(phase).answered >= wanted:
                return True
            time.sleep(0.1)
        return self.count(phase).answered >= wanted

    def _run(self) -> None:
        import requests
        http = requests.Session()
        http.trust_env = False
        smokes = [(app, smoke) for app in self.applications for smoke in smoke_requests(app)]
        started, sent = time.monotonic(), 0
        while smokes and not self._stop.is_set() and sent < PROBE_MAX_REQUESTS \
                and time.monotonic() - started < PROBE_MAX_SECONDS:
            app, smoke = smokes[sent % len(smokes)]
            phase = self.phase
            url = smoke_url(self.base, app.route_prefix, str(smoke.get("path", "/")))
            try:
                response = http.request(str(smoke.get("method", "GET")).upper(), url, json=smoke.get("json"),
                                        data=form_fields(smoke.get("form")), timeout=10)
                outcome = "" if 200 <= response.status_code < 300 else f"{app.name}: HTTP {response.status_code}"
            except Exception as err:  # noqa: BLE001 - a failed request is counted, the loop goes on
                outcome = f"{app.name}: {type(err).__name__}"
            sent += 1
            count = self.count(phase)
            if outcome:
                count.failed += 1
                count.first_failure = count.first_failure or outcome
            else:
                count.answered += 1
            self._stop.wait(PROBE_INTERVAL_S)


def wait_for_node_proxy(dashboard: Dashboard, timeout: float) -> None:
    """Until a Serve proxy on another node than the head's is HEALTHY. Serve starts a proxy on each
    node that has a replica ("EveryNode", ray 2.46.0 python/ray/serve/schema.py ServeInstanceDetails),
    some seconds after the replicas; the apps are RUNNING and answer through the head's proxy before
    that. A head killed then leaves nobody listening, and the check would fail on timing alone."""
    deadline = time.monotonic() + timeout
    while True:
        status = dashboard.status()
        head_node = (status.get("controller_info") or {}).get("node_id")
        if any(proxy.get("status") == "HEALTHY" and proxy.get("node_id") != head_node
               for proxy in (status.get("proxies") or {}).values()):
            return
        if time.monotonic() > deadline:
            raise UserError(f"head restart: no Serve proxy is HEALTHY on the second Ray node after {timeout:.0f} s",
                            fix="check that the second node runs replicas (ray status); --timeout sets the wait")
        time.sleep(POLL_S)


def kill_group(pgid: int, since: float) -> int:
    """SIGKILL every process of the head's process group at once: the head Pod crashing, its
    GCS, raylet, dashboard, Serve controller and head proxy with it. Returns how many."""
    return kill(group_members(pgid, since))


def forget_bootstrap_address(temp_dir: Path | None) -> None:
    if temp_dir is not None:
        (temp_dir / BOOTSTRAP_FILE).unlink(missing_ok=True)


def summary(prober: Prober, seconds: float) -> tuple[str, str | None]:
    """The report line, and the failure message when no request was answered while the head was
    down (the replicas did not outlive it)."""
    down = prober.count("down")
    line = (f"head restart: Serve RUNNING again {seconds:.1f} s after the kill, without a new deploy "
            f"(the new head reloaded it from Redis); while the head was down {down.answered} of "
            f"{down.answered + down.failed} requests were answered by the worker node's proxy and replicas")
    if down.answered + down.failed and not down.answered:
        return line, f"no request was answered while the head was down (first: {down.first_failure})"
    return line, None
