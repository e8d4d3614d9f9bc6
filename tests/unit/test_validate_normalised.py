"""validate judges a custom resource as the API server stores it: defaults applied, non-nullable nulls dropped.

    tools/test tests/unit/test_validate_normalised.py
"""
from __future__ import annotations

import copy

import pytest
import yaml

from conftest import SHARED
from raygitops.checks.schemas import SchemaRegistry
from raygitops.findings import ERROR, INFO

# KubeRay's own sample, trimmed: no minReplicas/maxReplicas, an empty pod-template metadata.
SAMPLE = yaml.safe_load("""
apiVersion: ray.io/v1
kind: RayService
metadata: {name: sample, namespace: ns}
spec:
  serveConfigV2: |
    applications: []
  rayClusterConfig:
    rayVersion: "2.46.0"
    headGroupSpec:
      rayStartParams: {}
      template:
        metadata:
        spec:
          containers:
            - name: ray-head
              image: rayproject/ray:2.46.0
              ports: [{containerPort: 6379, name: gcs}]
    workerGroupSpecs:
      - groupName: small
        replicas: 1
        rayStartParams: {}
        template:
          spec:
            containers: [{name: ray-worker, image: rayproject/ray:2.46.0}]
""")


@pytest.fixture(scope="module", params=["v1.1.1", "v1.7.0"])
def registry(request) -> SchemaRegistry:
    crds = SHARED / "crds" / "kuberay" / request.param
    if not crds.is_dir():
        pytest.skip(f"no KubeRay CRDs at {crds}")
    return SchemaRegistry("1.32.0", crd_dirs=[crds])


def test_defaulted_required_fields_and_empty_metadata_validate_clean(registry):
    findings = registry.validate(copy.deepcopy(SAMPLE))
    assert [f for f in findings if f.severity == ERROR] == []
    assert [(f.id, f.path) for f in findings if f.severity == INFO] == [
        ("schema-null-dropped", "spec.rayClusterConfig.headGroupSpec.template.metadata")]


def test_an_unknown_field_is_still_an_error(registry):
    broken = copy.deepcopy(SAMPLE)
    broken["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["maxReplica"] = 3
    errors = [f for f in registry.validate(broken) if f.severity == ERROR]
    assert [f.message for f in errors] == ["unknown field 'maxReplica'"]


def test_a_null_where_a_value_is_required_is_still_an_error(registry):
    broken = copy.deepcopy(SAMPLE)
    broken["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"] = None
    errors = [(f.message, f.path) for f in registry.validate(broken) if f.severity == ERROR]
    # Dropped as a null, then missing: PodSpec requires containers and gives them no default.
    assert errors == [("missing required field 'containers'", "spec.rayClusterConfig.headGroupSpec.template.spec")]
