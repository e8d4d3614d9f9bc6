"""argocd/health/*.lua in real Lua (lupa, Lua 5.1 like Argo CD's gopher-lua), on KubeRay statuses.

    .venv/bin/pytest tests/unit/test_health_lua.py -q

Every status object below is built the way KubeRay writes it. Field names come from the status
types (ray-operator/apis/ray/v1/{rayservice,raycluster}_types.go) and the values from the code
that writes them (ray-operator/controllers/ray/{rayservice,raycluster}_controller.go), at the
tags v1.1.1 and v1.7.0; each builder and case names the lines ("controller@v1.7.0 L653").
tests/repo/test_argocd.py checks that argocd-cm carries these same files.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from lupa.lua51 import LuaError, LuaRuntime

ROOT = Path(__file__).resolve().parents[2]
HEALTH = ROOT / "argocd" / "health"
HEALTH_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
GENERATION = 3
ACTIVE, PENDING = "aana-raycluster-x7k2p", "aana-raycluster-9qz4m"


# --- real Lua, run the way Argo CD runs it ---------------------------------------------------------


def lua_runtime() -> LuaRuntime:
    """Argo CD (util/lua/lua.go runLua) opens only the package, base and table libraries and a
    safe os (time, date): no string library, and so no string methods. The same here, without os."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.execute("debug.setmetatable('', nil); string = nil; math = nil; io = nil; os = nil; "
                "coroutine = nil; debug = nil")
    return lua


def to_lua(lua: LuaRuntime, value):
    """Like Argo CD's decodeValue: objects and arrays become tables, arrays 1-based."""
    if isinstance(value, dict):
        table = lua.table()
        for key, item in value.items():
            table[key] = to_lua(lua, item)
        return table
    if isinstance(value, list):
        table = lua.table()
        for index, item in enumerate(value, start=1):
            table[index] = to_lua(lua, item)
        return table
    return value


def run_health(script: str, obj: dict) -> tuple[str, str]:
    """Global `obj`, run the script, take the returned table (ExecuteHealthLua)."""
    lua = lua_runtime()
    lua.globals().obj = to_lua(lua, obj)
    result = lua.execute(script)
    assert lua.eval("type")(result) == "table", f"health script returned {result!r}"
    status, message = result["status"], result["message"]
    assert status in HEALTH_STATUSES, status
    assert message is None or isinstance(message, str), message
    return status, message or ""


def script(name: str) -> str:
    return (HEALTH / name).read_text()


def test_the_sandbox_has_no_string_library():
    """The harness is as strict as Argo CD: a script calling string functions fails."""
    with pytest.raises(LuaError, match="attempt to index local 's' \\(a string value\\)"):
        run_health('local s = "Running"; return {status = s:sub(1, 3)}', {})
    with pytest.raises(LuaError, match="attempt to index global 'string' \\(a nil value\\)"):
        run_health('return {status = string.upper("healthy")}', {})


# --- RayService statuses, as KubeRay writes them --------------------------------------------------------


def app(status: str, message: str = "") -> dict:
    """AppStatus (rayservice_types.go@v1.1.1 L90-97, @v1.7.0 L188-195), filled from the dashboard's
    reply by getAndCheckServeStatus (controller@v1.1.1 L841-919, @v1.7.0 L1846-1894); omitempty."""
    out = {"status": status, "serveDeploymentStatuses": {"Main": {"status": "HEALTHY"}}}
    if message:
        out["message"] = message
    return out


def cluster(name: str = "", apps: dict | None = None) -> dict:
    """RayServiceStatus (@v1.1.1 L83-88, @v1.7.0 L164-186): a struct, so never omitted even when
    empty; applicationStatuses and rayClusterName are omitempty."""
    out: dict = {"rayClusterStatus": {}}
    if name:
        out["rayClusterName"] = name
    if apps:
        out["applicationStatuses"] = apps
    return out


def condition(type_: str, status: str, reason: str, message: str = "", observed: int = GENERATION) -> dict:
    """metav1.Condition as setCondition (controller@v1.7.0 L820-829) writes it: observedGeneration
    is the status's, set by calculateStatus (L653) or handleSuspend (L393, L420)."""
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "observedGeneration": observed, "lastTransitionTime": "2026-08-20T10:00:00Z"}


def v111(service_status: str = "", active: dict | None = None, pending: dict | None = None,
         observed: int = GENERATION, endpoints: int = 0) -> dict:
    """RayServiceStatuses@v1.1.1 (L67-81): no conditions. Reconcile sets observedGeneration first
    (controller@v1.1.1 L121) and every status write sends the whole status."""
    out = {"activeServiceStatus": active or cluster(), "pendingServiceStatus": pending or cluster(),
           "observedGeneration": observed, "lastUpdateTime": "2026-08-20T10:00:00Z"}
    if service_status:
        out["serviceStatus"] = service_status
    if endpoints:
        out["numServeEndpoints"] = endpoints
    return out


def v170(*conditions: dict, active: dict | None = None, pending: dict | None = None,
         observed: int = GENERATION, endpoints: int = 0) -> dict:
    """RayServiceStatuses@v1.7.0 (L133-162). calculateStatus (controller@v1.7.0 L643-782) writes
    observedGeneration, both clusters' applications (L667-668), numServeEndpoints, the
    conditions (calculateConditions L785-818), and serviceStatus "Running" exactly when Ready is
    True, else "" (NotRunning, omitted; L777-780)."""
    out = {"activeServiceStatus": active or cluster(), "pendingServiceStatus": pending or cluster(),
           "observedGeneration": observed, "conditions": list(conditions),
           "lastUpdateTime": "2026-08-20T10:00:00Z"}
    if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
        out["serviceStatus"] = "Running"
    if endpoints:
        out["numServeEndpoints"] = endpoints
    return out


def rayservice(status: dict | None, suspend: bool = False) -> dict:
    obj = {"apiVersion": "ray.io/v1", "kind": "RayService",
           "metadata": {"name": "aana", "namespace": "aana-prod", "generation": GENERATION},
           "spec": {"serveConfigV2": "applications: []\n", "rayClusterConfig": {}}}
    if suspend:
        obj["spec"]["suspend"] = True
    if status is not None:
        obj["status"] = status
    return obj


# calculateConditions, controller@v1.7.0 L785-818.
INITIALIZING = condition("Ready", "False", "Initializing", "RayService is initializing")
NOT_YET_UPGRADING = condition("UpgradeInProgress", "False", "Initializing", "RayService is initializing")
READY = condition("Ready", "True", "NonZeroServeEndpoints", "Number of serve endpoints is greater than 0")
NO_PENDING = condition("UpgradeInProgress", "False", "NoPendingCluster",
                       "Active Ray cluster exists and no pending Ray cluster")
UPGRADING = condition("UpgradeInProgress", "True", "BothActivePendingClustersExist",
                      "Both active and pending Ray clusters exist")
RUNNING_APPS = {"main": app("RUNNING"), "whisper": app("RUNNING")}
TRACEBACK = "Deploying app 'whisper' failed with exception:\nImportError: No module named 'apps.whisper'"

RAYSERVICE_1_7 = {
    # --- first deploy: the first cluster is the pending one until it serves (calculateStatus L719-723)
    "fresh object, no status": (None, "Progressing", ""),
    "finalizer added, status not written yet (Reconcile L146-153)": ({}, "Progressing", ""),
    "first cluster named, head Pod not ready, no applications (reconcileServe L1997-2001)": (
        v170(INITIALIZING, NOT_YET_UPGRADING, pending=cluster(PENDING)), "Progressing", "initializing"),
    "first deploy, an application DEPLOYING on the pending cluster": (
        v170(INITIALIZING, NOT_YET_UPGRADING,
             pending=cluster(PENDING, {"main": app("RUNNING"), "whisper": app("DEPLOYING")})),
        "Progressing", f"application whisper is DEPLOYING on the pending RayCluster {PENDING}"),
    "first deploy, an application DEPLOY_FAILED on the pending cluster (not Progressing forever)": (
        v170(INITIALIZING, NOT_YET_UPGRADING,
             pending=cluster(PENDING, {"main": app("RUNNING"), "whisper": app("DEPLOY_FAILED", TRACEBACK)})),
        "Degraded", f"application whisper is DEPLOY_FAILED on the pending RayCluster {PENDING}: {TRACEBACK}"),
    # --- serving
    "ready, every application RUNNING": (
        v170(READY, NO_PENDING, active=cluster(ACTIVE, RUNNING_APPS), endpoints=2), "Healthy",
        "All 2 Serve applications RUNNING"),
    "ready, an in-place Serve update DEPLOYING (Ready stays True: endpoints only)": (
        v170(READY, NO_PENDING, active=cluster(ACTIVE, {"main": app("DEPLOYING"), "whisper": app("RUNNING")}),
             endpoints=2), "Progressing", f"application main is DEPLOYING on the active RayCluster {ACTIVE}"),
    "ready, an in-place Serve update DEPLOY_FAILED": (
        v170(READY, NO_PENDING, active=cluster(ACTIVE, {"main": app("RUNNING"), "whisper": app("DEPLOY_FAILED",
             TRACEBACK)}), endpoints=2), "Degraded", "application whisper is DEPLOY_FAILED on the active"),
    "ready, two applications UNHEALTHY": (
        v170(READY, NO_PENDING, active=cluster(ACTIVE, {"whisper": app("UNHEALTHY", "replica died"),
                                                         "main": app("UNHEALTHY", "health check failed")}),
             endpoints=2), "Degraded", "application main is UNHEALTHY on the active RayCluster "
        f"{ACTIVE}: health check failed (and 1 more failed)"),
    "ready, head Pod restarting: no applications reported (reconcileServe L1997-2001)": (
        v170(READY, NO_PENDING, active=cluster(ACTIVE), endpoints=1), "Progressing", "not reported"),
    # --- upgrade: the active cluster's applications are not read while a pending one exists (L237-252)
    "upgrade, the pending cluster DEPLOYING": (
        v170(READY, UPGRADING, active=cluster(ACTIVE), pending=cluster(PENDING, {"main": app("DEPLOYING")}),
             endpoints=2), "Progressing", "UpgradeInProgress"),
    "upgrade, the pending cluster RUNNING, traffic not switched yet": (
        v170(READY, UPGRADING, active=cluster(ACTIVE), pending=cluster(PENDING, RUNNING_APPS), endpoints=2),
        "Progressing", "UpgradeInProgress"),
    "upgrade, an application DEPLOY_FAILED on the pending cluster": (
        v170(READY, UPGRADING, active=cluster(ACTIVE),
             pending=cluster(PENDING, {"main": app("RUNNING"), "whisper": app("DEPLOY_FAILED", TRACEBACK)}),
             endpoints=2), "Degraded", f"on the pending RayCluster {PENDING}"),
    "rollback (incremental upgrade): the pending cluster's failure no longer counts (L2034-2040)": (
        v170(READY, UPGRADING, condition("RollbackInProgress", "True", "DesiredClusterSpecChanged",
                                         "Goal state reverted to original cluster, rolling back."),
             active=cluster(ACTIVE, RUNNING_APPS), pending=cluster(PENDING, {"main": app("DEPLOY_FAILED")}),
             endpoints=2), "Progressing", "RollbackInProgress"),
    # --- the generation check
    "spec changed, not reconciled yet": (
        v170(READY, NO_PENDING, active=cluster(ACTIVE, RUNNING_APPS), observed=2, endpoints=2),
        "Progressing", "not yet acted"),
    "spec changed to fix a failed application, not reconciled yet": (
        v170(READY, NO_PENDING, active=cluster(ACTIVE, {"main": app("DEPLOY_FAILED")}), observed=2, endpoints=2),
        "Progressing", "not yet acted"),
    # --- KubeRay gave up (Ready=False reasons that do not resolve by waiting)
    "validation failed: observedGeneration not bumped (Reconcile L155-169)": (
        v170(condition("Ready", "False", "ValidationFailed", "spec.rayClusterConfig.headGroupSpec is invalid"),
             NO_PENDING, observed=2), "Degraded", "headGroupSpec is invalid"),
    "initializing timed out (markFailedOnInitializingTimeout L2229-2276)": (
        v170(condition("Ready", "False", "InitializingTimeout", "RayService did not become ready in 600s"),
             NOT_YET_UPGRADING), "Degraded", "600s"),
    "lost every serve endpoint (L797-798)": (
        v170(condition("Ready", "False", "ZeroServeEndpoints", "Number of serve endpoints dropped to 0"),
             NO_PENDING, active=cluster(ACTIVE, RUNNING_APPS)), "Degraded", "dropped to 0"),
    # --- spec.suspend (handleSuspend L383-465)
    "suspend requested (Case 2, L418-431: statuses cleared)": (
        v170(condition("Suspending", "True", "SuspendRequested",
                       "Spec.Suspend is true; will delete all Kubernetes resources owned by this RayService."),
             condition("Ready", "False", "SuspendInProgress", "RayService is suspending.")), "Progressing",
        "Suspending"),
    "suspending, deleting the clusters (Case 3, L443-447)": (
        v170(condition("Suspending", "True", "SuspendInProgress",
                       "Waiting for all Kubernetes resources owned by this RayService to be deleted."),
             condition("Ready", "False", "SuspendInProgress", "RayService is suspending.")), "Progressing",
        "Suspending"),
}

SUSPENDED = v170(condition("Suspending", "False", "SuspendComplete", "All owned resources have been deleted."),
                 condition("Suspended", "True", "SuspendComplete", "All owned resources have been deleted."),
                 condition("Ready", "False", "SuspendComplete", "RayService is suspended."))
RESUMED = v170(condition("Suspended", "False", "RayServiceResumed", "Spec.Suspend is false; RayService has resumed."),
               condition("Ready", "False", "Initializing", "RayService is initializing after resuming from suspend."),
               condition("UpgradeInProgress", "False", "Initializing", "RayService is initializing after resuming."))


def suspended_and_edited() -> dict:
    """Case 1 (L390-409) returns without touching the status while spec.suspend stays true."""
    status = dict(SUSPENDED)
    status["observedGeneration"] = GENERATION - 1
    return status


SUSPEND_CASES = {
    "suspended (Case 3 done, L455-461)": (SUSPENDED, True, "Suspended", "All owned resources"),
    "suspended, then another spec edit (Case 1 leaves observedGeneration behind)": (
        suspended_and_edited(), True, "Suspended", "All owned resources"),
    "spec.suspend set back to false, not reconciled yet": (SUSPENDED, False, "Progressing", "Resuming"),
    "resumed (Case 1, L392-405)": (RESUMED, False, "Progressing", "initializing after resuming"),
}

RAYSERVICE_1_1 = {
    "first deploy, pending cluster named (markRestartAndAddPendingClusterName L929-938, written L131-138)": (
        v111("Restarting", pending=cluster(PENDING)), "Progressing", f"pending RayCluster {PENDING}"),
    "first deploy, DEPLOYING on the pending cluster (L1107-1110)": (
        v111("WaitForServeDeploymentReady", pending=cluster(PENDING, {"main": app("DEPLOYING")})),
        "Progressing", "application main is DEPLOYING"),
    "first deploy, DEPLOY_FAILED on the pending cluster (not Progressing forever)": (
        v111("WaitForServeDeploymentReady", pending=cluster(PENDING, {"main": app("DEPLOY_FAILED", TRACEBACK)})),
        "Degraded", f"application main is DEPLOY_FAILED on the pending RayCluster {PENDING}: {TRACEBACK}"),
    "first Serve submission failed, dashboard starting (updateState L1087)": (
        v111("WaitForServeDeploymentReady", pending=cluster(PENDING)), "Progressing", "WaitForServeDeploymentReady"),
    "running, every application RUNNING (L1103-1106, written L219-225)": (
        v111("Running", active=cluster(ACTIVE, RUNNING_APPS), endpoints=2), "Healthy", "All 2 Serve applications"),
    "running, then a no-op spec change: observedGeneration never written (L219, L304-327)": (
        v111("Running", active=cluster(ACTIVE, RUNNING_APPS), endpoints=2, observed=GENERATION - 1), "Healthy",
        "All 2 Serve applications"),
    "DEPLOY_FAILED, then a no-op spec change: still a failure": (
        v111("WaitForServeDeploymentReady", active=cluster(ACTIVE, {"main": app("DEPLOY_FAILED", "boom")}),
             observed=GENERATION - 1), "Degraded", "DEPLOY_FAILED on the active RayCluster"),
    "running, observedGeneration behind, no applications: not settled": (
        v111("Running", observed=GENERATION - 1), "Progressing", "not yet acted"),
    "in-place Serve update DEPLOYING on the active cluster": (
        v111("WaitForServeDeploymentReady", endpoints=2,
             active=cluster(ACTIVE, {"main": app("RUNNING"), "whisper": app("DEPLOYING")})),
        "Progressing", "application whisper is DEPLOYING"),
    "an application UNHEALTHY on the active cluster": (
        v111("WaitForServeDeploymentReady", active=cluster(ACTIVE, {"main": app("UNHEALTHY", "replica died")}),
             endpoints=2), "Degraded", "application main is UNHEALTHY on the active RayCluster"),
    "upgrade: active RUNNING (updateStatusForActiveCluster L1019-1044), pending named": (
        v111("Restarting", active=cluster(ACTIVE, RUNNING_APPS), pending=cluster(PENDING), endpoints=2),
        "Progressing", f"pending RayCluster {PENDING}"),
    "upgrade: DEPLOY_FAILED on the pending cluster": (
        v111("WaitForServeDeploymentReady", active=cluster(ACTIVE, RUNNING_APPS),
             pending=cluster(PENDING, {"main": app("DEPLOY_FAILED", TRACEBACK)}), endpoints=2),
        "Degraded", f"application main is DEPLOY_FAILED on the pending RayCluster {PENDING}"),
    "FailedToGetServeDeploymentStatus while the first head Pod's dashboard starts (L1096-1098)": (
        v111("FailedToGetServeDeploymentStatus", pending=cluster(PENDING)), "Degraded", "Transient while"),
    "FailedToGetServeDeploymentStatus on a running cluster (applications as before)": (
        v111("FailedToGetServeDeploymentStatus", active=cluster(ACTIVE, RUNNING_APPS), endpoints=2),
        "Degraded", "a failure if it persists"),
    "FailedToGetOrCreateRayCluster (L127)": (v111("FailedToGetOrCreateRayCluster"), "Degraded", ""),
    "FailedToUpdateService (L201)": (v111("FailedToUpdateService", active=cluster(ACTIVE, RUNNING_APPS)),
                                     "Degraded", "FailedToUpdateService"),
}


def check(obj: dict, expected: str, fragment: str) -> None:
    got, message = run_health(script("rayservice.lua"), obj)
    assert got == expected, f"{got}: {message}"
    assert message and fragment in message, message


@pytest.mark.parametrize("case", RAYSERVICE_1_7)
def test_rayservice_health_kuberay_1_7(case):
    status, expected, fragment = RAYSERVICE_1_7[case]
    check(rayservice(status), expected, fragment)


@pytest.mark.parametrize("case", SUSPEND_CASES)
def test_rayservice_suspend_kuberay_1_7(case):
    status, suspend, expected, fragment = SUSPEND_CASES[case]
    check(rayservice(status, suspend=suspend), expected, fragment)


@pytest.mark.parametrize("case", RAYSERVICE_1_1)
def test_rayservice_health_kuberay_1_1(case):
    status, expected, fragment = RAYSERVICE_1_1[case]
    check(rayservice(status), expected, fragment)


def test_the_failed_application_message_does_not_depend_on_table_order():
    """Lua's pairs visits a table in no fixed order; the message names the first failure by name."""
    apps = {name: app("DEPLOY_FAILED", name) for name in ("zeta", "alpha", "mid", "beta", "omega")}
    obj = rayservice(v170(READY, NO_PENDING, active=cluster(ACTIVE, apps), endpoints=1))
    messages = {run_health(script("rayservice.lua"), obj)[1] for _ in range(5)}
    assert messages == {f"application alpha is DEPLOY_FAILED on the active RayCluster {ACTIVE}: alpha "
                        "(and 4 more failed)"}


# --- RayCluster statuses ---------------------------------------------------------------------------------


def raycluster(status: dict | None, suspend: bool | None = None) -> dict:
    obj = {"apiVersion": "ray.io/v1", "kind": "RayCluster",
           "metadata": {"name": ACTIVE, "namespace": "aana-prod", "generation": GENERATION},
           "spec": {"rayVersion": "2.46.0", "headGroupSpec": {}}}
    if suspend is not None:
        obj["spec"]["suspend"] = suspend
    if status is not None:
        obj["status"] = status
    return obj


def rc111(state: str = "", observed: int = GENERATION, reason: str = "") -> dict:
    """RayClusterStatus@v1.1.1 (raycluster_types.go L120-153), written by calculateStatus
    (raycluster_controller.go@v1.1.1 L1249-1303): no conditions."""
    out = {"observedGeneration": observed, "availableWorkerReplicas": 1, "desiredWorkerReplicas": 1,
           "minWorkerReplicas": 1, "maxWorkerReplicas": 4, "head": {"podIP": "10.0.0.7"}}
    if state:
        out["state"] = state
    if reason:
        out["reason"] = reason
    return out


def rc170(state: str = "", *conditions: dict, observed: int = GENERATION) -> dict:
    """RayClusterStatus@v1.7.0 (L567-639), written by calculateStatus
    (raycluster_controller.go@v1.7.0 L1970-2137). Its conditions carry no observedGeneration."""
    out = rc111(state, observed)
    out["readyWorkerReplicas"] = 1
    out["conditions"] = [{k: v for k, v in c.items() if k != "observedGeneration"} for c in conditions]
    return out


HEAD_READY = condition("HeadPodReady", "True", "HeadPodRunningAndReady")
HEAD_NOT_FOUND = condition("HeadPodReady", "False", "HeadPodNotFound", "Head Pod not found")
PROVISIONED = condition("RayClusterProvisioned", "True", "AllPodRunningAndReadyFirstTime",
                        "All Ray Pods are ready for the first time")
PROVISIONING = condition("RayClusterProvisioned", "False", "RayClusterPodsProvisioning",
                         "RayCluster Pods are being provisioned for first time")
NOT_SUSPENDED = condition("RayClusterSuspended", "False", "RayClusterSuspended")

RAYCLUSTER_CASES = {
    "no status": (raycluster(None), "Progressing"),
    "1.7 provisioning": (raycluster(rc170("", HEAD_NOT_FOUND, PROVISIONING)), "Progressing"),
    "1.7 ready": (raycluster(rc170("ready", HEAD_READY, PROVISIONED, NOT_SUSPENDED)), "Healthy"),
    "1.7 provisioned, no state yet": (raycluster(rc170("", HEAD_READY, PROVISIONED)), "Healthy"),
    "1.7 head Pod restarting": (raycluster(rc170("ready", HEAD_NOT_FOUND, PROVISIONED)), "Progressing"),
    "1.7 replica failure": (raycluster(rc170("ready", HEAD_READY, PROVISIONED, condition(
        "ReplicaFailure", "True", "FailedCreateWorkerPod", "exceeded quota"))), "Degraded"),
    "1.7 ready, then a spec change that alters nothing reported: observedGeneration stays behind": (
        raycluster(rc170("ready", HEAD_READY, PROVISIONED, observed=GENERATION - 1)), "Healthy"),
    "1.7 provisioning, spec not observed": (
        raycluster(rc170("", HEAD_NOT_FOUND, PROVISIONING, observed=GENERATION - 1)), "Progressing"),
    "1.7 suspending": (raycluster(rc170("ready", HEAD_READY, PROVISIONED, condition(
        "RayClusterSuspending", "True", "RayClusterSuspending")), suspend=True), "Progressing"),
    "1.7 suspended": (raycluster(rc170("suspended", condition("RayClusterSuspended", "True", "RayClusterSuspended")),
                                 suspend=True), "Suspended"),
    "1.7 resuming: spec.suspend false, state still suspended (L2084-2091)": (
        raycluster(rc170("suspended", NOT_SUSPENDED, PROVISIONING), suspend=False), "Progressing"),
    "1.1 ready": (raycluster(rc111("ready")), "Healthy"),
    "1.1 ready, then a spec change that alters nothing reported (L390-420)": (
        raycluster(rc111("ready", observed=GENERATION - 1)), "Healthy"),
    "1.1 not ready, spec not observed": (raycluster(rc111("", observed=GENERATION - 1)), "Progressing"),
    "1.1 unhealthy (invalid rayStartParams, L1279-1280)": (raycluster(rc111("unhealthy")), "Degraded"),
    "1.1 failed (updateClusterState)": (raycluster(rc111("failed", reason="head service failed")), "Degraded"),
    "1.1 suspended (L1287-1289)": (raycluster(rc111("suspended"), suspend=True), "Suspended"),
    "1.1 resuming": (raycluster(rc111("suspended"), suspend=False), "Progressing"),
}


@pytest.mark.parametrize("case", RAYCLUSTER_CASES)
def test_raycluster_health(case):
    obj, expected = RAYCLUSTER_CASES[case]
    got, message = run_health(script("raycluster.lua"), obj)
    assert got == expected, f"{case}: {got} ({message})"
    assert message


# --- Application ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("health, expected", [
    (None, "Progressing"),
    ({"status": "Healthy"}, "Healthy"),
    ({"status": "Degraded", "message": "RayService aana: ValidationFailed"}, "Degraded"),
    ({"status": "Missing"}, "Missing"),
])
def test_application_health(health, expected):
    application = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                   "metadata": {"name": "kuberay-operator", "namespace": "argocd"}, "spec": {}}
    if health is not None:
        application["status"] = {"health": health, "sync": {"status": "Synced"}}
    got, _ = run_health(script("application.lua"), application)
    assert got == expected
