"""The RayService policies on a valid rendered environment, on one mutation per failure,
and on the real examples of Aana's cluster-setup docs."""
import copy
import json
import os
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from raygitops.checks.policies import POLICIES, PolicyContext, PolicySettings, run_policies
from raygitops.checks.registry import AANA, BY_ID, CHECKS
from raygitops.findings import Finding
from raygitops.model.rayservice import parse_quantity

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("RAYGITOPS_SCHEMA_MIRROR") or ROOT.parent / "shared")
DIGEST = "@sha256:" + "0123456789abcdef" * 4
CPU_IMAGE = "rayproject/ray:2.46.0-py311" + DIGEST
GPU_IMAGE = "rayproject/ray:2.46.0-py311-gpu" + DIGEST
PG = {"datastore_type": "postgresql",
      "datastore_config": {"host": "postgres.aana-prod.svc", "port": 5432, "user": "aana", "database": "aana"}}
PASSWORD_ENV = {"name": "DB_CONFIG__DATASTORE_CONFIG__PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "aana-db", "key": "password"}}}
SERVE = {
    "applications": [
        {"name": "main", "route_prefix": "/", "import_path": "apps.main:app",
         "runtime_env": {"working_dir": "https://artifacts.example.com/raygitops/apps-3f2a9c81d04e5b67.zip",
                         "env_vars": {"DB_CONFIG": json.dumps(PG), "TMP_DATA_DIR": "/mnt/aana-data"}},
         "deployments": [{"name": "Gateway", "num_replicas": 2, "ray_actor_options": {"num_cpus": 0.5}}]},
        {"name": "text_stats", "route_prefix": "/text_stats", "import_path": "apps.text_stats:app",
         "runtime_env": {"working_dir": "https://artifacts.example.com/raygitops/apps-3f2a9c81d04e5b67.zip",
                         "env_vars": {"DB_CONFIG": json.dumps(PG), "TMP_DATA_DIR": "/mnt/aana-data"}},
         "deployments": [{"name": "TextStats", "autoscaling_config": {"min_replicas": 1, "max_replicas": 4}}]},
        {"name": "embedding", "route_prefix": "/embedding", "import_path": "apps.embedding:app",
         "runtime_env": {"working_dir": "https://artifacts.example.com/raygitops/apps-3f2a9c81d04e5b67.zip",
                         "env_vars": {"DB_CONFIG": json.dumps(PG), "TMP_DATA_DIR": "/mnt/aana-data"}},
         "deployments": [{"name": "Embedder", "num_replicas": 1, "ray_actor_options": {"num_gpus": 1}}]},
    ]}


AUTOSCALER = {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "2Gi"}
GCS_FT = {"redisAddress": "redis.aana-prod.svc:6379",
          "redisPassword": {"valueFrom": {"secretKeyRef": {"name": "aana-redis", "key": "password"}}}}


def _container(name, image, cpu, memory, gpu=None):
    res = {"cpu": cpu, "memory": memory, "ephemeral-storage": "20Gi"}
    if gpu:
        res["nvidia.com/gpu"] = gpu
    return {"name": name, "image": image, "env": [copy.deepcopy(PASSWORD_ENV)],
            "resources": {"requests": dict(res), "limits": dict(res)},
            "volumeMounts": [{"name": "aana-data", "mountPath": "/mnt/aana-data"}]}


def _pod(container, **extra):
    return {"spec": {"containers": [container],
                     "volumes": [{"name": "aana-data", "persistentVolumeClaim": {"claimName": "aana-data"}}], **extra}}


def valid_docs():
    """A prod environment as tools/render would give it: every policy passes."""
    head = _container("ray-head", CPU_IMAGE, "1", "4Gi")
    head["ports"] = [{"containerPort": 8265, "name": "dashboard"}, {"containerPort": 8000, "name": "serve"}]
    rayservice = {
        "apiVersion": "ray.io/v1", "kind": "RayService",
        "metadata": {"name": "aana", "namespace": "aana-prod"},
        "spec": {
            "serveConfigV2": yaml.safe_dump(SERVE, sort_keys=False),
            "rayClusterConfig": {
                "rayVersion": "2.46.0", "enableInTreeAutoscaling": True,
                "autoscalerOptions": {"resources": {"requests": dict(AUTOSCALER), "limits": dict(AUTOSCALER)}},
                "gcsFaultToleranceOptions": copy.deepcopy(GCS_FT),
                "headGroupSpec": {"rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": "0"},
                                  "template": _pod(head)},
                "workerGroupSpecs": [
                    {"groupName": "cpu-workers", "replicas": 1, "minReplicas": 1, "maxReplicas": 4,
                     "rayStartParams": {}, "template": _pod(_container("ray-worker", CPU_IMAGE, "2", "8Gi"))},
                    {"groupName": "gpu-workers", "replicas": 1, "minReplicas": 0, "maxReplicas": 1,
                     "rayStartParams": {},
                     "template": _pod(_container("ray-worker", GPU_IMAGE, "4", "28Gi", gpu="1"),
                                      tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists",
                                                    "effect": "NoSchedule"}])},
                ]}}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": "aana-data", "namespace": "aana-prod"},
           "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "200Gi"}}}}
    external_secret = {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                       "metadata": {"name": "aana-db", "namespace": "aana-prod"},
                       "spec": {"target": {"name": "aana-db"}, "data": [{"secretKey": "password"}]}}
    serve_svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "aana-serve", "namespace": "aana-prod"},
                 "spec": {"type": "LoadBalancer", "ports": [{"name": "serve", "port": 8000}]}}
    return [rayservice, pvc, external_secret, serve_svc]


BASE_GROUPS = ("cpu-workers", "gpu-workers")


def make_ctx(docs, env="prod", **kw):
    kw.setdefault("base_worker_groups", BASE_GROUPS)
    kw.setdefault("settings", PolicySettings(packs=(AANA,)))   # this repository's setting: Aana's checks on
    return PolicyContext(environment=env, source=f"overlays/{env}", resources=tuple(docs), ray_version="2.46.0",
                         pinned_serve_version="2.46.0", kuberay_version="1.7.0", **kw)


def run(docs, env="prod", **kw):
    return run_policies(docs, make_ctx(docs, env, **kw))


def ids(findings):
    return sorted({f.id for f in findings})


# -- mutation helpers: every failing case is the valid environment with one change

def spec(docs):
    return docs[0]["spec"]["rayClusterConfig"]


def group(docs, name):
    if name == "head":
        return spec(docs)["headGroupSpec"]
    return next(g for g in spec(docs)["workerGroupSpecs"] if g["groupName"] == name)


def ray(docs, name):
    return group(docs, name)["template"]["spec"]["containers"][0]


def serve(docs, change):
    config = yaml.safe_load(docs[0]["spec"]["serveConfigV2"])
    change(config)
    docs[0]["spec"]["serveConfigV2"] = yaml.safe_dump(config, sort_keys=False)


def app(config, name):
    return next(a for a in config["applications"] if a["name"] == name)


def set_db(docs, value):
    def change(config):
        for a in config["applications"]:
            a["runtime_env"]["env_vars"]["DB_CONFIG"] = value if isinstance(value, str) else json.dumps(value)
    serve(docs, change)


def with_pg(**changes):
    conf = dict(PG["datastore_config"], **changes)
    return {"datastore_type": "postgresql", "datastore_config": {k: v for k, v in conf.items() if v is not None}}


# -------------------------------------------------------------------- the valid environment

def test_valid_environment_passes_every_policy():
    for env in ("dev", "staging", "prod"):
        assert run(valid_docs(), env) == [], env


def test_policies_are_registered_checks_and_run_in_registry_order():
    order = [c.id for c in CHECKS]
    assert [p.id for p in POLICIES] == sorted({p.id for p in POLICIES}, key=order.index)
    for p in POLICIES:
        registered = BY_ID[p.id]
        assert registered.severity in ("error", "warning") and registered.description and registered.remediation
        assert p.kinds and callable(p.check)


# -------------------------------------------------------------------- one failing case per policy
# (mutation, env, expected policy id, a phrase of the message, dotted path)

def _image(name, image):
    return lambda d: ray(d, name).update(image=image)


def _delete(getter, key):
    return lambda d: getter(d).pop(key)


FAILING = {
    "image-version": (_image("cpu-workers", "rayproject/ray:2.45.0"), "staging", "ray-version-mismatch",
                      "image rayproject/ray:2.45.0 but rayVersion 2.46.0",
                      "spec.rayClusterConfig.workerGroupSpecs[cpu-workers].template.spec.containers[ray-worker].image"),
    "rayVersion": (lambda d: spec(d).update(rayVersion="2.20.0"), "prod", "ray-version-mismatch",
                   "rayVersion 2.20.0 but versions.ray is 2.46.0", "spec.rayClusterConfig.rayVersion"),
    "rayVersion-missing": (_delete(spec, "rayVersion"), "prod", "ray-version-mismatch", "rayVersion is not set",
                           "spec.rayClusterConfig.rayVersion"),
    "no-memory-limit": (lambda d: ray(d, "cpu-workers")["resources"]["limits"].pop("memory"), "prod",
                        "container-resources", "sets no limits.memory",
                        "spec.rayClusterConfig.workerGroupSpecs[cpu-workers].template.spec.containers[ray-worker].resources"),
    "no-resources": (lambda d: ray(d, "head").update(resources={"requests": {"ephemeral-storage": "20Gi"}}), "prod",
                     "container-resources",
                     "requests.cpu, requests.memory, limits.cpu, limits.memory",
                     "spec.rayClusterConfig.headGroupSpec.template.spec.containers[ray-head].resources"),
    "small-disk": (lambda d: ray(d, "gpu-workers")["resources"]["requests"].update({"ephemeral-storage": "10G"}),
                   "prod", "ephemeral-storage-min", "ephemeral-storage 10G, below 10Gi",
                   "spec.rayClusterConfig.workerGroupSpecs[gpu-workers].template.spec.containers[ray-worker]"
                   ".resources.requests.ephemeral-storage"),
    "no-disk": (lambda d: ray(d, "head")["resources"]["requests"].pop("ephemeral-storage"), "prod",
                "ephemeral-storage-min", "requests no ephemeral-storage",
                "spec.rayClusterConfig.headGroupSpec.template.spec.containers[ray-head].resources.requests"),
    "no-toleration": (lambda d: group(d, "gpu-workers")["template"]["spec"].pop("tolerations"), "prod",
                      "gpu-toleration", "requests nvidia.com/gpu",
                      "spec.rayClusterConfig.workerGroupSpecs[gpu-workers].template.spec.tolerations"),
    "cpu-image-on-gpu": (_image("gpu-workers", CPU_IMAGE), "prod", "gpu-image", "runs the CPU image",
                         "spec.rayClusterConfig.workerGroupSpecs[gpu-workers].template.spec.containers[ray-worker].image"),
    "no-gpu-group": (lambda d: [ray(d, "gpu-workers")["resources"][s].pop("nvidia.com/gpu") for s in ("requests", "limits")],
                     "prod", "gpu-not-available",
                     "embedding/Embedder asks for 1 GPU per replica but no Ray group has GPUs",
                     "spec.serveConfigV2:applications[embedding].deployments[Embedder].ray_actor_options.num_gpus"),
    "too-many-cpus": (lambda d: serve(d, lambda c: app(c, "main")["deployments"][0].update(num_replicas=20)),
                      "prod", "capacity", "asks for 15 CPUs (main/Gateway 20×0.5, text_stats/TextStats 4×1, "
                      "embedding/Embedder 1×1) but the cluster has 12 at maxReplicas (cpu-workers 4×2, gpu-workers 1×4)",
                      "spec.serveConfigV2"),
    "too-many-gpus": (lambda d: serve(d, lambda c: app(c, "embedding")["deployments"][0].update(num_replicas=3)),
                      "prod", "capacity", "asks for 3 GPUs", "spec.serveConfigV2"),
    "replica-too-big": (lambda d: serve(d, lambda c: app(c, "embedding")["deployments"][0].update(
                        ray_actor_options={"num_cpus": 8, "num_gpus": 1})), "prod", "capacity",
                        "a replica of embedding/Embedder needs 8 CPUs but the largest Ray pod has 4", "spec.serveConfigV2"),
    "db-not-json": (lambda d: set_db(d, "{'datastore_type': 'postgresql'}"), "prod", "db-config", "DB_CONFIG is not JSON",
                    "spec.serveConfigV2:applications[main].runtime_env.env_vars.DB_CONFIG"),
    "db-no-host": (lambda d: set_db(d, with_pg(host=None)), "prod", "db-config", "DB_CONFIG (postgresql) has no host",
                   "spec.serveConfigV2:applications[main].runtime_env.env_vars.DB_CONFIG"),
    "db-type": (lambda d: set_db(d, {"datastore_type": "mysql", "datastore_config": {}}), "prod", "db-config",
                "datastore_type 'mysql'", "spec.serveConfigV2:applications[main].runtime_env.env_vars.DB_CONFIG"),
    # Aana's DbSettings (aana 0.2.4, aana/configs/db.py) forbids other keys, and wants whole numbers.
    "db-forbidden-key": (lambda d: set_db(d, {**with_pg(), "pool_sise": 5}), "prod", "db-config",
                         "DB_CONFIG has key 'pool_sise', which Aana's DbSettings forbids",
                         "spec.serveConfigV2:applications[main].runtime_env.env_vars.DB_CONFIG"),
    "db-unknown-field": (lambda d: set_db(d, with_pg(path="/x.db")), "prod", "db-config",
                         "DB_CONFIG datastore_config has 'path', which postgresql does not take",
                         "spec.serveConfigV2:applications[main].runtime_env.env_vars.DB_CONFIG"),
    "db-port-not-whole": (lambda d: set_db(d, with_pg(port="54x2")), "prod", "db-config",
                          "DB_CONFIG datastore_config port must be a whole number, got '54x2'",
                          "spec.serveConfigV2:applications[main].runtime_env.env_vars.DB_CONFIG"),
    "db-pool-not-whole": (lambda d: set_db(d, {**with_pg(), "pool_size": 2.5}), "prod", "db-config",
                          "DB_CONFIG pool_size must be a whole number, got 2.5",
                          "spec.serveConfigV2:applications[main].runtime_env.env_vars.DB_CONFIG"),
    "sqlite-in-prod": (lambda d: set_db(d, {"datastore_type": "sqlite", "datastore_config": {"path": "/mnt/aana-data/db"}}),
                       "prod", "db-sqlite-non-dev", "DB_CONFIG uses SQLite in prod",
                       "spec.serveConfigV2:applications[main].runtime_env.env_vars.DB_CONFIG"),
    "password-literal": (lambda d: set_db(d, with_pg(password="hunter2")), "prod", "db-password-literal",
                         "DB_CONFIG holds a password literal",
                         "spec.serveConfigV2:applications[main].runtime_env.env_vars.DB_CONFIG"),
    "password-not-from-secret": (lambda d: ray(d, "gpu-workers").pop("env"), "prod", "db-password-literal",
                                 "group gpu-workers gets no DB_CONFIG__DATASTORE_CONFIG__PASSWORD from a Secret",
                                 "spec.rayClusterConfig.workerGroupSpecs[gpu-workers].template.spec.containers"),
    "pod-env-password": (lambda d: ray(d, "head")["env"].append({"name": "PGPASSWORD", "value": "hunter2"}), "prod",
                         "db-password-literal", "container env PGPASSWORD holds a password literal",
                         "spec.rayClusterConfig.headGroupSpec.template.spec.containers[ray-head].env[PGPASSWORD]"),
    "secret": (lambda d: d.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aana-db"},
                                   "stringData": {"password": "hunter2"}}), "prod", "secret-in-git",
               "Secret holds stringData in Git (password)", "stringData"),
    "api-key-literal": (lambda d: ray(d, "gpu-workers")["env"].append({"name": "OPENAI_API_KEY", "value": "sk-x"}),
                        "prod", "secret-literal", "container env OPENAI_API_KEY holds a secret literal",
                        "spec.rayClusterConfig.workerGroupSpecs[gpu-workers].template.spec.containers[ray-worker]"
                        ".env[OPENAI_API_KEY]"),
    "hmac-default": (lambda d: serve(d, lambda c: app(c, "main")["runtime_env"]["env_vars"].update(
                     WEBHOOK__HMAC_SECRET="webhook_secret")), "prod", "aana-secret-default",
                     "WEBHOOK__HMAC_SECRET is Aana's public default 'webhook_secret'",
                     "spec.serveConfigV2:applications[main].runtime_env.env_vars.WEBHOOK__HMAC_SECRET"),
    "hf-token-literal": (lambda d: ray(d, "gpu-workers")["env"].append({"name": "HF_TOKEN", "value": "hf_abc"}), "prod",
                         "aana-secret-default", "container env HF_TOKEN is a literal",
                         "spec.rayClusterConfig.workerGroupSpecs[gpu-workers].template.spec.containers[ray-worker]"
                         ".env[HF_TOKEN]"),
    "tmp-default": (lambda d: serve(d, lambda c: [a["runtime_env"]["env_vars"].pop("TMP_DATA_DIR")
                                                  for a in c["applications"]]), "prod", "node-local-storage",
                    "TMP_DATA_DIR /tmp/aana_data (Aana's default) is node-local disk in group cpu-workers",
                    "spec.rayClusterConfig.workerGroupSpecs[cpu-workers].template.spec.containers[ray-worker].volumeMounts"),
    "rwo-volume": (lambda d: d[1]["spec"].update(accessModes=["ReadWriteOnce"]), "prod", "node-local-storage",
                   "TMP_DATA_DIR /mnt/aana-data is node-local disk in group cpu-workers",
                   "spec.rayClusterConfig.workerGroupSpecs[cpu-workers].template.spec.containers[ray-worker].volumeMounts"),
    "tag-only": (_image("cpu-workers", "rayproject/ray:2.46.0-py311"), "prod", "image-digest",
                 "image rayproject/ray:2.46.0-py311 is not pinned by digest in prod",
                 "spec.rayClusterConfig.workerGroupSpecs[cpu-workers].template.spec.containers[ray-worker].image"),
    "autoscaler-image-tag": (lambda d: spec(d)["autoscalerOptions"].update(image="rayproject/ray:2.46.0-py311"), "prod",
                             "image-digest", "image rayproject/ray:2.46.0-py311 is not pinned by digest in prod",
                             "spec.rayClusterConfig.autoscalerOptions.image"),
    "autoscaler-env-password": (lambda d: spec(d)["autoscalerOptions"].update(
                                    env=[{"name": "PGPASSWORD", "value": "x"}]),
                                "prod", "db-password-literal", "container env PGPASSWORD holds a password literal",
                                "spec.rayClusterConfig.autoscalerOptions.env[PGPASSWORD]"),
    "lb-dashboard": (lambda d: d[3]["spec"]["ports"].append({"name": "dashboard", "port": 8265}), "prod",
                     "dashboard-exposed", "LoadBalancer Service exposes the Ray dashboard", "spec.ports[dashboard]"),
    "head-nodeport": (lambda d: group(d, "head").update(serviceType="NodePort"), "prod", "dashboard-exposed",
                      "head service of type NodePort", "spec.rayClusterConfig.headGroupSpec.serviceType"),
    "ingress": (lambda d: d.append({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "ray"},
                                    "spec": {"rules": [{"http": {"paths": [{"path": "/", "backend": {"service": {
                                        "name": "aana-head-svc", "port": {"name": "dashboard"}}}}]}}]}}),
                "prod", "dashboard-exposed", "Ingress backend aana-head-svc:dashboard", "spec.rules[0].http.paths[0].backend"),
    "threshold": (lambda d: d[0]["spec"].update(serviceUnhealthySecondThreshold=900), "prod", "deprecated-field",
                  "serviceUnhealthySecondThreshold is deprecated since KubeRay 1.1.0 and unused by KubeRay 1.7.0",
                  "spec.serviceUnhealthySecondThreshold"),
    "v1alpha1": (lambda d: d[0].update(apiVersion="ray.io/v1alpha1"), "prod", "deprecated-field",
                 "ray.io/v1alpha1 is deprecated (KubeRay 1.7.0; removed in 1.9)", "apiVersion"),
    "latest-zip": (lambda d: serve(d, lambda c: app(c, "main")["runtime_env"].update(
                   working_dir="https://artifacts.example.com/raygitops/latest.zip")), "prod", "working-dir-mutable",
                   "app main working_dir https://artifacts.example.com/raygitops/latest.zip is not content-addressed",
                   "spec.serveConfigV2:applications[main].runtime_env.working_dir"),
    "actor-working-dir": (lambda d: serve(d, lambda c: app(c, "embedding")["deployments"][0]["ray_actor_options"].update(
                          runtime_env={"working_dir": "s3://bucket/app.zip"})), "prod", "working-dir-mutable",
                          "working_dir s3://bucket/app.zip",
                          "spec.serveConfigV2:applications[embedding].deployments[Embedder].ray_actor_options"
                          ".runtime_env.working_dir"),
    "autoscaler-no-resources": (lambda d: spec(d).pop("autoscalerOptions"), "staging", "container-resources",
                                "the autoscaler sidecar sets no requests.cpu, requests.memory, "
                                "requests.ephemeral-storage, limits.cpu",
                                "spec.rayClusterConfig.autoscalerOptions.resources"),
    "autoscaler-no-ephemeral": (lambda d: spec(d)["autoscalerOptions"]["resources"]["limits"].pop("ephemeral-storage"),
                                "prod", "container-resources", "sidecar sets no limits.ephemeral-storage",
                                "spec.rayClusterConfig.autoscalerOptions.resources"),
    "no-gcs-ft-in-prod": (lambda d: spec(d).pop("gcsFaultToleranceOptions"), "prod", "gcs-ft-required",
                          "prod has no gcsFaultToleranceOptions", "spec.rayClusterConfig"),
    "gcs-ft-no-address": (lambda d: spec(d)["gcsFaultToleranceOptions"].pop("redisAddress"), "prod", "gcs-ft-required",
                          "no redisAddress", "spec.rayClusterConfig.gcsFaultToleranceOptions.redisAddress"),
    "gcs-ft-literal-password": (lambda d: spec(d)["gcsFaultToleranceOptions"].update(redisPassword={"value": "pw"}),
                                "prod", "gcs-ft-required", "Redis password is written in the manifest",
                                "spec.rayClusterConfig.gcsFaultToleranceOptions.redisPassword.value"),
    "ft-annotation-beside-options": (lambda d: d[0]["metadata"].setdefault("annotations", {}).update(
                                         {"ray.io/ft-enabled": "true"}), "staging", "gcs-ft-conflict",
                                     "ray.io/ft-enabled and gcsFaultToleranceOptions are both set",
                                     "metadata.annotations[ray.io/ft-enabled]"),
    "redis-address-by-hand": (lambda d: ray(d, "head")["env"].append({"name": "RAY_REDIS_ADDRESS", "value": "r:6379"}),
                              "dev", "gcs-ft-conflict", "RAY_REDIS_ADDRESS is set by hand on the head beside",
                              "spec.rayClusterConfig.headGroupSpec.template.spec.containers[ray-head]"
                              ".env[RAY_REDIS_ADDRESS]"),
    "redis-password-param": (lambda d: group(d, "head")["rayStartParams"].update({"redis-password": "x"}), "staging",
                             "gcs-ft-conflict", "rayStartParams redis-password beside gcsFaultToleranceOptions",
                             "spec.rayClusterConfig.headGroupSpec.rayStartParams.redis-password"),
    "reordered": (lambda d: spec(d)["workerGroupSpecs"].reverse(), "prod", "worker-group-order",
                  "worker groups are [gpu-workers, cpu-workers] but must start with the base's [cpu-workers, gpu-workers]",
                  "spec.rayClusterConfig.workerGroupSpecs"),
}


def test_every_policy_has_a_failing_case():
    assert {policy for _, _, policy, _, _ in FAILING.values()} == {p.id for p in POLICIES}


@pytest.mark.parametrize("case", FAILING)
def test_failing_case(case):
    mutate, env, policy, phrase, path = FAILING[case]
    docs = valid_docs()
    mutate(docs)
    findings = run(docs, env)
    hits = [f for f in findings if f.id == policy]
    assert hits, findings
    assert any(phrase in f.message and f.path == path for f in hits), hits
    assert {f.id for f in findings} == {policy}, "one change, one policy"   # the other policies still pass
    for f in hits:
        assert f.file == f"overlays/{env}" and f.fix and "\n" not in f.message
        assert f.resource.split("/")[0] in {"RayService", "Service", "Ingress", "Secret"}


def test_finding_shape():
    docs = valid_docs()
    FAILING["image-version"][0](docs)
    (f,) = run(docs, "staging")
    assert f == Finding(
        id="ray-version-mismatch", severity="error", message="image rayproject/ray:2.45.0 but rayVersion 2.46.0",
        fix="set both from the pin (versions.ray in raygitops.yaml) and run tools/regen", file="overlays/staging",
        resource="RayService/aana-prod/aana",
        path="spec.rayClusterConfig.workerGroupSpecs[cpu-workers].template.spec.containers[ray-worker].image")


# -------------------------------------------------------------------- passing variants and severities

PASSING = {
    "custom-image-unreadable": _image("cpu-workers", "registry.example.com/aana:0.2" + DIGEST),
    "custom-image-same-ray": _image("cpu-workers", "registry.example.com/aana:0.2-ray-2.46" + DIGEST),
    "latest-image": _image("head", "rayproject/ray:latest" + DIGEST),
    "disk-10240Mi": lambda d: ray(d, "head")["resources"]["requests"].update({"ephemeral-storage": "10240Mi"}),
    "toleration-exists": lambda d: group(d, "gpu-workers")["template"]["spec"].update(
        tolerations=[{"operator": "Exists"}]),
    "custom-gpu-image": _image("gpu-workers", "registry.example.com/aana-gpu:1" + DIGEST),
    "quoted-port-ref-and-pool": lambda d: set_db(d, {**with_pg(port="${PG_PORT}"), "pool_size": "8"}),
    "unquoted-port-ref": lambda d: set_db(d, json.dumps(PG).replace("5432", "${PG_PORT}")),
    "password-ref": lambda d: (set_db(d, with_pg(password="${PG_PASSWORD}")),
                               [ray(d, g)["env"].append({"name": "PG_PASSWORD", "valueFrom": PASSWORD_ENV["valueFrom"]})
                                for g in ("head", *BASE_GROUPS)]),
    "nested-host-override": lambda d: (set_db(d, with_pg(host=None)),
                                       [ray(d, g)["env"].append({"name": "DB_CONFIG__DATASTORE_CONFIG__HOST", "value": "pg"})
                                        for g in ("head", *BASE_GROUPS)]),
    "empty-secret": lambda d: d.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {}}),
    "hf-token-ref": lambda d: serve(d, lambda c: app(c, "main")["runtime_env"]["env_vars"].update(HF_TOKEN="${HF_TOKEN}")),
    "hf-token-secret": lambda d: ray(d, "head")["env"].append(
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}),
    "nfs-volume": lambda d: (d.pop(1), [group(d, g)["template"]["spec"].update(
        volumes=[{"name": "aana-data", "nfs": {"server": "nfs", "path": "/"}}]) for g in ("head", *BASE_GROUPS)]),
    "clusterip-dashboard": lambda d: d[3]["spec"].update(type="ClusterIP", ports=[{"name": "dashboard", "port": 8265}]),
    "ingress-serve": lambda d: d.append({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "a"},
                                         "spec": {"defaultBackend": {"service": {"name": "aana-serve-svc",
                                                                                 "port": {"number": 8000}}}}}),
    "gcs-package": lambda d: serve(d, lambda c: app(c, "main")["runtime_env"].update(
        working_dir="gcs://_ray_pkg_5c2a3f14d9e0b7aa.zip")),
    "appended-group": lambda d: spec(d)["workerGroupSpecs"].append(copy.deepcopy(group(d, "cpu-workers")) | {"groupName": "extra"}),
    # KubeRay's autoscaler sidecar runs the head's image unless autoscalerOptions names one
    "autoscaler-options-without-image": lambda d: spec(d)["autoscalerOptions"].pop("image", None),
    "autoscaling-by-num-replicas-auto": lambda d: serve(d, lambda c: app(c, "main")["deployments"][0].update(
        num_replicas="auto", autoscaling_config={"max_replicas": 2})),
}


@pytest.mark.parametrize("case", PASSING)
def test_passing_variant(case):
    docs = valid_docs()
    PASSING[case](docs)
    assert run(docs) == []


def test_without_base_groups_order_is_not_checked():
    docs = valid_docs()
    spec(docs)["workerGroupSpecs"].reverse()
    assert run(docs, base_worker_groups=None) == []


def test_sqlite_and_node_local_in_dev_are_warnings():
    docs = valid_docs()
    set_db(docs, {"datastore_type": "sqlite", "datastore_config": {"path": "/tmp/aana.sqlite"}})
    findings = run(docs, "dev")
    assert ids(findings) == ["node-local-storage"] and {f.severity for f in findings} == {"warning"}
    assert {f.message.split(" is ")[0] for f in findings} == {"the SQLite database /tmp/aana.sqlite"}
    assert sorted(f.path.split(".")[2] for f in findings) == [
        "workerGroupSpecs[cpu-workers]", "workerGroupSpecs[gpu-workers]"]   # the num-cpus 0 head runs no replicas
    assert {f.severity for f in run(docs, "prod") if f.id == "node-local-storage"} == {"error"}


def test_single_node_cluster_has_no_node_local_problem():
    docs = valid_docs()
    spec(docs)["workerGroupSpecs"] = []
    spec(docs)["headGroupSpec"]["rayStartParams"].pop("num-cpus")
    main = app(SERVE, "main")
    serve(docs, lambda c: c.update(applications=[{**main, "runtime_env": {**main["runtime_env"], "env_vars": {
        "DB_CONFIG": json.dumps(PG)}}}]))
    assert run(docs, base_worker_groups=None) == []


def test_capacity_without_autoscaling_warns_at_replicas():
    docs = valid_docs()
    spec(docs)["enableInTreeAutoscaling"] = False
    assert run(docs) == []                              # 6 CPUs asked, 1×2 + 1×4 at replicas
    group(docs, "gpu-workers")["replicas"] = 0          # clamps to minReplicas 0
    assert [(f.id, f.severity, f.message) for f in run(docs)] == [
        ("capacity", "warning", "serve config asks for 6 CPUs (main/Gateway 2×0.5, text_stats/TextStats 4×1, "
                                "embedding/Embedder 1×1) but the cluster has 2 at replicas (autoscaling off) (cpu-workers 1×2)"),
        ("capacity", "warning", "serve config asks for 1 GPUs (embedding/Embedder 1×1) but the cluster has 0 at replicas "
                                "(autoscaling off) (none)")]


def test_severity_overrides():
    docs = valid_docs()
    FAILING["cpu-image-on-gpu"][0](docs)
    FAILING["threshold"][0](docs)
    sev = {"*": {"gpu-image": "error", "deprecated-field": "off"}, "prod": {"gpu-image": "warning"}}
    by_env = {env: [(f.id, f.severity) for f in run(docs, env, settings=PolicySettings(severity=sev))]
              for env in ("prod", "staging")}
    assert by_env == {"prod": [("gpu-image", "warning")], "staging": [("gpu-image", "error")]}


def test_digest_only_where_required():
    docs = valid_docs()
    FAILING["tag-only"][0](docs)
    assert run(docs, "staging") == []
    assert ids(run(docs, "staging", settings=PolicySettings(require_digest=("staging",)))) == ["image-digest"]


def test_workloads_are_checked_too():
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
           "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "aana:1", "env": [
               {"name": "DB_PASSWORD", "value": "x"}, {"name": "WEBHOOK__HMAC_SECRET", "value": ""}]}]}}}}
    findings = run([job])
    assert [(f.id, f.path) for f in findings] == [
        ("image-digest", "spec.template.spec.containers[m].image"),
        ("db-password-literal", "spec.template.spec.containers[m].env[DB_PASSWORD]"),
        ("aana-secret-default", "spec.template.spec.containers[m].env[WEBHOOK__HMAC_SECRET]")]
    assert "empty, so Aana uses its default 'webhook_secret'" in findings[2].message


def test_identical_findings_are_reported_once():
    docs = valid_docs()
    FAILING["password-not-from-secret"][0](docs)        # three apps share the DB_CONFIG
    assert [f.message for f in run(docs)] == [
        "DB_CONFIG has no password and group gpu-workers gets no DB_CONFIG__DATASTORE_CONFIG__PASSWORD from a Secret"]


def test_raycluster_kind():
    docs = valid_docs()
    cluster = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "c"}, "spec": spec(docs)}
    spec(docs)["workerGroupSpecs"][1]["template"]["spec"]["containers"][0]["image"] = "rayproject/ray"   # :latest, CPU
    spec(docs)["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] = "rayproject/ray:2.45.0" + DIGEST
    assert [(f.id, f.path) for f in run([cluster], "staging")] == [
        ("ray-version-mismatch", "spec.workerGroupSpecs[cpu-workers].template.spec.containers[ray-worker].image"),
        ("gpu-image", "spec.workerGroupSpecs[gpu-workers].template.spec.containers[ray-worker].image")]


@pytest.mark.parametrize("q, value", [
    ("10Gi", 10 * 2**30), ("500m", 0.5), ("1.5", 1.5), ("95Gi", 95 * 2**30), ("28G", 28e9), ("1e3", 1000.0),
    ("2E", 2e18), ("128974848", 128974848.0), (3, 3.0), ("12Ki", 12288.0), ("0.5k", 500.0),
    ("", None), ("Gi", None), ("ten", None), (True, None), (None, None), ("1e999", None),
])
def test_parse_quantity(q, value):
    assert parse_quantity(q) == value


# -------------------------------------------------------------------- Aana's cluster-setup examples

def _docs_examples():
    text = (SHARED / "reference" / "cluster-setup.md").read_text()
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def test_cluster_setup_full_example():
    example = _docs_examples()[1]
    findings = run([example], "prod", base_worker_groups=None)
    by_id = {}
    for f in findings:
        by_id.setdefault(f.id, []).append(f)
    assert sorted(by_id) == ["db-sqlite-non-dev", "deprecated-field", "gcs-ft-required", "node-local-storage",
                             "ray-version-mismatch", "working-dir-mutable"]   # no GCS FT: prod requires it
    assert sorted(f.message for f in by_id["ray-version-mismatch"]) == [
        "image europe-docker.pkg.dev/customised-training-app/eu.gcr.io/aana/aana:0.2-ray-2.20@sha256:"
        "8814a3c12c6249a3c2bb216c0cba6eef01267d4c91bb58700f7ffc2311d21a3d but versions.ray is 2.46.0"] * 2 + [
        "rayVersion 2.20.0 but versions.ray is 2.46.0"]
    assert {f.path for f in by_id["deprecated-field"]} == {"spec.serviceUnhealthySecondThreshold",
                                                           "spec.deploymentUnhealthySecondThreshold"}
    assert len(by_id["db-sqlite-non-dev"]) == 3 and len(by_id["working-dir-mutable"]) == 3   # one per app
    assert sorted(f.message for f in by_id["node-local-storage"]) == [
        f"{what} is node-local disk in group {g}, but the cluster runs workers"
        for what in ("TMP_DATA_DIR /tmp/aana_data (Aana's default)", "the SQLite database /tmp/aana_db.sqlite")
        for g in ("gpu-group", "head")]
    # dev: SQLite is allowed, node-local disk only warns
    dev = run([example], "dev", base_worker_groups=None)
    assert ids(dev) == ["deprecated-field", "node-local-storage", "ray-version-mismatch", "working-dir-mutable"]
    assert {f.severity for f in dev if f.id == "node-local-storage"} == {"warning"}


def test_cluster_setup_skeleton_example():
    skeleton = _docs_examples()[0]
    findings = run([skeleton], "prod", base_worker_groups=("gpu-group",))
    assert [(f.id, f.path) for f in findings] == [
        ("ray-version-mismatch", "spec.rayClusterConfig.rayVersion"),
        ("image-digest", "spec.rayClusterConfig.headGroupSpec.template.spec.containers[ray-head].image"),
        ("image-digest", "spec.rayClusterConfig.workerGroupSpecs[gpu-group].template.spec.containers[ray-worker].image"),
        ("deprecated-field", "spec.serviceUnhealthySecondThreshold"),
        ("deprecated-field", "spec.deploymentUnhealthySecondThreshold"),
        ("gcs-ft-required", "spec.rayClusterConfig")]


# -------------------------------------------------------------------- robustness

junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["", "0", "-1", "8265", "dashboard", "auto", "{", "${X}", "nvidia.com/gpu", "Exists", "10Gi"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def _containers_in(node, path=()):
    """Every path to a dict or list inside node (where a mutation can happen)."""
    if isinstance(node, (dict, list)):
        yield path
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            yield from _containers_in(v, path + (k,))


def _at(node, path):
    for k in path:
        node = node[k]
    return node


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_manifests_never_raise(data):
    docs = valid_docs()
    tree = {"docs": docs, "serve": yaml.safe_load(docs[0]["spec"]["serveConfigV2"])}
    for _ in range(data.draw(st.integers(1, 6), label="mutations")):
        target = _at(tree, data.draw(st.sampled_from(list(_containers_in(tree))[1:]), label="at"))
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        op = data.draw(st.sampled_from(["delete", "replace", "insert"] if keys else ["insert"]), label="op")
        if op == "insert":
            if isinstance(target, dict):
                target[data.draw(st.text(max_size=6) | st.sampled_from(["kind", "spec", "env", "name"]))] = data.draw(junk)
            else:
                target.insert(data.draw(st.integers(0, len(target))), data.draw(junk))
        else:
            key = data.draw(st.sampled_from(keys), label="key")
            if op == "delete":
                del target[key]
            else:
                target[key] = data.draw(junk, label="value")
    rayservice = docs[0] if docs and isinstance(docs[0], dict) else {}
    if isinstance(rayservice.get("spec"), dict) and "serveConfigV2" in rayservice["spec"]:
        if data.draw(st.booleans(), label="serve as text"):
            rayservice["spec"]["serveConfigV2"] = data.draw(st.text(max_size=40) | st.just("a: [b"), label="text")
        else:
            rayservice["spec"]["serveConfigV2"] = yaml.safe_dump(tree["serve"])
    env = data.draw(st.sampled_from(["dev", "prod", ""]), label="env")
    ctx = make_ctx(docs, env, base_worker_groups=data.draw(st.none() | st.just(BASE_GROUPS)))
    findings = run_policies(docs, ctx)
    assert isinstance(findings, list)
    for f in findings:
        assert isinstance(f, Finding) and f.severity in ("error", "warning")
        assert len(f.message.splitlines()) == 1


def test_gcs_ft_is_required_only_where_configured():
    docs = valid_docs()
    spec(docs).pop("gcsFaultToleranceOptions")
    assert ids(run(docs, "staging")) == []
    assert ids(run(docs, "staging", settings=PolicySettings(gcs_ft_required=("staging",)))) == ["gcs-ft-required"]
    assert ids(run(docs, "prod", settings=PolicySettings(gcs_ft_required=()))) == []


def test_ft_annotation_alone_is_a_deprecation_warning_and_a_hand_set_redis_address_an_error():
    docs = valid_docs()
    spec(docs).pop("gcsFaultToleranceOptions")
    docs[0]["metadata"]["annotations"] = {"ray.io/ft-enabled": "true"}
    assert [(f.id, f.severity) for f in run(docs, "dev")] == [("gcs-ft-conflict", "warning")]
    ray(docs, "head")["env"].append({"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"})
    errors = [f for f in run(docs, "dev") if f.severity == "error"]
    assert len(errors) == 1 and "turns GCS fault tolerance on without gcsFaultToleranceOptions" in errors[0].message


# -------------------------------------------------------------------- Aana apps: the HMAC secret unset

HMAC_ENV = {"name": "WEBHOOK__HMAC_SECRET", "valueFrom": {"secretKeyRef": {"name": "aana-webhook", "key": "hmac-secret"}}}
AANA_MAIN = PolicySettings(packs=(AANA,), aana_apps=(("main", "apps.main:"),))   # main as an Aana app


def test_an_aana_app_without_the_hmac_secret_signs_with_aanas_default():
    docs = valid_docs()
    (f,) = run(docs, settings=AANA_MAIN)
    assert (f.id, f.severity, f.path) == ("aana-secret-default", "error",
                                          "spec.serveConfigV2:applications[main].runtime_env.env_vars")
    assert f.message == ("Aana app main: WEBHOOK__HMAC_SECRET is not set (group head, cpu-workers, gpu-workers gets "
                         "none from a Secret), so Aana signs webhooks with its public default 'webhook_secret'")
    assert {g.severity for g in run(docs, "dev", settings=AANA_MAIN) if g.id == "aana-secret-default"} == {"warning"}
    assert run(docs) == []   # not an Aana app: Aana's default does not apply


def test_the_hmac_secret_from_a_secret_on_every_group_or_in_env_vars_passes():
    docs = valid_docs()
    for name in ("head", *BASE_GROUPS):
        ray(docs, name)["env"].append(copy.deepcopy(HMAC_ENV))
    assert run(docs, settings=AANA_MAIN) == []
    ray(docs, "gpu-workers")["env"].pop()
    assert [f.message.split("(")[1].split(")")[0] for f in run(docs, settings=AANA_MAIN)] == [
        "group gpu-workers gets none from a Secret"]
    serve(docs, lambda c: app(c, "main")["runtime_env"]["env_vars"].update(WEBHOOK__HMAC_SECRET="${HMAC}"))
    assert run(docs, settings=AANA_MAIN) == []
