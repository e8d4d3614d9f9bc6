"""What the editing commands read about an environment: that it exists, its serve config, its RayService patch.

    env = existing_environment(root, "staging")          # UserError naming the environments when unknown
    patch_rel = rayservice_patch(root, env)               # overlays/staging/rayservice-patch.yaml, or None
"""
from __future__ import annotations

from pathlib import Path

from raygitops.errors import UserError
from raygitops.model.environment import SERVE_CONFIG, Environment, discover
from raygitops.render import read_kustomization
from raygitops.yamlio import LOADER

import yaml

BASE_RAYSERVICE = "base/rayservice.yaml"


def existing_environment(root: Path, name: str) -> Environment:
    environments = {env.name: env for env in discover(root)}
    if name not in environments:
        raise UserError(f"no environment '{name}'", file=Environment(root, name).rel,
                        fix=f"use one of: {', '.join(sorted(environments)) or '(none)'}")
    return environments[name]


def rayservice_patch(root: Path, env: Environment) -> str | None:
    """The overlay's strategic-merge patch of the RayService (repo-relative), if it has one."""
    data = read_kustomization(env.kustomization) if env.kustomization else None
    for entry in (data or {}).get("patches") or []:
        if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)):
            continue
        path = (env.overlay / entry["path"]).resolve()
        try:
            documents = list(yaml.load_all(path.read_text(), Loader=LOADER))
        except (OSError, yaml.YAMLError):
            continue
        if any(isinstance(d, dict) and d.get("kind") == "RayService" for d in documents):
            return path.relative_to(root.resolve()).as_posix()
    return None


def base_rayservice(root: Path) -> dict:
    try:
        data = yaml.load((root / BASE_RAYSERVICE).read_text(), Loader=LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read the base RayService: {str(exc).splitlines()[0]}", file=BASE_RAYSERVICE,
                        fix="restore it") from None
    if not isinstance(data, dict) or data.get("kind") != "RayService":
        raise UserError("not a RayService", file=BASE_RAYSERVICE, fix="restore it")
    return data


def base_worker_groups(root: Path) -> list[dict]:
    """The base RayService's worker groups, in base order: the order every overlay must keep."""
    groups = ((base_rayservice(root).get("spec") or {}).get("rayClusterConfig") or {}).get("workerGroupSpecs") or []
    return [g for g in groups if isinstance(g, dict) and isinstance(g.get("groupName"), str)]


def generated_serve_config(root: Path, env: Environment) -> dict:
    """The environment's complete serve config as tools/regen last wrote it."""
    path = env.serve_config
    try:
        data = yaml.load(path.read_text(), Loader=LOADER)
    except (OSError, yaml.YAMLError):
        data = None
    if not isinstance(data, dict):
        raise UserError("no generated serve config", file=f"{env.generated_rel}/{SERVE_CONFIG}",
                        fix="run tools/regen first")
    return data
