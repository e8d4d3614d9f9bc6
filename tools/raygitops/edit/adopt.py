"""`raygitops import`: adopt a hand-written RayService (serveConfigV2 pasted in) as a new environment.

    adoption = adopt(root, Path("rayservice.yaml"), "aana-sdk")   # adoption.edit, .report, .intended
    apply_edit(root, adoption.edit, check=lambda tree: round_trip(tree, adoption))   # edit/adoptcheck.py

The input is split the repository's way: its serve config's apps into raygitops.yaml `applications:`
(for this environment only; an import path outside apps/ becomes an external_imports module), their
settings into overlays/<env>/serve.yaml, DB_CONFIG with a literal password moved to the Secret mechanism
(base/components/postgres), the cluster into overlays/<env>/rayservice-patch.yaml as its differences
from base/ (base/ stays: every environment shares it), and the images into pins.yaml. Everything that
cannot keep its value is an intended change, named in the report and in `adoption.intended`, which the
round trip (import, then render) must account for.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import yaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from raygitops.config import load_config
from raygitops.edit.environments import OPERATOR_NAMESPACES, OPERATOR_VALUES, namespace_of, with_namespace_document, \
    with_watched_namespace
from raygitops.edit.overlay import base_rayservice
from raygitops.edit.adoption import Adoption
from raygitops.edit.adoptserve import serve_files
from raygitops.edit.roundtrip import dumps, flow_mapping
from raygitops.edit.smpdiff import strategic_diff
from raygitops.errors import UserError
from raygitops.model.dbconfig import PASSWORD_VAR
from raygitops.model.environment import Environment
from raygitops.model.pins import ImagePin, image_pin_problem, pins_rel
from raygitops.versions import parse_ray_image, split_image
from raygitops.yamlio import LOADER

POSTGRES_COMPONENT = "../../base/components/postgres"
DEPRECATED = ("serviceUnhealthySecondThreshold", "deploymentUnhealthySecondThreshold")


def read_rayservice(path: Path, root: Path) -> dict:
    try:
        documents = [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=LOADER) if d is not None]
    except FileNotFoundError:
        raise UserError("file not found", file=str(path), fix="give the RayService YAML file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", file=str(path),
                        line=mark.line + 1 if mark else None, fix="fix the YAML syntax") from None
    services = [d for d in documents if isinstance(d, dict) and d.get("kind") == "RayService"]
    if len(services) != 1:
        raise UserError(f"expected one RayService, found {len(services)}", file=str(path),
                        fix="give a file with exactly one kind: RayService")
    service = services[0]
    if str(service.get("apiVersion", "")).split("/")[0] != "ray.io":
        raise UserError(f"apiVersion {service.get('apiVersion')} is not KubeRay's", file=str(path), fix="use ray.io/v1")
    if not isinstance((service.get("spec") or {}).get("serveConfigV2"), str):
        raise UserError("the RayService has no serveConfigV2", file=str(path),
                        fix="paste the serve config (serve build / aana build output) into spec.serveConfigV2")
    return service


def adopt(root: Path, path: Path, env: str) -> Adoption:
    source = read_rayservice(path, root)
    adoption = Adoption(env, source)
    new = Environment(root, env)
    if new.overlay.exists():
        raise UserError(f"{new.rel} exists already", file=new.rel, fix="import into a new environment")
    if not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", env) or len(namespace_of(env)) > 63:
        raise UserError(f"'{env}' cannot name an environment", fix="use lower-case letters, digits and '-'")
    try:
        serve = yaml.load(source["spec"]["serveConfigV2"], Loader=LOADER)
    except yaml.YAMLError as exc:
        raise UserError(f"serveConfigV2 is not valid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                        fix="fix the pasted serve config") from None
    if not isinstance(serve, dict) or not isinstance(serve.get("applications"), list) or not serve["applications"]:
        raise UserError("serveConfigV2 lists no applications", file=str(path), fix="paste the whole serve config")
    postgres = serve_files(root, adoption, serve)
    _cluster_files(root, adoption, postgres)
    adoption.edit.files[OPERATOR_VALUES] = with_watched_namespace(root, namespace_of(env))
    adoption.edit.files[OPERATOR_NAMESPACES] = with_namespace_document(root, "", namespace_of(env))
    adoption.report.append(f"{env} is not in promotion.order: add it to raygitops.yaml if changes should reach it "
                           "by `raygitops promote`")
    return adoption


# --- the cluster --------------------------------------------------------------------------------------

def _placeholder(config, image: str, gpu: bool) -> str:
    names = [spec.placeholder for spec in config.images]
    for spec in config.images:   # the placeholder whose own image it is
        if image == f"{spec.name}:{spec.tag(config.versions.ray)}":
            return spec.placeholder
    wanted = [n for n in names if ("gpu" in n) == gpu]
    return (wanted or names)[0]


def _target_spec(root: Path, adoption: Adoption, postgres: bool) -> tuple[dict, dict]:
    """The input's spec as this repository writes it: placeholders for images, base groups first."""
    config = load_config(root)
    base = base_rayservice(root)
    spec = copy.deepcopy(adoption.source["spec"])
    spec.pop("serveConfigV2")
    for key in DEPRECATED:
        if key in spec:
            spec.pop(key)
            adoption.intend(rf"spec\.{key}$", f"{key} is deprecated (unused since KubeRay 1.1): dropped")
            adoption.report.append(f"deprecated field spec.{key} dropped (KubeRay has ignored it since 1.1)")
    cluster = spec.setdefault("rayClusterConfig", {})
    base_cluster = base["spec"]["rayClusterConfig"]
    if cluster.get("rayVersion") != config.versions.ray:
        adoption.intend(r"spec\.rayClusterConfig\.rayVersion$", f"rayVersion → {config.versions.ray} (versions.ray)")
    cluster["rayVersion"] = base_cluster.get("rayVersion")
    pins: dict[str, ImagePin] = {}
    groups = [("headGroupSpec", cluster.get("headGroupSpec") or {}, base_cluster.get("headGroupSpec") or {})]
    base_groups = {g["groupName"]: g for g in base_cluster.get("workerGroupSpecs") or []}
    workers = cluster.get("workerGroupSpecs") or []
    kept = set()
    for name, group in base_groups.items():
        if not any(w.get("groupName") == name for w in workers):
            kept.add(name)
            zero = copy.deepcopy(group)
            zero.update(replicas=0, minReplicas=0, maxReplicas=0)
            workers.insert(list(base_groups).index(name), zero)
            adoption.intend(rf"spec\.rayClusterConfig\.workerGroupSpecs(\[{re.escape(name)}\])?$",
                            f"the base's worker group {name}, kept at 0 replicas (every environment lists the base groups)")
    workers.sort(key=lambda w: list(base_groups).index(w["groupName"]) if w.get("groupName") in base_groups else len(base_groups))
    cluster["workerGroupSpecs"] = workers
    groups += [(f"workerGroupSpecs[{w['groupName']}]", w, base_groups.get(w["groupName"]))
               for w in workers if w["groupName"] not in kept]
    for label, group, base_group in groups:
        containers = ((group.get("template") or {}).get("spec") or {}).get("containers") or []
        if not containers:
            continue
        ray = containers[0]
        base_containers = (((base_group or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        where = rf"spec\.rayClusterConfig\.{re.escape(label)}\.template\.spec\.containers"
        if base_containers and ray.get("name") != base_containers[0].get("name"):
            adoption.intend(rf"{where}(\[[^\]]+\])?$", f"the Ray container is named {base_containers[0]['name']} as in base/")
            ray["name"] = base_containers[0]["name"]
        image = str(ray.get("image", ""))
        gpu = "nvidia.com/gpu" in json.dumps(ray.get("resources") or {}) or getattr(parse_ray_image(image), "is_gpu", False)
        placeholder = _placeholder(config, image, gpu)
        name, tag, digest = split_image(image)
        pin = ImagePin(name=name, tag=tag, digest=digest)
        spec_of = next(s for s in config.images if s.placeholder == placeholder)
        default = f"{spec_of.name}:{spec_of.tag(config.versions.ray)}"
        if image != default:
            if image_pin_problem(config, placeholder, pin) is None and tag:
                pins.setdefault(placeholder, pin)
            else:
                adoption.intend(rf"{where}\[[^\]]+\]\.image$", f"image {image} is not a build of Ray {config.versions.ray}: "
                                f"{default} until you pin one (`raygitops set {adoption.env} image {placeholder} …`)")
                adoption.report.append(f"{label}: image {image} is not Ray {config.versions.ray}; runs {default} until you "
                                       f"build yours for Ray {config.versions.ray} and pin it")
        ray["image"] = placeholder
        if postgres and not any(e.get("name") == PASSWORD_VAR for e in ray.get("env") or []):
            # base/components/postgres gives it to base's groups; every group of the input needs it.
            ray.setdefault("env", []).append({"name": PASSWORD_VAR, "valueFrom": {"secretKeyRef": {"name": "aana-db", "key": "password"}}})
    if postgres:
        adoption.intend(rf"spec\.rayClusterConfig\..*\.containers\[[^\]]+\]\.env(\[{PASSWORD_VAR}\])?$",
                        "the database password from the Secret aana-db")
    _pins_file(adoption, pins)
    return spec, pins


def _pins_file(adoption: Adoption, pins: dict[str, ImagePin]) -> None:
    if not pins:
        return
    images = CommentedMap((placeholder, flow_mapping(pin.as_dict())) for placeholder, pin in pins.items())
    header = (f"# What {adoption.env} runs: the images of the imported RayService (raygitops import), builds of\n"
              "# versions.ray. `raygitops promote` and `raygitops set` write this file.\n")
    adoption.edit.files[pins_rel(adoption.env)] = header + dumps([CommentedMap([("images", images)])])


def _cluster_files(root: Path, adoption: Adoption, postgres: bool) -> None:
    env, rel = adoption.env, Environment(root, adoption.env).rel
    spec, _ = _target_spec(root, adoption, postgres)
    rendered = _rendered_base(root, env, postgres)
    base_spec = copy.deepcopy(rendered["spec"])
    base_spec.pop("serveConfigV2", None)
    patch_spec = strategic_diff(base_spec, spec) or {}
    base_name = rendered["metadata"]["name"]
    metadata = CommentedMap([("name", base_name)])
    source_meta = adoption.source.get("metadata") or {}
    for key in ("labels", "annotations"):
        extra = {k: v for k, v in (source_meta.get(key) or {}).items() if (rendered["metadata"].get(key) or {}).get(k) != v}
        if extra:
            metadata[key] = extra
        adoption.intend(rf"metadata\.{key}(\.|$)", f"the {key} base/ gives every environment's RayService")
    adoption.intend(r"metadata\.namespace$", f"namespace {namespace_of(env)}: Argo CD deploys {rel} there")
    patch = CommentedMap([("apiVersion", "ray.io/v1"), ("kind", "RayService"), ("metadata", metadata),
                          ("spec", patch_spec)])
    header = (f"# {env}: the imported RayService's differences from base/ (raygitops import). Worker groups:\n"
              "# every base group first, in base order; the imported ones after them.\n")
    files = adoption.edit.files
    files[f"{rel}/rayservice-patch.yaml"] = header + dumps([patch])
    patches = [CommentedMap([("path", "rayservice-patch.yaml")])]
    name = source_meta.get("name")
    if name and name != base_name:
        files[f"{rel}/rename.yaml"] = (
            f"# The imported RayService keeps its name (its Services are {name}-head-svc, {name}-serve-svc).\n"
            + dumps([[CommentedMap([("op", "replace"), ("path", "/metadata/name"), ("value", name)])]]))
        patches.append(CommentedMap([("path", "rename.yaml"),
                                     ("target", flow_mapping({"kind": "RayService", "name": base_name}))]))
    if source_meta.get("namespace") and source_meta["namespace"] != namespace_of(env):
        adoption.report.append(f"namespace {source_meta['namespace']} → {namespace_of(env)} (Argo CD's ApplicationSet "
                               "deploys every overlays/<env> to aana-<env>)")
    if adoption.source.get("apiVersion") != "ray.io/v1":
        adoption.intend(r"^apiVersion$", "apiVersion ray.io/v1")
        adoption.report.append(f"apiVersion {adoption.source.get('apiVersion')} is deprecated: written as ray.io/v1")
    components = CommentedSeq(([POSTGRES_COMPONENT] if postgres else []) + ["generated"])
    kustomization = CommentedMap([
        ("apiVersion", "kustomize.config.k8s.io/v1beta1"), ("kind", "Kustomization"),
        ("namespace", namespace_of(env)), ("resources", CommentedSeq(["../../base"])), ("components", components),
        ("transformers", CommentedSeq(["generated/images.yaml"])), ("patches", CommentedSeq(patches))])
    files[f"{rel}/kustomization.yaml"] = dumps([kustomization])
    if postgres:
        adoption.report.append("Postgres: the environment includes base/components/postgres (ExternalSecret aana-db, "
                               "the password env in every Ray pod, and the migration Job of apps/db.py)")


def _rendered_base(root: Path, env: str, postgres: bool) -> dict:
    """base/'s RayService as the new overlay starts from it (with the Postgres component's changes)."""
    from raygitops.render import render_overlay
    work = root / ".run" / f"import-{env}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        components = ["../../base/components/postgres"] if postgres else []
        (work / "kustomization.yaml").write_text(json.dumps({"resources": ["../../base"], "components": components}))
        resources = render_overlay(work).resources
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return next(r for r in resources if r.get("kind") == "RayService")

