"""THE rules table: what a change does to the running service, by KubeRay version. First match wins, so
specific rows come before general ones; each row cites its source (diff/sources.py).

    next(rule for rule in RULES if matches(rule, ctx))      # diff/rollout.py classify()
    [r for r in RULES if r.kuberay]                          # the version-dependent rows
"""
from __future__ import annotations

from raygitops.diff import conditions as when
from raygitops.diff import sources as src
from raygitops.diff.conditions import SERVE_IN_PLACE_FIELDS, SERVE_RESTART_FIELDS
from raygitops.diff.fields import ADDED, REFORMATTED, REMOVED, REORDERED
from raygitops.diff.kuberay import MUTED, NONE_MODE, SUSPEND_TOGGLE_VERSIONS
from raygitops.diff.operator import OPERATOR_RULES
from raygitops.diff.rulebase import ANY, ANY_OTHER, Rule, unknown_field
from raygitops.diff.verdicts import (APP_RESTART, DEFERRED, IN_PLACE, NEW_CLUSTER, NO_OP, OUTAGE, REJECTED,
                                     REPLICA_RESTART, UNKNOWN_FIELD, VALIDATION_FAILED)

GIT_AND_CLUSTER_DISAGREE = "Git and cluster will disagree"


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
         kuberay=">=1.7.0", changes=_ADD, when=when.created_suspended),
    Rule("", NEW_CLUSTER, "creates the RayService and its RayCluster", src.K8S_APPLY, changes=_ADD,
         when=when.whole_resource),
    Rule("", NEW_CLUSTER, "deletes the RayService, its RayCluster and every app", src.K8S_APPLY, changes=_REMOVE,
         when=when.whole_resource),

    # spec.suspend (the CRD has it from 1.7.0; before, the unknown-field row above answers).
    Rule("spec.suspend", OUTAGE, "suspend: service goes down. KubeRay deletes the RayClusters and the head and serve "
         "Services (and the Gateway and HTTPRoute); nothing answers until suspend is false again, and then a new "
         "RayCluster starts from scratch", src.SUSPEND_SERVICE, kuberay=">=1.7.0", when=when.suspends,
         warning="spec.suspend: true takes {name} down: KubeRay deletes its RayClusters and Services. Once "
                 "Suspending has started it runs to the end, even if Git sets suspend back to false."),
    Rule("spec.suspend", NEW_CLUSTER, "resume: KubeRay creates a new RayCluster from scratch; nothing answers until "
         "its Serve applications are ready", src.SUSPEND_SERVICE, kuberay=">=1.7.0", when=when.resumes),
    Rule("spec.suspend", NO_OP, "not suspended either way", src.SUSPEND_SERVICE, kuberay=">=1.7.0"),

    # rayClusterConfig.suspend (Kueue's switch).
    Rule(f"{_CLUSTER}.suspend", OUTAGE, "suspend: service goes down. KubeRay {kuberay} applies a rayClusterConfig."
         "suspend toggle to the running RayCluster in place, which deletes all its pods", src.SUSPEND_TOGGLE,
         kuberay=SUSPEND_TOGGLE_VERSIONS, when=when.cluster_suspends,
         warning="rayClusterConfig.suspend: true suspends the running RayCluster of {name}: its pods are deleted "
                 "and Serve stops answering."),
    Rule(f"{_CLUSTER}.suspend", IN_PLACE, "the running RayCluster is resumed in place: its pods start again",
         src.SUSPEND_TOGGLE, kuberay=SUSPEND_TOGGLE_VERSIONS, when=when.cluster_resumes),
    Rule(f"{_CLUSTER}.suspend", NO_OP, "ignored by KubeRay after creation", src.SUSPEND_V1_7, kuberay=">=1.7.0",
         when=when.unchanged_cluster,
         warning=f"rayClusterConfig.suspend only takes effect when a cluster is created. {GIT_AND_CLUSTER_DISAGREE}."),
    Rule(f"{_CLUSTER}.suspend", NO_OP, "not applied: the new RayCluster this rolls out is created suspended, never "
         "becomes ready, and so never takes the traffic", src.HASH_V1_1, kuberay="<1.5.2|>=1.6.0,<1.6.1",
         when=lambda c: when.rolls_over(c) and when.cluster_suspends(c),
         warning="rayClusterConfig.suspend: true on a running RayService: KubeRay {kuberay} starts a suspended new "
                 f"RayCluster that never serves; the running one keeps serving. {GIT_AND_CLUSTER_DISAGREE}."),

    # The in-place RayCluster update: worker groups appended at the end (or the suspend toggle above).
    # KubeRay copies the WHOLE rayClusterConfig onto the running RayCluster, muted fields included.
    Rule(_GROUP, OUTAGE, "worker group appended with rayClusterConfig.upgradeStrategy Recreate: the in-place "
         "update changes the RayCluster's hash, so KubeRay deletes and recreates all its pods; Serve stops answering "
         "until they are back", src.RECREATE_PODS, kuberay=">=1.6.0", changes=_ADD, exact=True,
         when=lambda c: when.appended_alone(c) and when.recreates(c),
         warning="{name} goes down briefly: appending a worker group under rayClusterConfig.upgradeStrategy Recreate "
                 "recreates every pod of the running RayCluster."),
    Rule(_GROUP, IN_PLACE, "in-place RayCluster update (worker group appended)", src.APPENDED_GROUP,
         changes=_ADD, exact=True, when=when.appended_alone,
         warning="Worker group appended to {name}: KubeRay copies the whole rayClusterConfig onto the running "
                 "RayCluster, so every existing group's replicas becomes Git's value. With the autoscaler on, "
                 "KubeRay deletes no pod for that and the autoscaler sets replicas again; without it, each group "
                 "scales to Git's replicas."),
    Rule(_CLUSTER, IN_PLACE, "applied with the in-place RayCluster update ({trigger}); on its own KubeRay ignores it",
         src.WHOLE_SPEC_COPY, when=lambda c: when.updated_in_place(c) and when.muted_here(c),
         warning="{trigger}: KubeRay copies the whole rayClusterConfig onto the running RayCluster, so {ride_along} "
                 "(ignored on their own) are applied with it, to pods created from now on."),
    Rule(_CLUSTER, IN_PLACE, "applied in place with the suspend toggle, without a new cluster", src.SUSPEND_TOGGLE,
         when=when.updated_in_place,
         warning="{trigger}: KubeRay {kuberay} copies the whole rayClusterConfig onto the running RayCluster "
                 "without a new cluster: {rolled} reach only pods created from now on."),

    # Fields KubeRay leaves out of the cluster hash, changed on their own: never copied to the running cluster.
    *(Rule(f"{_CLUSTER}.{path}", NO_OP, _IGNORED + (" (the autoscaler owns replicas)" if _leaf(path) == "replicas" else ""),
           source, kuberay=f">={since}" if since != "1.0.0" else "", when=when.unchanged_cluster,
           warning=_MUTED_WARNINGS.get(_leaf(path), "").replace("{field}", _leaf(path)))
      for path, since, source in MUTED if _leaf(path) != "suspend"),

    # A hash difference KubeRay does not act on.
    Rule(_CLUSTER, NO_OP, "not applied: {why}", src.NONE_STRATEGY, kuberay=">=1.3.0", when=when.blocked_by("type"),
         warning="{why}: KubeRay applies no rayClusterConfig change to the running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),
    Rule(_CLUSTER, NO_OP, "not applied: {why}", src.INCREMENTAL_GATE, kuberay=">=1.5.0", when=when.blocked_by("gate"),
         warning="{why}: KubeRay applies no rayClusterConfig change to the running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),
    Rule(_CLUSTER, NO_OP, "not applied: {why}", src.ZERO_DOWNTIME_ENV_V1_1, when=when.blocked_by("env"),
         warning="{why}: KubeRay applies no rayClusterConfig change to the running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),

    # Everything else under rayClusterConfig changes the hash: a new RayCluster.
    Rule(_CLUSTER, NEW_CLUSTER, "new RayCluster, traffic shifted step by step through the Gateway (incremental "
         "upgrade)", src.INCREMENTAL_CAPACITY, kuberay=">=1.5.0", when=when.rolls_incrementally, rollover=True),
    *(Rule(f"{_CLUSTER}.{path}", NEW_CLUSTER, f"new RayCluster (KubeRay < {since} hashes {_leaf(path)})", src.HASH_V1_1,
           kuberay=f"<{since}", when=when.rolls_over, rollover=True)
      for path, since, _ in MUTED if since != "1.0.0" and _leaf(path) != "suspend"),
    Rule(f"{_CLUSTER}.workerGroupSpecs", NEW_CLUSTER, "new RayCluster (worker groups reordered)", src.HASH_V1_7,
         changes=_REORDER, exact=True, rollover=True, when=when.rolls_over),
    # GCS fault tolerance: enabling, changing or dropping it is a new cluster like any hashed field, named here
    # because its effect reaches past the pods (which Redis, which keys). A changed backend is refused by the
    # CRD's own rule (self == oldSelf), which the CEL row at the top reports.
    Rule(f"{_CLUSTER}.gcsFaultToleranceOptions", NEW_CLUSTER,
         "new RayCluster with GCS fault tolerance; its head keeps GCS state in Redis under the new cluster's UID",
         src.GCS_FT, kuberay=">=1.3.0", changes=_ADD, exact=True, when=when.rolls_over, rollover=True),
    Rule(f"{_CLUSTER}.gcsFaultToleranceOptions", NEW_CLUSTER,
         "new RayCluster without GCS fault tolerance: a head failure then restarts every app", src.GCS_FT,
         kuberay=">=1.3.0", changes=_REMOVE, exact=True, when=when.rolls_over, rollover=True),
    Rule(f"{_CLUSTER}.gcsFaultToleranceOptions", NEW_CLUSTER,
         "new RayCluster on the changed GCS fault tolerance settings (Redis address or credentials); the old "
         "cluster's keys are cleaned up when it is deleted", src.GCS_FT, kuberay=">=1.3.0", when=when.rolls_over,
         rollover=True),
    Rule(_CLUSTER, NEW_CLUSTER, "goes with the new RayCluster (on its own KubeRay ignores it)", src.HASH_V1_7,
         when=lambda c: when.rolls_over(c) and when.muted_here(c), rollover=True),
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
         changes=_ADD | _REMOVE, when=when.light_deployment_entry),
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
         when=when.unblocked_rollover, rollover=True,
         warning="{why_before} no longer holds for {name}: the rayClusterConfig changes KubeRay did not apply roll "
                 "out as one new RayCluster now: {rolled}."),
    Rule("spec.upgradeStrategy", NO_OP, "lifts the block; nothing was blocked (the running cluster dates from "
         "{since})", src.NONE_REMOVED, kuberay=">=1.3.0", when=when.unblocked),
    Rule("spec.upgradeStrategy", IN_PLACE, "switches to NewClusterWithIncrementalUpgrade: KubeRay creates Gateway "
         "{name}-gateway, HTTPRoute {name}-httproute and a Service <cluster>-serve-svc per RayCluster now",
         src.INCREMENTAL_SWITCH, kuberay=">=1.5.0", when=when.to_incremental,
         warning="NewClusterWithIncrementalUpgrade: {old_svc} is no longer updated (it keeps selecting the current "
                 "RayCluster, and nothing once that is replaced) and spec.serveService is ignored; clients must move "
                 "to Gateway {name}-gateway. KubeRay refuses the RayService (ValidationFailed) without "
                 "enableInTreeAutoscaling and complete clusterUpgradeOptions."),
    Rule("spec.upgradeStrategy", NO_OP, "from now on rayClusterConfig changes are not applied: {why}",
         src.NONE_STRATEGY, kuberay=">=1.3.0", when=lambda c: when.now_blocked("type")(c) or when.now_blocked("env")(c),
         warning="{why}: from now on KubeRay applies no rayClusterConfig change to {name}'s running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),
    Rule("spec.upgradeStrategy", NO_OP, "from now on rayClusterConfig changes are not applied: {why}",
         src.INCREMENTAL_GATE, kuberay=">=1.5.0", when=when.now_blocked("gate"),
         warning="{why}: from now on KubeRay applies no rayClusterConfig change to {name}'s running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),
    Rule("spec.upgradeStrategy", NO_OP, "still not applied: {why}", src.NONE_STRATEGY, kuberay=">=1.3.0",
         when=lambda c: when.mode(c) == NONE_MODE and when.mode(c, "before") == NONE_MODE,
         warning="{why}: KubeRay still applies no rayClusterConfig change to {name}'s running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),
    Rule("spec.upgradeStrategy", IN_PLACE, "leaves NewClusterWithIncrementalUpgrade: {old_svc} is reconciled again; "
         "the Gateway and HTTPRoute stay (KubeRay does not delete them)", src.INCREMENTAL_SWITCH, kuberay=">=1.5.0",
         when=when.from_incremental),
    Rule("spec.upgradeStrategy", NO_OP, "applies to the next cluster change", src.NOT_HASHED),

    # spec.serveService: KubeRay writes the Service's spec only when it switches it to another RayCluster.
    Rule("spec.serveService", NO_OP, "ignored: with NewClusterWithIncrementalUpgrade KubeRay serves through "
         "per-cluster Services and the Gateway", src.INCREMENTAL_SWITCH, kuberay=">=1.5.0", when=when.incremental,
         warning=f"spec.serveService is ignored under NewClusterWithIncrementalUpgrade. {GIT_AND_CLUSTER_DISAGREE}."),
    Rule("spec.serveService", IN_PLACE, "KubeRay creates Service {new_svc} now; {old_svc} stays, still selecting the "
         "current RayCluster", src.SERVE_SERVICE, when=when.serve_service_renamed,
         warning="serveService renamed: KubeRay neither deletes nor updates {old_svc} any more; after the next "
                 "cluster switch it selects nothing. Delete it once clients use {new_svc}."),
    Rule("spec.serveService.metadata", NO_OP, "never applied to the existing Service (only a new one gets them)",
         src.SERVE_SERVICE,
         warning="spec.serveService labels and annotations never reach the existing Service {old_svc}: delete it "
                 f"(KubeRay recreates it) or rename it. {GIT_AND_CLUSTER_DISAGREE}."),
    Rule("spec.serveService", IN_PLACE, "applied when traffic switches to the new RayCluster of this change",
         src.SERVE_SERVICE, when=when.rolls_over),
    Rule("spec.serveService", DEFERRED, "not applied until the next cluster switch: KubeRay replaces the Service's "
         "spec only when it points it at a new RayCluster", src.SERVE_SERVICE,
         warning="spec.serveService waits for {name}'s next new RayCluster: "
                 f"{GIT_AND_CLUSTER_DISAGREE} until then."),

    # ray.io/initializing-timeout (an invalid value is refused by the VALIDATION_FAILED row at the top).
    Rule("metadata.annotations", NO_OP, "ray.io/initializing-timeout is unknown to KubeRay < 1.5: copied onto the "
         "RayCluster at its next creation or update only", src.INITIALIZING_TIMEOUT, kuberay="<1.5.0",
         when=when.timeout_changes),
    Rule("metadata.annotations", IN_PLACE, "no initializing timeout any more (a RayService already failed by it "
         "stays failed)", src.INITIALIZING_TIMEOUT,
         when=lambda c: when.timeout_changes(c) and when.timeout(c.resource.after) is None),
    Rule("metadata.annotations", IN_PLACE, "changes KubeRay's behaviour: initializing timeout {timeout}",
         src.INITIALIZING_TIMEOUT, when=when.timeout_changes,
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
         "cluster update", src.METADATA_COPY, when=when.cluster_written),
    Rule("metadata", IN_PLACE, "RayService labels/annotations: KubeRay copies them onto the RayCluster only when it "
         "next creates or updates one", src.METADATA_COPY),
    Rule("", IN_PLACE, "RayService updated in place", src.NOT_HASHED),

    # The operator, its CRDs and Argo CD's own objects (diff/operator.py).
    *OPERATOR_RULES,

    # Every other kind: a normal apply. The note says which pods read it only at start.
    Rule("", IN_PLACE, "Argo CD sync hook: recreated and run on every sync", src.ARGOCD_HOOKS, kind=ANY_OTHER,
         when=when.argocd_hook),
    Rule("spec.template", IN_PLACE, "Kubernetes apply", src.K8S_JOB, kind="Job",
         warning="A Job's spec.template is immutable: the apply fails unless the Job is deleted first "
                 "(or is an Argo CD hook, or synced with Replace=true)."),
    Rule("", IN_PLACE, "Kubernetes apply", src.K8S_APPLY, kind=ANY_OTHER),
)
