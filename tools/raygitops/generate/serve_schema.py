"""Ray's side of a serve config: what its schema accepts, and the base config its own `serve build` emits.

    base = build_base_config(root, config.applications)           # `serve build` in process, apps renamed
    errors = ray_schema_errors(config); keys = unknown_keys(config)  # [(loc, message)], [(path, key)]
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from raygitops.config import AppSpec
from raygitops.errors import UserError
from raygitops.generate.deploy_rules import deploy_errors, first_by_place
from raygitops.generate.workingdir import APPS_PACKAGE, build_package
from raygitops.masking import mask_text
from raygitops.safepath import escaping_link
from raygitops.usercache import code_fingerprint, read_json, user_cache, write_atomically

# Bump when what the serve-build cache holds changes shape.
SERVE_BUILD_FORMAT = 1

_RUNTIME_ENV_KEYS = {"working_dir", "py_modules", "py_executable", "pip", "uv", "conda", "container",
                     "image_uri", "env_vars", "excludes", "config", "java_jars", "nsight", "mpi",
                     "worker_process_setup_hook", "_ray_release", "_ray_commit", "_inject_current_ray"}


# --- what Ray's schema knows ---------------------------------------------------------

# Bump when what the serve-schema cache holds changes shape.
SERVE_SCHEMA_FORMAT = 1


@lru_cache(maxsize=1)
def _ray_version() -> str:
    from importlib import metadata
    return metadata.version("ray")


def _schema_entry(name: str) -> Path:
    """A user-cache file of what Ray's schema says. Importing Ray's schema costs 1.5 s; what it says
    is fixed by Ray's version (and our code), so a regen of a config seen before needs no Ray."""
    return user_cache("serve-schema") / f"{name}-{_ray_version()}-{code_fingerprint()[:16]}-{SERVE_SCHEMA_FORMAT}.json"


@lru_cache(maxsize=None)
def _schema_fields() -> dict[str, frozenset]:
    entry = _schema_entry("fields")
    cached = read_json(entry)
    if isinstance(cached, dict) and all(isinstance(names, list) for names in cached.values()):
        return {model: frozenset(names) for model, names in cached.items()}
    fields = _fields_from_ray()
    write_atomically(entry, json.dumps({model: sorted(names) for model, names in fields.items()}))
    return fields


def _fields_from_ray() -> dict[str, frozenset]:
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import (DeploymentSchema, HTTPOptionsSchema, LoggingConfig,
                                  RayActorOptionsSchema, ServeApplicationSchema, ServeDeploySchema,
                                  gRPCOptionsSchema)
    return {name: frozenset(model.__fields__) for name, model in {
        "deploy": ServeDeploySchema, "app": ServeApplicationSchema, "deployment": DeploymentSchema,
        "actor": RayActorOptionsSchema, "http": HTTPOptionsSchema, "grpc": gRPCOptionsSchema,
        "logging": LoggingConfig, "autoscaling": AutoscalingConfig}.items()}


def unknown_keys(config: Any, *, extra_top: Iterable[str] = ()) -> list[tuple[tuple, str]]:
    """(path of the mapping, key) for every key Ray would silently ignore."""
    fields = _schema_fields()
    found: list[tuple[tuple, str]] = []

    def check(mapping: Any, path: tuple, allowed: Iterable[str]) -> dict:
        if not isinstance(mapping, dict):
            return {}
        allowed = set(allowed)
        found.extend((path, key) for key in mapping if key not in allowed)
        return mapping

    top = check(config, (), fields["deploy"] | set(extra_top))
    check(top.get("http_options"), ("http_options",), fields["http"])
    check(top.get("grpc_options"), ("grpc_options",), fields["grpc"])
    check(top.get("logging_config"), ("logging_config",), fields["logging"])
    apps = top.get("applications")
    for a, app in enumerate(apps if isinstance(apps, list) else []):
        app_path = ("applications", a)
        app = check(app, app_path, fields["app"])
        check(app.get("runtime_env"), app_path + ("runtime_env",), _RUNTIME_ENV_KEYS)
        check(app.get("logging_config"), app_path + ("logging_config",), fields["logging"])
        deployments = app.get("deployments")
        for d, deployment in enumerate(deployments if isinstance(deployments, list) else []):
            dep_path = app_path + ("deployments", d)
            deployment = check(deployment, dep_path, fields["deployment"])
            check(deployment.get("autoscaling_config"), dep_path + ("autoscaling_config",), fields["autoscaling"])
            check(deployment.get("logging_config"), dep_path + ("logging_config",), fields["logging"])
            actor = check(deployment.get("ray_actor_options"), dep_path + ("ray_actor_options",), fields["actor"])
            check(actor.get("runtime_env"), dep_path + ("ray_actor_options", "runtime_env"), _RUNTIME_ENV_KEYS)
    return sorted(found, key=lambda item: (tuple(map(str, item[0])), str(item[1])))   # YAML keys may be ints


def ray_schema_errors(config: Any) -> list[tuple[tuple, str]]:
    """(loc, message) from Ray's ServeDeploySchema, the check the Ray head runs on deploy, then
    from what the Serve controller refuses later (deploy_rules); one message per place, masked.
    Kept in the user cache under the config's hash (the messages are masked before they are kept)."""
    try:
        key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:24]
    except (TypeError, ValueError):   # keys of mixed types, or values JSON has not: check without the cache
        return _ray_schema_errors(config)
    entry = _schema_entry(f"errors-{key}")
    cached = read_json(entry)
    if isinstance(cached, list):
        return [(tuple(loc), message) for loc, message in cached]
    errors = _ray_schema_errors(config)
    write_atomically(entry, json.dumps([[list(loc), message] for loc, message in errors]))
    return errors


def _ray_schema_errors(config: Any) -> list[tuple[tuple, str]]:
    from ray.serve.schema import ServeDeploySchema
    out = []
    try:
        ServeDeploySchema.parse_obj(config)
    except Exception as exc:  # pydantic v1 ValidationError, or a validator's own error
        errors = getattr(exc, "errors", None)
        for error in errors() if callable(errors) else [{"loc": (), "msg": str(exc)}]:
            loc = tuple(part for part in error.get("loc", ()) if part != "__root__")
            message = " ".join(mask_text(str(error.get("msg", "invalid"))).split())
            # A failed field makes later root validators fail on None; that noise hides the cause.
            if not loc and "NoneType" in message and out:
                continue
            out.append((loc, message))
    # Ray stops at its schema: a deploy rule about the same app or deployment would say it twice.
    said = [loc for loc, _ in out if loc]
    later = [(loc, message) for loc, message in deploy_errors(config)
             if not any(loc[:len(other)] == other or other[:len(loc)] == loc for other in said)]
    return first_by_place(out + later)


def display_path(config: Any, loc: Iterable) -> str:
    """('applications', 0, 'deployments', 1, 'num_replicas') → applications[main].deployments[Gateway].num_replicas"""
    parts: list[str] = []
    node = config
    for part in loc:
        if isinstance(part, int) and isinstance(node, list):
            item = node[part] if part < len(node) else None
            label = item.get("name") if isinstance(item, dict) and item.get("name") else part
            parts[-1] = f"{parts[-1]}[{label}]" if parts else f"[{label}]"
            node = item
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts)


# --- building the base config with Ray -------------------------------------------------

def build_base_config(root: Path, apps: tuple[AppSpec, ...], config_file: str = "raygitops.yaml",
                      external_imports: Iterable[str] = ()) -> dict:
    """Run Ray's `serve build` (in process, as `aana build` does) on every app, then give
    the apps their configured names and routes instead of app1, app2 and /app1, /app2.
    The result is kept in the user's cache under the hash of everything it depends on (the apps/
    package, the apps' entries, the Ray and Python versions): a regen after an edit of serve.yaml, or in
    another checkout of the same code, then needs no Ray at all."""
    refuse_code_outside_apps(root, apps, external_imports, config_file)
    cached = serve_build_entry(root, apps, external_imports)
    config = read_json(cached)
    if config is None:
        config = _serve_build(root, apps, config_file, external_imports)
        write_atomically(cached, json.dumps(config))   # key order kept: it is the serve config's order
    return config


def serve_build_entry(root: Path, apps: tuple[AppSpec, ...], external_imports: Iterable[str]) -> Path:
    """The user-cache file of this build: named by the hash of everything `serve build` reads."""
    inputs = {"format": SERVE_BUILD_FORMAT, "code": build_package(root).digest,
              "apps": [[app.name, app.import_path, app.route_prefix] for app in apps],
              "external": sorted(external_imports), "ray": _ray_version(),
              "python": platform.python_version()}
    return user_cache("serve-build") / f"{hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:24]}.json"


def _serve_build(root: Path, apps: tuple[AppSpec, ...], config_file: str, external_imports: Iterable[str]) -> dict:
    from click.testing import CliRunner
    from ray.serve.scripts import build

    with tempfile.TemporaryDirectory(prefix="raygitops-build-") as tmp:
        output = Path(tmp) / "serve.yaml"
        args = [app.import_path for app in apps] + ["--app-dir", str(root), "--output-path", str(output)]
        result = CliRunner().invoke(build, args, catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise _build_error(result.exception, result.exc_info, root, apps, config_file)
        if result.exit_code != 0 or not output.exists():
            raise UserError(f"serve build failed: {result.output.strip()[-500:]}", file=config_file,
                            fix="run `serve build` on the import paths to see Ray's error")
        config = yaml.safe_load(output.read_text())
    for app, built in zip(apps, config["applications"]):
        built["name"] = app.name
        built["route_prefix"] = app.route_prefix
    return config


def refuse_code_outside_apps(root: Path, apps: Iterable[AppSpec], external_imports: Iterable[str],
                             config_file: str) -> None:
    """Before anything is imported: every app's module is in apps/ (the code the cluster gets), its
    file reached through no link out of apps/, or it is listed under external_imports. serve build
    runs the module it imports, and a pull request could name any file of the checkout."""
    external = tuple(external_imports)
    apps_dir = root / APPS_PACKAGE
    for app in apps:
        module = app.import_path.partition(":")[0]
        if any(module == e or module.startswith(e + ".") for e in external):
            continue
        if not all(part.isidentifier() for part in module.split(".")) or module.split(".")[0] != APPS_PACKAGE:
            raise UserError(f"import_path '{app.import_path}': module {module} is not in {APPS_PACKAGE}/, "
                            "and tools/regen imports nothing else", file=config_file, line=app.line,
                            fix=f"move the code into {APPS_PACKAGE}/, or list the module under external_imports "
                                "in raygitops.yaml when the image has it")
        base = root.joinpath(*module.split("."))
        for candidate in (base.with_name(base.name + ".py"), base / "__init__.py", base):
            if apps_dir not in candidate.parents and candidate != apps_dir:
                continue
            link = escaping_link(apps_dir, root) or escaping_link(candidate, apps_dir)
            if link is not None:
                raise UserError(f"import_path '{app.import_path}' reaches {link.relative_to(root).as_posix()}, "
                                f"a symbolic link to {os.path.realpath(link)}, outside {APPS_PACKAGE}/",
                                file=config_file, line=app.line,
                                fix=f"put the module's file itself into {APPS_PACKAGE}/ instead of a link")


def _build_error(exc: BaseException, exc_info, root: Path, apps, config_file: str) -> UserError:
    """Point at the app's own file and line when the import failed inside apps/."""
    file, line = config_file, None
    frames = traceback.extract_tb(exc_info[2]) if exc_info else []
    for frame in reversed(frames):
        if not Path(frame.filename).is_file():
            continue  # "<frozen importlib._bootstrap>" and friends
        try:
            rel = Path(frame.filename).resolve().relative_to(root.resolve())
        except ValueError:
            continue
        if "site-packages" in rel.parts or any(part.startswith(".") for part in rel.parts):
            continue  # Ray's own frames, from a .venv inside the repository
        file, line = rel.as_posix(), frame.lineno
        break
    if isinstance(exc, SyntaxError) and exc.filename:
        try:
            file, line = Path(exc.filename).resolve().relative_to(root.resolve()).as_posix(), exc.lineno
        except ValueError:
            pass
    failing = next((a for a in apps if a.import_path.split(":")[0] in str(exc) or a.import_path in str(exc)), None)
    if file == config_file and failing is not None:
        line = failing.line
    what = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return UserError(f"cannot import the Serve apps: {what}", file=file, line=line,
                     fix="fix the app code or its import_path in raygitops.yaml; check with `serve build <import_path>`")
