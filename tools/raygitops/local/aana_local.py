"""The Aana side of tools/up: Aana's data directory in the run directory, and Aana's migrations before the deploy.

    aana_data_into_run_dir(local, config, run)                  # TMP_DATA_DIR → .run/<env>/aana_data, a local: line
    migrate_aana_apps(root, local, config, base_env, console)   # `aana migrate <app>`, as the migration Job runs it

Aana's settings create TMP_DATA_DIR (default /tmp/aana_data) in every process that imports Aana, and a
cluster's TMP_DATA_DIR (/mnt/aana-data) names a volume a laptop does not have; both go into the run
directory. Aana's tables are made by Aana's own Alembic migrations (`aana migrate`, aana 0.2.4
aana/cli.py → AanaSDK.migrate → aana/storage/op.py run_alembic_migrations), which `aana deploy` runs
before deploying; tools/up runs them with each app's environment, for SQLite and PostgreSQL alike.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from raygitops.errors import UserError
from raygitops.generate.aana_apps import aana_apps, serve_module
from raygitops.generate.aana_build import AANA_CLI
from raygitops.local.db import expand_like_ray

DATA_DIR = "aana_data"
MIGRATE_TIMEOUT_S = 300


def aana_app_names(config, serve_config: dict) -> dict[str, list[str]]:
    """{Aana app (raygitops.yaml entry): the names of the Serve applications built from it}."""
    groups: dict[str, list[str]] = {}
    for entry in aana_apps(config):
        prefix = serve_module(entry.import_path) + ":"
        groups[entry.name] = [app["name"] for app in serve_config["applications"]
                              if str(app.get("import_path", "")).startswith(prefix)]
    return groups


def aana_data_into_run_dir(local, config, run) -> None:
    """TMP_DATA_DIR of every Aana-built application → <run>/aana_data; changes local.config and local.app_env."""
    members = {name for names in aana_app_names(config, local.config).values() for name in names}
    target = str(run.path / DATA_DIR)
    for app in local.config["applications"]:
        env_vars = (app.get("runtime_env") or {}).get("env_vars") or {}
        if app["name"] not in members and "TMP_DATA_DIR" not in env_vars:
            continue
        old = env_vars.get("TMP_DATA_DIR", "/tmp/aana_data (Aana's default)")
        app.setdefault("runtime_env", {}).setdefault("env_vars", {})["TMP_DATA_DIR"] = target
        local.app_env[app["name"]] = dict(app["runtime_env"]["env_vars"])
        line = f"local: TMP_DATA_DIR {old} → {run.label}/{DATA_DIR}"
        if line not in local.lines:
            local.lines.append(line)


def migrate_aana_apps(root: Path, local, config, base_env: dict[str, str], console) -> None:
    """Aana's migrations for every Aana app, with its main application's environment (what its replicas see)."""
    for entry in aana_apps(config):
        env_vars = local.app_env.get(entry.name)
        if env_vars is None:
            continue   # this environment does not serve it
        env = expand_like_ray(env_vars, base_env)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", AANA_CLI, "migrate", entry.import_path], cwd=root, env=env,
                                capture_output=True, text=True, timeout=MIGRATE_TIMEOUT_S, start_new_session=True)
        if result.returncode != 0:
            lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
            raise UserError(f"Aana's migration of {entry.name} failed: {lines[-1] if lines else 'no output'}",
                            file="raygitops.yaml", line=entry.line,
                            fix=f"run `aana migrate {entry.import_path}` with the same DB_CONFIG to see why")
        console.out(f"migration: aana migrate {entry.import_path} with app {entry.name}'s environment "
                    f"({time.perf_counter() - start:.1f} s)")
