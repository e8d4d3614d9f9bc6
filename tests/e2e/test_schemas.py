"""Schema validation against real schemas: kubernetes-validate, the KubeRay and Argo CD CRDs and the
CRDs-catalog files in ../shared, served from disk and over a local HTTP server."""
from __future__ import annotations

import copy
import functools
import http.server
import re
import socket
import threading
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from raygitops.checks import schemas
from raygitops.errors import UserError
from raygitops.findings import ERROR, WARNING
from raygitops.checks.crdschema import OBJECT_META_REF, crd_to_jsonschema
from raygitops.checks.schema_sources import render_location
from raygitops.checks.schemas import SchemaRegistry

CATALOG_TEMPLATE = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
WORKER = "spec.rayClusterConfig.workerGroupSpecs[0]"
WORKER_CONTAINER = WORKER + ".template.spec.containers[0]"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crds(shared: Path) -> Path:
    return shared / "crds"


@pytest.fixture(scope="module")
def registry(shared: Path, crds: Path) -> SchemaRegistry:
    """What tools/validate uses: KubeRay 1.7.0 and Argo CD CRDs, the catalog for the rest."""
    return SchemaRegistry("1.32.0", crd_dirs=[crds / "kuberay/v1.7.0", crds / "argo-cd"],
                          schema_locations=[shared / "schemas"])


@pytest.fixture(scope="module")
def setup_examples(shared: Path) -> list[dict]:
    """The RayService manifests in the document this project was created from."""
    text = (shared / "reference/cluster-setup.md").read_text()
    docs = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    services = [d for d in docs if isinstance(d, dict) and d.get("kind") == "RayService"]
    assert len(services) == 2
    return services


@pytest.fixture
def service(setup_examples) -> dict:
    """The complete example (real image and serve config), safe to modify."""
    return copy.deepcopy(setup_examples[1])


@pytest.fixture(scope="module")
def catalog_url(shared: Path):
    """The catalog directory served over HTTP, as a kubeconform URL template."""
    handler = functools.partial(_QuietHandler, directory=str(shared / "schemas"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/" + CATALOG_TEMPLATE
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _paths(findings) -> list[tuple[str, str]]:
    return [(f.path, f.message) for f in findings]


def _errors(findings):
    return [f for f in findings if f.severity == ERROR]


def deployment(**container_extra) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "dev"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                       "resources": {"limits": {"cpu": "500m"}},
                                                       **container_extra}]}}},
    }


def pvc(**spec_extra) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                     **spec_extra}}


def application(**source_extra) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "aana-dev", "namespace": "argocd"},
            "spec": {"project": "default",
                     "source": {"repoURL": "https://example.com/repo.git", "path": "overlays/dev",
                                "targetRevision": "main", **source_extra},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": "aana"},
                     "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}}


def external_secret(apiVersion="external-secrets.io/v1", **remote_extra) -> dict:
    return {"apiVersion": apiVersion, "kind": "ExternalSecret", "metadata": {"name": "postgres"},
            "spec": {"refreshInterval": "1h",
                     "secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
                     "target": {"name": "postgres"},
                     "data": [{"secretKey": "password", "remoteRef": {"key": "db", **remote_extra}}]}}


def sealed_secret(**spec_extra) -> dict:
    return {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "s"},
            "spec": {"encryptedData": {"password": "AgBy3i4OJSWK+PiTySYZZA=="},
                     "template": {"metadata": {"name": "s"}}, **spec_extra}}


# --- the RayService examples --------------------------------------------------------------------


def test_setup_examples_validate_against_kuberay_1_7(registry, setup_examples):
    for example in setup_examples:
        assert registry.validate(example, file="cluster-setup.md") == []


def test_deprecated_threshold_fields_are_still_in_the_1_7_crd(registry, service):
    # KubeRay ignores these since v1.1.0 (kuberay#1685), but the v1.7.0 CRD still declares them,
    # so the schema accepts them; a misspelling of them is still rejected.
    spec_props = registry.lookup("ray.io/v1", "RayService").validator.schema["properties"]["spec"]["properties"]
    assert {"serviceUnhealthySecondThreshold", "deploymentUnhealthySecondThreshold"} <= set(spec_props)
    service["spec"]["serviceUnhealthySecondThresold"] = 900
    assert _paths(registry.validate(service)) == [("spec", "unknown field 'serviceUnhealthySecondThresold'")]


def test_unknown_fields_are_reported_with_dotted_paths(registry, service):
    worker = service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    worker["replica"] = 2
    worker["template"]["spec"]["containers"][0]["typo"] = True
    service["metadata"]["lables"] = {"app": "aana"}
    findings = registry.validate(service, file="overlays/dev")
    assert _paths(findings) == [
        ("metadata", "unknown field 'lables'"),
        (WORKER, "unknown field 'replica'"),
        (WORKER_CONTAINER, "unknown field 'typo'"),
    ]
    f = findings[1]
    assert (f.id, f.severity, f.file, f.resource) == ("schema", ERROR, "overlays/dev", "RayService//aana-sdk")


def test_several_unknown_fields_in_one_object_give_one_finding_each(registry, service):
    service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0].update(b=1, a=2)
    assert _paths(registry.validate(service)) == [(WORKER, "unknown field 'a'"), (WORKER, "unknown field 'b'")]


def test_findings_are_sorted_by_list_index_then_message(registry, service):
    containers = service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]["containers"]
    for i in range(1, 11):
        containers.append({"name": f"c{i}", "image": "busybox"})
    containers[10]["typo"] = 1
    containers[2]["typo"] = 1
    containers[2]["image"] = 5
    prefix = WORKER + ".template.spec.containers"
    assert _paths(registry.validate(service)) == [
        (f"{prefix}[2]", "unknown field 'typo'"),
        (f"{prefix}[2].image", "5 is not of type 'string'"),
        (f"{prefix}[10]", "unknown field 'typo'"),
    ]


def test_required_fields_and_types(registry, service):
    worker = service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    del worker["groupName"]
    worker["maxReplicas"] = "ten"
    assert _paths(registry.validate(service)) == [
        (WORKER, "missing required field 'groupName'"),
        (WORKER + ".maxReplicas", "'ten' is not of type 'integer'"),
    ]


@pytest.mark.parametrize("cpu", [2, "2", "500m", "1.5"])
def test_int_or_string_accepts_integers_and_quantities(registry, service, cpu):
    service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0][
        "resources"]["limits"]["cpu"] = cpu
    assert registry.validate(service) == []


@pytest.mark.parametrize("cpu, message", [
    ([1], "[1] is not of type 'string', 'integer'"),
    ({"n": 1}, '{"n": 1} is not of type \'string\', \'integer\''),
    (1.5, "1.5 is not of type 'string', 'integer'"),  # CRDs take int-or-string, not floats
    ("two", "'two' is not a Kubernetes quantity (like 2, 500m, 4Gi)"),
])
def test_int_or_string_rejects_other_values(registry, service, cpu, message):
    service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0][
        "resources"]["limits"]["cpu"] = cpu
    assert _paths(registry.validate(service)) == [(WORKER_CONTAINER + ".resources.limits.cpu", message)]


def test_upgrade_strategy_needs_kuberay_1_3_or_newer(crds, registry, service):
    service["spec"]["upgradeStrategy"] = {"type": "NewCluster"}
    assert registry.validate(service) == []
    old = SchemaRegistry("1.32.0", crd_dirs=[crds / "kuberay/v1.1.1"])
    assert _paths(old.validate(service)) == [("spec", "unknown field 'upgradeStrategy'")]
    service["spec"]["upgradeStrategy"] = {"type": "NewCluster", "typo": 1}
    assert _paths(registry.validate(service)) == [("spec.upgradeStrategy", "unknown field 'typo'")]


def test_v1alpha1_is_validated_and_flagged_as_deprecated(registry, service):
    service["apiVersion"] = "ray.io/v1alpha1"
    findings = registry.validate(service)
    assert _errors(findings) == []
    [warning] = findings
    assert warning.severity == WARNING and warning.path == "apiVersion"
    assert "ray.io/v1alpha1 RayService is deprecated" in warning.message
    service["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["replica"] = 1
    assert _paths(_errors(registry.validate(service))) == [(WORKER, "unknown field 'replica'")]


def test_raycluster_v1(registry, service):
    cluster = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "c"},
               "spec": copy.deepcopy(service["spec"]["rayClusterConfig"])}
    assert registry.validate(cluster) == []
    cluster["spec"]["headGroupSpec"]["replicas"] = 1
    assert _paths(registry.validate(cluster)) == [("spec.headGroupSpec", "unknown field 'replicas'")]


def test_unserved_version_names_the_served_ones(registry, service):
    service["apiVersion"] = "ray.io/v2"
    [f] = registry.validate(service)
    assert f.message == "no schema for ray.io/v2 RayService: its CRD serves only ray.io/v1, ray.io/v1alpha1"


# --- built-in kinds ------------------------------------------------------------------------------


def test_builtin_kinds_pass(registry):
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    for resource in (deployment(), configmap, pvc()):
        assert registry.validate(resource) == []
    assert registry.lookup("apps/v1", "Deployment").origin == "kubernetes-validate 1.32"


def test_builtin_kind_typos_fail(registry):
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "dta": {"a": "b"}}
    assert _paths(registry.validate(configmap)) == [("", "unknown field 'dta'")]
    bad = deployment(resourcse={}, ports=[{"containerPort": "80"}])
    bad["spec"]["replicas"] = "2"
    assert _paths(registry.validate(bad)) == [
        ("spec.replicas", "'2' is not of type 'integer', 'null'"),
        ("spec.template.spec.containers[0]", "unknown field 'resourcse'"),
        ("spec.template.spec.containers[0].ports[0].containerPort", "'80' is not of type 'integer'"),
    ]
    assert _paths(registry.validate(pvc(storageClass="gp3"))) == [("spec", "unknown field 'storageClass'")]


@pytest.mark.parametrize("version, ok", [("1.32.0", True), ("1.29.0", True), ("1.28.0", False), ("v1.22", False)])
def test_builtin_schemas_follow_the_kubernetes_version(version, ok):
    # PersistentVolumeClaimSpec.volumeAttributesClassName appeared in Kubernetes 1.29
    findings = SchemaRegistry(version).validate(pvc(volumeAttributesClassName="fast"))
    assert _paths(findings) == ([] if ok else [("spec", "unknown field 'volumeAttributesClassName'")])


def test_unsupported_kubernetes_version_is_a_user_error():
    with pytest.raises(UserError, match="no built-in schemas for Kubernetes 1.99.0"):
        SchemaRegistry("1.99.0")
    with pytest.raises(UserError, match="invalid Kubernetes version"):
        SchemaRegistry("latest")


def test_builtin_name_clash_with_a_crd_group_is_not_a_builtin(registry):
    # kubernetes-validate names files by the group's first label: apps.example.com/v1 Deployment
    # would hit deployment-apps-v1.json without the group-version-kind check
    assert registry.lookup("apps.example.com/v1", "Deployment") is None


# --- Argo CD, ExternalSecret, SealedSecret -------------------------------------------------------


def test_argocd_application_from_the_crd_dir(crds):
    reg = SchemaRegistry(crd_dirs=[crds / "argo-cd"])
    assert reg.validate(application()) == []
    assert _paths(reg.validate(application(typo=1))) == [("spec.source", "unknown field 'typo'")]
    assert reg.lookup("argoproj.io/v1alpha1", "Application").origin.startswith("CRD ")


def test_argocd_application_from_the_catalog(shared):
    reg = SchemaRegistry(schema_locations=[str(shared / "schemas") + "/" + CATALOG_TEMPLATE])
    assert reg.validate(application()) == []
    assert _paths(reg.validate(application(typo=1))) == [("spec.source", "unknown field 'typo'")]
    assert reg.lookup("argoproj.io/v1alpha1", "Application").origin.endswith(
        "argoproj.io/application_v1alpha1.json")


def test_crds_come_before_schema_locations(registry):
    assert registry.lookup("argoproj.io/v1alpha1", "Application").origin.startswith("CRD ")


def test_external_secret_and_sealed_secret_from_the_catalog(registry):
    assert registry.validate(external_secret()) == []
    assert registry.validate(external_secret("external-secrets.io/v1beta1")) == []
    assert registry.validate(sealed_secret()) == []
    assert _paths(registry.validate(external_secret(typo=1))) == [
        ("spec.data[0].remoteRef", "unknown field 'typo'")]
    assert _paths(registry.validate(sealed_secret(typo=1))) == [("spec", "unknown field 'typo'")]


def test_schema_location_over_http(catalog_url):
    reg = SchemaRegistry(schema_locations=[catalog_url])
    assert reg.validate(external_secret()) == []
    assert _paths(reg.validate(external_secret(typo=1))) == [("spec.data[0].remoteRef", "unknown field 'typo'")]
    [missing] = reg.validate({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    assert missing.message.startswith("no schema for example.com/v1 Widget")  # a 404 is "not found"


def test_unreachable_schema_url_is_a_finding_not_a_traceback(shared):
    url = f"http://127.0.0.1:{_closed_port()}/" + CATALOG_TEMPLATE
    reg = SchemaRegistry(schema_locations=[url], fetch_timeout=2)
    [f] = reg.validate(external_secret())
    assert (f.id, f.severity) == ("schema", ERROR)
    assert f.message.startswith(f"no schema for external-secrets.io/v1 ExternalSecret: could not download schema "
                                f"{url.split('{{')[0]}external-secrets.io/externalsecret_v1.json")
    assert "network" in f.fix
    # a later location that has the schema wins over the failed download
    reg = SchemaRegistry(schema_locations=[url, shared / "schemas"], fetch_timeout=2)
    assert reg.validate(external_secret()) == []


# --- missing schemas and skips -------------------------------------------------------------------

WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "n"}}


def test_missing_schema_is_an_error_with_a_fix(registry):
    [f] = registry.validate(WIDGET, file="overlays/dev")
    assert (f.id, f.severity, f.resource, f.file) == ("schema", ERROR, "Widget/n/w", "overlays/dev")
    assert f.message.startswith("no schema for example.com/v1 Widget in kubernetes-validate 1.32, CRDs in ")
    assert "crd_dirs" in f.fix and "--schema-location" in f.fix and "skip" in f.fix


@pytest.mark.parametrize("skip", ["Widget", "example.com/Widget", "example.com/v1/Widget"])
def test_skipped_kinds_are_not_validated(skip):
    reg = SchemaRegistry(skip_kinds=[skip])
    assert reg.validate(WIDGET) == []
    assert reg.validate({**WIDGET, "kind": "Gadget"}) != []


def test_skip_by_kind_skips_builtin_validation_too():
    reg = SchemaRegistry(skip_kinds=["v1/Secret"])
    assert reg.validate({"apiVersion": "v1", "kind": "Secret", "sops": {"x": 1}}) == []


@pytest.mark.parametrize("resource, path, message", [
    ([1, 2], "", "resource is not a mapping (got list)"),
    ("text", "", "resource is not a mapping (got str)"),
    ({"kind": "ConfigMap"}, "apiVersion", "resource has no apiVersion"),
    ({"apiVersion": "v1"}, "kind", "resource has no kind"),
    ({"apiVersion": 1, "kind": None}, "apiVersion", "apiVersion must be a string, not 1; resource has no kind"),
    ({"apiVersion": "v1", "kind": 5}, "kind", "kind must be a string, not 5"),
    ({"apiVersion": "v1", "kind": "../../x"}, "kind", "invalid kind '../../x'"),
])
def test_malformed_resources_are_findings(registry, resource, path, message):
    [f] = registry.validate(resource)
    assert (f.id, f.severity, f.path, f.message) == ("schema", ERROR, path, message)


@settings(max_examples=60, deadline=None)
@given(spec=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                         lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                         max_leaves=12),
       kind=st.sampled_from([("ray.io/v1", "RayService"), ("apps/v1", "Deployment"), ("v1", "ConfigMap"),
                             ("argoproj.io/v1alpha1", "Application")]))
def test_validate_never_raises(registry, spec, kind):
    findings = registry.validate({"apiVersion": kind[0], "kind": kind[1], "metadata": {"name": "x"},
                                  "spec": spec})
    assert all(f.id in ("schema", "schema-null-dropped") and "\n" not in f.message for f in findings)


# --- caching and speed ---------------------------------------------------------------------------


def test_each_schema_is_compiled_once_per_process(crds, registry, service):
    registry.validate(service)
    registry.validate(deployment())
    before = schemas.compile_count()
    again = SchemaRegistry("1.32.0", crd_dirs=[crds / "kuberay/v1.7.0"])
    for _ in range(3):
        again.validate(service)
        again.validate(deployment())
    assert schemas.compile_count() == before
    assert again.lookup("ray.io/v1", "RayService").validator is registry.lookup("ray.io/v1", "RayService").validator
    other = SchemaRegistry("1.32.0", crd_dirs=[crds / "kuberay/v1.1.1"])
    assert other.lookup("ray.io/v1", "RayService").validator is not registry.lookup("ray.io/v1", "RayService").validator


def test_crd_dirs_are_loaded_lazily(crds):
    reg = SchemaRegistry(crd_dirs=[crds / "kuberay/v1.7.0"])
    assert reg._crd_index is None  # nothing read until a custom resource needs it
    reg.validate(deployment())
    assert reg._crd_index is None


def test_repeated_validations_reuse_one_compiled_validator(registry, service):
    """What keeps validating many RayServices cheap (bench/validate times it): the CRD is compiled once."""
    registry.validate(service)
    compiled = registry.lookup("ray.io/v1", "RayService").validator
    for _ in range(20):
        assert registry.validate(service) == []
    assert registry.lookup("ray.io/v1", "RayService").validator is compiled


# --- CRD conversion and CRD files ----------------------------------------------------------------


def test_crd_conversion_rules():
    openapi = {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {
                "port": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True},
                "legacy": {"type": "string", "format": "int-or-string"},
                "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                           "properties": {"known": {"type": "string"}}},
                "when": {"type": "string", "nullable": True},
                "properties": {"type": "object", "properties": {"x": {"type": "string"}}},
                "default": {"type": "object", "default": {"properties": {}}},
            }},
        },
    }
    original = copy.deepcopy(openapi)
    schema = crd_to_jsonschema(openapi, object_meta=False)
    assert openapi == original  # the CRD is not modified
    spec = schema["properties"]["spec"]
    assert schema["additionalProperties"] is False and spec["additionalProperties"] is False
    assert set(schema["properties"]) == {"apiVersion", "kind", "metadata", "spec"}
    assert spec["properties"]["port"] == {"oneOf": [{"type": "string"}, {"type": "integer"}],
                                          "x-kubernetes-int-or-string": True}
    assert spec["properties"]["legacy"] == {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    assert "additionalProperties" not in spec["properties"]["values"]
    assert spec["properties"]["when"]["type"] == ["string", "null"]
    # a field named "properties" is a field, not a keyword (kubeconform #295)
    assert spec["properties"]["properties"]["additionalProperties"] is False
    assert "additionalProperties" not in spec["properties"]
    assert spec["properties"]["default"]["default"] == {"properties": {}}


def test_crd_metadata_is_checked_as_object_meta():
    schema = crd_to_jsonschema({"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}}}})
    meta = schema["properties"]["metadata"]
    assert meta["allOf"][0] == {"$ref": OBJECT_META_REF}
    assert "additionalProperties" not in meta["allOf"][1]  # labels etc. stay allowed


def _crd(group: str, kind: str, versions: dict[str, dict], *, deprecated=()) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{kind.lower()}s.{group}"},
            "spec": {"group": group, "names": {"kind": kind, "plural": f"{kind.lower()}s"},
                     "scope": "Namespaced",
                     "versions": [{"name": v, "served": v != "v0", "storage": i == 0,
                                   "deprecated": v in deprecated,
                                   "schema": {"openAPIV3Schema": s}}
                                  for i, (v, s) in enumerate(versions.items())]}}


SIMPLE = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
    "size": {"type": "integer"},
    "operator": {"type": "string", "enum": ["=", "!="]},
    "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                 "properties": {"spec": {"type": "object"}}}}}}}


def test_crd_files_multi_document_and_lists(tmp_path):
    widget = _crd("example.com", "Widget", {"v1": SIMPLE, "v0": SIMPLE})
    gadget = _crd("example.com", "Gadget", {"v2": SIMPLE, "v1beta1": SIMPLE}, deprecated=["v1beta1"])
    (tmp_path / "bundle.yaml").write_text(
        "# leading comment\n---\n" + yaml.safe_dump(widget).replace("- '='", "- =") + "---\n"
        + yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
        + "...\n---\n" + yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [gadget]}))
    (tmp_path / "notes.txt").write_text("not yaml: [")
    reg = SchemaRegistry(crd_dirs=[tmp_path])
    ok = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
          "spec": {"size": 1, "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {}}}}
    assert reg.validate(ok) == []
    assert reg.validate({**ok, "spec": {"operator": "="}}) == []  # a plain `=` in the CRD reads as "="
    assert _paths(reg.validate({**ok, "spec": {"size": "1", "extra": 1}})) == [
        ("spec", "unknown field 'extra'"), ("spec.size", "'1' is not of type 'integer'")]
    assert reg.validate({**ok, "kind": "Gadget", "apiVersion": "example.com/v2"}) == []
    [warning] = reg.validate({**ok, "kind": "Gadget", "apiVersion": "example.com/v1beta1"})
    assert warning.severity == WARNING and "deprecated" in warning.message
    [unserved] = reg.validate({**ok, "apiVersion": "example.com/v0"})
    assert unserved.message.endswith("its CRD serves only example.com/v1")


def test_broken_crd_file_is_a_user_error_with_a_line(tmp_path):
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: CustomResourceDefinition\nspec: [\n")
    reg = SchemaRegistry(crd_dirs=[tmp_path])
    with pytest.raises(UserError) as err:
        reg.validate({"apiVersion": "example.com/v1", "kind": "Widget"})
    assert err.value.file.endswith("a.yaml") and err.value.line == 4


def test_missing_crd_dir_or_schema_location_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="CRD directory not found"):
        SchemaRegistry(crd_dirs=[tmp_path / "nope"])
    with pytest.raises(UserError, match="schema location not found"):
        SchemaRegistry(schema_locations=[tmp_path / "nope"])
    with pytest.raises(UserError, match="unsupported template action"):
        SchemaRegistry(schema_locations=[str(tmp_path) + "/{{.Kind}}.json"])


# --- kubeconform templates -----------------------------------------------------------------------

KUBECONFORM_DEFAULT = ("https://kubernetesjsonschema.dev/{{ .NormalizedKubernetesVersion }}-standalone"
                       "{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json")


@pytest.mark.parametrize("template, api_version, kind, expected", [
    (KUBECONFORM_DEFAULT, "apps/v1", "Deployment",
     "https://kubernetesjsonschema.dev/v1.16.0-standalone-strict/deployment-apps-v1.json"),
    (KUBECONFORM_DEFAULT, "v1", "Service", "https://kubernetesjsonschema.dev/v1.16.0-standalone-strict/service-v1.json"),
    ("/s/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json", "monitoring.coreos.com/v1", "ServiceMonitor",
     "/s/monitoring.coreos.com/servicemonitor_v1.json"),
    ("{{.Group}}{{.KindSuffix}}", "ray.io/v1alpha1", "RayService", "ray.io-ray-v1alpha1"),
    ("{{.Group}}", "v1", "ConfigMap", "v1"),  # kubeconform's quirk: core resources have Group "v1"
])
def test_render_location_matches_kubeconform(template, api_version, kind, expected):
    assert render_location(template, api_version, kind, "1.16.0") == expected


def test_broken_schema_file_is_a_finding(tmp_path):
    (tmp_path / "example.com").mkdir()
    (tmp_path / "example.com/widget_v1.json").write_text("{not json")
    [f] = SchemaRegistry(schema_locations=[tmp_path]).validate(WIDGET)
    assert f.severity == ERROR and "widget_v1.json is not valid JSON" in f.message
