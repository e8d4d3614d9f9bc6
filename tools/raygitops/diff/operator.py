"""The KubeRay operator as Argo CD installs it: its version, Helm values and CRDs, diffed as resources and judged.

    operator_diffs(base_root, head_root, schema_at)   # [ResourceDiff]: versions.kuberay, values.yaml, CRD schemas
    OPERATOR_RULES                                     # their rows in the rules table (diff/rules.py)

There is no helm here to render the chart: the chart version is the Application's targetRevision (argocd/
is rendered and diffed like an environment) and its input is the values file, diffed as YAML.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from raygitops.diff import sources as src
from raygitops.diff.crddelta import CRD_KIND, NOT_IN_STORE, SUMMARY, SchemaAt, crd_diffs
from raygitops.diff.fields import ADDED, CHANGED, REMOVED, FieldChange, Index, Named, ResourceDiff, diff_values
from raygitops.diff.kuberay import INCREMENTAL_GATE, INCREMENTAL_TYPE, gate_default, operator_setup, parse_version
from raygitops.diff.rulebase import FACTS, Context, Rule
from raygitops.diff.verdicts import IN_PLACE, NEW_CLUSTER, NO_OP
from raygitops.errors import UserError
from raygitops.yamlio import LOADER

SETTINGS_KIND, SETTINGS_FILE = "RaygitopsSettings", "raygitops.yaml"
VALUES_KIND, VALUES_FILE = "HelmValues", "base/kuberay-operator/values.yaml"
OPERATOR_CHART = "kuberay-operator"


def read_yaml(path: Path) -> Any:
    """A YAML file's content; None when it does not exist."""
    if not path.is_file():
        return None
    try:
        return yaml.load(path.read_text(), Loader=LOADER)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise UserError(f"invalid YAML: {getattr(error, 'problem', None) or error}", file=str(path),
                        line=mark.line + 1 if mark else None, fix="fix the YAML syntax") from None


def kuberay_pin(root: Path) -> str | None:
    settings = read_yaml(root / SETTINGS_FILE)
    version = ((settings or {}).get("versions") or {}).get("kuberay") if isinstance(settings, dict) else None
    return str(version) if version is not None else None


def operator_diffs(base: Path, head: Path, schema_at: SchemaAt) -> list[ResourceDiff]:
    """versions.kuberay (with the CRD schema changes it brings) and the operator's Helm values, BASE → HEAD."""
    out = []
    old, new = kuberay_pin(base), kuberay_pin(head)
    if old != new:
        change = FieldChange(("versions", "kuberay"), CHANGED, old, new)
        out.append(ResourceDiff(SETTINGS_FILE, SETTINGS_KIND, CHANGED, (change,),
                                {"versions": {"kuberay": old}}, {"versions": {"kuberay": new}}))
        if old and new:
            out += crd_diffs(old, new, schema_at)
    before, after = read_yaml(base / VALUES_FILE), read_yaml(head / VALUES_FILE)
    if before != after:
        kind = ADDED if before is None else REMOVED if after is None else CHANGED
        fields = diff_values(before, after, kind=VALUES_KIND) if kind == CHANGED else []
        out.append(ResourceDiff(VALUES_FILE, VALUES_KIND, kind, tuple(fields), before, after))
    return out


# --- facts and conditions -------------------------------------------------------------------------------

def _versions(ctx: Context) -> tuple[str, str]:
    return str(ctx.change.before or "?").lstrip("v"), str(ctx.change.after or "?").lstrip("v")


def _gate_defaults(ctx: Context) -> str:
    """How the default of a feature gate changes between the two versions, unless values.yaml pins it."""
    old, new = (parse_version(v) for v in _versions(ctx))
    if INCREMENTAL_GATE in ctx.setup.gates or gate_default(INCREMENTAL_GATE, old) == gate_default(INCREMENTAL_GATE, new):
        return ""
    on = gate_default(INCREMENTAL_GATE, new)
    return (f" Feature gate {INCREMENTAL_GATE} is {'on' if on else 'off'} by default in KubeRay {_versions(ctx)[1]}: "
            + (f"a RayService with upgradeStrategy {INCREMENTAL_TYPE} switches to the Gateway now, and rolls out the "
               f"rayClusterConfig changes KubeRay left unapplied so far." if on else
               f"a RayService with upgradeStrategy {INCREMENTAL_TYPE} is treated as None from now on."))


def _gates(side: Any, version: tuple) -> dict[str, bool]:
    setup = operator_setup(".".join(map(str, version)), side)
    return {name: setup.gate(name) for name in sorted({INCREMENTAL_GATE, *setup.gates})}


def _gate_changes(ctx: Context) -> str:
    old, new = _gates(ctx.resource.before, ctx.version), _gates(ctx.resource.after, ctx.version)
    changed = [f"{n} {'on' if old.get(n) else 'off'} → {'on' if new.get(n) else 'off'}"
               for n in sorted(set(old) | set(new)) if old.get(n) != new.get(n)]
    return ", ".join(changed) or "defaults unchanged"


def _gate_warning(ctx: Context) -> str:
    old = _gates(ctx.resource.before, ctx.version).get(INCREMENTAL_GATE)
    new = _gates(ctx.resource.after, ctx.version).get(INCREMENTAL_GATE)
    if old == new or ctx.version < (1, 5, 0):
        return ""
    if new:
        return (f"{INCREMENTAL_GATE} on: every RayService with upgradeStrategy {INCREMENTAL_TYPE} switches to the "
                f"Gateway now (Gateway, HTTPRoute and per-cluster Services) and rolls out the rayClusterConfig "
                f"changes that were not applied.")
    return (f"{INCREMENTAL_GATE} off: RayServices with upgradeStrategy {INCREMENTAL_TYPE} are treated as None: "
            f"rayClusterConfig changes are not applied from now on.")


FACTS.update({
    "from": lambda ctx: _versions(ctx)[0],
    "direction": lambda ctx: ("downgrade" if parse_version(_versions(ctx)[1]) < parse_version(_versions(ctx)[0])
                              else "upgrade"),
    "to": lambda ctx: _versions(ctx)[1],
    "gates": _gate_defaults,
    "gate_changes": _gate_changes,
    "gate_warning": _gate_warning,
    "missing": lambda ctx: str((ctx.resource.before or {}).get("missing", "")),
    "crd_from": lambda ctx: str((ctx.resource.before or {}).get("version", "?")),
    "crd_to": lambda ctx: str((ctx.resource.after or {}).get("version", "?")),
})


def _target_below_1_2_1(ctx: Context) -> bool:
    return parse_version(_versions(ctx)[1]) < (1, 2, 1)


def _operator_chart_source(ctx: Context) -> bool:
    """spec.sources[i].targetRevision of the source that is the kuberay-operator chart."""
    index = ctx.change.path[2] if len(ctx.change.path) > 2 else None
    sources = ((ctx.resource.after or {}).get("spec") or {}).get("sources") or []
    return (isinstance(index, Index) and index.index < len(sources) and isinstance(sources[index.index], dict)
            and sources[index.index].get("chart") == OPERATOR_CHART)


def _named(name: str):
    def check(ctx: Context) -> bool:
        return ctx.resource.resource.endswith(f"/{name}")
    return check


def _env(name: str):
    def check(ctx: Context) -> bool:
        return len(ctx.change.path) > 1 and ctx.change.path[1] == Named(name)
    return check


def _whole(ctx: Context) -> bool:
    return ctx.change is None


_UPGRADE = ("operator {direction} {from} → {to}: KubeRay updates each RayService's active RayCluster in place once "
            "(its ray.io/kuberay-version annotation differs), no new cluster; the operator restarts and re-submits "
            "every serveConfigV2.{gates}")
_UPGRADE_WARNING = ("Operator {direction} to KubeRay {to}: KubeRay copies each RayService's whole rayClusterConfig onto "
                    "its running RayCluster once, so changes it was ignoring (minReplicas, maxReplicas, tolerations) "
                    "or not applying (upgradeStrategy None) reach the RayCluster now, for pods created from then on.")
_DOWNGRADE = ("operator downgrade {from} → {to}: KubeRay < 1.2.1 has no version check and hashes every RayCluster "
              "anew: a new RayCluster for every RayService [inferred]")


def _version_rows(pattern: str, kind: str, when=None) -> tuple[Rule, ...]:
    both = (lambda c: when(c) and _target_below_1_2_1(c)) if when else _target_below_1_2_1
    return (Rule(pattern, NEW_CLUSTER, _DOWNGRADE, src.OPERATOR_DOWNGRADE, kind=kind, when=both),
            Rule(pattern, IN_PLACE, _UPGRADE, src.OPERATOR_UPGRADE, kind=kind, when=when, warning=_UPGRADE_WARNING))


OPERATOR_RULES: tuple[Rule, ...] = (
    # The operator's version: versions.kuberay, the chart's targetRevision, the operator image.
    *_version_rows("versions.kuberay", SETTINGS_KIND),
    *_version_rows("spec.sources[].targetRevision", "Application", when=_operator_chart_source),
    *_version_rows("image.tag", VALUES_KIND),
    Rule("spec.source.targetRevision", IN_PLACE, "the KubeRay CRDs are replaced by those of {to} (their schema "
         "changes are listed under CustomResourceDefinition)", src.CRD_APPLY, kind="Application",
         when=_named("kuberay-crds")),

    # The operator's other Helm values: the chart rolls its Deployment.
    Rule("featureGates", IN_PLACE, "operator restarted with other feature gates: {gate_changes}", src.INCREMENTAL_GATE,
         kind=VALUES_KIND, warning="{gate_warning}"),
    Rule("env", IN_PLACE, "operator restarted; ENABLE_ZERO_DOWNTIME decides for RayServices without upgradeStrategy.type "
         "whether a rayClusterConfig change rolls out", src.NONE_STRATEGY, kind=VALUES_KIND,
         when=_env("ENABLE_ZERO_DOWNTIME"),
         warning="ENABLE_ZERO_DOWNTIME changed: RayServices without upgradeStrategy.type roll out rayClusterConfig "
                 "changes only while it is not \"false\"."),
    Rule("", IN_PLACE, "operator restarted (its Deployment changes); it re-submits every serveConfigV2, which Serve "
         "ignores when unchanged", src.OPERATOR_RESTART, kind=VALUES_KIND),

    # The CRDs of the new version, by their schema changes (diff/crddelta.py).
    Rule(".".join(NOT_IN_STORE), NO_OP, "the schema store does not hold KubeRay {missing}: CRD schema changes not shown",
         src.CRD_APPLY, kind=CRD_KIND, exact=True),
    Rule('"…"', NO_OP, "{value}", src.CRD_APPLY, kind=CRD_KIND, exact=True),
    Rule(".".join(SUMMARY), IN_PLACE, "schema changes of a kind this repository does not deploy", src.CRD_APPLY,
         kind=CRD_KIND, exact=True),
    Rule("", IN_PLACE, "new CRD in KubeRay {crd_to}", src.CRD_APPLY, kind=CRD_KIND, changes=frozenset({ADDED}),
         when=_whole),
    Rule("", NO_OP, "not in KubeRay {crd_to}; kept in the cluster (argocd/kuberay-crds.yaml never prunes)", src.CRD_APPLY,
         kind=CRD_KIND, changes=frozenset({REMOVED}), when=_whole),
    Rule("", IN_PLACE, "new field in KubeRay {crd_to} ({value}): the API server accepts it from now on", src.CRD_APPLY,
         kind=CRD_KIND, changes=frozenset({ADDED})),
    Rule("", IN_PLACE, "removed in KubeRay {crd_to}: the API server drops it from stored objects on their next write",
         src.CRD_APPLY, kind=CRD_KIND, changes=frozenset({REMOVED})),
    Rule("", IN_PLACE, "newly required in KubeRay {crd_to}: an object without it is rejected on its next write",
         src.CRD_APPLY, kind=CRD_KIND,
         warning="KubeRay {crd_to}'s RayService CRD requires {path}: a RayService without it is rejected when next "
                 "written."),
)
