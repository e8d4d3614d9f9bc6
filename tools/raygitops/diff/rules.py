"""THE rules table: what a change does to the running service, by KubeRay version. First match wins, so
specific rows come before general ones; each row cites its source (diff/sources.py).

    next(rule for rule in RULES if matches(rule, ctx))      # diff/rollout.py classify()
    [r for r in RULES if r.kuberay]                          # the version-dependent rows
"""
from __future__ import annotations

from raygitops.diff import sources as src
from raygitops.diff.fields import ADDED, REFORMATTED, REMOVED, REORDERED
from raygitops.diff.kuberay import (INCREMENTAL_MODE, MUTED, NONE_MODE, SUSPEND_TOGGLE_VERSIONS, TIMEOUT_ANNOTATION,
                                    is_muted)
from raygitops.diff.operator import OPERATOR_RULES
from raygitops.diff.rulebase import ANY, ANY_OTHER, Context, Rule, serve_service_name, spec, unknown_field
from raygitops.diff.verdicts import (APP_RESTART, DEFERRED, IN_PLACE, NEW_CLUSTER, NO_OP, OUTAGE, REJECTED,
                                     REPLICA_RESTART, UNKNOWN_FIELD, VALIDATION_FAILED)

# Fields of a Serve deployment that Serve updates without restarting replicas (Ray's DeploymentConfig:
# LightWeight, NeedsReconfigure and NeedsActorReconfigure; user_config reaches running replicas through reconfigure()).
SERVE_IN_PLACE_FIELDS = ("num_replicas", "autoscaling_config", "user_config", "max_ongoing_requests",
                         "max_concurrent_queries", "max_queued_requests", "graceful_shutdown_timeout_s",
                         "graceful_shutdown_wait_loop_s", "health_check_period_s", "health_check_timeout_s",
                         "logging_config")
# Fields that change the replica's actor: Serve starts new replicas.
SERVE_RESTART_FIELDS = ("ray_actor_options", "placement_group_bundles", "placement_group_strategy",
                        "max_replicas_per_node")
GIT_AND_CLUSTER_DISAGREE = "Git and cluster will disagree"


# --- conditions -----------------------------------------------------------------------------------

def _whole_resource(ctx: Context) -> bool:
    return ctx.change is None


def _light_deployment_entry(ctx: Context) -> bool:
    """An added or removed deployment entry that sets only in-place fields: Serve moves the
    deployment between those values and the code's defaults without restarting replicas."""
    entry = ctx.change.after if ctx.change.change == ADDED else ctx.change.before
    return isinstance(entry, dict) and set(entry) <= {"name", *SERVE_IN_PLACE_FIELDS}


def _argocd_hook(ctx: Context) -> bool:
    resource = ctx.resource.after or ctx.resource.before or {}
    return "argocd.argoproj.io/hook" in ((resource.get("metadata") or {}).get("annotations") or {})


def _action(ctx: Context) -> str:
    return ctx.situation.action.kind if ctx.situation.action else "none"


def _mode(ctx: Context, side: str = "after") -> str:
    mode = getattr(ctx.situation, side)
    return mode.kind if mode else ""


def _updated_in_place(ctx: Context) -> bool:
    return _action(ctx) == "update"


def _unchanged_cluster(ctx: Context) -> bool:
    return _action(ctx) == "none"


def _rolls_over(ctx: Context) -> bool:
    return _action(ctx) == "rollover" and _mode(ctx) != NONE_MODE


def _rolls_incrementally(ctx: Context) -> bool:
    return _rolls_over(ctx) and _mode(ctx) == INCREMENTAL_MODE


def _blocked_by(cause: str):
    def blocked(ctx: Context) -> bool:
        return _action(ctx) == "rollover" and _mode(ctx) == NONE_MODE and ctx.situation.after.cause == cause
    return blocked


def _muted_here(ctx: Context) -> bool:
    return ctx.shape[:2] == ("spec", "rayClusterConfig") and is_muted(ctx.shape[2:], ctx.version)


def _appended_alone(ctx: Context) -> bool:
    action = ctx.situation.action
    return _updated_in_place(ctx) and not action.suspend_toggle and bool(action.appended)


def _recreates(ctx: Context) -> bool:
    strategy = (spec(ctx.resource.after).get("rayClusterConfig") or {}).get("upgradeStrategy")
    return isinstance(strategy, dict) and strategy.get("type") == "Recreate"


def _flag(side, *keys) -> bool:
    value = spec(side)
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value is True


def _suspends(ctx: Context) -> bool:
    return _flag(ctx.resource.after, "suspend") and not _flag(ctx.resource.before, "suspend")


def _resumes(ctx: Context) -> bool:
    return _flag(ctx.resource.before, "suspend") and not _flag(ctx.resource.after, "suspend")


def _created_suspended(ctx: Context) -> bool:
    return ctx.change is None and _flag(ctx.resource.after, "suspend")


def _cluster_suspends(ctx: Context) -> bool:
    return (_flag(ctx.resource.after, "rayClusterConfig", "suspend")
            and not _flag(ctx.resource.before, "rayClusterConfig", "suspend"))


def _unblocked(ctx: Context) -> bool:
    return _mode(ctx, "before") == NONE_MODE and _mode(ctx) not in (NONE_MODE, "")


def _unblocked_rollover(ctx: Context) -> bool:
    return _unblocked(ctx) and _action(ctx) == "rollover"


def _now_blocked(cause: str):
    def blocked(ctx: Context) -> bool:
        return (_mode(ctx) == NONE_MODE and _mode(ctx, "before") not in (NONE_MODE, "")
                and ctx.situation.after.cause == cause)
    return blocked


def _to_incremental(ctx: Context) -> bool:
    return _mode(ctx) == INCREMENTAL_MODE and _mode(ctx, "before") != INCREMENTAL_MODE


def _from_incremental(ctx: Context) -> bool:
    return _mode(ctx, "before") == INCREMENTAL_MODE and _mode(ctx) != INCREMENTAL_MODE


def _incremental(ctx: Context) -> bool:
    return _mode(ctx) == INCREMENTAL_MODE


def _serve_service_renamed(ctx: Context) -> bool:
    return serve_service_name(ctx.resource.before) != serve_service_name(ctx.resource.after)


def _timeout(side) -> str | None:
    annotations = ((side or {}).get("metadata") or {}).get("annotations") if isinstance(side, dict) else None
    value = annotations.get(TIMEOUT_ANNOTATION) if isinstance(annotations, dict) else None
    return None if value is None else str(value)


def _timeout_changes(ctx: Context) -> bool:
    """The change is the annotation, or the whole annotations map that holds it, and its value differs."""
    shape = ctx.shape
    return ((len(shape) == 2 or shape[2] == TIMEOUT_ANNOTATION)
            and _timeout(ctx.resource.before) != _timeout(ctx.resource.after))


def _cluster_written(ctx: Context) -> bool:
    return _updated_in_place(ctx) or _rolls_over(ctx)


_ADD, _REMOVE, _REORDER = frozenset({ADDED}), frozenset({REMOVED}), frozenset({REORDERED})
_CLUSTER = "spec.rayClusterConfig"
_GROUP = f"{_CLUSTER}.workerGroupSpecs[]"
_SERVE = "spec.serveConfigV2"
_APP = f"{_SERVE}:applications[]"
_DEPLOYMENT = f"{_APP}.deployments[]"
_IGNORED = "ignored by KubeRay: not propagated to the running cluster"
_MUTED_WARNINGS = {   # why a muted field matters enough to warn (replicas and workersToDelete belong to the autoscaler)
    "minReplicas": "{field} is ignored by KubeRay ≥ 1.2: the running cluster keeps the old value until the next new "
                   "cluster. " + GIT_AND_CLUSTER_DISAGREE + ".",
    "tolerations": "{field} are ignored by KubeRay ≥ 1.5.2: running pods keep the old ones until the next new "
                   "cluster. " + GIT_AND_CLUSTER_DISAGREE + ".",
}
_MUTED_WARNINGS["maxReplicas"] = _MUTED_WARNINGS["minReplicas"]
_MUTED_WARNINGS["schedulingGates"] = _MUTED_WARNINGS["tolerations"]


def _leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1]


# --- THE TABLE -------------------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    # The API server first: an object that breaks a CEL rule is refused whole, and Argo CD's sync fails.
    Rule("", REJECTED, "rejected by the API server: {cel}", src.CEL_RULES, kind=ANY, when=lambda c: bool(c.rejected_by)),
    Rule("", UNKNOWN_FIELD, "{field} is unknown to KubeRay {kuberay}'s CRD{added_in}: the API server rejects it "
         "(strict field validation) or drops it", src.FIELDS_BY_VERSION, kind=ANY,
         when=lambda c: unknown_field(c) is not None),
    Rule("", VALIDATION_FAILED, "KubeRay refuses the RayService: {refusal}. It marks it Ready=False "
         "(ValidationFailed) and stops reconciling it; the running cluster keeps serving what it had",
         src.OPERATOR_VALIDATION, kuberay=">=1.5.0", when=lambda c: c.situation.refusal is not None),

    # Whole RayServices.
    Rule("", NO_OP, "created suspended: no RayCluster runs until spec.suspend is false", src.SUSPEND_SERVICE,
         kuberay=">=1.7.0", changes=_ADD, when=_created_suspended),
    Rule("", NEW_CLUSTER, "creates the RayService and its RayCluster", src.K8S_APPLY, changes=_ADD, when=_whole_resource),
    Rule("", NEW_CLUSTER, "deletes the RayService, its RayCluster and every app", src.K8S_APPLY, changes=_REMOVE,
         when=_whole_resource),

    # spec.suspend (the CRD has it from 1.7.0; before, the unknown-field row above answers).
    Rule("spec.suspend", OUTAGE, "suspend: service goes down. KubeRay deletes the RayClusters and the head and serve "
         "Services (and the Gateway and HTTPRoute); nothing answers until suspend is false again, and then a new "
         "RayCluster starts from scratch", src.SUSPEND_SERVICE, kuberay=">=1.7.0", when=_suspends,
         warning="spec.suspend: true takes {name} down: KubeRay deletes its RayClusters and Services. Once "
                 "Suspending has started it runs to the end, even if Git sets suspend back to false."),
    Rule("spec.suspend", NEW_CLUSTER, "resume: KubeRay creates a new RayCluster from scratch; nothing answers until "
         "its Serve applications are ready", src.SUSPEND_SERVICE, kuberay=">=1.7.0", when=_resumes),
    Rule("spec.suspend", NO_OP, "not suspended either way", src.SUSPEND_SERVICE, kuberay=">=1.7.0"),

    # rayClusterConfig.suspend (Kueue's switch).
    Rule(f"{_CLUSTER}.suspend", OUTAGE, "suspend: service goes down. KubeRay {kuberay} applies a rayClusterConfig."
         "suspend toggle to the running RayCluster in place, which deletes all its pods", src.SUSPEND_TOGGLE,
         kuberay=SUSPEND_TOGGLE_VERSIONS, when=_cluster_suspends,
         warning="rayClusterConfig.suspend: true suspends the running RayCluster of {name}: its pods are deleted "
                 "and Serve stops answering."),
    Rule(f"{_CLUSTER}.suspend", IN_PLACE, "the running RayCluster is resumed in place: its pods start again",
         src.SUSPEND_TOGGLE, kuberay=SUSPEND_TOGGLE_VERSIONS),
    Rule(f"{_CLUSTER}.suspend", NO_OP, "ignored by KubeRay after creation", src.SUSPEND_V1_7, kuberay=">=1.7.0",
         when=_unchanged_cluster,
         warning=f"rayClusterConfig.suspend only takes effect when a cluster is created. {GIT_AND_CLUSTER_DISAGREE}."),
    Rule(f"{_CLUSTER}.suspend", NO_OP, "not applied: the new RayCluster this rolls out is created suspended, never "
         "becomes ready, and so never takes the traffic", src.HASH_V1_1, kuberay="<1.5.2|>=1.6.0,<1.6.1",
         when=lambda c: _rolls_over(c) and _cluster_suspends(c),
         warning="rayClusterConfig.suspend: true on a running RayService: KubeRay {kuberay} starts a suspended new "
                 f"RayCluster that never serves; the running one keeps serving. {GIT_AND_CLUSTER_DISAGREE}."),

    # The in-place RayCluster update: worker groups appended at the end (or the suspend toggle above).
    # KubeRay copies the WHOLE rayClusterConfig onto the running RayCluster, muted fields included.
    Rule(_GROUP, OUTAGE, "worker group appended with rayClusterConfig.upgradeStrategy Recreate: the in-place "
         "update changes the RayCluster's hash, so KubeRay deletes and recreates all its pods; Serve stops answering "
         "until they are back", src.RECREATE_PODS, kuberay=">=1.6.0", changes=_ADD, exact=True,
         when=lambda c: _appended_alone(c) and _recreates(c),
         warning="{name} goes down briefly: appending a worker group under rayClusterConfig.upgradeStrategy Recreate "
                 "recreates every pod of the running RayCluster."),
    Rule(_GROUP, IN_PLACE, "in-place RayCluster update (worker group appended)", src.APPENDED_GROUP,
         changes=_ADD, exact=True, when=_appended_alone,
         warning="Worker group appended to {name}: KubeRay copies the whole rayClusterConfig onto the running "
                 "RayCluster, so every existing group's replicas becomes Git's value. With the autoscaler on, "
                 "KubeRay deletes no pod for that and the autoscaler sets replicas again; without it, each group "
                 "scales to Git's replicas."),
    Rule(_CLUSTER, IN_PLACE, "applied with the in-place RayCluster update ({trigger}); on its own KubeRay ignores it",
         src.WHOLE_SPEC_COPY, when=lambda c: _updated_in_place(c) and _muted_here(c),
         warning="{trigger}: KubeRay copies the whole rayClusterConfig onto the running RayCluster, so {ride_along} "
                 "(ignored on their own) are applied with it, to pods created from now on."),
    Rule(_CLUSTER, IN_PLACE, "applied in place with the suspend toggle, without a new cluster", src.SUSPEND_TOGGLE,
         when=_updated_in_place,
         warning="{trigger}: KubeRay {kuberay} copies the whole rayClusterConfig onto the running RayCluster "
                 "without a new cluster: {rolled} reach only pods created from now on."),

    # Fields KubeRay leaves out of the cluster hash, changed on their own: never copied to the running cluster.
    *(Rule(f"{_CLUSTER}.{path}", NO_OP, _IGNORED + (" (the autoscaler owns replicas)" if _leaf(path) == "replicas" else ""),
           source, kuberay=f">={since}" if since != "1.0.0" else "", when=_unchanged_cluster,
           warning=_MUTED_WARNINGS.get(_leaf(path), "").replace("{field}", _leaf(path)))
      for path, since, source in MUTED if _leaf(path) != "suspend"),

    # A hash difference KubeRay does not act on.
    Rule(_CLUSTER, NO_OP, "not applied: {why}", src.NONE_STRATEGY, kuberay=">=1.3.0", when=_blocked_by("type"),
         warning="{why}: KubeRay applies no rayClusterConfig change to the running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),
    Rule(_CLUSTER, NO_OP, "not applied: {why}", src.INCREMENTAL_GATE, kuberay=">=1.5.0", when=_blocked_by("gate"),
         warning="{why}: KubeRay applies no rayClusterConfig change to the running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),
    Rule(_CLUSTER, NO_OP, "not applied: {why}", src.ZERO_DOWNTIME_ENV_V1_1, when=_blocked_by("env"),
         warning="{why}: KubeRay applies no rayClusterConfig change to the running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),

    # Everything else under rayClusterConfig changes the hash: a new RayCluster.
    Rule(_CLUSTER, NEW_CLUSTER, "new RayCluster, traffic shifted step by step through the Gateway (incremental "
         "upgrade)", src.INCREMENTAL_CAPACITY, kuberay=">=1.5.0", when=_rolls_incrementally, rollover=True),
    *(Rule(f"{_CLUSTER}.{path}", NEW_CLUSTER, f"new RayCluster (KubeRay < {since} hashes {_leaf(path)})", src.HASH_V1_1,
           kuberay=f"<{since}", when=_rolls_over, rollover=True)
      for path, since, _ in MUTED if since != "1.0.0" and _leaf(path) != "suspend"),
    Rule(f"{_CLUSTER}.workerGroupSpecs", NEW_CLUSTER, "new RayCluster (worker groups reordered)", src.HASH_V1_7,
         changes=_REORDER, exact=True, rollover=True, when=_rolls_over),
    Rule(_CLUSTER, NEW_CLUSTER, "goes with the new RayCluster (on its own KubeRay ignores it)", src.HASH_V1_7,
         when=lambda c: _rolls_over(c) and _muted_here(c), rollover=True),
    Rule(_CLUSTER, NEW_CLUSTER, "new RayCluster (zero-downtime rollover)", src.HASH_V1_7, rollover=True),

    # serveConfigV2: KubeRay re-submits it to Serve on the running cluster; Serve decides what restarts.
    Rule(_SERVE, NO_OP, "same serve config, different text", src.SERVE_DEPLOY, exact=True,
         changes=frozenset({REFORMATTED})),
    Rule(f"{_SERVE}:applications", NO_OP, "application order (Serve ignores it)", src.SERVE_DEPLOY, exact=True,
         changes=_REORDER),
    Rule(_APP, IN_PLACE, "deploys the new application; others keep running", src.SERVE_DEPLOY, exact=True, changes=_ADD),
    Rule(_APP, APP_RESTART, "deletes the application", src.SERVE_DEPLOY, exact=True, changes=_REMOVE),
    Rule(f"{_APP}.deployments", NO_OP, "deployment order (Serve ignores it)", src.SERVE_DEPLOY, exact=True,
         changes=_REORDER),
    *(Rule(f"{_DEPLOYMENT}.{field}", IN_PLACE, "in-place Serve update, no replica restart", src.SERVE_LIGHTWEIGHT)
      for field in SERVE_IN_PLACE_FIELDS),
    *(Rule(f"{_DEPLOYMENT}.{field}", REPLICA_RESTART, "restarts the deployment's replicas", src.SERVE_CODE_UPDATE)
      for field in SERVE_RESTART_FIELDS),
    Rule(_DEPLOYMENT, IN_PLACE, "in-place Serve update, no replica restart", src.SERVE_LIGHTWEIGHT, exact=True,
         changes=_ADD | _REMOVE, when=_light_deployment_entry),
    Rule(_DEPLOYMENT, REPLICA_RESTART, "restarts the deployment's replicas", src.SERVE_CODE_UPDATE),
    *(Rule(f"{_APP}.{field}", APP_RESTART, "restarts every deployment of the application", src.SERVE_CODE_UPDATE)
      for field in ("import_path", "runtime_env", "args")),
    *(Rule(f"{_APP}.{field}", IN_PLACE, "in-place Serve update", src.SERVE_LIGHTWEIGHT)
      for field in ("route_prefix", "logging_config")),
    Rule(_APP, APP_RESTART, "restarts the application", src.SERVE_CODE_UPDATE),
    *(Rule(f"{_SERVE}:{field}", NO_OP, "ignored while Serve runs", src.SERVE_GLOBAL,
           warning=f"serveConfigV2 {field} cannot change while Serve runs: it takes effect only on a new cluster. "
                   f"{GIT_AND_CLUSTER_DISAGREE}.")
      for field in ("http_options", "grpc_options", "proxy_location")),
    Rule(_SERVE, IN_PLACE, "in-place Serve update", src.SERVE_DEPLOY),

    # spec.upgradeStrategy: not hashed, but it decides whether and how a hash difference rolls out.
    Rule("spec.upgradeStrategy", NEW_CLUSTER, "lifting the block rolls out every rayClusterConfig change made under "
         "it at once (the running cluster dates from {since}): {rolled}", src.NONE_REMOVED, kuberay=">=1.3.0",
         when=_unblocked_rollover, rollover=True,
         warning="{why_before} no longer holds for {name}: the rayClusterConfig changes KubeRay did not apply roll "
                 "out as one new RayCluster now: {rolled}."),
    Rule("spec.upgradeStrategy", NO_OP, "lifts the block; nothing was blocked (the running cluster dates from "
         "{since})", src.NONE_REMOVED, kuberay=">=1.3.0", when=_unblocked),
    Rule("spec.upgradeStrategy", IN_PLACE, "switches to NewClusterWithIncrementalUpgrade: KubeRay creates Gateway "
         "{name}-gateway, HTTPRoute {name}-httproute and a Service <cluster>-serve-svc per RayCluster now",
         src.INCREMENTAL_SWITCH, kuberay=">=1.5.0", when=_to_incremental,
         warning="NewClusterWithIncrementalUpgrade: {old_svc} is no longer updated (it keeps selecting the current "
                 "RayCluster, and nothing once that is replaced) and spec.serveService is ignored; clients must move "
                 "to Gateway {name}-gateway. KubeRay refuses the RayService (ValidationFailed) without "
                 "enableInTreeAutoscaling and complete clusterUpgradeOptions."),
    Rule("spec.upgradeStrategy", NO_OP, "from now on rayClusterConfig changes are not applied: {why}",
         src.NONE_STRATEGY, kuberay=">=1.3.0", when=lambda c: _now_blocked("type")(c) or _now_blocked("env")(c),
         warning="{why}: from now on KubeRay applies no rayClusterConfig change to {name}'s running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),
    Rule("spec.upgradeStrategy", NO_OP, "from now on rayClusterConfig changes are not applied: {why}",
         src.INCREMENTAL_GATE, kuberay=">=1.5.0", when=_now_blocked("gate"),
         warning="{why}: from now on KubeRay applies no rayClusterConfig change to {name}'s running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),
    Rule("spec.upgradeStrategy", NO_OP, "still not applied: {why}", src.NONE_STRATEGY, kuberay=">=1.3.0",
         when=lambda c: _mode(c) == NONE_MODE and _mode(c, "before") == NONE_MODE,
         warning="{why}: KubeRay still applies no rayClusterConfig change to {name}'s running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),
    Rule("spec.upgradeStrategy", IN_PLACE, "leaves NewClusterWithIncrementalUpgrade: {old_svc} is reconciled again; "
         "the Gateway and HTTPRoute stay (KubeRay does not delete them)", src.INCREMENTAL_SWITCH, kuberay=">=1.5.0",
         when=_from_incremental),
    Rule("spec.upgradeStrategy", NO_OP, "applies to the next cluster change", src.NOT_HASHED),

    # spec.serveService: KubeRay writes the Service's spec only when it switches it to another RayCluster.
    Rule("spec.serveService", NO_OP, "ignored: with NewClusterWithIncrementalUpgrade KubeRay serves through "
         "per-cluster Services and the Gateway", src.INCREMENTAL_SWITCH, kuberay=">=1.5.0", when=_incremental,
         warning=f"spec.serveService is ignored under NewClusterWithIncrementalUpgrade. {GIT_AND_CLUSTER_DISAGREE}."),
    Rule("spec.serveService", IN_PLACE, "KubeRay creates Service {new_svc} now; {old_svc} stays, still selecting the "
         "current RayCluster", src.SERVE_SERVICE, when=_serve_service_renamed,
         warning="serveService renamed: KubeRay neither deletes nor updates {old_svc} any more; after the next "
                 "cluster switch it selects nothing. Delete it once clients use {new_svc}."),
    Rule("spec.serveService.metadata", NO_OP, "never applied to the existing Service (only a new one gets them)",
         src.SERVE_SERVICE,
         warning="spec.serveService labels and annotations never reach the existing Service {old_svc}: delete it "
                 f"(KubeRay recreates it) or rename it. {GIT_AND_CLUSTER_DISAGREE}."),
    Rule("spec.serveService", IN_PLACE, "applied when traffic switches to the new RayCluster of this change",
         src.SERVE_SERVICE, when=_rolls_over),
    Rule("spec.serveService", DEFERRED, "not applied until the next cluster switch: KubeRay replaces the Service's "
         "spec only when it points it at a new RayCluster", src.SERVE_SERVICE,
         warning="spec.serveService waits for {name}'s next new RayCluster: "
                 f"{GIT_AND_CLUSTER_DISAGREE} until then."),

    # ray.io/initializing-timeout (an invalid value is refused by the VALIDATION_FAILED row at the top).
    Rule("metadata.annotations", NO_OP, "ray.io/initializing-timeout is unknown to KubeRay < 1.5: copied onto the "
         "RayCluster at its next creation or update only", src.INITIALIZING_TIMEOUT, kuberay="<1.5.0",
         when=_timeout_changes),
    Rule("metadata.annotations", IN_PLACE, "no initializing timeout any more (a RayService already failed by it "
         "stays failed)", src.INITIALIZING_TIMEOUT, when=lambda c: _timeout_changes(c) and _timeout(c.resource.after) is None),
    Rule("metadata.annotations", IN_PLACE, "changes KubeRay's behaviour: initializing timeout {timeout}",
         src.INITIALIZING_TIMEOUT, when=_timeout_changes,
         warning="ray.io/initializing-timeout={timeout}: if {name} is not Ready within {timeout} of its creation "
                 "(or, in KubeRay 1.7, of a resume), KubeRay marks it failed for good (InitializingTimeout) and "
                 "deletes its RayClusters. Fixing Git then does not help: only deleting and recreating the "
                 "RayService does. No effect on a RayService that has been Ready."),

    # The rest of the RayService is not part of the cluster hash.
    Rule("spec.rayClusterDeletionDelaySeconds", NO_OP, "applies to the next rollover", src.NOT_HASHED),
    *(Rule(f"spec.{field}", NO_OP, "unused since KubeRay 1.1 (kuberay#1685)", src.NOT_HASHED)
      for field in ("serviceUnhealthySecondThreshold", "deploymentUnhealthySecondThreshold")),
    Rule("spec", IN_PLACE, "RayService updated in place (not part of the cluster hash)", src.NOT_HASHED),
    Rule("metadata", IN_PLACE, "RayService labels/annotations: copied onto the RayCluster with this change's "
         "cluster update", src.METADATA_COPY, when=_cluster_written),
    Rule("metadata", IN_PLACE, "RayService labels/annotations: KubeRay copies them onto the RayCluster only when it "
         "next creates or updates one", src.METADATA_COPY),
    Rule("", IN_PLACE, "RayService updated in place", src.NOT_HASHED),

    # The operator, its CRDs and Argo CD's own objects (diff/operator.py).
    *OPERATOR_RULES,

    # Every other kind: a normal apply. The note says which pods read it only at start.
    Rule("", IN_PLACE, "Argo CD sync hook: recreated and run on every sync", src.ARGOCD_HOOKS, kind=ANY_OTHER,
         when=_argocd_hook),
    Rule("spec.template", IN_PLACE, "Kubernetes apply", src.K8S_JOB, kind="Job",
         warning="A Job's spec.template is immutable: the apply fails unless the Job is deleted first "
                 "(or is an Argo CD hook, or synced with Replace=true)."),
    Rule("", IN_PLACE, "Kubernetes apply", src.K8S_APPLY, kind=ANY_OTHER),
)
