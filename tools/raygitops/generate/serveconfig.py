"""Serve configs: an environment's overrides merged into the `serve build` base; a serveConfigV2 read once.

    full = apply_environment(base, load_yaml(serve_yaml, root), url)  # + env overrides, validated by Ray
    config = serve_config_of(rayservice)                              # parsed once per text; never change it
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from raygitops.errors import UserError
from raygitops.generate.deploy_rules import env_var_name_problem
from raygitops.generate.serve_schema import display_path, ray_schema_errors, unknown_keys
from raygitops.masking import is_secret_path, shown
from raygitops.yamlbounds import InputRefused
from raygitops.yamlio import YamlDoc, first_duplicate_key, load_documents

# The key an environment's serve.yaml may hold beyond a partial serve config.
ENV_LEVEL_ENV_VARS = "env_vars"
# No `args`: the apps are bound Applications, and Ray rejects args for those at deploy time.
_OVERRIDE_APP = {"name", "deployments", "runtime_env"}
_OVERRIDE_RUNTIME_ENV = {"env_vars"}


# --- merging an environment ------------------------------------------------------------

def _index_by_name(items: Any) -> dict[str, int]:
    return {item["name"]: i for i, item in enumerate(items or []) if isinstance(item, dict) and "name" in item}


def _deep_merge(target: dict, patch: dict) -> None:
    """Mappings merge key by key; anything else replaces; null deletes."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def encode_env_vars(env_vars: Any, doc: YamlDoc, path: tuple) -> dict[str, str]:
    """Ray wants strings; a mapping (such as DB_CONFIG) is written as compact JSON so
    nobody hand-writes JSON inside a YAML string. Names must be valid env var names."""
    if not isinstance(env_vars, dict):
        raise UserError("env_vars must be a mapping of NAME: value", file=doc.file, line=doc.line_of(path),
                        fix="write one NAME: value per line")
    out = {}
    for name, value in env_vars.items():
        line = doc.line_of(path + (name,))
        problem = env_var_name_problem(name)
        if problem:
            raise UserError(problem, file=doc.file, line=line, fix="write NAME: value, with a name of letters, "
                            "digits and _ (it also becomes a ConfigMap key and a pod's env var)")
        if isinstance(value, str):
            if "\0" in value:
                raise UserError(f"env var {name} holds a NUL character, which no environment can hold",
                                file=doc.file, line=line, fix="remove it")
            out[name] = value
        elif isinstance(value, dict):
            out[name] = json.dumps(value, separators=(",", ":"))
        elif value is None:
            raise UserError(f"env var {name} has no value", file=doc.file, line=line,
                            fix=f'give it one ({name}: "…") or remove the line; an empty value is written ""')
        else:
            secret = is_secret_path((name,))
            quoted = "…" if secret or not isinstance(value, (int, float, bool)) else json.dumps(value)
            raise UserError(f"env var {name} must be a string or a mapping, not {shown(value, secret)}",
                            file=doc.file, line=line, fix=f'quote it: {name}: "{quoted}"')
    return out


def _check_override_shape(doc: YamlDoc) -> None:
    data = doc.data
    if data is None:
        return
    if not isinstance(data, dict):
        raise UserError("expected a mapping (a partial serve config)", file=doc.file, line=1,
                        fix="start with `applications:` and/or `env_vars:`")
    for path, key in unknown_keys(data, extra_top=[ENV_LEVEL_ENV_VARS]):
        raise UserError(f"unknown field '{key}'" + (f" in {display_path(data, path)}" if path else ""),
                        file=doc.file, line=doc.line_of(path + (key,)),
                        fix="check the spelling; Ray would silently ignore it")
    apps = data.get("applications", [])
    if not isinstance(apps, list):
        raise UserError("applications must be a list", file=doc.file, line=doc.line_of(("applications",)),
                        fix="write `- name: <app>` items")
    for a, app in enumerate(apps):
        path = ("applications", a)
        if not isinstance(app, dict) or not isinstance(app.get("name"), str):
            raise UserError("each application needs a name", file=doc.file, line=doc.line_of(path),
                            fix="add `name: <application name>`")
        for key in app:
            if key not in _OVERRIDE_APP:
                raise UserError(f"'{key}' cannot be set per environment for application {app['name']}",
                                file=doc.file, line=doc.line_of(path + (key,)),
                                fix=f"set only {', '.join(sorted(_OVERRIDE_APP - {'name'}))}")
        runtime_env = app.get("runtime_env") or {}
        if not isinstance(runtime_env, dict) or set(runtime_env) - _OVERRIDE_RUNTIME_ENV:
            raise UserError(f"only runtime_env.env_vars can be set per environment (application {app['name']})",
                            file=doc.file, line=doc.line_of(path + ("runtime_env",)),
                            fix="working_dir comes from raygitops.yaml; other runtime_env keys belong in the app")
        deployments = app.get("deployments", [])
        if not isinstance(deployments, list):
            raise UserError("deployments must be a list", file=doc.file, line=doc.line_of(path + ("deployments",)),
                            fix="write `- name: <deployment>` items")
        for d, deployment in enumerate(deployments):
            if not isinstance(deployment, dict) or not isinstance(deployment.get("name"), str):
                raise UserError("each deployment needs a name", file=doc.file,
                                line=doc.line_of(path + ("deployments", d)), fix="add `name: <deployment name>`")
        _reject_duplicate_names(doc, deployments, path=path + ("deployments",), what="deployment")
    _reject_duplicate_names(doc, apps, path=("applications",), what="application")   # every app has a name now


def _reject_duplicate_names(doc: YamlDoc, items: list, path: tuple, what: str) -> None:
    seen = set()
    for i, item in enumerate(items):
        if item["name"] in seen:
            raise UserError(f"{what} '{item['name']}' is listed twice", file=doc.file,
                            line=doc.line_of(path + (i, "name")), fix="merge the two entries")
        seen.add(item["name"])


def apply_environment(base: dict, doc: YamlDoc, working_dir_url: str) -> dict:
    """The environment's complete serve config: base + serve.yaml + working_dir, validated."""
    _check_override_shape(doc)
    override = doc.data or {}
    config = copy.deepcopy(base)
    for key in ("http_options", "logging_config"):
        if isinstance(override.get(key), dict):
            config.setdefault(key, {})
            _deep_merge(config[key], override[key])
    for key in ("proxy_location", "target_capacity"):
        if key in override:
            config[key] = override[key]

    shared_env = encode_env_vars(override.get(ENV_LEVEL_ENV_VARS) or {}, doc, (ENV_LEVEL_ENV_VARS,))
    apps_by_name = _index_by_name(config["applications"])
    app_overrides = {}
    for a, app_override in enumerate(override.get("applications") or []):
        name = app_override["name"]
        if name not in apps_by_name:
            raise UserError(f"unknown application '{name}'", file=doc.file,
                            line=doc.line_of(("applications", a, "name")),
                            fix=f"use one of: {', '.join(sorted(apps_by_name))}")
        app_overrides[name] = (a, app_override)

    for app in config["applications"]:
        a, app_override = app_overrides.get(app["name"], (None, {}))
        env_vars = dict(shared_env)
        app_env = (app_override.get("runtime_env") or {}).get("env_vars")
        if app_env is not None:
            env_vars.update(encode_env_vars(app_env, doc, ("applications", a, "runtime_env", "env_vars")))
        runtime_env = {"working_dir": working_dir_url}
        if env_vars:
            runtime_env["env_vars"] = env_vars
        app["runtime_env"] = runtime_env
        # An app of external_imports has no `deployments` (generate/external.py): serve build never saw its
        # code, so its settings are taken as written; Ray checks them against the code when it deploys.
        external_app = "deployments" not in app
        deployments = _index_by_name(app.get("deployments"))
        for d, dep_override in enumerate(app_override.get("deployments") or []):
            name = dep_override["name"]
            if external_app and name not in deployments:
                app.setdefault("deployments", []).append({"name": name})
                deployments[name] = len(app["deployments"]) - 1
            if name not in deployments:
                raise UserError(f"unknown deployment '{name}' in application '{app['name']}'", file=doc.file,
                                line=doc.line_of(("applications", a, "deployments", d, "name")),
                                fix=f"use one of: {', '.join(sorted(deployments)) or '(none)'}")
            if dep_override.get("num_replicas", "auto") != "auto" and dep_override.get("autoscaling_config") is not None:
                raise UserError(f"deployment '{name}' sets both num_replicas and autoscaling_config", file=doc.file,
                                line=doc.line_of(("applications", a, "deployments", d, "num_replicas")),
                                fix="keep one: a fixed num_replicas, or autoscaling_config (with num_replicas: auto)")
            target = app["deployments"][deployments[name]]
            _deep_merge(target, {k: v for k, v in dep_override.items() if k != "name"})
            # num_replicas and autoscaling_config exclude each other; the environment's choice wins.
            if "num_replicas" in dep_override and dep_override["num_replicas"] != "auto":
                target.pop("autoscaling_config", None)
            if "autoscaling_config" in dep_override and dep_override["autoscaling_config"] is not None \
                    and target.get("num_replicas") != "auto":
                target.pop("num_replicas", None)

    errors = ray_schema_errors(config)
    if errors:
        loc, message = errors[0]
        raise UserError(f"{message} (at {display_path(config, loc) or 'the serve config'})", file=doc.file,
                        line=_override_line(doc, config, loc, message),
                        fix="fix the value; Ray rejects it when it deploys the config")
    return config


def _override_line(doc: YamlDoc, config: dict, loc: tuple, message: str = "") -> int | None:
    """The serve.yaml line that set `loc` (a path into the merged config), if any. Ray
    reports some field errors on the deployment; the field named in the message is closer."""
    path: list = []
    node_cfg: Any = config
    node_ovr: Any = doc.data or {}
    for part in loc:
        if isinstance(part, int) and isinstance(node_cfg, list):
            name = node_cfg[part].get("name") if part < len(node_cfg) and isinstance(node_cfg[part], dict) else None
            index = _index_by_name(node_ovr if isinstance(node_ovr, list) else []).get(name)
            if index is None:
                break
            path.append(index)
            node_cfg, node_ovr = node_cfg[part], node_ovr[index]
        else:
            if not isinstance(node_ovr, dict) or part not in node_ovr:
                break
            path.append(part)
            node_cfg = node_cfg.get(part) if isinstance(node_cfg, dict) else None
            node_ovr = node_ovr[part]
    if isinstance(node_ovr, dict):
        named = [key for key in node_ovr if isinstance(key, str) and key != "name" and key in message]
        if named:
            path.append(named[0])
    return doc.line_of(tuple(path)) if path else None


# --- a rendered serveConfigV2 ----------------------------------------------------------------

@dataclass(frozen=True)
class ServeConfigText:
    """One serveConfigV2 string, read once: what it holds, and why it is unreadable or ambiguous."""
    data: Any = None                              # None when unreadable
    problem: str | None = None                    # e.g. "is not valid YAML: … (line 3 of the string)"
    duplicate: tuple[str, int, int] | None = None  # a repeated key: (key, line, first line), as yamlio gives it


@lru_cache(maxsize=256)
def read_serve_config_text(text: str) -> ServeConfigText:
    """Parse a serveConfigV2 once per distinct text, within the YAML bounds (raygitops.yamlbounds;
    tools/validate refuses a string past them first, checks/provenance.py). Composed once: the node
    gives duplicate keys, the same pass the data. The result is shared: read it, never change it."""
    try:
        nodes, documents = load_documents(text, "serveConfigV2")
    except UserError as error:   # the problem and its line in the string, never PyYAML's snippet
        where = f" (line {error.line} of the string)" if error.line else ""
        what = "is past the YAML bounds" if isinstance(error, InputRefused) else "is not valid YAML"
        return ServeConfigText(problem=f"{what}: {error.message.removeprefix('invalid YAML: ')}{where}")
    if len(nodes) > 1:
        return ServeConfigText(problem=f"is not valid YAML: a second document starts at line "
                                       f"{nodes[1].start_mark.line + 1} of the string")
    return ServeConfigText(data=documents[0] if documents else None,
                           duplicate=first_duplicate_key(nodes[0]) if nodes else None)


def serve_config_of(resource: dict) -> dict | None:
    """spec.serveConfigV2 of a RayService, parsed once per distinct text (so: read it, never
    change it); None when the resource is no RayService or the string is missing or unreadable.
    checks.serve_config says why it is unreadable."""
    if resource.get("kind") != "RayService":
        return None
    spec = resource.get("spec")
    text = spec.get("serveConfigV2") if isinstance(spec, dict) else None
    data = read_serve_config_text(text).data if isinstance(text, str) else None
    return data if isinstance(data, dict) else None
