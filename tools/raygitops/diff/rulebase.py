"""The parts of a rollout rule: the row (Rule), what it is matched against (Context), and the facts its texts name.

    Rule("spec.suspend", OUTAGE, "suspend: {name} goes down", SUSPEND_SERVICE, kuberay=">=1.7.0", when=when.suspends)
    render_text("{name}: {kuberay}", ctx)     # facts filled in from the change, the resource and the operator
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from raygitops.diff.fields import REMOVED, FieldChange, Index, ResourceDiff, format_path, path_shape, show
from raygitops.diff.kuberay import (TIMEOUT_ANNOTATION, ClusterAction, Mode, OperatorSetup, added_later, schema_knows,
                                    shape_of)

ANY_OTHER = "*"      # Rule.kind: any kind but RayService
ANY = "**"           # Rule.kind: any kind at all
# More facts, for rows of other modules (diff/operator.py): name → fact(ctx).
FACTS: dict[str, Callable[["Context"], str]] = {}


@dataclass(frozen=True)
class Baseline:
    """The rayClusterConfig the running cluster was last written from, when Git's history says so (tools/diff
    finds it for a RayService whose upgradeStrategy None is removed)."""
    service: dict                # the RayService as stored at that commit
    commit: str
    why: str                     # "the commit before upgradeStrategy None was added", …


@dataclass(frozen=True)
class Situation:
    """What KubeRay and the API server make of one changed resource as a whole (computed once per resource)."""
    action: ClusterAction | None = None      # RayService: what happens to the running RayCluster
    before: Mode | None = None               # the upgrade strategy in effect at BASE and at HEAD
    after: Mode | None = None
    refusal: str | None = None               # KubeRay's validation message for HEAD
    baseline: Baseline | None = None
    schema: dict | None = None               # the pinned KubeRay CRD's openAPIV3Schema for this kind
    violations: tuple = ()                   # (path, message) of CEL rules HEAD breaks


@dataclass(frozen=True)
class Context:
    setup: OperatorSetup
    resource: ResourceDiff
    change: FieldChange | None           # None: the whole resource was added or removed
    situation: Situation = Situation()
    rejected_by: tuple = ()              # messages of the CEL rules this change breaks

    @property
    def version(self) -> tuple[int, ...]:
        return self.setup.version

    @property
    def shape(self) -> tuple[str, ...]:
        return path_shape(self.change.path) if self.change else ()


@dataclass(frozen=True)
class Rule:
    """One row. `pattern` is a path prefix: keys joined by '.', '[]' for any list item, ':' into the YAML a
    string holds, "quoted" for a key with dots; '' is the whole resource. `impact` and `warning` may name
    facts in braces (see _Facts)."""
    pattern: str
    verdict: str
    impact: str
    source: str
    kuberay: str = ""                   # ">=1.2.0", "<1.2.0", ">=1.5.2,<1.6.0|>=1.6.1" or "" for every version
    kind: str = "RayService"            # a kind, ANY_OTHER or ANY
    changes: frozenset = frozenset()    # only these FieldChange kinds (ADDED, REORDERED…); empty: any
    exact: bool = False                 # the path must equal the pattern, not just start with it
    when: Callable[[Context], bool] | None = None
    warning: str = ""                   # printed loudly: the change will not do what Git says
    rollover: bool = False              # a new RayCluster runs beside the old one until the switch

    @property
    def shape(self) -> tuple[str, ...]:
        return shape_of(self.pattern)


# --- facts the texts name ---------------------------------------------------------------------------

def spec(side: Any) -> dict:
    value = side.get("spec") if isinstance(side, dict) else None
    return value if isinstance(value, dict) else {}


def name_of(side: Any) -> str:
    meta = side.get("metadata") if isinstance(side, dict) else None
    return str((meta or {}).get("name") or "?")


def serve_service_name(service: Any) -> str:
    """svc BuildServeService: spec.serveService.metadata.name, else <RayService>-serve-svc."""
    custom = ((spec(service).get("serveService") or {}).get("metadata") or {}).get("name")
    return str(custom) if custom else f"{name_of(service)}-serve-svc"


def _listing(items, empty: str = "nothing") -> str:
    items = list(dict.fromkeys(items))
    return ", ".join(items[:8]) + (f" and {len(items) - 8} more" if len(items) > 8 else "") if items else empty


class _Facts(dict):
    """Computed on first use, so a text pays only for the facts it names."""

    def __init__(self, ctx: Context):
        super().__init__()
        self.ctx = ctx

    def __missing__(self, key: str) -> str:
        ctx, situation = self.ctx, self.ctx.situation
        before, after = ctx.resource.before, ctx.resource.after
        action = situation.action
        baseline = situation.baseline
        values = {
            "kuberay": ctx.setup.label,
            "name": name_of(after or before),
            "path": ctx.change.display_path if ctx.change else "",
            "value": show(ctx.change.after) if ctx.change else "",
            "why": situation.after.why if situation.after else "",
            "why_before": situation.before.why if situation.before else "",
            "trigger": action.trigger if action else "",
            "ride_along": _listing(action.muted if action else ()),
            "rolled": _listing(action.hashed if action else ()),
            "since": (f"{baseline.commit[:12]} ({baseline.why})" if baseline
                      else "BASE or earlier (git history did not say when: changes blocked before BASE are not "
                           "listed)"),
            "old_svc": serve_service_name(before),
            "new_svc": serve_service_name(after),
            "refusal": situation.refusal or "",
            "timeout": str((((after or {}).get("metadata") or {}).get("annotations") or {}).get(TIMEOUT_ANNOTATION, "")),
        }
        if key in ("field", "added_in"):
            values["field"], values["added_in"] = unknown_field(ctx) or (values["path"], "")
        if key == "cel":
            values["cel"] = "; ".join(ctx.rejected_by)
        if key in FACTS:
            values[key] = FACTS[key](ctx)
        if key not in values:
            raise KeyError(key)
        self[key] = values[key]
        return values[key]


def _paths_below(value: Any, path: tuple):
    """`path` and the path of every key and list item in `value` below it."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths_below(item, path + (str(key),))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths_below(item, path + (Index(index),))


def unknown_field(ctx: Context) -> tuple[str, str] | None:
    """(field, " (added in KubeRay x)") for the first field the change sets that the pinned KubeRay's CRD does not
    have: by the release table for RayServices (no CRD needed), else by the CRD's schema when there is one."""
    change = ctx.change
    if change is None or change.change == REMOVED:
        return None
    for path in _paths_below(change.after, change.path):
        if ctx.resource.kind == "RayService":
            later = added_later(path_shape(path), ctx.version)
            if later:
                return later[0], f" (added in KubeRay {later[1]})"
        if ctx.situation.schema is not None and not schema_knows(ctx.situation.schema, path):
            return format_path(path), ""
    return None


def render_text(template: str, ctx: Context, extra: dict | None = None) -> str:
    facts = _Facts(ctx)
    facts.update(extra or {})
    return template.format_map(facts) if "{" in template else template

