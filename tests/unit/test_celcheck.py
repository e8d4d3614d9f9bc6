"""validate's cel-rule check: KubeRay's CRD rules without oldSelf, on the object as the API server stores it.

    tools/test tests/unit/test_celcheck.py
"""
from __future__ import annotations

import copy

import pytest

from raygitops.checks.celcheck import CEL_RULE, cel_findings
from raygitops.checks.schemas import SchemaRegistry
from raygitops.findings import ERROR

from test_validate_normalised import SAMPLE, SHARED


def registry(version: str, **options) -> SchemaRegistry:
    crds = SHARED / "crds" / "kuberay" / version
    if not crds.is_dir():
        pytest.fail(f"no KubeRay CRDs at {crds}: set RAYGITOPS_SHARED")
    return SchemaRegistry("1.32.0", crd_dirs=[crds], **options)


def managed_by(value: str) -> dict:
    service = copy.deepcopy(SAMPLE)
    service["spec"]["managedBy"] = value
    service["spec"]["rayClusterConfig"]["gcsFaultToleranceOptions"] = {"backend": "redis", "redisAddress": "r:6379"}
    return service


def test_a_rule_without_old_self_is_checked_on_every_object():
    [finding] = cel_findings(managed_by("someone-else"), registry("v1.7.0"), file="overlays/prod")
    assert (finding.id, finding.severity, finding.path, finding.file) == (CEL_RULE, ERROR, "spec.managedBy", "overlays/prod")
    assert finding.message.startswith("the managedBy field value must be either 'ray.io/kuberay-operator' or")
    # Valid values pass; transition rules (managedBy and backend are immutable) need the stored object: diff's job.
    assert cel_findings(managed_by("ray.io/kuberay-operator"), registry("v1.7.0")) == []


def test_no_rules_before_they_existed_and_none_for_skipped_or_built_in_kinds():
    assert cel_findings(managed_by("someone-else"), registry("v1.1.1")) == []
    assert cel_findings(managed_by("someone-else"), registry("v1.7.0", skip_kinds=["RayService"])) == []
    assert cel_findings({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, registry("v1.7.0")) == []
