"""What KubeRay does with a RayService's RayCluster, by operator version: hash muting, cluster action, upgrade mode.

    setup = operator_setup("1.7.0", values)      # values: base/kuberay-operator/values.yaml (feature gates, env)
    action = cluster_action(base_config, head_config, setup); mode = upgrade_mode(head_service, setup)

Each fact cites its source in diff/sources.py; diff/rollout.py's table turns them into verdicts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from raygitops.diff.fields import ADDED, EMBEDDED, REORDERED, Named, diff_values, format_path, path_shape
from raygitops.diff import sources

INCREMENTAL_GATE = "RayServiceIncrementalUpgrade"
INCREMENTAL_TYPE = "NewClusterWithIncrementalUpgrade"
TIMEOUT_ANNOTATION = "ray.io/initializing-timeout"
# A gate's default by KubeRay version, newest first: (since, default). Before the first, the gate does not exist.
GATE_DEFAULTS = {INCREMENTAL_GATE: (("1.7.0", True), ("1.5.0", False))}


def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def version_matches(condition: str, version: tuple[int, ...]) -> bool:
    """">=1.5.2,<1.6.0|>=1.6.1": ',' is and, '|' is or; "" matches every version."""
    if not condition:
        return True
    for alternative in condition.split("|"):
        ok = True
        for part in alternative.split(","):
            operator, bound = re.fullmatch(r"\s*(>=|<)\s*(\S+)\s*", part).groups()
            ok &= version >= parse_version(bound) if operator == ">=" else version < parse_version(bound)
        if ok:
            return True
    return False


def show_version(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


# --- the operator as installed: version, feature gates, environment ------------------------------

@dataclass(frozen=True)
class OperatorSetup:
    version: tuple[int, ...]
    gates: dict = field(default_factory=dict)     # set in values.yaml featureGates: name → enabled
    env: dict = field(default_factory=dict)       # values.yaml env: name → value

    @property
    def label(self) -> str:
        return show_version(self.version)

    def gate(self, name: str) -> bool:
        if name in self.gates:
            return bool(self.gates[name])
        return gate_default(name, self.version)

    @property
    def incremental_gate(self) -> bool:
        return self.version >= (1, 5, 0) and self.gate(INCREMENTAL_GATE)

    @property
    def zero_downtime_env(self) -> bool:
        return str(self.env.get("ENABLE_ZERO_DOWNTIME", "")).lower() != "false"


def gate_default(name: str, version: tuple[int, ...]) -> bool:
    return next((default for since, default in GATE_DEFAULTS.get(name, ()) if version >= parse_version(since)), False)


def operator_setup(kuberay: str, values: Any = None) -> OperatorSetup:
    """The Helm chart passes values `featureGates` as --feature-gates (a gate not listed keeps its Go default,
    which the chart's own list repeats) and `env` as the operator's environment."""
    values = values if isinstance(values, dict) else {}
    gates = {g["name"]: bool(g.get("enabled")) for g in values.get("featureGates") or []
             if isinstance(g, dict) and isinstance(g.get("name"), str)}
    env = {e["name"]: e.get("value") for e in values.get("env") or []
           if isinstance(e, dict) and isinstance(e.get("name"), str)}
    return OperatorSetup(parse_version(kuberay), gates, env)


# --- the cluster hash: fields KubeRay leaves out, by version ------------------------------------

_HEAD_POD, _WORKER_POD = "headGroupSpec.template.spec", "workerGroupSpecs[].template.spec"
# (path under rayClusterConfig, muted from this version on, source)
MUTED = (
    ("workerGroupSpecs[].replicas", "1.0.0", sources.HASH_V1_1),
    ("workerGroupSpecs[].scaleStrategy.workersToDelete", "1.0.0", sources.HASH_V1_1),
    ("workerGroupSpecs[].minReplicas", "1.2.0", sources.MIN_MAX_V1_2),
    ("workerGroupSpecs[].maxReplicas", "1.2.0", sources.MIN_MAX_V1_2),
    *((f"{pod}.{name}", "1.5.2", sources.TOLERATIONS_V1_5_2)
      for pod in (_HEAD_POD, _WORKER_POD) for name in ("tolerations", "schedulingGates")),
    ("upgradeStrategy", "1.6.0", sources.UPGRADE_STRATEGY_V1_6),
    ("suspend", "1.7.0", sources.SUSPEND_V1_7),
)
# shouldUpdateCluster applies a rayClusterConfig.suspend toggle in place before any hash check.
SUSPEND_TOGGLE_VERSIONS = ">=1.5.2,<1.6.0|>=1.6.1,<1.7.0"


@lru_cache(maxsize=None)
def shape_of(pattern: str) -> tuple[str, ...]:
    """'a.b[].c' or 'metadata.annotations."ray.io/x"' → ('a', 'b', '[]', 'c'); ':' steps into embedded YAML."""
    return tuple(token.strip('"') for token in re.findall(r'"[^"]*"|\[\]|:|[^.:\[\]"]+', pattern))


_MUTED_SHAPES = tuple((shape_of(path), parse_version(since)) for path, since, _ in MUTED)


def is_muted(shape: tuple[str, ...], version: tuple[int, ...]) -> bool:
    """Whether a path under rayClusterConfig is left out of the cluster hash by this version."""
    return any(shape[:len(muted)] == muted and version >= since for muted, since in _MUTED_SHAPES)


def _worker_names(config: dict) -> list[str]:
    return [g.get("groupName") for g in config.get("workerGroupSpecs") or [] if isinstance(g, dict)]


@dataclass(frozen=True)
class ClusterAction:
    """What KubeRay does with the running RayCluster when Git's rayClusterConfig goes from `before` to `after`:
    `none` (hash equal), `update` (the whole spec copied onto it in place) or `rollover` (a new cluster)."""
    kind: str
    hashed: tuple[str, ...] = ()       # differences KubeRay hashes (display paths under rayClusterConfig)
    muted: tuple[str, ...] = ()        # differences it leaves out of the hash
    appended: tuple[str, ...] = ()     # worker groups appended at the end
    suspend_toggle: bool = False       # v1.5.2/v1.6.1+: a rayClusterConfig.suspend toggle

    @property
    def trigger(self) -> str:
        if self.suspend_toggle:
            return "rayClusterConfig.suspend toggled"
        return f"worker group {', '.join(self.appended)} appended" if self.appended else "KubeRay's update"


def cluster_action(before: Any, after: Any, version: tuple[int, ...]) -> ClusterAction:
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    old_names, new_names = _worker_names(before), _worker_names(after)
    hashed, muted, appended = [], [], []
    for change in diff_values(before, after):
        shape, last = path_shape(change.path), change.path[-1] if change.path else None
        if (change.change == ADDED and shape == ("workerGroupSpecs", "[]") and isinstance(last, Named)
                and new_names[:len(old_names)] == old_names):
            appended.append(last.name)
        elif change.change != REORDERED and is_muted(shape, version):
            muted.append(format_path(change.path))
        else:
            hashed.append(format_path(change.path))
    toggle = (version_matches(SUSPEND_TOGGLE_VERSIONS, version)
              and bool(before.get("suspend")) != bool(after.get("suspend")))
    kind = "update" if toggle else "rollover" if hashed else "update" if appended else "none"
    return ClusterAction(kind, tuple(hashed), tuple(muted), tuple(appended), toggle)


# --- the upgrade strategy in effect -------------------------------------------------------------

NONE_MODE, NEW_CLUSTER_MODE, INCREMENTAL_MODE = "none", "new cluster", "incremental"


@dataclass(frozen=True)
class Mode:
    kind: str          # NONE_MODE: a hash difference is not applied; else how a new cluster takes over
    why: str = ""      # for NONE_MODE: what blocks it
    cause: str = ""    # for NONE_MODE: "type", "gate" or "env"


def strategy_type(service: Any) -> str | None:
    spec = (service or {}).get("spec") if isinstance(service, dict) else None
    strategy = (spec or {}).get("upgradeStrategy") if isinstance(spec, dict) else None
    value = strategy.get("type") if isinstance(strategy, dict) else None
    return value if isinstance(value, str) else None


def upgrade_mode(service: Any, setup: OperatorSetup) -> Mode:
    """rsc isZeroDowntimeUpgradeEnabled (v1.7.0 L868): the type first, else ENABLE_ZERO_DOWNTIME."""
    kind = strategy_type(service) if setup.version >= (1, 3, 0) else None
    if kind == "None":
        return Mode(NONE_MODE, "upgradeStrategy.type is None", "type")
    if kind == INCREMENTAL_TYPE:
        if setup.incremental_gate:
            return Mode(INCREMENTAL_MODE)
        return Mode(NONE_MODE, f"{INCREMENTAL_TYPE} needs the {INCREMENTAL_GATE} feature gate, off in KubeRay "
                               f"{setup.label} here (base/kuberay-operator/values.yaml featureGates): KubeRay treats "
                               f"it as None", "gate")
    if kind == "NewCluster":
        return Mode(NEW_CLUSTER_MODE)
    if not setup.zero_downtime_env:
        return Mode(NONE_MODE, "the operator's ENABLE_ZERO_DOWNTIME is false and upgradeStrategy.type is not set", "env")
    return Mode(NEW_CLUSTER_MODE)


# --- what makes KubeRay refuse a RayService (Ready=False ValidationFailed) ---------------------------

_GO_DURATION = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|[-+]?0")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def timeout_seconds(text: str) -> float | None:
    """The annotation's value as KubeRay reads it (Go time.ParseDuration, else an integer of seconds), or None."""
    text = text.strip() if isinstance(text, str) else ""
    if _GO_DURATION.fullmatch(text):
        sign = -1 if text.startswith("-") else 1
        parts = re.findall(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text)
        return sign * sum(float(number) * _GO_UNITS[unit] for number, unit in parts)
    return float(int(text)) if re.fullmatch(r"[-+]?\d+", text) else None


def operator_refusal(service: Any, setup: OperatorSetup) -> str | None:
    """The message of val ValidateRayServiceMetadata/ValidateRayServiceSpec for the checks modelled here
    (the initializing timeout; the incremental upgrade options), or None."""
    if not isinstance(service, dict) or service.get("kind") != "RayService" or setup.version < (1, 5, 0):
        return None
    annotations = (service.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(TIMEOUT_ANNOTATION)
    if value not in (None, ""):
        seconds = timeout_seconds(str(value))
        if seconds is None or seconds <= 0:
            return f"annotation {TIMEOUT_ANNOTATION} {value!r} is not a positive Go duration (30m) or number of seconds"
    spec = service.get("spec") or {}
    if upgrade_mode(service, setup).kind != INCREMENTAL_MODE:
        return None
    if (spec.get("rayClusterConfig") or {}).get("enableInTreeAutoscaling") is not True:
        return "Ray Autoscaler is required for NewClusterWithIncrementalUpgrade"
    options = (spec.get("upgradeStrategy") or {}).get("clusterUpgradeOptions")
    if not isinstance(options, dict):
        return "ClusterUpgradeOptions are required for NewClusterWithIncrementalUpgrade"
    surge, step = options.get("maxSurgePercent", 100), options.get("stepSizePercent")
    interval = options.get("intervalSeconds")
    if not isinstance(surge, int) or not 0 <= surge <= 100:
        return "maxSurgePercent must be between 0 and 100"
    if not isinstance(step, int) or not 0 <= step <= 100:
        return "stepSizePercent must be between 0 and 100"
    if setup.version >= (1, 7, 0) and step > surge:
        return "stepSizePercent must be less than or equal to maxSurgePercent"
    if not isinstance(interval, int) or interval <= 0:
        return "intervalSeconds must be greater than 0"
    if not options.get("gatewayClassName"):
        return "gatewayClassName is required for NewClusterWithIncrementalUpgrade"
    return None


# --- RayService fields by the release that added them (sources.FIELDS_BY_VERSION) -------------------

FIELDS_ADDED = {
    "spec.excludeHeadPodFromServeSvc": "1.3.0",
    "spec.upgradeStrategy": "1.3.0",
    "spec.upgradeStrategy.clusterUpgradeOptions": "1.5.0",
    "spec.rayClusterDeletionDelaySeconds": "1.5.0",
    "spec.managedBy": "1.6.0",
    "spec.suspend": "1.7.0",
    "spec.rayClusterConfig.gcsFaultToleranceOptions": "1.3.0",
    "spec.rayClusterConfig.gcsFaultToleranceOptions.backend": "1.7.0",
    "spec.rayClusterConfig.gcsFaultToleranceOptions.storage": "1.7.0",
    "spec.rayClusterConfig.managedBy": "1.3.0",
    "spec.rayClusterConfig.autoscalerOptions.version": "1.4.0",
    "spec.rayClusterConfig.authOptions": "1.5.1",
    "spec.rayClusterConfig.upgradeStrategy": "1.6.0",
    "spec.rayClusterConfig.historyServerOptions": "1.7.0",
    "spec.rayClusterConfig.networkPolicy": "1.7.0",
    "spec.rayClusterConfig.tlsOptions": "1.7.0",
    "spec.rayClusterConfig.headGroupSpec.labels": "1.5.0",
    "spec.rayClusterConfig.headGroupSpec.resources": "1.5.0",
    "spec.rayClusterConfig.headGroupSpec.ingressOptions": "1.7.0",
    "spec.rayClusterConfig.workerGroupSpecs[].idleTimeoutSeconds": "1.3.0",
    "spec.rayClusterConfig.workerGroupSpecs[].suspend": "1.3.0",
    "spec.rayClusterConfig.workerGroupSpecs[].labels": "1.5.0",
    "spec.rayClusterConfig.workerGroupSpecs[].resources": "1.5.0",
    "spec.rayClusterConfig.workerGroupSpecs[].priority": "1.7.0",
}
_ADDED_SHAPES = sorted(((shape_of(p), p, v) for p, v in FIELDS_ADDED.items()), key=lambda e: len(e[0]))


def added_later(shape: tuple[str, ...], version: tuple[int, ...]) -> tuple[str, str] | None:
    """(field, release) when the RayService field at `shape` is newer than `version`, else None."""
    for prefix, name, since in _ADDED_SHAPES:
        if shape[:len(prefix)] == prefix and version < parse_version(since):
            return name, since
    return None


def schema_knows(schema: dict | None, path: tuple) -> bool:
    """Whether a CRD's openAPIV3Schema has the field at `path` (list items and map values followed; an
    embedded string, x-kubernetes-preserve-unknown-fields and ObjectMeta take anything)."""
    node = schema
    for depth, segment in enumerate(path):
        if not isinstance(node, dict) or node.get("x-kubernetes-preserve-unknown-fields") or segment is EMBEDDED:
            return True
        if node.get("x-kubernetes-embedded-resource") and segment == "metadata" or (depth == 0 and segment == "metadata"):
            return True
        if not isinstance(segment, str):          # Named, Index: a list item
            node = node.get("items")
            continue
        properties = node.get("properties") or {}
        if segment in properties:
            node = properties[segment]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return False
    return True

