"""CEL validation rules of the real KubeRay CRDs, evaluated with a real CEL implementation.

    tools/test tests/unit/test_cel_rules.py
"""
from __future__ import annotations

import copy
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from conftest import load_crd_file
from raygitops.model.cel_rules import UnsupportedRule, crd_schema, rules_of, violations

KUBERAY_TAGS = ("v1.1.1", "v1.2.2", "v1.5.2", "v1.6.2", "v1.7.0")
KUBERAY_OPERATOR, MULTIKUEUE = "ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue"
BACKEND = "spec.rayClusterConfig.gcsFaultToleranceOptions.backend"


@lru_cache(maxsize=None)
def _crd(path: Path) -> dict:
    return load_crd_file(path)


def _schema(shared: Path, tag: str, plural: str) -> dict:
    return crd_schema(_crd(shared / "crds" / "kuberay" / tag / f"ray.io_{plural}.yaml"))


@pytest.fixture(scope="module")
def service_schema(shared: Path) -> dict:
    return _schema(shared, "v1.7.0", "rayservices")


@pytest.fixture
def service(repo: Path) -> dict:
    """The repository's own RayService (base/rayservice.yaml): a valid object."""
    return yaml.safe_load((repo / "base" / "rayservice.yaml").read_text())


def _with_backend(service: dict, backend: str | None) -> dict:
    changed = copy.deepcopy(service)
    options = {"redisAddress": "redis:6379"} | ({"backend": backend} if backend else {})
    changed["spec"]["rayClusterConfig"]["gcsFaultToleranceOptions"] = options
    return changed


def _with_managed_by(service: dict, value: str) -> dict:
    changed = copy.deepcopy(service)
    changed["spec"]["managedBy"] = value
    return changed


# --- which rules each version has ------------------------------------------------------------------

@pytest.mark.parametrize("plural", ["rayservices", "rayclusters", "rayjobs"])
def test_v1_1_1_crds_have_no_rules(shared, plural):
    assert rules_of(_schema(shared, "v1.1.1", plural)) == []


def test_v1_7_0_rayservice_rules_with_their_paths(service_schema):
    found = [(r.path, r.expression, r.is_transition) for r in rules_of(service_schema)]
    allowed = f"self in ['{KUBERAY_OPERATOR}', '{MULTIKUEUE}']"
    assert found == [
        ("spec.managedBy", "self == oldSelf", True),
        ("spec.managedBy", allowed, False),
        (BACKEND, "self == oldSelf", True),
        ("spec.rayClusterConfig.managedBy", "self == oldSelf", True),
        ("spec.rayClusterConfig.managedBy", allowed, False),
    ]


def test_rules_on_list_items_get_an_item_path(shared):
    paths = {r.path for r in rules_of(_schema(shared, "v1.7.0", "rayjobs"))}
    assert "spec.deletionStrategy.deletionRules[].condition" in paths


@pytest.mark.parametrize("tag", KUBERAY_TAGS)
def test_every_rule_of_every_crd_compiles_and_is_classified(shared, tag):
    """Each rule parses with the CEL library, and is a transition rule exactly when it names oldSelf."""
    for crd_file in sorted((shared / "crds" / "kuberay" / tag).glob("*.yaml")):
        if "x-kubernetes-validations" not in crd_file.read_text():
            continue   # no rules to parse (and 1 MB of YAML saved)
        crd = _crd(crd_file)
        for version in crd["spec"]["versions"]:
            for rule in rules_of(crd_schema(crd, version["name"])):
                assert rule.is_transition == bool(re.search(r"\boldSelf\b", rule.expression)), rule


# --- objects without an old version (what validate checks) -----------------------------------------

def test_the_repository_rayservice_passes(service_schema, service):
    assert violations(service, service_schema) == []


def test_managed_by_outside_the_allowed_values_is_rejected(service_schema, service):
    found = violations(_with_managed_by(service, "argocd"), service_schema)
    assert [(v.path, v.message) for v in found] == [
        ("spec.managedBy", f"the managedBy field value must be either '{KUBERAY_OPERATOR}' or '{MULTIKUEUE}'")]


@pytest.mark.parametrize("value", [KUBERAY_OPERATOR, MULTIKUEUE])
def test_managed_by_allowed_values_pass(service_schema, service, value):
    assert violations(_with_managed_by(service, value), service_schema) == []


def test_a_transition_rule_does_not_run_on_a_new_object(service_schema, service):
    assert violations(_with_backend(service, "rocksdb"), service_schema) == []


def test_has_macro_rules_on_an_object_and_on_list_items(shared):
    schema = _schema(shared, "v1.7.0", "rayjobs")
    job = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j"},
           "spec": {"entrypoint": "python x.py",
                    "deletionStrategy": {"onSuccess": {"policy": "DeleteCluster"},
                                         "deletionRules": [{"policy": "DeleteCluster",
                                                            "condition": {"jobStatus": "SUCCEEDED"}},
                                                           {"policy": "DeleteSelf", "condition": {}}]}}}
    found = [(v.path, v.message) for v in violations(job, schema)]
    assert found == [
        ("spec.deletionStrategy", "legacy policies (onSuccess/onFailure) and deletionRules cannot be used "
                                  "together within the same deletionStrategy"),
        ("spec.deletionStrategy.deletionRules[1].condition",
         "the deletion condition requires either the JobStatus or the JobDeploymentStatus field."),
    ]


def test_fields_the_version_does_not_know_carry_no_rules(shared, service):
    schema = _schema(shared, "v1.1.1", "rayservices")
    assert violations(_with_managed_by(_with_backend(service, "rocksdb"), "argocd"), schema) == []


# --- updates (what diff checks: HEAD against BASE) ---------------------------------------------------

def test_changing_the_gcs_backend_is_rejected(service_schema, service):
    found = violations(_with_backend(service, "rocksdb"), service_schema, old=_with_backend(service, "redis"))
    assert [(v.path, v.message, v.rule.is_transition) for v in found] == [
        (BACKEND, "gcsFaultToleranceOptions.backend is immutable", True)]


def test_keeping_the_gcs_backend_passes(service_schema, service):
    old = _with_backend(service, "redis")
    new = copy.deepcopy(old)
    new["spec"]["rayClusterConfig"]["rayVersion"] = "2.99.0"
    assert violations(new, service_schema, old=old) == []


@pytest.mark.parametrize("old_backend, new_backend", [(None, "rocksdb"), ("redis", None)])
def test_setting_or_removing_the_backend_is_no_transition(service_schema, service, old_backend, new_backend):
    """Transition rules run only where both the old and the new object have the field."""
    old, new = _with_backend(service, old_backend), _with_backend(service, new_backend)
    assert violations(new, service_schema, old=old) == []


def test_changing_managed_by_is_rejected(service_schema, service):
    found = violations(_with_managed_by(service, MULTIKUEUE), service_schema,
                       old=_with_managed_by(service, KUBERAY_OPERATOR))
    assert [(v.path, v.message) for v in found] == [("spec.managedBy", "the managedBy field is immutable")]


def test_an_unchanged_invalid_value_is_ratcheted(service_schema, service):
    """Kubernetes ≥ 1.30 only warns about a failing rule on a value the update leaves as it was."""
    old = _with_managed_by(service, "argocd")
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"team": "search"}
    assert violations(new, service_schema, old=old) == []
    assert len(violations(new, service_schema)) == 1


# --- Kubernetes semantics KubeRay's CRDs do not exercise --------------------------------------------

PORTS = {
    "type": "object",
    "properties": {"ports": {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "properties": {
            "name": {"type": "string"},
            "port": {"type": "integer", "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "port is immutable"}]},
            "weight": {"type": "number", "x-kubernetes-validations": [
                # A `number` holds a double even when written as 2: double arithmetic must work on it.
                {"rule": "self * 2.0 <= 2.0", "messageExpression": "'weight ' + string(self) + ' is above 1'"}]},
        }},
    }},
    "x-kubernetes-validations": [
        {"rule": "self.ports.all(p, p.name.lowerAscii() == p.name)", "message": "lower-case names",
         "fieldPath": ".ports"},
        {"rule": "!oldSelf.hasValue() || size(self.ports) >= size(oldSelf.value().ports)",
         "optionalOldSelf": True, "message": "ports cannot be removed"},
    ],
}


def test_list_map_items_are_matched_by_key_not_position():
    old = {"ports": [{"name": "http", "port": 80}, {"name": "grpc", "port": 90}]}
    reordered = {"ports": [{"name": "grpc", "port": 90}, {"name": "http", "port": 80}]}
    assert violations(reordered, PORTS, old=old) == []
    changed = {"ports": [{"name": "grpc", "port": 91}, {"name": "http", "port": 80}]}
    assert [(v.path, v.message) for v in violations(changed, PORTS, old=old)] == [
        ("ports[grpc].port", "port is immutable")]


def test_message_expression_field_path_and_number_values():
    found = violations({"ports": [{"name": "HTTP", "port": 80, "weight": 2}]}, PORTS)
    assert [(v.path, v.message) for v in found] == [
        ("ports", "lower-case names"), ("ports[HTTP].weight", "weight 2 is above 1")]


def test_optional_old_self_runs_without_an_old_value_too():
    assert violations({"ports": []}, PORTS) == []
    found = violations({"ports": []}, PORTS, old={"ports": [{"name": "http", "port": 80}]})
    assert [v.message for v in found] == ["ports cannot be removed"]


def test_an_evaluation_error_is_a_violation():
    schema = {"type": "object", "x-kubernetes-validations": [{"rule": "self.replicas > 0"}],
              "properties": {"replicas": {"type": "integer"}}}
    missing = violations({}, schema)
    assert [v.message for v in missing] == ["no such key: replicas evaluating rule: self.replicas > 0"]
    assert [v.message for v in violations({"replicas": 0}, schema)] == ["failed rule: self.replicas > 0"]


def test_a_function_the_library_lacks_is_a_tool_limit_not_a_finding():
    schema = {"type": "array", "items": {"type": "integer"},
              "x-kubernetes-validations": [{"rule": "self.isSorted()"}]}
    with pytest.raises(UnsupportedRule, match="isSorted"):
        violations([1, 2], schema)
