"""What a change does to the running cluster, by KubeRay version: each field change matched to a row of the
rules table (diff/rules.py), with what KubeRay and the API server make of the resource as a whole.

    classified = classify(resource_diff, setup=operator_setup("1.7.0"), environment=resources)  # [Classified]
    worst(c.verdict for c in classified)   # "no-op" < "deferred" < "in-place" < … < "new cluster" < … < "outage"

Sources: diff/sources.py (KubeRay at v1.1.1 through v1.7.0, Ray Serve, Kubernetes, Argo CD).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from raygitops.diff.consumers import consumer_note
from raygitops.diff.fields import FieldChange, ResourceDiff
from raygitops.diff.kuberay import (NONE_MODE, OperatorSetup, cluster_action, operator_refusal, operator_setup,
                                    upgrade_mode, version_matches)
from raygitops.diff.rulebase import ANY, ANY_OTHER, Baseline, Context, Rule, Situation, render_text, spec
from raygitops.diff.rules import RULES
from raygitops.diff.verdicts import (APP_RESTART, DEFERRED, ERROR_VERDICTS, IN_PLACE, NEW_CLUSTER, NO_OP, OUTAGE,
                                     REJECTED, REPLICA_RESTART, UNKNOWN_FIELD, VALIDATION_FAILED, VERDICTS, worst)
from raygitops.model.cel_rules import UnsupportedRule, violations

__all__ = ["APP_RESTART", "DEFERRED", "IN_PLACE", "NEW_CLUSTER", "NO_OP", "OUTAGE", "REJECTED", "REPLICA_RESTART",
           "UNKNOWN_FIELD", "VALIDATION_FAILED", "VERDICTS", "RULES", "Classified", "classify", "situation_of",
           "lifts_block", "worst"]


@dataclass(frozen=True)
class Classified:
    resource: ResourceDiff
    change: FieldChange | None
    rule: Rule
    impact: str
    warning: str = ""
    note: str = ""
    situation: Situation = Situation()

    @property
    def verdict(self) -> str:
        return self.rule.verdict

    @property
    def is_error(self) -> bool:
        return self.verdict in ERROR_VERDICTS

    @property
    def rollover_from(self) -> dict | None:
        """The RayService the running cluster was made from: the history's baseline, else BASE's."""
        return self.situation.baseline.service if self.situation.baseline else self.resource.before


# --- matching ------------------------------------------------------------------------------------

def _kind_ok(rule: Rule, kind: str) -> bool:
    if rule.kind == ANY:
        return True
    if rule.kind == ANY_OTHER:
        return kind != "RayService"
    return rule.kind == kind


def matches(rule: Rule, ctx: Context) -> bool:
    if not _kind_ok(rule, ctx.resource.kind) or not version_matches(rule.kuberay, ctx.version):
        return False
    change_kind = ctx.change.change if ctx.change else ctx.resource.change
    if rule.changes and change_kind not in rule.changes:
        return False
    shape, wanted = ctx.shape, rule.shape
    if shape[:len(wanted)] != wanted or (rule.exact and len(shape) != len(wanted)):
        return False
    return rule.when is None or rule.when(ctx)


# --- the resource as a whole -----------------------------------------------------------------------

def lifts_block(resource: ResourceDiff, setup: OperatorSetup) -> bool:
    """A RayService whose rayClusterConfig changes KubeRay did not apply at BASE, and does at HEAD (upgradeStrategy
    None removed, …): what the cluster runs is then older than BASE (diff/history.py finds it)."""
    if resource.kind != "RayService" or resource.before is None or resource.after is None:
        return False
    return (upgrade_mode(resource.before, setup).kind == NONE_MODE
            and upgrade_mode(resource.after, setup).kind != NONE_MODE)


def situation_of(resource: ResourceDiff, setup: OperatorSetup, schema: dict | None = None,
                 baseline: Baseline | None = None) -> Situation:
    found: tuple = ()
    if schema is not None and isinstance(resource.after, dict):
        try:
            found = tuple((v.path, v.message) for v in violations(resource.after, schema, old=resource.before))
        except UnsupportedRule:
            found = ()   # a rule this CEL library cannot evaluate: tools/validate reports it
    if resource.kind != "RayService":
        return Situation(schema=schema, violations=found)
    before, after = resource.before, resource.after
    baseline = baseline if baseline and lifts_block(resource, setup) else None
    action = None
    if before is not None and after is not None:
        start = baseline.service if baseline else before
        action = cluster_action(spec(start).get("rayClusterConfig"), spec(after).get("rayClusterConfig"),
                                setup.version)
    return Situation(action=action,
                     before=upgrade_mode(before, setup) if before is not None else None,
                     after=upgrade_mode(after, setup) if after is not None else None,
                     refusal=operator_refusal(after, setup), baseline=baseline, schema=schema, violations=found)


def _related(where: str, path: str) -> bool:
    """A change at `where` and a rule failing at `path`: one holds the other."""
    if not where or not path or where == path:
        return True
    return where.startswith((f"{path}.", f"{path}[")) or path.startswith((f"{where}.", f"{where}["))


def _cel_messages(changes: tuple, found: tuple) -> list[tuple[str, ...]]:
    """The CEL failures each change causes; one no change explains goes to the first change."""
    out: list[list[str]] = [[] for _ in changes]
    for path, message in found:
        text = f"{path}: {message}" if path else message
        hits = [i for i, change in enumerate(changes) if _related(change.display_path if change else "", path)]
        for i in hits or [0]:
            out[i].append(text)
    return [tuple(messages) for messages in out]


def classify(resource: ResourceDiff, *, kuberay: str = "", setup: OperatorSetup | None = None,
             environment: Iterable[dict] = (), schema: dict | None = None,
             baseline: Baseline | None = None) -> list[Classified]:
    """One Classified per field change (or one for a whole added/removed resource). `setup` is the operator
    (default: KubeRay `kuberay` as the chart installs it); `schema` the pinned CRD's openAPIV3Schema for the
    resource's kind; `environment` (all its resources) tells which pods read a ConfigMap, Secret or PVC."""
    setup = setup or operator_setup(kuberay)
    note = consumer_note(resource, tuple(environment))
    situation = situation_of(resource, setup, schema, baseline)
    changes = resource.fields or (None,)
    out = []
    for change, rejected_by in zip(changes, _cel_messages(changes, situation.violations)):
        ctx = Context(setup, resource, change, situation, rejected_by)
        rule = next(rule for rule in RULES if matches(rule, ctx))  # the last rows match anything
        out.append(Classified(resource, change, rule, render_text(rule.impact, ctx),
                              render_text(rule.warning, ctx).strip(), note, situation))
    return out
