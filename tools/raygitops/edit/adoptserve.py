"""`raygitops import`, the serve config: apps into raygitops.yaml, their settings into serve.yaml, DB_CONFIG's
password out of Git.

    postgres = serve_files(root, adoption, serve_config)   # adoption.edit gets raygitops.yaml and serve.yaml
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from raygitops.config import CONFIG_FILE, load_config
from raygitops.edit.adoption import Adoption
from raygitops.edit.roundtrip import dumps, flow_mapping, flow_sequence, load_for_edit, named_item
from raygitops.errors import UserError
from raygitops.generate.workingdir import APPS_PACKAGE
from raygitops.model.dbconfig import PASSWORD_VAR, is_postgres
from raygitops.model.environment import SERVE_OVERRIDE, Environment

_SERVE_TOP = ("http_options", "logging_config", "proxy_location", "target_capacity")
SERVE = r"spec\.serveConfigV2:"


def serve_files(root: Path, adoption: Adoption, serve: dict) -> bool:
    """raygitops.yaml's applications and external_imports, and serve.yaml; True when DB_CONFIG is Postgres."""
    env = adoption.env
    config = load_config(root)
    existing = {app.name: app for app in config.applications}
    doc = load_for_edit(root / CONFIG_FILE, root)
    apps_list = doc.data["applications"]
    imported = []
    external = list(config.external_imports)
    for index, app in enumerate(serve["applications"]):
        name, import_path = app.get("name"), app.get("import_path")
        route = app.get("route_prefix", "/")
        if not isinstance(name, str) or not isinstance(import_path, str) or ":" not in import_path:
            raise UserError(f"serveConfigV2 application {index + 1} has no name or import_path (module:attribute)",
                            fix="fix the pasted serve config")
        imported.append(name)
        module = import_path.partition(":")[0]
        in_apps = module.split(".")[0] == APPS_PACKAGE
        if not in_apps and not any(module == e or module.startswith(e + ".") for e in external):
            external.append(module)
            adoption.report.append(f"{name}: {module} is not in {APPS_PACKAGE}/, so it is listed under external_imports: "
                                   "the Ray image must contain it (raygitops ships only apps/)")
        if name in existing:
            known = existing[name]
            if (known.import_path, known.route_prefix) != (import_path, route):
                raise UserError(f"application '{name}' exists with import_path {known.import_path} and route "
                                f"{known.route_prefix}", file=CONFIG_FILE, line=known.line,
                                fix="rename the application in the input, or make the two agree")
            entry = named_item(apps_list, name)
            if known.environments is not None and env not in known.environments:
                entry["environments"].append(env)
        else:
            entry = CommentedMap([("name", name), ("import_path", import_path), ("route_prefix", route),
                                  ("environments", flow_sequence([env]))])
            apps_list.append(entry)
            adoption.report.append(f"{name}: new application (add a `smoke` request for tools/up)")
        working_dir = (app.get("runtime_env") or {}).get("working_dir")
        if working_dir is not None:
            adoption.intend(rf"{SERVE}applications\[{re.escape(name)}\]\.runtime_env\.working_dir$",
                            f"working_dir {working_dir} → the repository's content-addressed apps/ package")
        for key in sorted(set(app.get("runtime_env") or {}) - {"working_dir", "env_vars"}):
            adoption.intend(rf"{SERVE}applications\[{re.escape(name)}\]\.runtime_env\.{key}$",
                            f"runtime_env.{key} dropped: put those dependencies into the image")
        for key in sorted(set(app) - {"name", "import_path", "route_prefix", "runtime_env", "deployments"}):
            adoption.intend(rf"{SERVE}applications\[{re.escape(name)}\]\.{key}$",
                            f"application {key} cannot be set per environment: dropped")
        if "route_prefix" not in app:
            adoption.intend(rf"{SERVE}applications\[{re.escape(name)}\]\.route_prefix$", "Serve's default route, written out",
                            ("added",))
    for app in config.applications:   # the repository's other apps stay where they run
        if app.name not in imported and app.environments is None:
            entry = named_item(apps_list, app.name)
            entry["environments"] = flow_sequence(config.environments())
            adoption.report.append(f"{app.name}: now lists the environments that run it ({', '.join(config.environments())})")
    if tuple(external) != config.external_imports:
        doc.data["external_imports"] = CommentedSeq(external)
    adoption.intend(rf"{SERVE}applications$", "applications in raygitops.yaml's order (Serve does not depend on it)")
    for key in ("proxy_location", "http_options", "grpc_options", "logging_config"):
        if key not in serve:
            adoption.intend(rf"{SERVE}{key}$", "Serve's default, written out by `serve build`")
    for app in serve["applications"]:
        if str(app.get("import_path", "")).startswith(APPS_PACKAGE + "."):
            adoption.intend(rf"{SERVE}applications\[{re.escape(app['name'])}\]\.deployments\[[^\]]+\]\.[a-z_.]+$",
                            "the code's @serve.deployment option, written out by `serve build`", ("added",))
    text, datastores = _serve_yaml(adoption, serve)
    adoption.edit.files[f"{Environment(root, env).rel}/{SERVE_OVERRIDE}"] = text
    if "sqlite" in datastores:
        _tolerate_sqlite(doc, adoption)
    adoption.edit.files[CONFIG_FILE] = doc.dumps()
    return "postgresql" in datastores


# The policies an imported SQLite setup fails by design; the import keeps the setup and says so.
SQLITE_POLICIES = ("db-sqlite-non-dev", "node-local-storage")


def _tolerate_sqlite(doc, adoption: Adoption) -> None:
    policies = doc.data.get("policies")
    if not isinstance(policies, dict):
        policies = doc.data["policies"] = CommentedMap()
    severity = policies.get("severity")
    if not isinstance(severity, dict):
        severity = policies["severity"] = CommentedMap()
    severity[adoption.env] = flow_mapping({policy: "warning" for policy in SQLITE_POLICIES})
    adoption.report.append(f"DB_CONFIG uses SQLite on node-local disk, which a multi-node cluster cannot share: "
                           f"tools/validate reports {' and '.join(SQLITE_POLICIES)} as warnings in {adoption.env} "
                           "(policies.severity in raygitops.yaml) until you move to PostgreSQL and remove that line")


def _env_vars(app: dict) -> dict:
    return {str(k): v for k, v in ((app.get("runtime_env") or {}).get("env_vars") or {}).items()}


def _serve_yaml(adoption: Adoption, serve: dict) -> tuple[str, set[str]]:
    apps = serve["applications"]
    all_vars = [_env_vars(app) for app in apps]
    shared = {k: v for k, v in all_vars[0].items() if all(other.get(k, object()) == v for other in all_vars[1:])}
    datastores: set[str] = set()
    out = CommentedMap()
    for key in _SERVE_TOP:
        if key in serve:
            out[key] = serve[key]
    if "grpc_options" in serve:
        adoption.intend(rf"{SERVE}grpc_options", "grpc_options cannot be set per environment: Serve's default")
    if shared:
        out["env_vars"] = _env_var_values(adoption, shared, "", datastores)
    entries = CommentedSeq()
    for app, env_vars in zip(apps, all_vars):
        entry = CommentedMap([("name", app["name"])])
        own = {k: v for k, v in env_vars.items() if k not in shared}
        if own:
            values = _env_var_values(adoption, own, app["name"], datastores)
            entry["runtime_env"] = CommentedMap([("env_vars", values)])
        deployments = CommentedSeq()
        for deployment in app.get("deployments") or []:
            if isinstance(deployment, dict) and deployment.get("name"):
                deployments.append(CommentedMap(deployment))
        if deployments:
            entry["deployments"] = deployments
        if len(entry) > 1:
            entries.append(entry)
    if entries:
        out["applications"] = entries
    header = (f"# {adoption.env}'s serve config, imported by `raygitops import`: merged by tools/regen into the\n"
              "# config built from apps/ and raygitops.yaml's applications.\n")
    return header + dumps([out]), datastores


def _env_var_values(adoption: Adoption, env_vars: dict, app: str, datastores: set[str]) -> CommentedMap:
    """Env vars for serve.yaml: DB_CONFIG as a mapping, without a literal password (datastore types → `datastores`)."""
    out = CommentedMap()
    where = rf"{SERVE}applications\[[^\]]+\]" if not app else rf"{SERVE}applications\[{re.escape(app)}\]"
    for name, value in env_vars.items():
        if name == "DB_CONFIG" and isinstance(value, str):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                adoption.intend(rf"{where}\.runtime_env\.env_vars\.DB_CONFIG$", "DB_CONFIG written as compact JSON")
                datastore = parsed.get("datastore_config")
                if isinstance(datastore, dict) and "password" in datastore:
                    del datastore["password"]
                    adoption.intend(rf"{where}\.runtime_env\.env_vars\.DB_CONFIG:datastore_config\.password$",
                                    f"the password moved to the Secret aana-db (pods get it as {PASSWORD_VAR})")
                    adoption.report.append("DB_CONFIG's password moved out of Git: store it as property `password` of "
                                           "secret `aana-db` in the ClusterSecretStore `raygitops-secrets` (README, "
                                           "\"Database and secrets\"); the value is not shown here")
                if isinstance(datastore, dict):
                    parsed["datastore_config"] = flow_mapping(datastore)
                datastores.add("postgresql" if is_postgres(parsed) else str(parsed.get("datastore_type", "sqlite")))
                out[name] = CommentedMap(parsed)
                continue
        out[name] = value if isinstance(value, str) else str(value)
    return out
