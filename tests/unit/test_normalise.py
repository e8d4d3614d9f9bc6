"""The API server's normalisation, against KubeRay's real CRDs (v1.1.1 and v1.7.0) and small schemas of its rules.

    pytest tests/unit/test_normalise.py -q
"""
from __future__ import annotations

import copy
from functools import lru_cache

import pytest
import yaml

from conftest import SHARED, load_crd_file
from raygitops.model.normalise import Normalised, normalise, structural_schema

CRDS = SHARED / "crds" / "kuberay"   # both versions: the schema store holds only the pinned one
KUBERAY = ["v1.1.1", "v1.7.0"]
# The CRDs' defaults for a worker group, read from ray.io_rayservices.yaml / ray.io_rayclusters.yaml.
WORKER_GROUP_DEFAULTS = {
    "v1.1.1": {"minReplicas": 0, "maxReplicas": 2147483647, "replicas": 0, "numOfHosts": 1},
    "v1.7.0": {"minReplicas": 0, "maxReplicas": 2147483647, "replicas": 0, "numOfHosts": 1, "priority": 0},
}


@lru_cache(maxsize=None)
def _schema(kuberay: str, kind: str) -> dict:
    file = CRDS / kuberay / f"ray.io_{kind.lower()}s.yaml"
    if not file.is_file():
        pytest.skip(f"KubeRay CRDs not found at {CRDS} (set RAYGITOPS_SCHEMA_MIRROR)")
    return structural_schema(load_crd_file(file), "v1")


def _load(text: str) -> dict:
    return yaml.safe_load(text)


RAYSERVICE = """
apiVersion: ray.io/v1
kind: RayService
metadata: {name: demo}
spec:
  serveConfigV2: "applications: []"
  rayClusterConfig:
    headGroupSpec:
      rayStartParams: {}
      template:
        spec:
          containers:
          - name: ray-head
            image: rayproject/ray:2.9.0
            ports: [{containerPort: 8000, name: serve}]
    workerGroupSpecs:
    - groupName: cpu
      rayStartParams: {}
      template:
        spec:
          containers: [{name: ray-worker, image: rayproject/ray:2.9.0}]
    - groupName: gpu
      rayStartParams: {}
      template:
        metadata:
        spec:
          containers: [{name: ray-worker, image: rayproject/ray:2.9.0}]
"""


def _rayservice() -> dict:
    return _load(RAYSERVICE)


def _cluster(obj: dict) -> dict:
    return obj["spec"]["rayClusterConfig"]


# --- against the real CRDs ----------------------------------------------------------------------

@pytest.mark.parametrize("kuberay", KUBERAY)
def test_the_crd_defaults_the_required_replica_bounds(kuberay):
    items = _schema(kuberay, "RayService")["properties"]["spec"]["properties"]["rayClusterConfig"][
        "properties"]["workerGroupSpecs"]["items"]
    assert {"minReplicas", "maxReplicas"} <= set(items["required"])   # required, yet defaulted first
    for field, value in WORKER_GROUP_DEFAULTS[kuberay].items():
        assert items["properties"][field]["default"] == value


@pytest.mark.parametrize("kuberay", KUBERAY)
def test_a_worker_group_without_bounds_gets_the_crd_defaults_in_every_group(kuberay):
    # RayService only: its rayClusterConfig is the RayCluster spec, and each CRD costs ~0.5 s to load.
    for group in _cluster(normalise(_rayservice(), _schema(kuberay, "RayService")).obj)["workerGroupSpecs"]:
        assert {k: group[k] for k in WORKER_GROUP_DEFAULTS[kuberay]} == WORKER_GROUP_DEFAULTS[kuberay]


@pytest.mark.parametrize("kuberay", KUBERAY)
def test_a_written_default_and_a_left_out_one_store_alike(kuberay):
    schema = _schema(kuberay, "RayService")
    written = _rayservice()
    for group in _cluster(written)["workerGroupSpecs"]:
        group.update(numOfHosts=1, minReplicas=0)
    assert written != _rayservice()
    assert normalise(written, schema).obj == normalise(_rayservice(), schema).obj
    _cluster(written)["workerGroupSpecs"][0]["numOfHosts"] = 2
    assert normalise(written, schema).obj != normalise(_rayservice(), schema).obj


@pytest.mark.parametrize("kuberay", KUBERAY)
def test_a_null_pod_template_metadata_is_dropped_and_reported(kuberay):
    result = normalise(_rayservice(), _schema(kuberay, "RayService"))
    assert isinstance(result, Normalised)
    assert "metadata" not in _cluster(result.obj)["workerGroupSpecs"][1]["template"]
    assert result.dropped_nulls == ("spec.rayClusterConfig.workerGroupSpecs[gpu].template.metadata",)


@pytest.mark.parametrize("kuberay", KUBERAY)
def test_a_container_port_gets_protocol_tcp_so_its_list_map_key_is_whole(kuberay):
    schema = _schema(kuberay, "RayService")
    ports_schema = schema["properties"]["spec"]["properties"]["rayClusterConfig"]["properties"]["headGroupSpec"][
        "properties"]["template"]["properties"]["spec"]["properties"]["containers"]["items"]["properties"]["ports"]
    assert ports_schema["x-kubernetes-list-type"] == "map"
    assert ports_schema["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    written = _rayservice()
    head = _cluster(written)["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["ports"] = [{"containerPort": 8000, "name": "serve", "protocol": "TCP"}]
    stored = normalise(_rayservice(), schema).obj
    assert stored == normalise(written, schema).obj
    port = _cluster(stored)["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"][0]
    assert (port["containerPort"], port["protocol"]) == (8000, "TCP")
    head["ports"][0]["protocol"] = "UDP"
    assert normalise(written, schema).obj != stored


@pytest.mark.parametrize("kuberay", KUBERAY)
def test_an_unknown_field_is_kept_with_its_null(kuberay):
    service = _rayservice()
    _cluster(service)["workerGroupSpecs"][0]["minReplica"] = 1            # a typo
    _cluster(service)["workerGroupSpecs"][0]["template"]["spec"]["sidecar"] = {"image": None}
    result = normalise(service, _schema(kuberay, "RayService"))
    group = _cluster(result.obj)["workerGroupSpecs"][0]
    assert group["minReplica"] == 1 and group["minReplicas"] == 0
    assert group["template"]["spec"]["sidecar"] == {"image": None}
    assert all("sidecar" not in path for path in result.dropped_nulls)


@pytest.mark.parametrize("kuberay", KUBERAY)
def test_the_input_is_never_mutated_nor_shares_the_schemas_defaults(kuberay):
    schema = _schema(kuberay, "RayService")
    service, schema_before = _rayservice(), copy.deepcopy(schema)
    service_before = copy.deepcopy(service)
    first = normalise(service, schema).obj
    assert service == service_before
    _cluster(first)["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["name"] = "changed"
    assert service == service_before
    assert schema == schema_before


@pytest.mark.parametrize("kuberay", KUBERAY)
def test_nulls_in_maps_and_unnamed_list_items_are_dropped_by_path(kuberay):
    service = _rayservice()
    worker = _cluster(service)["workerGroupSpecs"][0]
    worker["rayStartParams"] = {"num-cpus": None, "block": "true"}        # additionalProperties: string
    worker["template"]["spec"]["tolerations"] = [{"key": None, "operator": "Exists"}]
    worker["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": None}]
    result = normalise(service, _schema(kuberay, "RayService"))
    prefix = "spec.rayClusterConfig.workerGroupSpecs[cpu]"
    assert result.dropped_nulls == (
        f"{prefix}.rayStartParams.num-cpus",
        f"{prefix}.template.spec.containers[ray-worker].env[A].value",
        f"{prefix}.template.spec.tolerations[0].key",
        "spec.rayClusterConfig.workerGroupSpecs[gpu].template.metadata",
    )
    stored = _cluster(result.obj)["workerGroupSpecs"][0]
    assert stored["rayStartParams"] == {"block": "true"}
    assert stored["template"]["spec"]["tolerations"] == [{"operator": "Exists"}]


@pytest.mark.parametrize("kuberay", KUBERAY)
def test_int_or_string_is_stored_as_written_and_its_null_dropped(kuberay):
    service = _rayservice()
    service["spec"]["serveService"] = {"spec": {"ports": [
        {"name": "serve", "port": 8000, "targetPort": "serve"},
        {"name": "alt", "port": 8001, "targetPort": 8001},
        {"name": "none", "port": 8002, "targetPort": None}]}}
    result = normalise(service, _schema(kuberay, "RayService"))
    ports = result.obj["spec"]["serveService"]["spec"]["ports"]
    assert [p.get("targetPort") for p in ports] == ["serve", 8001, None]
    assert [p["protocol"] for p in ports] == ["TCP"] * 3
    assert "spec.serveService.spec.ports[none].targetPort" in result.dropped_nulls


@pytest.mark.parametrize("kuberay", KUBERAY)
def test_a_nullable_null_is_kept_and_root_metadata_is_object_meta(kuberay):
    service = _rayservice()
    service["metadata"] = {"name": "demo", "labels": {}, "annotations": None, "namespace": ""}
    service["status"] = {"activeServiceStatus": {"rayClusterStatus": {"lastUpdateTime": None}}}
    result = normalise(service, _schema(kuberay, "RayService"))
    assert result.obj["metadata"] == {"name": "demo"}
    assert result.obj["status"]["activeServiceStatus"]["rayClusterStatus"]["lastUpdateTime"] is None
    assert "metadata.annotations" in result.dropped_nulls


def test_a_version_the_crd_does_not_serve_is_a_clear_error():
    crd = {"metadata": {"name": "rayservices.ray.io"}, "spec": {"versions": [
        {"name": "v1", "served": True, "schema": {"openAPIV3Schema": {"type": "object"}}},
        {"name": "v1alpha1", "served": False, "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
    assert structural_schema(crd, "v1") == {"type": "object"}
    with pytest.raises(ValueError, match=r"rayservices.ray.io serves no version 'v1alpha1' \(it serves: v1\)"):
        structural_schema(crd, "v1alpha1")


# --- the algorithm's rules, on small schemas ------------------------------------------------------

def _object(properties: dict, **extra) -> dict:
    return {"type": "object", "properties": properties, **extra}


INT, STR = {"type": "integer"}, {"type": "string"}


def test_a_default_object_gets_its_nested_defaults_at_every_level():
    schema = _object({"spec": _object({
        "upgrade": _object({
            "type": {"type": "string", "default": "NewCluster"},
            "options": _object({"maxSurgePercent": {"type": "integer", "default": 100}, "steps": INT},
                               default={}),
        }, default={"type": "None"}),
        "pods": {"type": "array", "items": _object({"restart": {"type": "string", "default": "Always"}})},
    })})
    stored = normalise({"spec": {"pods": [{}, {"restart": "Never"}]}}, schema).obj
    assert stored == {"spec": {
        "pods": [{"restart": "Always"}, {"restart": "Never"}],
        "upgrade": {"type": "None", "options": {"maxSurgePercent": 100}},
    }}
    stored["spec"]["upgrade"]["options"]["steps"] = 2       # each object gets its own copy of a default
    assert normalise({"spec": {}}, schema).obj["spec"]["upgrade"] == {"type": "None", "options": {"maxSurgePercent": 100}}


def test_a_null_with_a_default_is_defaulted_not_dropped():
    schema = _object({"mode": {"type": "string", "default": "DenyAll"}, "note": STR,
                      "maybe": {"type": "string", "nullable": True, "default": "x"}})
    result = normalise({"mode": None, "note": None, "maybe": None}, schema)
    assert result.obj == {"mode": "DenyAll", "maybe": None}
    assert result.dropped_nulls == ("note",)


def test_nulls_are_pruned_before_defaults_are_applied():
    # The decoder prunes (prunenulls.go), the codec's defaulter runs after (algorithm.go): a null that a
    # default brings in is stored, which pruning after defaulting would have dropped.
    schema = _object({"options": _object({"steps": INT, "size": {"type": "integer", "default": 1}},
                                         default={"steps": None})})
    result = normalise({}, schema)
    assert result.obj == {"options": {"steps": None, "size": 1}}
    assert result.dropped_nulls == ()


def test_null_list_items_and_additional_properties_take_their_default():
    schema = _object({
        "tags": {"type": "array", "items": {"type": "string", "default": "none"}},
        "names": {"type": "array", "items": STR},
        "limits": {"type": "object", "additionalProperties": {"type": "string", "default": "0"}},
        "free": {"type": "object", "additionalProperties": True},
    })
    result = normalise({"tags": ["a", None], "names": [None], "limits": {"cpu": None},
                        "free": {"x": None}}, schema)
    assert result.obj == {"tags": ["a", "none"], "names": [None], "limits": {"cpu": "0"}, "free": {"x": None}}
    assert result.dropped_nulls == ()


def test_preserve_unknown_fields_keeps_unknown_nulls_but_not_known_ones():
    schema = _object({"config": _object({"replicas": {"type": "integer", "default": 1}, "name": STR},
                                        **{"x-kubernetes-preserve-unknown-fields": True})})
    result = normalise({"config": {"name": None, "anything": None, "deep": {"x": None}}}, schema)
    assert result.obj == {"config": {"anything": None, "deep": {"x": None}, "replicas": 1}}
    assert result.dropped_nulls == ("config.name",)


def test_an_embedded_resource_keeps_its_type_and_coerces_its_metadata():
    embedded = {"type": "object", "x-kubernetes-embedded-resource": True,
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"spec": _object({"size": {"type": "integer", "default": 3}})}}
    schema = _object({"template": embedded, "other": embedded})
    result = normalise({
        "template": {"apiVersion": "v1", "kind": "ConfigMap", "spec": {},
                     "metadata": {"name": "x", "labels": {}, "uid": "", "generation": 0, "finalizers": None,
                                  "deletionGracePeriodSeconds": 0, "custom": None}},
        "other": {"kind": "Secret", "metadata": None}}, schema)
    assert result.obj == {
        "template": {"apiVersion": "v1", "kind": "ConfigMap", "spec": {"size": 3},
                     "metadata": {"name": "x", "deletionGracePeriodSeconds": 0, "custom": None}},
        "other": {"kind": "Secret", "metadata": {}}}
    assert result.dropped_nulls == ("template.metadata.finalizers", "other.metadata")


def test_paths_quote_keys_outside_the_plain_syntax():
    schema = _object({"annotations": {"type": "object", "additionalProperties": STR}})
    result = normalise({"annotations": {"example.com/owner": None, "plain": None}}, schema)
    assert result.dropped_nulls == ('annotations."example.com/owner"', "annotations.plain")
