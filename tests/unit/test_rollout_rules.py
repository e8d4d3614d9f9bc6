"""The rollout rules table (diff/rules.py) row by row, at the KubeRay versions where the answer differs. No CRDs:
each case is a before/after RayService (or operator setting) and the verdict KubeRay's source implies.

    .venv/bin/pytest tests/unit/test_rollout_rules.py -q
    judged = judge(before, after, "1.7.0")      # {display path: Classified}
"""
from __future__ import annotations

import copy
import string

import pytest

from raygitops.diff.capacity import rollover_capacity
from raygitops.diff.crddelta import crd_diffs, schema_changes
from raygitops.diff.fields import ResourceDiff, diff_values
from raygitops.diff.kuberay import INCREMENTAL_GATE, operator_setup, timeout_seconds, version_matches
from raygitops.diff.operator import SETTINGS_KIND, VALUES_KIND
from raygitops.diff.rollout import RULES, classify
from raygitops.diff.rulebase import Baseline
from raygitops.diff.verdicts import (DEFERRED, IN_PLACE, NEW_CLUSTER, NO_OP, OUTAGE, REJECTED, UNKNOWN_FIELD,
                                     VALIDATION_FAILED, VERDICTS, fail_on_verdicts, worst)
from raygitops.errors import UserError

CLUSTER = "spec.rayClusterConfig"
WORKERS = f"{CLUSTER}.workerGroupSpecs"
HEAD_IMAGE = f"{CLUSTER}.headGroupSpec.template.spec.containers[ray-head].image"
GATE_ON = {"featureGates": [{"name": INCREMENTAL_GATE, "enabled": True}]}
INCREMENTAL_OPTIONS = {"gatewayClassName": "istio", "intervalSeconds": 30, "stepSizePercent": 10, "maxSurgePercent": 20}


def pod(name: str, cpu: str = "1", tolerations: list | None = None) -> dict:
    spec = {"containers": [{"name": name, "image": "rayproject/ray:2.46.0",
                            "resources": {"requests": {"cpu": cpu, "memory": "2Gi"}}}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"spec": spec}


def service(**spec) -> dict:
    cluster = {"enableInTreeAutoscaling": True,
               "headGroupSpec": {"rayStartParams": {}, "template": pod("ray-head", "2")},
               "workerGroupSpecs": [{"groupName": "cpu", "replicas": 2, "minReplicas": 1, "maxReplicas": 4,
                                     "rayStartParams": {}, "template": pod("ray-worker", "4")}]}
    return {"apiVersion": "ray.io/v1", "kind": "RayService", "metadata": {"name": "aana", "namespace": "aana-prod"},
            "spec": {"rayClusterConfig": cluster, "serveConfigV2": "applications: []\n", **spec}}


def edited(original: dict, edit) -> dict:
    copied = copy.deepcopy(original)
    edit(copied)
    return copied


def judge(before: dict | None, after: dict | None, kuberay: str, values: dict | None = None, **options) -> dict:
    fields = tuple(diff_values(before, after, kind="RayService")) if before and after else ()
    change = "changed" if before and after else "added" if after else "removed"
    resource = ResourceDiff("RayService/aana-prod/aana", "RayService", change, fields, before, after)
    out = classify(resource, setup=operator_setup(kuberay, values), **options)
    return {c.change.display_path if c.change else "": c for c in out}


def only(judged: dict):
    [item] = judged.values()
    return item


def cluster(side: dict) -> dict:
    return side["spec"]["rayClusterConfig"]


BASE = service()
NEW_IMAGE = edited(BASE, lambda s: cluster(s)["headGroupSpec"]["template"]["spec"]["containers"][0]
                   .update(image="rayproject/ray:2.46.0-py312"))


# --- 1. spec.serveService ---------------------------------------------------------------------------

@pytest.mark.parametrize("kuberay", ["1.1.1", "1.7.0"])
def test_serve_service_spec_waits_for_the_next_cluster_switch(kuberay):
    before = service(serveService={"spec": {"type": "ClusterIP"}})
    after = edited(before, lambda s: s["spec"]["serveService"]["spec"].update(type="LoadBalancer"))
    item = only(judge(before, after, kuberay, {"featureGates": [{"name": INCREMENTAL_GATE, "enabled": False}]}))
    assert item.verdict == DEFERRED and "until the next cluster switch" in item.impact
    assert "Git and cluster will disagree until then" in item.warning
    # With a change that rolls a new cluster, the Service follows at that switch.
    rolled = edited(after, lambda s: s.update(spec={**s["spec"], "rayClusterConfig": cluster(NEW_IMAGE)}))
    assert judge(before, rolled, kuberay)["spec.serveService.spec.type"].verdict == IN_PLACE


def test_serve_service_metadata_never_reaches_the_service_and_a_rename_creates_another():
    before = service(serveService={"metadata": {"annotations": {"lb": "a"}}, "spec": {"type": "LoadBalancer"}})
    annotated = edited(before, lambda s: s["spec"]["serveService"]["metadata"]["annotations"].update(lb="b"))
    item = only(judge(before, annotated, "1.7.0"))
    assert item.verdict == NO_OP and "aana-serve-svc" in item.warning
    renamed = edited(before, lambda s: s["spec"]["serveService"]["metadata"].update(name="public"))
    item = only(judge(before, renamed, "1.1.1"))
    assert item.verdict == IN_PLACE and "creates Service public now; aana-serve-svc stays" in item.impact


def test_serve_service_is_ignored_under_incremental_upgrade():
    before = service(upgradeStrategy={"type": "NewClusterWithIncrementalUpgrade",
                                      "clusterUpgradeOptions": INCREMENTAL_OPTIONS},
                     serveService={"spec": {"type": "ClusterIP"}})
    after = edited(before, lambda s: s["spec"]["serveService"]["spec"].update(type="NodePort"))
    assert only(judge(before, after, "1.7.0")).verdict == NO_OP
    assert only(judge(before, after, "1.6.2")).verdict == DEFERRED           # gate off by default: not incremental


# --- 2. spec.suspend -------------------------------------------------------------------------------------

def test_suspend_is_an_outage_in_1_7_and_unknown_before():
    suspended = service(suspend=True)
    item = only(judge(BASE, suspended, "1.7.0"))
    assert item.verdict == OUTAGE and item.is_error and item.impact.startswith("suspend: service goes down")
    assert only(judge(suspended, BASE, "1.7.0")).verdict == NEW_CLUSTER       # resume: a cold new cluster
    assert only(judge(None, suspended, "1.7.0")).verdict == NO_OP             # created suspended
    old = only(judge(BASE, suspended, "1.1.1"))
    assert old.verdict == UNKNOWN_FIELD and "added in KubeRay 1.7.0" in old.impact


@pytest.mark.parametrize("kuberay, verdict", [("1.5.2", OUTAGE), ("1.6.2", OUTAGE), ("1.6.0", NO_OP),
                                              ("1.7.0", NO_OP), ("1.1.1", NO_OP)])
def test_ray_cluster_suspend_toggle(kuberay, verdict):
    """v1.5.2 and v1.6.1+ apply the toggle in place (the running cluster's pods go); 1.7.0 ignores it after
    creation; older versions roll a suspended cluster that never takes the traffic."""
    suspended = edited(BASE, lambda s: cluster(s).update(suspend=True))
    item = judge(BASE, suspended, kuberay)[f"{CLUSTER}.suspend"]
    assert item.verdict == verdict, item.impact
    resumed = {"1.5.2": IN_PLACE, "1.6.2": IN_PLACE, "1.6.0": NEW_CLUSTER, "1.7.0": NO_OP, "1.1.1": NEW_CLUSTER}
    assert judge(suspended, BASE, kuberay)[f"{CLUSTER}.suspend"].verdict == resumed[kuberay]


def test_suspend_toggle_carries_every_other_change_in_place_in_1_5_2():
    both = edited(NEW_IMAGE, lambda s: cluster(s).update(suspend=True))
    judged = judge(BASE, both, "1.5.2")
    assert judged[HEAD_IMAGE].verdict == IN_PLACE and "without a new cluster" in judged[HEAD_IMAGE].warning
    assert judge(BASE, NEW_IMAGE, "1.5.2")[HEAD_IMAGE].verdict == NEW_CLUSTER


# --- 3. NewClusterWithIncrementalUpgrade -----------------------------------------------------------------

INCREMENTAL = service(upgradeStrategy={"type": "NewClusterWithIncrementalUpgrade",
                                       "clusterUpgradeOptions": INCREMENTAL_OPTIONS})


@pytest.mark.parametrize("kuberay, values, verdict", [
    ("1.5.2", None, NO_OP), ("1.6.2", None, NO_OP),                         # alpha gate, off by default
    ("1.5.2", GATE_ON, NEW_CLUSTER), ("1.6.2", GATE_ON, NEW_CLUSTER),
    ("1.7.0", None, NEW_CLUSTER),                                           # beta gate, on by default
    ("1.7.0", {"featureGates": [{"name": INCREMENTAL_GATE, "enabled": False}]}, NO_OP),
])
def test_incremental_upgrade_depends_on_version_and_gate(kuberay, values, verdict):
    after = edited(INCREMENTAL, lambda s: cluster(s).update(headGroupSpec=cluster(NEW_IMAGE)["headGroupSpec"]))
    item = judge(INCREMENTAL, after, kuberay, values)[HEAD_IMAGE]
    assert item.verdict == verdict, item.impact
    if verdict == NO_OP:
        assert f"{INCREMENTAL_GATE} feature gate, off in KubeRay {kuberay}" in item.impact
    else:
        assert "step by step" in item.impact


def test_switching_to_incremental_creates_the_gateway_and_is_validated():
    judged = judge(BASE, INCREMENTAL, "1.7.0")
    assert {c.verdict for c in judged.values()} == {IN_PLACE}
    assert any("Gateway aana-gateway" in c.warning for c in judged.values())
    assert {c.verdict for c in judge(BASE, INCREMENTAL, "1.6.2").values()} == {NO_OP}   # gate off: like None
    bare = service(upgradeStrategy={"type": "NewClusterWithIncrementalUpgrade"})
    refused = only(judge(BASE, bare, "1.7.0"))
    assert refused.verdict == VALIDATION_FAILED and "ClusterUpgradeOptions are required" in refused.impact
    steep = edited(INCREMENTAL, lambda s: s["spec"]["upgradeStrategy"]["clusterUpgradeOptions"]
                   .update(stepSizePercent=50))
    assert "stepSizePercent must be less than or equal" in judge(BASE, steep, "1.7.0")[
        "spec.upgradeStrategy"].impact
    assert judge(BASE, steep, "1.6.2", GATE_ON)["spec.upgradeStrategy"].verdict == IN_PLACE   # no such check in 1.6


def test_incremental_rollover_does_not_double_at_once():
    after = edited(INCREMENTAL, lambda s: cluster(s).update(headGroupSpec=cluster(NEW_IMAGE)["headGroupSpec"]))
    full = rollover_capacity([(INCREMENTAL, after, False)])
    small = rollover_capacity([(INCREMENTAL, after, True)])
    assert full.new["cpu"] == 2 + 2 * 4 and small.new["cpu"] == 2 + 1 * 4     # replicas 2 vs minReplicas 1
    assert "never doubled at once" in small.describe() and "maxSurgePercent=20%" in small.describe()


# --- 4. lifting upgradeStrategy None -----------------------------------------------------------------------

NONE = service(upgradeStrategy={"type": "None"})


def test_removing_none_rolls_out_what_it_blocked_since_the_baseline():
    blocked = edited(NONE, lambda s: cluster(s).update(headGroupSpec=cluster(NEW_IMAGE)["headGroupSpec"]))
    lifted = edited(blocked, lambda s: s["spec"].pop("upgradeStrategy"))
    baseline = Baseline(BASE, "a" * 40, "the last commit before the block")
    item = only(judge(blocked, lifted, "1.7.0", baseline=baseline))
    assert item.verdict == NEW_CLUSTER and item.rule.rollover
    assert HEAD_IMAGE.removeprefix(f"{CLUSTER}.") in item.impact and "aaaaaaaaaaaa" in item.impact
    assert item.rollover_from is BASE
    assert only(judge(blocked, lifted, "1.7.0", baseline=Baseline(blocked, "b" * 40, "x"))).verdict == NO_OP
    # A None that only ever blocked muted fields blocked nothing.
    still = only(judge(NONE, edited(NONE, lambda s: s["spec"].pop("upgradeStrategy")), "1.7.0"))
    assert still.verdict == NO_OP and "git history did not say when" in still.impact


def test_none_blocks_changes_and_the_operator_env_can_keep_blocking():
    blocked = edited(NONE, lambda s: cluster(s).update(headGroupSpec=cluster(NEW_IMAGE)["headGroupSpec"]))
    item = judge(NONE, blocked, "1.7.0")[HEAD_IMAGE]
    assert item.verdict == NO_OP and item.impact == "not applied: upgradeStrategy.type is None"
    env_off = {"env": [{"name": "ENABLE_ZERO_DOWNTIME", "value": "false"}]}
    lifted = edited(NONE, lambda s: s["spec"].pop("upgradeStrategy"))
    assert "still not applied" in only(judge(NONE, lifted, "1.7.0", env_off)).impact
    assert judge(BASE, NEW_IMAGE, "1.1.1", env_off)[HEAD_IMAGE].verdict == NO_OP


# --- 5. the in-place update copies the whole spec ------------------------------------------------------------

def _appended(side: dict, **extra) -> dict:
    group = {"groupName": "gpu", "replicas": 1, "minReplicas": 1, "maxReplicas": 1, "rayStartParams": {},
             "template": pod("ray-worker", "4")}
    return edited(side, lambda s: (cluster(s)["workerGroupSpecs"][0].update(extra),
                                   cluster(s)["workerGroupSpecs"].append(group)))


@pytest.mark.parametrize("kuberay, verdict", [("1.1.1", NEW_CLUSTER), ("1.7.0", IN_PLACE)])
def test_an_appended_group_carries_otherwise_ignored_changes(kuberay, verdict):
    judged = judge(BASE, _appended(BASE, maxReplicas=8), kuberay)
    assert {c.verdict for c in judged.values()} == {verdict}
    if verdict == IN_PLACE:
        assert "replicas becomes Git's value" in judged[f"{WORKERS}[gpu]"].warning
        assert "maxReplicas (ignored on their own) are applied" in judged[f"{WORKERS}[cpu].maxReplicas"].warning
    alone = only(judge(BASE, edited(BASE, lambda s: cluster(s)["workerGroupSpecs"][0].update(maxReplicas=8)), kuberay))
    assert alone.verdict == (NEW_CLUSTER if kuberay == "1.1.1" else NO_OP)


@pytest.mark.parametrize("kuberay", ["1.6.2", "1.7.0"])
def test_an_appended_group_under_the_recreate_strategy_recreates_every_pod(kuberay):
    recreate = edited(BASE, lambda s: cluster(s).update(upgradeStrategy={"type": "Recreate"}))
    item = judge(recreate, _appended(recreate), kuberay)[f"{WORKERS}[gpu]"]
    assert item.verdict == OUTAGE and "recreates every pod" in item.warning
    assert judge(BASE, _appended(BASE), kuberay)[f"{WORKERS}[gpu]"].verdict == IN_PLACE


@pytest.mark.parametrize("kuberay, verdict", [("1.5.0", NEW_CLUSTER), ("1.5.2", NO_OP), ("1.7.0", NO_OP)])
def test_tolerations_are_muted_from_1_5_2(kuberay, verdict):
    tolerated = edited(BASE, lambda s: cluster(s)["workerGroupSpecs"][0]["template"]["spec"].update(
        tolerations=[{"key": "gpu", "operator": "Exists"}]))
    assert only(judge(BASE, tolerated, kuberay)).verdict == verdict
    with_group = judge(BASE, _appended(tolerated), kuberay)
    assert {c.verdict for c in with_group.values()} == {NEW_CLUSTER if verdict == NEW_CLUSTER else IN_PLACE}


def test_a_muted_change_goes_with_a_new_cluster():
    both = edited(NEW_IMAGE, lambda s: cluster(s)["workerGroupSpecs"][0].update(maxReplicas=8))
    item = judge(BASE, both, "1.7.0")[f"{WORKERS}[cpu].maxReplicas"]
    assert item.verdict == NEW_CLUSTER and not item.warning


# --- 6. ray.io/initializing-timeout ---------------------------------------------------------------------------

def _timeout(value: str, other: dict | None = None) -> dict:
    return edited(BASE, lambda s: s["metadata"].update(annotations={"ray.io/initializing-timeout": value, **(other or {})}))


def test_initializing_timeout_is_explained():
    item = only(judge(BASE, _timeout("30m"), "1.7.0"))      # the whole annotations map added
    assert item.verdict == IN_PLACE and "marks it failed for good" in item.warning and "=30m" in item.warning
    changed = only(judge(_timeout("30m", {"a": "b"}), _timeout("1h", {"a": "b"}), "1.7.0"))
    assert changed.change.display_path == 'metadata.annotations."ray.io/initializing-timeout"'
    assert changed.verdict == IN_PLACE and "=1h" in changed.warning
    assert only(judge(BASE, _timeout("30m"), "1.1.1")).verdict == NO_OP
    refused = only(judge(BASE, _timeout("soon"), "1.5.2"))
    assert refused.verdict == VALIDATION_FAILED and "not a positive Go duration" in refused.impact
    removed = only(judge(_timeout("30m"), BASE, "1.7.0"))
    assert removed.verdict == IN_PLACE and "no initializing timeout any more" in removed.impact
    assert [timeout_seconds(v) for v in ("30m", "1h30m", "90", "0", "-5s", "x")] == [1800, 5400, 90, 0, -5, None]


def test_metadata_is_copied_to_the_cluster_only_when_kuberay_writes_it():
    labelled = edited(BASE, lambda s: s["metadata"].update(labels={"team": "a"}))
    assert "only when it next creates" in only(judge(BASE, labelled, "1.7.0")).impact
    both = edited(NEW_IMAGE, lambda s: s["metadata"].update(labels={"team": "a"}))
    assert "with this change's cluster update" in judge(BASE, both, "1.7.0")["metadata.labels"].impact


# --- 7. fields the pinned KubeRay does not have ------------------------------------------------------------------

@pytest.mark.parametrize("kuberay, field, unknown", [
    ("1.1.1", "upgradeStrategy", "1.3.0"), ("1.2.2", "rayClusterDeletionDelaySeconds", "1.5.0"),
    ("1.5.2", "managedBy", "1.6.0"), ("1.7.0", "managedBy", None),
])
def test_fields_unknown_to_the_pinned_version(kuberay, field, unknown):
    value = {"type": "None"} if field == "upgradeStrategy" else "kuberay-operator" if field == "managedBy" else 30
    item = only(judge(BASE, service(**{field: value}), kuberay))
    if unknown:
        assert item.verdict == UNKNOWN_FIELD and f"added in KubeRay {unknown}" in item.impact
    else:
        assert item.verdict != UNKNOWN_FIELD


def test_a_field_the_crd_schema_lacks_is_unknown():
    schema = {"type": "object", "properties": {"metadata": {"type": "object"}, "spec": {
        "type": "object", "properties": {"rayClusterConfig": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                         "serveConfigV2": {"type": "string"}}}}}
    item = only(judge(BASE, service(excludeHeadPodFromServeSvc=True), "1.7.0", schema=schema))
    assert item.verdict == UNKNOWN_FIELD and item.impact.startswith("spec.excludeHeadPodFromServeSvc is unknown")


# --- 10. CEL transition rules ---------------------------------------------------------------------------------

def test_a_broken_transition_rule_is_rejected_with_its_message():
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "backend": {"type": "string", "x-kubernetes-validations": [
            {"rule": "self == oldSelf", "message": "backend is immutable"}]}}}}}
    before, after = service(backend="redis"), service(backend="rocksdb")
    item = only(judge(before, after, "1.7.0", schema=schema))
    assert item.verdict == REJECTED and item.impact == "rejected by the API server: spec.backend: backend is immutable"
    assert only(judge(service(), after, "1.7.0", schema=schema)).verdict != REJECTED   # added: no oldSelf


# --- 8. the operator -----------------------------------------------------------------------------------------------

def _setting(old: str, new: str, kind: str = SETTINGS_KIND, path=("versions", "kuberay"), values=None):
    change = diff_values({"x": old}, {"x": new})[0]
    change = type(change)(path, change.change, old, new)
    resource = ResourceDiff("raygitops.yaml", kind, "changed", (change,), None, None)
    return only({0: c for c in classify(resource, setup=operator_setup(new, values))})


def test_operator_upgrade_and_downgrade():
    up = _setting("1.6.2", "1.7.0")
    assert up.verdict == IN_PLACE and up.impact.startswith("operator upgrade 1.6.2 → 1.7.0")
    assert f"{INCREMENTAL_GATE} is on by default in KubeRay 1.7.0" in up.impact
    assert "copies each RayService's whole rayClusterConfig" in up.warning
    assert "by default" not in _setting("1.6.2", "1.7.0", values=GATE_ON).impact   # pinned in values.yaml
    assert _setting("1.7.0", "1.1.1").verdict == NEW_CLUSTER
    assert _setting("v1.6.2", "v1.7.0", VALUES_KIND, ("image", "tag")).impact.startswith("operator upgrade 1.6.2")


def test_feature_gate_values_change():
    before, after = {"featureGates": []}, GATE_ON
    resource = ResourceDiff("base/kuberay-operator/values.yaml", VALUES_KIND, "changed",
                            tuple(diff_values(before, after, kind=VALUES_KIND)), before, after)
    [item] = classify(resource, setup=operator_setup("1.6.2", after))
    assert item.verdict == IN_PLACE and f"{INCREMENTAL_GATE} off → on" in item.impact
    assert "switches to the Gateway now" in item.warning


def test_crd_schema_changes():
    old = {"type": "object", "properties": {"spec": {"type": "object", "required": [], "properties": {
        "a": {"type": "string"}, "gone": {"type": "object", "properties": {"x": {"type": "string"}}}}}}}
    new = {"type": "object", "properties": {"spec": {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "string"}, "suspend": {"type": "boolean"}}}}}
    changes = {c.display_path: (c.change, c.before, c.after) for c in schema_changes(old, new)}
    assert changes == {"spec.a": ("changed", "optional", "required"), "spec.gone": ("removed", "optional", None),
                       "spec.suspend": ("added", None, "optional")}
    stores = {"1.6.2": {"RayService": old, "RayCluster": old}, "1.7.0": {"RayService": new, "RayCluster": new}}
    diff, other = crd_diffs("1.6.2", "1.7.0", lambda v: (lambda a, k: stores[v].get(k)) if v in stores else None)
    [summary] = other.fields     # a kind this repository does not deploy: one row
    assert summary.summary() == "KubeRay 1.6.2 → KubeRay 1.7.0: 1 new, 1 removed, 1 newly required fields"
    judged = {c.change.display_path: c for c in classify(diff, setup=operator_setup("1.7.0"))}
    assert "newly required in KubeRay 1.7.0" in judged["spec.a"].impact and judged["spec.a"].warning
    assert judged["spec.suspend"].impact.startswith("new field in KubeRay 1.7.0")
    [missing] = crd_diffs("1.6.2", "1.8.0", lambda v: (lambda a, k: stores[v].get(k)) if v in stores else None)
    assert "does not hold KubeRay 1.8.0" in classify(missing, setup=operator_setup("1.8.0"))[0].impact


# --- the table and the verdicts ---------------------------------------------------------------------------------------

def test_rules_table_is_well_formed():
    facts = {"kuberay", "name", "path", "value", "why", "why_before", "trigger", "ride_along", "rolled", "since",
             "old_svc", "new_svc", "refusal", "timeout", "field", "added_in", "cel", "from", "to", "gates",
             "gate_changes", "gate_warning", "missing", "crd_from", "crd_to", "direction"}
    for rule in RULES:
        assert rule.source and rule.impact, rule
        assert all(rule.shape), rule.pattern
        version_matches(rule.kuberay, (1, 7, 0))   # parses
        for text in (rule.impact, rule.warning):
            named = {field for _, field, _, _ in string.Formatter().parse(text) if field}
            assert named <= facts, (rule.pattern, named - facts)


def test_every_version_range_rule_is_reachable_at_some_pinned_version():
    pinned = [(1, 1, 1), (1, 2, 2), (1, 5, 2), (1, 6, 2), (1, 7, 0), (1, 5, 0), (1, 6, 0)]
    for rule in RULES:
        assert any(version_matches(rule.kuberay, v) for v in pinned), rule


def test_verdict_order_and_fail_on():
    assert worst([IN_PLACE, DEFERRED, NO_OP]) == IN_PLACE
    assert worst([NEW_CLUSTER, OUTAGE, REJECTED]) == OUTAGE
    assert VERDICTS.index(DEFERRED) < VERDICTS.index(IN_PLACE)
    assert fail_on_verdicts("rejected,suspend") == {REJECTED, OUTAGE}
    assert fail_on_verdicts(" new-cluster , unknown_field") == {NEW_CLUSTER, UNKNOWN_FIELD}
    with pytest.raises(UserError, match="unknown verdict 'rejectd'"):
        fail_on_verdicts("rejectd")
