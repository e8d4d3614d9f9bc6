"""The base serve config when some apps' code is not in apps/ (external_imports: baked into the image), and
each environment's own apps.

    base = build_base(root, config.applications, config.external_imports)   # external apps: no `deployments`
    config_for_env = environment_apps(base, config.applications, "prod")     # only the apps prod runs

`serve build` imports every app, so it cannot see an app whose module is only in the image. Such an app
enters the base config as Serve takes it without deployment settings: name, route and import path, and
no `deployments` key. apply_environment then takes the environment's deployment settings for it as they
are (Ray checks them against the code when it deploys).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from raygitops.config import AppSpec

# What `serve build` writes around the apps (Ray 2.46), for a config of external apps only.
SERVE_DEFAULTS = {"proxy_location": "EveryNode", "http_options": {"host": "0.0.0.0", "port": 8000}}


def is_external(app: AppSpec, external_imports: Iterable[str]) -> bool:
    module = app.import_path.partition(":")[0]
    return any(module == e or module.startswith(e + ".") for e in external_imports)


def build_base(root: Path, apps: tuple[AppSpec, ...], external: Iterable[str], *,
               build: Callable[..., dict] | None = None, **build_options) -> dict:
    """`serve build` of the apps in apps/, with the external ones put in at their places (`external`:
    the external_imports modules, which build_base_config also allows outside apps/; `build_options` go to it)."""
    if build is None:
        from raygitops.generate.serve_schema import build_base_config as build
    if not apps:
        return {}   # only Aana apps: generate/aana_apps.py takes the top level from `aana build`
    external = tuple(external)
    built_apps = tuple(app for app in apps if not is_external(app, external))
    config = (build(root, built_apps, external_imports=external, **build_options) if built_apps
              else dict(SERVE_DEFAULTS, applications=[]))
    built = iter(config["applications"])
    config["applications"] = [
        {"name": app.name, "route_prefix": app.route_prefix, "import_path": app.import_path}
        if is_external(app, external) else next(built) for app in apps]
    return config


def environment_apps(base: dict, apps: tuple[AppSpec, ...], env: str) -> dict:
    """The base config with only the apps `env` runs (raygitops.yaml applications[].environments); Aana
    apps are not in it (aana_apps.with_aana_apps adds those the environment's config lists)."""
    wanted = {app.name for app in apps if app.runs_in(env)}
    if not base or all(app.get("name") in wanted for app in base["applications"]):
        return base
    return dict(base, applications=[app for app in base["applications"] if app.get("name") in wanted])
