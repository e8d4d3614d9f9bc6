"""The local-only substitutions of a serve config: working_dir zip, Postgres host, SQLite path, secrets.

    local = localize(config, root=root, run=run, working_dir_url=url, serve_port=8000, ...)
    local.config, local.lines   # what is deployed, and what was substituted (printed)
    pod_secrets_from_run_dir(service, run, local, ray_is_ours=True)   # local.secret_env: WEBHOOK__HMAC_SECRET…
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from raygitops.local.db import local_secret
from raygitops.local.inputs import ensure_package
from raygitops.local.rundir import LOCAL_HOST, RunDir
from raygitops.model.dbconfig import exact_db_config, is_postgres, password_variable
from raygitops.model.rayservice import RayServiceView, app_runtime_envs, as_dict

if TYPE_CHECKING:
    from raygitops.local.gcsft import LocalGcsFt

# --- local-only substitutions -------------------------------------------------------------------

@dataclass
class LocalConfig:
    """The serve config to deploy, and what tools/up must provide for it."""
    config: dict
    lines: list[str] = field(default_factory=list)
    postgres: list[dict] = field(default_factory=list)      # distinct DB_CONFIGs, after substitution
    app_env: dict[str, dict[str, str]] = field(default_factory=dict)   # app → env_vars, after substitution
    password_vars: list[str] = field(default_factory=list)
    secret_env: dict[str, str] = field(default_factory=dict)   # other pod env from Secrets → local values
    serve_port: int = 8000
    gcs_ft: LocalGcsFt | None = None   # GCS fault tolerance: the local Redis and the second node


def localize(config: dict, *, root: Path, run: RunDir, working_dir_url: str, serve_port: int | None,
             pg_port: int, ray_is_ours: bool, secret: Callable[[], str]) -> LocalConfig:
    """Every local-only change to the rendered serve config, in one place, each reported as a
    `local:` line: the working_dir zip, DB_CONFIG's host and SQLite path, the HTTP address, and
    where the database password comes from."""
    config = copy.deepcopy(config)
    lines: dict[str, str] = {}   # one line per distinct change, in order
    result = LocalConfig(config=config)

    http = config.setdefault("http_options", {})
    old_address = f"{http.get('host', '0.0.0.0')}:{http.get('port', 8000)}"
    http["host"], http["port"] = LOCAL_HOST, serve_port or int(http.get("port", 8000))
    result.serve_port = http["port"]
    if old_address != f"{LOCAL_HOST}:{http['port']}":
        lines["http"] = f"local: http_options {old_address} → {LOCAL_HOST}:{http['port']}"

    pattern = re.compile(re.escape(working_dir_url).replace(re.escape("{hash}"), "(?P<hash>[0-9a-f]+)") + "$")
    for app in config["applications"]:
        for _, runtime_env in app_runtime_envs(app):
            match = pattern.match(str(runtime_env.get("working_dir", "")))
            if match:
                # Ray 2.46 counts file:// among the remote protocols (runtime_env/protocol.py):
                # ServeDeploySchema accepts it, and the zip is unpacked with its single top-level
                # directory dropped, exactly as the https:// one is in the cluster.
                local = ensure_package(root, match.group("hash")).resolve().as_uri()
                lines.setdefault(f"wd {runtime_env['working_dir']}",
                                 f"local: working_dir {runtime_env['working_dir']} → {local}")
                runtime_env["working_dir"] = local
        env_vars = (app.get("runtime_env") or {}).get("env_vars") or {}
        db = exact_db_config(env_vars.get("DB_CONFIG"))
        if db is not None:
            env_vars["DB_CONFIG"] = json.dumps(_local_db(db, run, pg_port, lines), separators=(",", ":"))
            db = json.loads(env_vars["DB_CONFIG"])
            if is_postgres(db):
                _local_password(app, db, run, ray_is_ours, secret, lines, result)
                if db not in result.postgres:
                    result.postgres.append(db)
        result.app_env[app["name"]] = dict(env_vars)
    result.lines = list(lines.values())
    return result


def _local_db(db: dict, run: RunDir, pg_port: int, lines: dict[str, str]) -> dict:
    store = dict(db.get("datastore_config") or {})
    if is_postgres(db):
        old = f"{store.get('host')}:{store.get('port')}"
        store["host"], store["port"] = LOCAL_HOST, pg_port
        lines.setdefault(f"pg {old}", f"local: DB_CONFIG host {old} → {LOCAL_HOST}:{pg_port} (a local PostgreSQL)")
    elif str(db.get("datastore_type", "sqlite")).lower() == "sqlite" and store.get("path"):
        new = run.path / Path(str(store["path"])).name
        lines.setdefault(f"sqlite {store['path']}", f"local: sqlite path {store['path']} → {new}")
        store["path"] = str(new)
    return {**db, "datastore_config": store}


def _local_password(app: dict, db: dict, run: RunDir, ray_is_ours: bool, secret: Callable[[], str],
                    lines: dict[str, str], result: LocalConfig) -> None:
    variable = password_variable(db)
    if variable not in result.password_vars:
        result.password_vars.append(variable)
    if ray_is_ours:
        # As KubeRay's pods get it from the Secret: in the Ray head's environment, which every
        # worker inherits. The serve config stays as rendered.
        lines.setdefault(f"pw {variable}", f"local: {variable} from {run.label}/secret → the Ray head's "
                                           "environment (in the cluster: the pod env from Secret aana-db)")
    else:
        app["runtime_env"].setdefault("env_vars", {})[variable] = secret()
        lines.setdefault(f"pw {variable}", f"local: {variable} from {run.label}/secret → runtime_env env_vars "
                                           "(the Ray at --address was not started by tools/up)")


def pod_secrets_from_run_dir(service: dict, run: RunDir, local: LocalConfig, *, ray_is_ours: bool) -> None:
    """Every other variable the Ray containers read from a Secret (valueFrom.secretKeyRef), such as Aana's
    WEBHOOK__HMAC_SECRET from the Secret aana-webhook, gets a local value as the database password does:
    generated once into <run>/secret-<secret>-<key> (0600), never written in Git, and given to the Ray head's
    environment (or, on a Ray tools/up did not start, to every application's env_vars)."""
    head = next((g for g in RayServiceView(service).groups if g.is_head), None)
    for container in head.ray_containers if head else ():
        for name, entry in sorted(container.env.items()):
            ref = as_dict(as_dict(entry.get("valueFrom")).get("secretKeyRef"))
            if not ref or name in local.password_vars or name in local.secret_env:
                continue
            file = re.sub(r"[^A-Za-z0-9_.-]", "_", f"secret-{ref.get('name')}-{ref.get('key')}")
            local.secret_env[name] = local_secret(run.path, file)
            if ray_is_ours:
                local.lines.append(f"local: {name} from {run.label}/{file} → the Ray head's environment "
                                   f"(in the cluster: the pod env from Secret {ref.get('name')})")
                continue
            for app in local.config["applications"]:
                app.setdefault("runtime_env", {}).setdefault("env_vars", {})[name] = local.secret_env[name]
            local.lines.append(f"local: {name} from {run.label}/{file} → runtime_env env_vars (the Ray at "
                               "--address was not started by tools/up)")
