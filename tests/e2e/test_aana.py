"""Aana apps (`aana:` in raygitops.yaml): Aana's own `aana build` per environment, settings from serve.yaml.

    .venv/bin/pytest tests/e2e/test_aana.py -q
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import AANA_PG_PASSWORD, change_the_code, postgres_environ, run_tool

AANA_APP = "echo_aana"
SERVE = "spec.serveConfigV2:"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "apps").rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def serve_config(root: Path, env: str) -> dict:
    return yaml.safe_load((root / "overlays" / env / "generated" / "serve-config.yaml").read_text())


def application(config: dict, name: str) -> dict:
    [app] = [a for a in config["applications"] if a["name"] == name]
    return app


def test_aana_apps_are_named_routed_and_served_from_the_zip(repo):
    """What regen made of the committed echo_aana: Aana's names, stable routes, import targets in the zip."""
    config = serve_config(repo, "dev")
    main, deployment = application(config, AANA_APP), application(config, "echo_deployment")
    assert main["route_prefix"] == "/echo_aana" and deployment["route_prefix"] == "/echo_deployment"
    assert main["import_path"] == "apps.echo_aana.app_config:echo_aana"
    assert [d["name"] for d in main["deployments"]] == ["RequestHandler"]
    assert deployment["deployments"][0]["user_config"] == {"prefix": ">> ", "upper": False}
    # dev turns the task queue off: Aana then registers no task_queue_deployment; staging keeps it.
    assert "task_queue_deployment" not in [a["name"] for a in config["applications"]]
    assert application(serve_config(repo, "staging"), "task_queue_deployment")["route_prefix"] == \
        "/task_queue_deployment"
    # Every app of the Aana app sees its settings; NUM_WORKERS is baked in, not shipped.
    assert deployment["runtime_env"]["env_vars"]["TASK_QUEUE__ENABLED"] == "false"
    assert all("NUM_WORKERS" not in a["runtime_env"].get("env_vars", {}) for a in config["applications"])
    # app_config.py is not in apps/, the zip carries it.
    assert not (repo / "apps" / "echo_aana" / "app_config.py").exists()


def test_num_workers_for_staging_changes_only_staging_and_updates_in_place(repo_copy):
    root = repo_copy
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    apps_before = tree(root)
    serve_yaml = root / "overlays" / "staging" / "serve.yaml"
    text = serve_yaml.read_text()
    assert 'NUM_WORKERS: "2"' in text
    serve_yaml.write_text(text.replace('NUM_WORKERS: "2"', 'NUM_WORKERS: "3"'))

    result = run_tool(root, "regen")
    assert result.returncode == 0, result.stderr
    changed = sorted(line.split(maxsplit=1)[1] for line in git(root, "status", "--porcelain").splitlines())
    assert changed == ["overlays/staging/generated/kustomization.yaml",
                       "overlays/staging/generated/serve-config.yaml", "overlays/staging/serve.yaml"]
    handler = application(serve_config(root, "staging"), AANA_APP)["deployments"][0]
    assert (handler["name"], handler["num_replicas"]) == ("RequestHandler", 3)
    assert tree(root) == apps_before   # regen wrote nothing into apps/
    assert run_tool(root, "regen", "--check").returncode == 0

    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "staging: 3 Aana workers")
    result = run_tool(root, "diff", "HEAD~1", "HEAD", "--format", "json")
    assert result.returncode == 0, result.stderr
    [staging] = [e for e in json.loads(result.stdout)["environments"] if e["name"] == "staging"]
    assert staging["verdict"] == "in-place"
    paths = {c["path"] for c in staging["changes"] if c["kind"] == "RayService"}
    assert paths == {f"{SERVE}applications[{AANA_APP}].deployments[RequestHandler].num_replicas"}


def test_aana_build_errors_name_the_file_and_never_touch_apps(repo_copy):
    config = repo_copy / "raygitops.yaml"
    config.write_text(config.read_text().replace("  - name: echo_aana\n", "  - name: echo\n"))
    result = run_tool(repo_copy, "regen", "--check")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "raygitops.yaml:" in result.stderr
    assert "the AanaSDK apps.echo_aana.app:aana_app is named 'echo_aana', not 'echo'" in result.stderr
    assert "set name: echo_aana" in result.stderr

    config.write_text(config.read_text().replace("  - name: echo\n", "  - name: echo_aana\n"))
    app = repo_copy / "apps" / "echo_aana" / "app.py"
    app.write_text(app.read_text().replace("aana_app = AanaSDK(name=APP_NAME)", "aana_app = AanaSDK(name=APP_NAM)"))
    before = tree(repo_copy)
    result = run_tool(repo_copy, "regen")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = app.read_text().splitlines().index("aana_app = AanaSDK(name=APP_NAM)") + 1
    assert f"apps/echo_aana/app.py:{line}:" in result.stderr and "NameError" in result.stderr
    assert tree(repo_copy) == before


def test_an_edit_that_the_aana_app_does_not_import_starts_no_aana_build(repo_copy, tmp_path):
    """generate/aana_cache.py: `aana build apps.echo_aana.app:aana_app` imports nothing of apps/text_stats.py,
    so a regen after an edit to it reuses each environment's build (an edit to app.py builds: the test above)."""
    session = Path(os.environ["XDG_CACHE_HOME"]) / "raygitops"
    own = tmp_path / "cache" / "raygitops"
    own.mkdir(parents=True)
    for kind in session.iterdir():   # the session's other caches, shared; its Aana builds, copied
        if kind.name == "aana-build":
            shutil.copytree(kind, own / kind.name)
        elif kind.is_dir():
            (own / kind.name).symlink_to(kind)
    env = {"XDG_CACHE_HOME": str(own.parent)}
    assert run_tool(repo_copy, "regen", env=env).returncode == 0   # builds what the session had not built yet
    builds = own / "aana-build"
    before = {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in builds.iterdir()}
    assert len(before) >= 3   # dev's, staging's and prod's settings

    change_the_code(repo_copy)
    result = run_tool(repo_copy, "regen", env=env)
    assert result.returncode == 0, result.stderr
    assert "overlays/dev/generated/serve-config.yaml" in result.stdout   # the working_dir zip is a new one
    assert {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in builds.iterdir()} == before


RECORD = """
import asyncio, sys
from apps.echo_aana.app import aana_app, parse_config
aana_app.migrate()                                   # Aana's Alembic migrations, as `aana migrate` runs them
class Echo:                                          # the deployment's method, without a Ray Serve handle
    async def echo(self, text):
        return {"text": parse_config({"prefix": "> "})[0] + text}
endpoint = aana_app.endpoints["record"]
endpoint.echo_handle, endpoint.initialized = Echo(), True
print(asyncio.run(endpoint.run(text="kept")))
try:
    parse_config({"upper": "yes"})
except ValueError as err:
    print(err)
"""


@pytest.mark.parametrize("datastore", ["sqlite", "postgresql"])
def test_the_record_endpoint_stores_a_task_in_aanas_database(repo, tmp_path, request, datastore):
    """echo_aana's database endpoint against a real SQLite, and a real PostgreSQL over TCP with a
    password (staging's datastore), whose tables Aana's own migrations made."""
    env = {"PATH": "/usr/bin:/bin", "TMP_DATA_DIR": str(tmp_path / "aana_data"), "TASK_QUEUE__ENABLED": "false"}
    if datastore == "sqlite":
        database = tmp_path / "aana.sqlite"
        env["DB_CONFIG"] = json.dumps({"datastore_type": "sqlite", "datastore_config": {"path": str(database)}})
        connect = functools.partial(sqlite3.connect, database)
    else:
        import psycopg   # here, not at collection: 0.2 s per test process that never uses it
        postgres = {**request.getfixturevalue("postgres"), "user": "aana", "database": "aana"}
        env.update(postgres_environ(postgres, AANA_PG_PASSWORD))
        connect = functools.partial(psycopg.connect, host=postgres["host"], port=postgres["port"],
                                    user="aana", password=AANA_PG_PASSWORD, dbname="aana")
    result = subprocess.run([sys.executable, "-c", RECORD], cwd=repo, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    answer, error = result.stdout.strip().splitlines()[-2:]
    assert "'status': 'completed'" in answer and "'text': '> kept'" in answer
    assert error == "EchoDeployment user_config upper must be true or false, got 'yes'"
    with contextlib.closing(connect()) as connection:
        [(endpoint, status)] = connection.execute("select endpoint, status from tasks").fetchall()
    assert (endpoint, status.lower()) == ("/record", "completed")
    assert (tmp_path / "aana_data" / "images").is_dir()   # Aana's side effect went where TMP_DATA_DIR says


FIRST_REQUEST_ON_A_FRESH_SQLITE = """
import asyncio
from aana.deployments.aana_deployment_handle import AanaDeploymentHandle
from apps.echo_aana.app import aana_app
class Echo:                                          # the deployment's method, without a Ray Serve handle
    async def echo(self, text):
        return {"text": text}
async def no_ray(name):
    return Echo()
AanaDeploymentHandle.create = no_ray
endpoint = aana_app.endpoints["record"]
async def first_request():
    await endpoint.initialize()                      # what Aana's RequestHandler does before the first request
    return await endpoint.run(text="first")
print(asyncio.run(first_request()))
"""


def test_the_record_endpoint_migrates_a_dev_sqlite_itself(repo, tmp_path):
    """Dev's SQLite file is on each pod's disk and no migration Job runs there: the endpoint's
    initialize makes Aana's tables, so the first request finds them."""
    database = tmp_path / "aana.sqlite"
    env = {"PATH": "/usr/bin:/bin", "TMP_DATA_DIR": str(tmp_path / "aana_data"), "TASK_QUEUE__ENABLED": "false",
           "DB_CONFIG": json.dumps({"datastore_type": "sqlite", "datastore_config": {"path": str(database)}})}
    result = subprocess.run([sys.executable, "-c", FIRST_REQUEST_ON_A_FRESH_SQLITE], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'status': 'completed'" in result.stdout and "'text': 'first'" in result.stdout
    with sqlite3.connect(database) as connection:
        assert connection.execute("select count(*) from tasks").fetchone() == (1,)
