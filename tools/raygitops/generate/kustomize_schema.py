"""The kustomize `openapi:` schema that makes patches merge worker groups and containers by name.

    schema = kustomize_schema("1.32.0")   # {"definitions": {...}}
    text = render_schema_file(schema)      # written to base/generated/kustomize-schema.yaml
"""
from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from raygitops.errors import UserError
from raygitops.yamlio import dump_json_as_yaml

# Kustomize's `openapi: {path}` replaces its built-in schema, so every built-in kind an
# overlay may patch needs its Kubernetes definition here too, or its lists stop merging.
BUILTIN_KINDS = (
    "io.k8s.api.core.v1.ConfigMap", "io.k8s.api.core.v1.Secret", "io.k8s.api.core.v1.Service",
    "io.k8s.api.core.v1.PersistentVolumeClaim", "io.k8s.api.core.v1.ServiceAccount",
    "io.k8s.api.core.v1.Namespace", "io.k8s.api.core.v1.Pod",
    "io.k8s.api.apps.v1.Deployment", "io.k8s.api.apps.v1.StatefulSet", "io.k8s.api.apps.v1.DaemonSet",
    "io.k8s.api.batch.v1.Job", "io.k8s.api.batch.v1.CronJob",
    "io.k8s.api.networking.v1.Ingress", "io.k8s.api.networking.v1.NetworkPolicy",
    "io.k8s.api.rbac.v1.Role", "io.k8s.api.rbac.v1.RoleBinding",
    "io.k8s.api.policy.v1.PodDisruptionBudget",
)

_POD_TEMPLATE = {"$ref": "#/definitions/io.k8s.api.core.v1.PodTemplateSpec"}


def _ray_definitions() -> dict:
    """Only the path from a RayService/RayCluster down to the pod templates: the CRD
    declares workerGroupSpecs as a plain list, which a patch would replace whole."""
    group = {"type": "object", "properties": {"groupName": {"type": "string"}, "template": _POD_TEMPLATE}}
    head = {"type": "object", "properties": {"template": _POD_TEMPLATE}}
    cluster_spec = {"type": "object", "properties": {
        "headGroupSpec": {"$ref": "#/definitions/io.ray.v1.HeadGroupSpec"},
        "workerGroupSpecs": {"type": "array", "items": {"$ref": "#/definitions/io.ray.v1.WorkerGroupSpec"},
                             "x-kubernetes-patch-merge-key": "groupName",
                             "x-kubernetes-patch-strategy": "merge"}}}
    meta = {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}

    def kind(name: str, spec: dict) -> dict:
        return {"type": "object", "properties": {"metadata": meta, "spec": spec},
                "x-kubernetes-group-version-kind": [
                    {"group": "ray.io", "version": version, "kind": name} for version in ("v1", "v1alpha1")]}

    return {
        "io.ray.v1.HeadGroupSpec": head,
        "io.ray.v1.WorkerGroupSpec": group,
        "io.ray.v1.RayClusterSpec": cluster_spec,
        "io.ray.v1.RayCluster": kind("RayCluster", {"$ref": "#/definitions/io.ray.v1.RayClusterSpec"}),
        "io.ray.v1.RayService": kind("RayService", {"type": "object", "properties": {
            "rayClusterConfig": {"$ref": "#/definitions/io.ray.v1.RayClusterSpec"}}}),
    }


def kubernetes_schema_dir() -> Path:
    """Where kubernetes-validate keeps its schemas, found without importing it (and jsonschema)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the kubernetes-validate package is not installed", fix="run tools/setup (pip install -e .)")
    return Path(list(spec.submodule_search_locations)[0]) / "kubernetes-json-schema"


def _definitions_file(kubernetes_version: str) -> Path:
    """kubernetes-validate ships one schema set per MAJOR.MINOR (as vX.Y.0), as tools/validate reads it."""
    base = kubernetes_schema_dir()
    major_minor = ".".join(kubernetes_version.split(".")[:2])
    path = base / f"v{major_minor}.0-local-strict" / "_definitions.json"
    if not path.exists():
        versions = sorted((p.name[1:].split("-")[0].rsplit(".", 1)[0] for p in base.glob("v*-local-strict")),
                          key=lambda v: tuple(map(int, v.split("."))))
        raise UserError(f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version}",
                        file="raygitops.yaml", fix=f"set versions.kubernetes to one of {', '.join(versions)} "
                                                   f"(the newest it ships is {versions[-1]})")
    return path


def _swagger(node):
    """JSON-schema 2020-12 definitions → the Swagger 2 shape kustomize reads."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "description":
                continue  # a third of the bytes, and kustomize never reads it
            if key == "$ref":
                out[key] = "#/definitions/" + value.rsplit("/", 1)[-1]
            elif key == "type" and isinstance(value, list):
                out[key] = next(t for t in value if t != "null")
            else:
                out[key] = _swagger(value)
        return out
    if isinstance(node, list):
        return [_swagger(item) for item in node]
    return node


def _references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


@lru_cache(maxsize=None)
def kustomize_schema(kubernetes_version: str) -> dict:
    source = json.loads(_definitions_file(kubernetes_version).read_text())["$defs"]
    ray = _ray_definitions()
    wanted: set[str] = set()
    stack = list(BUILTIN_KINDS) + [ref for d in ray.values() for ref in _references(d)]
    while stack:
        name = stack.pop()
        if name in wanted or name in ray:
            continue
        wanted.add(name)
        stack.extend(_references(source[name]))
    definitions = {name: _swagger(source[name]) for name in wanted}
    definitions.update(ray)
    return {"definitions": definitions}


def render_schema_file(schema: dict, header: str) -> str:
    # JSON is valid YAML, so the file can start with the generated-file comment.
    return header + dump_json_as_yaml(schema)
