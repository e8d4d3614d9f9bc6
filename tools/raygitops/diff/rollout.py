"""What a change does to the running cluster, by KubeRay version: one rules table, each row with its source.

    classified = classify(resource_diff, kuberay="1.7.0", environment=resources)  # [Classified]
    worst(c.verdict for c in classified)   # "no-op" < "in-place" < "replica restart" < "app restart" < "new cluster"

Sources: shared/reference/notes-kuberay-argocd.md §3 (KubeRay's RayService upgrade semantics, read from
ray-project/kuberay at v1.1.1 and v1.7.0) and notes-aana-ray.md §4 (Ray Serve in-place updates).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from raygitops.diff.fields import (ADDED, CHANGED, REFORMATTED, REMOVED, REORDERED, FieldChange, Named, ResourceDiff,
                                   path_shape)
from raygitops.model.rayservice import RAY_KINDS, Container, RayServiceView, parse_quantity

NO_OP, IN_PLACE, REPLICA_RESTART, APP_RESTART, NEW_CLUSTER = (
    "no-op", "in-place", "replica restart", "app restart", "new cluster")
VERDICTS = (NO_OP, IN_PLACE, REPLICA_RESTART, APP_RESTART, NEW_CLUSTER)

# --- sources, cited by the rules ------------------------------------------------------------------

HASH_V1_1 = ("kuberay v1.1.1 ray-operator/controllers/ray/rayservice_controller.go: "
             "generateHashWithoutReplicasAndWorkersToDelete mutes only replicas and workersToDelete; getClusterAction")
HASH_V1_7 = ("kuberay v1.7.0 ray-operator/controllers/ray/utils/util.go:645 GenerateHashWithoutReplicasAndWorkersToDelete; "
             "rayservice_controller.go:1409 shouldPrepareNewCluster")
MIN_MAX_V1_2 = "kuberay PR #2172 (commit aeb8b03df, v1.2.0) mutes minReplicas/maxReplicas in the cluster hash"
TOLERATIONS_V1_6 = "kuberay PR #4569 (v1.6.0) mutes tolerations/schedulingGates (external controllers such as Kueue inject them)"
UPGRADE_STRATEGY_V1_6 = "kuberay PR #4185 (v1.6.0) mutes rayClusterConfig.upgradeStrategy"
SUSPEND_V1_7 = "kuberay PR #4841 (v1.7.0): rayClusterConfig.suspend is only propagated at creation"
APPENDED_GROUP = ("kuberay getClusterAction (v1.1.1) / shouldUpdateCluster (v1.7.0): identical except worker groups "
                  "appended at the end → update in place (PR #1734)")
NONE_STRATEGY = ("kuberay rayservice_controller.go isZeroDowntimeUpgradeEnabled (v1.7.0 L868): "
                 "spec.upgradeStrategy.type None → no new cluster, the change is not applied (upgradeStrategy since v1.3.0, PR #2468)")
INCREMENTAL = "kuberay v1.5.0 PR #3166 NewClusterWithIncrementalUpgrade (Beta, on by default in v1.7.0)"
NOT_HASHED = "notes-kuberay-argocd.md §3 summary table: RayService fields outside rayClusterConfig are not hashed"
SERVE_LIGHTWEIGHT = ("docs.ray.io serve/advanced-guides/inplace-updates (lightweight config updates); "
                     "Ray 2.46 ray/serve/_private/config.py DeploymentConfig update_type is not HeavyWeight")
SERVE_CODE_UPDATE = "docs.ray.io serve/advanced-guides/inplace-updates (code updates restart replicas)"
SERVE_GLOBAL = ("Ray 2.46 dashboard/modules/serve/serve_head.py validate_http_options: Serve ignores new HTTP options "
                "while it runs; schema.py: grpc_options port 'cannot be updated once Serve has started running'")
SERVE_DEPLOY = "docs.ray.io serve production-guide: the config is declarative; KubeRay re-submits serveConfigV2 on change"
K8S_APPLY = "Kubernetes: the object is applied as is; pods read env from ConfigMaps/Secrets only when they start"
K8S_JOB = "Kubernetes API: Job spec.template is immutable once created"
ARGOCD_HOOKS = ("argo-cd docs/user-guide/resource_hooks.md: hooks run on every sync; "
                "hook-delete-policy BeforeHookCreation deletes the previous one first")

# Fields of a Serve deployment that Serve updates without restarting replicas (Ray's
# DeploymentConfig: LightWeight, NeedsReconfigure and NeedsActorReconfigure; user_config
# reaches running replicas through reconfigure()).
SERVE_IN_PLACE_FIELDS = ("num_replicas", "autoscaling_config", "user_config", "max_ongoing_requests",
                         "max_concurrent_queries", "max_queued_requests", "graceful_shutdown_timeout_s",
                         "graceful_shutdown_wait_loop_s", "health_check_period_s", "health_check_timeout_s",
                         "logging_config")
# Fields that change the replica's actor: Serve starts new replicas.
SERVE_RESTART_FIELDS = ("ray_actor_options", "placement_group_bundles", "placement_group_strategy",
                        "max_replicas_per_node")

GIT_AND_CLUSTER_DISAGREE = "Git and cluster will disagree"

GCS_FT = ("kuberay v1.7.0 ray-operator/controllers/ray/utils/util.go:645 GenerateHashWithoutReplicasAndWorkersToDelete "
          "hashes rayClusterConfig.gcsFaultToleranceOptions; common/pod.go configureRedisFT gives the new head "
          "RAY_REDIS_ADDRESS and RAY_external_storage_namespace = the new RayCluster's UID; "
          "raycluster_controller.go: the old cluster's Redis cleanup Job deletes its keys when it is deleted")
GCS_FT_BACKEND = ("kuberay v1.7.0 ray-operator/apis/ray/v1/raycluster_types.go GcsFaultToleranceOptions.Backend: "
                  "x-kubernetes-validations self == oldSelf, 'gcsFaultToleranceOptions.backend is immutable'")


@dataclass(frozen=True)
class Context:
    kuberay: tuple[int, ...]
    resource: ResourceDiff
    change: FieldChange | None          # None: the whole resource was added or removed


@dataclass(frozen=True)
class Rule:
    """One row. `pattern` is a path prefix: keys joined by '.', '[]' for any list item,
    ':' into the YAML a string holds; '' is the whole resource."""
    pattern: str
    verdict: str
    impact: str
    source: str
    kuberay: str = ""                   # ">=1.2.0", "<1.2.0" or "" for every version
    kind: str = "RayService"            # or another kind; "*": any kind but RayService
    changes: frozenset = frozenset()    # only these FieldChange kinds (ADDED, REORDERED…); empty: any
    exact: bool = False                 # the path must equal the pattern, not just start with it
    when: Callable[[Context], bool] | None = None
    warning: str = ""                   # printed loudly: the change will not do what Git says
    rollover: bool = False              # a new RayCluster runs beside the old one until the switch


@dataclass(frozen=True)
class Classified:
    resource: ResourceDiff
    change: FieldChange | None
    rule: Rule
    note: str = ""

    @property
    def verdict(self) -> str:
        return self.rule.verdict

    @property
    def impact(self) -> str:
        return self.rule.impact

    @property
    def warning(self) -> str:
        return self.rule.warning


# --- conditions used by the table -------------------------------------------------------------

def _whole_resource(ctx: Context) -> bool:
    return ctx.change is None


def _light_deployment_entry(ctx: Context) -> bool:
    """An added or removed deployment entry that sets only in-place fields: Serve moves the
    deployment between those values and the code's defaults without restarting replicas."""
    entry = ctx.change.after if ctx.change.change == ADDED else ctx.change.before
    return isinstance(entry, dict) and set(entry) <= {"name", *SERVE_IN_PLACE_FIELDS}


def _upgrade_strategy(ctx: Context) -> str:
    service = ctx.resource.after or ctx.resource.before or {}
    return str(((service.get("spec") or {}).get("upgradeStrategy") or {}).get("type") or "NewCluster")


def _strategy_none(ctx: Context) -> bool:
    return _upgrade_strategy(ctx) == "None"


def _strategy_incremental(ctx: Context) -> bool:
    return _upgrade_strategy(ctx) == "NewClusterWithIncrementalUpgrade"


def _argocd_hook(ctx: Context) -> bool:
    resource = ctx.resource.after or ctx.resource.before or {}
    return "argocd.argoproj.io/hook" in ((resource.get("metadata") or {}).get("annotations") or {})


def _appended_group(ctx: Context) -> bool:
    """A worker group added after every existing group, which keep their order."""
    def names(resource: dict | None) -> list[str]:
        return RayServiceView(resource or {}).worker_names

    old, new = names(ctx.resource.before), names(ctx.resource.after)
    added = ctx.change.path[-1]
    return (isinstance(added, Named) and new[:len(old)] == old
            and added.name in new[len(old):])


_ADD, _REMOVE, _REORDER = frozenset({ADDED}), frozenset({REMOVED}), frozenset({REORDERED})
_CLUSTER = "spec.rayClusterConfig"
_GROUP = f"{_CLUSTER}.workerGroupSpecs[]"
_POD_TEMPLATES = (f"{_CLUSTER}.headGroupSpec.template.spec", f"{_GROUP}.template.spec")
_SERVE = "spec.serveConfigV2"
_APP = f"{_SERVE}:applications[]"
_DEPLOYMENT = f"{_APP}.deployments[]"
_IGNORED = "ignored by KubeRay: not propagated to the running cluster"

# --- THE TABLE: first match wins, so specific rows come before general ones ----------------------

RULES: tuple[Rule, ...] = (
    # Whole RayServices.
    Rule("", NEW_CLUSTER, "creates the RayService and its RayCluster", K8S_APPLY, changes=_ADD, when=_whole_resource),
    Rule("", NEW_CLUSTER, "deletes the RayService, its RayCluster and every app", K8S_APPLY, changes=_REMOVE,
         when=_whole_resource),

    # rayClusterConfig fields KubeRay leaves out of the cluster hash: never copied to the running cluster.
    Rule(f"{_GROUP}.replicas", NO_OP, f"{_IGNORED} (the autoscaler owns replicas)", HASH_V1_1),
    Rule(f"{_GROUP}.scaleStrategy.workersToDelete", NO_OP, _IGNORED, HASH_V1_1),
    *(Rule(f"{_GROUP}.{field}", NO_OP, _IGNORED, MIN_MAX_V1_2, kuberay=">=1.2.0",
           warning=f"{field} is ignored by KubeRay ≥ 1.2: the running cluster keeps the old value until the next "
                   f"new cluster. {GIT_AND_CLUSTER_DISAGREE}.")
      for field in ("minReplicas", "maxReplicas")),
    *(Rule(f"{template}.{field}", NO_OP, _IGNORED, TOLERATIONS_V1_6, kuberay=">=1.6.0",
           warning=f"{field} are ignored by KubeRay ≥ 1.6: running pods keep the old ones until the next "
                   f"new cluster. {GIT_AND_CLUSTER_DISAGREE}.")
      for template in _POD_TEMPLATES for field in ("tolerations", "schedulingGates")),
    Rule(f"{_CLUSTER}.upgradeStrategy", NO_OP, _IGNORED, UPGRADE_STRATEGY_V1_6, kuberay=">=1.6.0"),
    Rule(f"{_CLUSTER}.suspend", NO_OP, "ignored by KubeRay after creation", SUSPEND_V1_7, kuberay=">=1.7.0",
         warning=f"rayClusterConfig.suspend only takes effect when a cluster is created. {GIT_AND_CLUSTER_DISAGREE}."),

    # Worker groups appended at the end: the one in-place RayCluster update.
    Rule(f"{_GROUP}", IN_PLACE, "in-place RayCluster update (worker group appended)", APPENDED_GROUP,
         changes=_ADD, exact=True, when=_appended_group),

    # Everything else under rayClusterConfig changes the hash.
    Rule(_CLUSTER, NO_OP, "not applied: upgradeStrategy.type is None", NONE_STRATEGY, kuberay=">=1.3.0",
         when=_strategy_none,
         warning=f"upgradeStrategy.type None: KubeRay applies no rayClusterConfig change to the running cluster. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),
    Rule(_CLUSTER, NEW_CLUSTER, "new RayCluster, traffic shifted step by step", INCREMENTAL, kuberay=">=1.5.0",
         when=_strategy_incremental, rollover=True),
    # GCS fault tolerance: enabling, changing or dropping it is a new cluster like any hashed field, named here
    # because its effect reaches past the pods (which Redis, which keys); the backend cannot change at all.
    Rule(f"{_CLUSTER}.gcsFaultToleranceOptions.backend", NO_OP, "rejected by the API server: the backend is immutable",
         GCS_FT_BACKEND, kuberay=">=1.7.0", changes=frozenset({CHANGED}),
         warning="gcsFaultToleranceOptions.backend is immutable (the CRD's rule self == oldSelf): the API server "
                 "rejects the whole update, every other change in it too, and the sync fails. "
                 f"{GIT_AND_CLUSTER_DISAGREE}."),
    Rule(f"{_CLUSTER}.gcsFaultToleranceOptions", NEW_CLUSTER,
         "new RayCluster with GCS fault tolerance; its head keeps GCS state in Redis under the new cluster's UID",
         GCS_FT, kuberay=">=1.3.0", changes=_ADD, exact=True, rollover=True),
    Rule(f"{_CLUSTER}.gcsFaultToleranceOptions", NEW_CLUSTER,
         "new RayCluster without GCS fault tolerance: a head failure then restarts every app", GCS_FT,
         kuberay=">=1.3.0", changes=_REMOVE, exact=True, rollover=True),
    Rule(f"{_CLUSTER}.gcsFaultToleranceOptions", NEW_CLUSTER,
         "new RayCluster on the changed GCS fault tolerance settings (Redis address or credentials); "
         "the old cluster's keys are cleaned up when it is deleted", GCS_FT, kuberay=">=1.3.0", rollover=True),
    *(Rule(f"{_GROUP}.{field}", NEW_CLUSTER, "new RayCluster (KubeRay < 1.2 hashes min/maxReplicas)", HASH_V1_1,
           kuberay="<1.2.0", rollover=True) for field in ("minReplicas", "maxReplicas")),
    *(Rule(f"{template}.{field}", NEW_CLUSTER, "new RayCluster (KubeRay < 1.6 hashes tolerations)", HASH_V1_1,
           kuberay="<1.6.0", rollover=True)
      for template in _POD_TEMPLATES for field in ("tolerations", "schedulingGates")),
    Rule(f"{_CLUSTER}.workerGroupSpecs", NEW_CLUSTER, "new RayCluster (worker groups reordered)", HASH_V1_7,
         changes=_REORDER, exact=True, rollover=True),
    Rule(_CLUSTER, NEW_CLUSTER, "new RayCluster (zero-downtime rollover)", HASH_V1_7, rollover=True),

    # serveConfigV2: KubeRay re-submits it to Serve on the running cluster; Serve decides what restarts.
    Rule(_SERVE, NO_OP, "same serve config, different text", SERVE_DEPLOY, exact=True,
         changes=frozenset({REFORMATTED})),
    Rule(f"{_SERVE}:applications", NO_OP, "application order (Serve ignores it)", SERVE_DEPLOY, exact=True,
         changes=_REORDER),
    Rule(_APP, IN_PLACE, "deploys the new application; others keep running", SERVE_DEPLOY, exact=True, changes=_ADD),
    Rule(_APP, APP_RESTART, "deletes the application", SERVE_DEPLOY, exact=True, changes=_REMOVE),
    Rule(f"{_APP}.deployments", NO_OP, "deployment order (Serve ignores it)", SERVE_DEPLOY, exact=True,
         changes=_REORDER),
    *(Rule(f"{_DEPLOYMENT}.{field}", IN_PLACE, "in-place Serve update, no replica restart", SERVE_LIGHTWEIGHT)
      for field in SERVE_IN_PLACE_FIELDS),
    *(Rule(f"{_DEPLOYMENT}.{field}", REPLICA_RESTART, "restarts the deployment's replicas", SERVE_CODE_UPDATE)
      for field in SERVE_RESTART_FIELDS),
    Rule(_DEPLOYMENT, IN_PLACE, "in-place Serve update, no replica restart", SERVE_LIGHTWEIGHT, exact=True,
         changes=_ADD | _REMOVE, when=_light_deployment_entry),
    Rule(_DEPLOYMENT, REPLICA_RESTART, "restarts the deployment's replicas", SERVE_CODE_UPDATE),
    *(Rule(f"{_APP}.{field}", APP_RESTART, "restarts every deployment of the application", SERVE_CODE_UPDATE)
      for field in ("import_path", "runtime_env", "args")),
    *(Rule(f"{_APP}.{field}", IN_PLACE, "in-place Serve update", SERVE_LIGHTWEIGHT)
      for field in ("route_prefix", "logging_config")),
    Rule(_APP, APP_RESTART, "restarts the application", SERVE_CODE_UPDATE),
    *(Rule(f"{_SERVE}:{field}", NO_OP, "ignored while Serve runs", SERVE_GLOBAL,
           warning=f"serveConfigV2 {field} cannot change while Serve runs: it takes effect only on a new cluster. "
                   f"{GIT_AND_CLUSTER_DISAGREE}.")
      for field in ("http_options", "grpc_options", "proxy_location")),
    Rule(_SERVE, IN_PLACE, "in-place Serve update", SERVE_DEPLOY),

    # The rest of the RayService is not part of the cluster hash.
    Rule("spec.upgradeStrategy", NO_OP, "applies to the next cluster change", NOT_HASHED),
    Rule("spec.rayClusterDeletionDelaySeconds", NO_OP, "applies to the next rollover", NOT_HASHED),
    *(Rule(f"spec.{field}", NO_OP, "unused since KubeRay 1.1 (kuberay#1685)", NOT_HASHED)
      for field in ("serviceUnhealthySecondThreshold", "deploymentUnhealthySecondThreshold")),
    Rule("spec.suspend", NEW_CLUSTER, "suspends or resumes the RayService: its RayCluster is deleted or created",
         NOT_HASHED, kuberay=">=1.7.0"),
    Rule("spec", IN_PLACE, "RayService updated in place (not part of the cluster hash)", NOT_HASHED),
    Rule("", IN_PLACE, "RayService metadata only; the RayCluster is not touched", NOT_HASHED),

    # Every other kind: a normal apply. The note says which pods read it only at start.
    Rule("", IN_PLACE, "Argo CD sync hook: recreated and run on every sync", ARGOCD_HOOKS, kind="*",
         when=_argocd_hook),
    Rule("spec.template", IN_PLACE, "Kubernetes apply", K8S_JOB, kind="Job",
         warning="A Job's spec.template is immutable: the apply fails unless the Job is deleted first "
                 "(or is an Argo CD hook, or synced with Replace=true)."),
    Rule("", IN_PLACE, "Kubernetes apply", K8S_APPLY, kind="*"),
)


# --- matching ------------------------------------------------------------------------------------

def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _version_ok(condition: str, version: tuple[int, ...]) -> bool:
    if not condition:
        return True
    operator, bound = re.match(r"(>=|<)(.+)", condition).groups()
    return version >= parse_version(bound) if operator == ">=" else version < parse_version(bound)


def _pattern_shape(pattern: str) -> tuple[str, ...]:
    """'spec.serveConfigV2:applications[].name' → ('spec', 'serveConfigV2', ':', 'applications', '[]', 'name')"""
    return tuple(token for token in re.split(r"(\[\]|:|\.)", pattern) if token not in ("", "."))


_SHAPES = {rule.pattern: _pattern_shape(rule.pattern) for rule in RULES}


def _matches(rule: Rule, ctx: Context) -> bool:
    if rule.kind != ctx.resource.kind and (rule.kind != "*" or ctx.resource.kind == "RayService"):
        return False
    if not _version_ok(rule.kuberay, ctx.kuberay):
        return False
    change_kind = ctx.change.change if ctx.change else ctx.resource.change
    if rule.changes and change_kind not in rule.changes:
        return False
    shape, wanted = path_shape(ctx.change.path) if ctx.change else (), _SHAPES[rule.pattern]
    if shape[:len(wanted)] != wanted or (rule.exact and len(shape) != len(wanted)):
        return False
    return rule.when is None or rule.when(ctx)


def classify(resource: ResourceDiff, *, kuberay: str, environment: Iterable[dict] = ()) -> list[Classified]:
    """One Classified per field change (or one for a whole added/removed resource).
    `environment` (all its resources) tells which pods read a ConfigMap, Secret or PVC."""
    version = parse_version(kuberay)
    note = consumer_note(resource, tuple(environment))
    out = []
    for change in resource.fields or (None,):
        ctx = Context(version, resource, change)
        rule = next(rule for rule in RULES if _matches(rule, ctx))  # the last rows match anything
        out.append(Classified(resource, change, rule, note=note))
    return out


def worst(verdicts: Iterable[str]) -> str:
    return max(verdicts, key=VERDICTS.index, default=NO_OP)


# --- who reads a ConfigMap, Secret or PVC -------------------------------------------------------

def _pod_specs(resource: dict) -> list[tuple[str, dict, tuple[Container, ...], bool]]:
    """(who, pod spec, its containers, whether it is a Ray pod) for every pod template a resource holds."""
    view = RayServiceView(resource)
    if view.kind == "RayService":
        return [(f"Ray {t.group.name}", t.spec, t.containers, True) for t in view.pod_templates if t.group]
    if view.kind in RAY_KINDS:
        return []   # a RayCluster or RayJob of its own is not followed
    who = f"{view.kind}/{(resource.get('metadata') or {}).get('name', '?')}"
    return [(who, t.spec, t.containers, False) for t in view.pod_templates]


def _references(pod: dict, containers: tuple[Container, ...]) -> set[tuple[str, str, str]]:
    """(kind, name, how) for every ConfigMap, Secret and PVC a pod spec uses; how is env or volume.
    The containers include KubeRay's autoscaler sidecar, whose env comes from autoscalerOptions."""
    refs = set()
    for container in (c.spec for c in containers):
        for env in container.get("env") or []:
            source = (env.get("valueFrom") or {}) if isinstance(env, dict) else {}
            if source.get("configMapKeyRef"):
                refs.add(("ConfigMap", source["configMapKeyRef"].get("name", ""), "env"))
            if source.get("secretKeyRef"):
                refs.add(("Secret", source["secretKeyRef"].get("name", ""), "env"))
        for env_from in container.get("envFrom") or []:
            if env_from.get("configMapRef"):
                refs.add(("ConfigMap", env_from["configMapRef"].get("name", ""), "env"))
            if env_from.get("secretRef"):
                refs.add(("Secret", env_from["secretRef"].get("name", ""), "env"))
    for volume in pod.get("volumes") or []:
        sources = [volume] + [s for s in (volume.get("projected") or {}).get("sources") or []]
        for source in sources:
            if source.get("configMap"):
                refs.add(("ConfigMap", source["configMap"].get("name", ""), "volume"))
            if source.get("secret"):
                refs.add(("Secret", source["secret"].get("secretName") or source["secret"].get("name", ""), "volume"))
        if volume.get("persistentVolumeClaim"):
            refs.add(("PersistentVolumeClaim", volume["persistentVolumeClaim"].get("claimName", ""), "volume"))
    return refs


def _target(resource: dict) -> tuple[str, str]:
    """The object pods refer to: an ExternalSecret stands for the Secret it writes."""
    meta = resource.get("metadata") or {}
    if resource.get("kind") == "ExternalSecret":
        target = ((resource.get("spec") or {}).get("target") or {}).get("name") or meta.get("name", "")
        return "Secret", target
    return resource.get("kind", ""), meta.get("name", "")


def consumer_note(resource: ResourceDiff, workloads: tuple[dict, ...]) -> str:
    """Which pods of the environment use this ConfigMap/Secret/PVC, and when they see a change."""
    if resource.kind not in ("ConfigMap", "Secret", "ExternalSecret", "PersistentVolumeClaim"):
        return ""
    names = {_target(side) for side in (resource.before, resource.after) if side}
    users: dict[str, list[str]] = {"env": [], "volume": []}
    ray_env = False
    for workload in workloads:
        for who, pod, containers, is_ray in _pod_specs(workload):
            for kind, name, how in sorted(_references(pod, containers)):
                if (kind, name) in names and who not in users[how]:
                    users[how].append(who)
                    ray_env |= is_ray and how == "env"
    notes = []
    if users["env"]:
        notes.append(f"read as env by {', '.join(users['env'])} when their pods start"
                     + ("; running Ray pods see the change only after a restart (the next new cluster)"
                        if ray_env else ""))
    if users["volume"] and resource.kind == "PersistentVolumeClaim":
        notes.append(f"the volume of {', '.join(users['volume'])}; a PVC's storage can only grow, "
                     f"and only where the StorageClass allows expansion")
    elif users["volume"]:
        notes.append(f"mounted by {', '.join(users['volume'])}: running pods see new files after the kubelet "
                     f"sync (not with subPath)")
    return "; ".join(notes) or "not used by any pod in this environment"


# --- capacity during a rollover -------------------------------------------------------------------

def cluster_requests(service: dict | None) -> dict[str, float]:
    """CPU, memory and GPU requests of the head plus every worker group × its pods (replicas as KubeRay
    clamps them to minReplicas..maxReplicas, × numOfHosts); an unreadable quantity counts as 0."""
    total: dict[str, float] = {}
    for group in RayServiceView(service or {}).groups:
        count = group.pod_count(at_max=False)
        for container in group.containers:
            resources = container.spec.get("resources") or {}
            # Kubernetes defaults a missing request to its limit.
            requested = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
            for resource, value in requested.items():
                if resource in ("cpu", "memory") or resource.endswith("gpu"):
                    total[resource] = total.get(resource, 0.0) + count * (parse_quantity(value) or 0.0)
    return total


def format_requests(requests: dict[str, float]) -> str:
    def one(resource: str, amount: float) -> str:
        if resource == "memory":
            return f"memory {amount / 2**30:.4g}Gi"
        return f"{resource} {amount:.4g}"
    order = sorted(requests, key=lambda r: (r != "cpu", r != "memory", r))
    return ", ".join(one(r, requests[r]) for r in order) or "nothing requested"


def add_requests(*parts: dict[str, float]) -> dict[str, float]:
    total: dict[str, float] = {}
    for part in parts:
        for resource, amount in part.items():
            total[resource] = total.get(resource, 0.0) + amount
    return total
