"""tools/up and tools/down against a real local Ray and a real PostgreSQL: no mocks.

    .venv/bin/pytest tests/e2e/test_up.py -q          # about two minutes; each test starts Ray once at most
    .venv/bin/pytest -m "not ray" -q              # everything else
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from conftest import _COPY_IGNORE, overlays, run_tool
from raygitops.config import load_config
from raygitops.edit.roundtrip import flow_sequence, load_for_edit
from raygitops.local.db import expand_like_ray
from raygitops.local.inputs import check_inputs, rendered_rayservice, rendered_serve_config
from raygitops.local.servestatus import Console
from raygitops.local.localize import localize, pod_secrets_from_run_dir
from raygitops.local.processes import tagged_processes
from raygitops.local.rayhead import NODE_RUNTIME_ENV_DIR
from raygitops.local.rundir import STATE_FILE, RunDir
from raygitops.model.dbconfig import password_variable


@pytest.fixture
def repo_copy(repo_copy: Path):
    """conftest's copy; afterwards also the short /tmp directory that tools/up used for its Ray
    temp dir and database (the copy's own path is too long for Ray's unix sockets)."""
    yield repo_copy
    for env in ("dev", "staging"):
        shutil.rmtree(RunDir(repo_copy, env).scratch(), ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leftovers(root: Path, env: str) -> list[str]:
    """Processes of this run still alive: anything carrying tools/up's tag, plus raylet,
    gcs_server and postgres processes whose command line names the run's directories."""
    run = RunDir(root, env)
    places = [str(run.path), str(run.ray_temp_dir()), str(run.pg_dir())]
    found = {p.pid: " ".join(p.cmdline())[:200] for p in tagged_processes(run.path)}
    for process in psutil.process_iter(["name", "cmdline", "status"]):
        info = process.info
        if info["status"] == psutil.STATUS_ZOMBIE or not info["cmdline"]:
            continue
        command = " ".join(info["cmdline"])
        if (info["name"] in ("raylet", "gcs_server", "postgres") or "raylet" in command or "gcs_server" in command) \
                and any(place in command for place in places):
            found[process.pid] = command[:200]
    return [f"{pid}: {command}" for pid, command in sorted(found.items())]


def assert_clean(root: Path, env: str) -> None:
    deadline = time.monotonic() + 5  # a killed process may take a moment to leave the table
    while leftovers(root, env) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers(root, env) == []
    assert not (RunDir(root, env).path / STATE_FILE).exists()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_local_substitutions_change_only_local_fields(repo_copy: Path):
    """What tools/up deploys is the rendered serveConfigV2 except for the fields it reports."""
    rendered = rendered_serve_config(repo_copy, "overlays/staging")
    run = RunDir(repo_copy, "staging")
    local = localize(rendered, root=repo_copy, run=run, working_dir_url=load_config(repo_copy).working_dir_url,
                     serve_port=18000, pg_port=15432, ray_is_ours=True,
                     secret=lambda: pytest.fail("with its own Ray, the password stays out of the serve config"))
    expected = json.loads(json.dumps(rendered))
    expected["http_options"].update(host="127.0.0.1", port=18000)
    zips = set()
    for app in expected["applications"]:
        name = app["runtime_env"]["working_dir"].rsplit("/", 1)[1]
        zips.add(name)
        app["runtime_env"]["working_dir"] = (repo_copy / "build/working_dir" / name).as_uri()
        db = json.loads(app["runtime_env"]["env_vars"]["DB_CONFIG"])
        db["datastore_config"].update(host="127.0.0.1", port=15432)
        app["runtime_env"]["env_vars"]["DB_CONFIG"] = json.dumps(db, separators=(",", ":"))
    assert len(zips) == 1 and local.config == expected
    assert (repo_copy / "build/working_dir" / zips.pop()).is_file()   # written from apps/ on a fresh clone
    assert [line.split(" ", 2)[1] for line in local.lines] == [
        "http_options", "working_dir", "DB_CONFIG", "DB_CONFIG__DATASTORE_CONFIG__PASSWORD"]
    assert local.password_vars == ["DB_CONFIG__DATASTORE_CONFIG__PASSWORD"] and len(local.postgres) == 1


def test_up_deploys_the_rayservice_validate_rendered(repo_copy: Path):
    """check_inputs hands on the RayService that validate rendered and checked: up renders once."""
    service = check_inputs(repo_copy, "overlays/staging", regen=False, console=Console())
    assert service["kind"] == "RayService" and service["metadata"]["namespace"] == "aana-staging"
    assert service == rendered_rayservice(repo_copy, "overlays/staging")


def test_secrets_of_the_pod_env_get_local_values_from_the_run_directory(repo_copy: Path):
    """Staging's Ray containers read WEBHOOK__HMAC_SECRET from the Secret aana-webhook: locally it gets a value
    generated into the run directory, as the database password does, and never one written in Git."""
    service = rendered_rayservice(repo_copy, "overlays/staging")
    rendered = rendered_serve_config(repo_copy, "overlays/staging", service)
    run = RunDir(repo_copy, "staging")
    local = localize(rendered, root=repo_copy, run=run, working_dir_url=load_config(repo_copy).working_dir_url,
                     serve_port=18000, pg_port=15432, ray_is_ours=True, secret=lambda: "unused")
    deployed = json.dumps(local.config)
    pod_secrets_from_run_dir(service, run, local, ray_is_ours=True)
    assert list(local.secret_env) == ["WEBHOOK__HMAC_SECRET"]   # the DB password stays with password_vars
    secret_file = repo_copy / ".run/staging/secret-aana-webhook-hmac-secret"
    value = local.secret_env["WEBHOOK__HMAC_SECRET"]
    assert value == secret_file.read_text().strip() and len(value) >= 24
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600 and value != "webhook_secret"
    assert local.lines[-1] == ("local: WEBHOOK__HMAC_SECRET from .run/staging/secret-aana-webhook-hmac-secret → "
                               "the Ray head's environment (in the cluster: the pod env from Secret aana-webhook)")
    assert json.dumps(local.config) == deployed   # with its own Ray, the serve config stays as rendered

    reused = localize(rendered, root=repo_copy, run=run, working_dir_url=load_config(repo_copy).working_dir_url,
                      serve_port=18000, pg_port=15432, ray_is_ours=False, secret=lambda: "pw")
    pod_secrets_from_run_dir(service, run, reused, ray_is_ours=False)
    assert {app["runtime_env"]["env_vars"]["WEBHOOK__HMAC_SECRET"] for app in reused.config["applications"]} == {value}


def test_password_reference_and_ray_style_expansion():
    assert password_variable({"datastore_config": {"password": "${AANA_DB_PASSWORD}"}}) == "AANA_DB_PASSWORD"
    assert password_variable({"datastore_config": {"user": "aana"}}) == "DB_CONFIG__DATASTORE_CONFIG__PASSWORD"
    env = expand_like_ray({"DB_CONFIG": '{"password": "${AANA_DB_PASSWORD}"}', "X": "${UNSET_VAR}/a"},
                          {"AANA_DB_PASSWORD": "s3cret", "HOME": "/root"})
    assert env["DB_CONFIG"] == '{"password": "s3cret"}' and env["X"] == "/a" and env["HOME"] == "/root"


def test_smoke_requests_check_status_and_expected_fields_against_a_real_server():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from raygitops.config import AppSpec
    from raygitops.local.servestatus import smoke_test

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = 500 if self.path.startswith("/broken") else 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        request = {"method": "POST", "path": "/", "json": {"text": "hi"}}
        apps = [AppSpec("same", "m:a", "/same", smoke={**request, "expect": {"text": "hi"}}),
                AppSpec("other", "m:a", "/other", smoke={**request, "expect": {"text": "bye"}}),
                AppSpec("missing", "m:a", "/missing", smoke={**request, "expect": {"id": 1}}),
                AppSpec("broken", "m:a", "/broken", smoke=request)]
        results = {r.app: r for r in smoke_test(apps, f"http://127.0.0.1:{server.server_port}")}
    finally:
        server.shutdown()
    assert results["same"].ok and results["same"].url.endswith("/same/")
    assert (results["other"].ok, results["other"].mismatch) == (False, "expected text='bye', got 'hi'")
    assert results["missing"].mismatch == "expected id=1, got '(missing)'"
    assert (results["broken"].ok, results["broken"].status) == (False, 500)


def test_an_app_without_a_smoke_request_stops_before_ray(repo_copy: Path):
    config = repo_copy / "raygitops.yaml"
    text = config.read_text()
    line = next(i for i, source_line in enumerate(text.splitlines(), 1) if source_line.strip() == "- name: embedding")
    config.write_text(text.replace('    smoke: {method: POST, path: /, json: {text: "ray serve on kubernetes"}}\n', ""))
    result = run_tool(repo_copy, "up", "--check", "overlays/dev", "--port", str(free_port()))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [f"error: raygitops.yaml:{line}: application 'embedding' declares no smoke "
                                          "request — add smoke: {method: GET, path: /} (or the request that proves "
                                          "it answers)"]
    assert "starting Ray" not in result.stdout
    assert_clean(repo_copy, "dev")


def break_text_stats(root: Path) -> int:
    """apps/text_stats.py's deployment made to raise in __init__; returns the line of the raise."""
    source = root / "apps/text_stats.py"
    text = source.read_text()
    broken = text.replace("    def __init__(self):\n        self.top_k = 5\n",
                          "    def __init__(self):\n        raise RuntimeError('broken on purpose')\n")
    assert broken != text
    source.write_text(broken)
    return broken.splitlines().index("        raise RuntimeError('broken on purpose')") + 1


def run_only(root: Path, env: str, keep: set[str]) -> None:
    """This checkout's `env` runs only the applications in `keep` (with the ones Aana builds from them):
    every other app keeps to the other environments, and env's serve.yaml no longer tunes it.
    The scenarios below need a few apps, and each app costs two worker starts (Serve's build task and
    a replica); `.ci/run` brings up the real dev and staging with all of them."""
    config = load_for_edit(root / "raygitops.yaml", root)
    others = [name for name in overlays(root) if name != env]
    declared = {app["name"] for app in config.data["applications"]}
    assert keep <= declared
    for app in config.data["applications"]:
        if app["name"] not in keep:
            app["environments"] = flow_sequence(others)
        elif app.get("environments") is not None and env not in app["environments"]:
            app["environments"].append(env)   # a copy of a checkout that had left it out
    (root / "raygitops.yaml").write_text(config.dumps())
    # serve.yaml tunes apps by name: a kept one, or one that Aana builds from a kept Aana app.
    aana_kept = any("aana" in app for app in config.data["applications"] if app["name"] in keep)
    serve = load_for_edit(root / "overlays" / env / "serve.yaml", root)
    tuned = [app for app in serve.data.get("applications") or []
             if app["name"] in keep or (aana_kept and app["name"] not in declared)]
    if tuned:
        serve.data["applications"] = tuned
    else:
        serve.data.pop("applications", None)
    (root / "overlays" / env / "serve.yaml").write_text(serve.dumps())


@pytest.mark.ray
def test_dev_detach_serves_until_down_and_other_checkouts_deploy_onto_that_ray(repo_copy: Path):
    # The Aana app (with echo_deployment, which Aana builds beside it): its migration, docs and
    # database are what this checkout's steps use; the other checkout below runs text_stats. All
    # seven apps, main calling three of them through handles, are `.ci/run`'s
    # `tools/up --check overlays/dev` after this suite.
    run_only(repo_copy, "dev", {"echo_aana"})
    port = free_port()
    # One constructor attempt, not Serve's three per replica, for the broken checkout below
    # (MAX_PER_REPLICA_RETRY_COUNT, read by the Serve controller from the head's environment:
    # ray 2.46.0 python/ray/serve/_private/constants.py): the same DEPLOY_FAILED, two replica starts sooner.
    result = run_tool(repo_copy, "up", "--detach", "overlays/dev", "--port", str(port),
                      env={"MAX_PER_REPLICA_RETRY_COUNT": "1"})
    try:
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "local: working_dir https://artifacts.example.com/raygitops/apps-" in out
        assert f"file://{repo_copy}/build/working_dir/apps-" in out   # a fresh clone: up wrote the zip
        assert f"local: sqlite path /tmp/aana_data/aana.sqlite → {repo_copy}/.run/dev/aana.sqlite" in out
        assert f"local: http_options 0.0.0.0:8000 → 127.0.0.1:{port}" in out
        assert f"smoke echo_aana    POST http://127.0.0.1:{port}/" in out
        assert out.count("→ 200 in ") == 2   # echo_aana's two smoke requests: its endpoint and its database
        assert "local: TMP_DATA_DIR /tmp/aana_data (Aana's default) → .run/dev/aana_data" in out
        assert "migration: aana migrate apps.echo_aana.app:aana_app" in out
        assert f"docs http://127.0.0.1:{port}/echo_aana/docs" in out and "dashboard    http://127.0.0.1:" in out

        # It keeps serving after `up` returned: Aana's docs page, and a task recorded in the localised
        # SQLite file beside the smoke request's.
        assert requests.get(f"http://127.0.0.1:{port}/echo_aana/docs", timeout=10).status_code == 200
        recorded = requests.post(f"http://127.0.0.1:{port}/echo_aana/record",
                                 data={"body": json.dumps({"text": "from the test"})}, timeout=30)
        assert recorded.status_code == 200 and recorded.json()["status"] == "completed", recorded.text
        with sqlite3.connect(repo_copy / ".run/dev/aana.sqlite") as database:
            assert database.execute("select count(*) from tasks where endpoint = '/record'").fetchone() == (2,)

        # Another checkout, which runs only text_stats in dev and whose text_stats raises in __init__,
        # reuses this Ray (--address). The PUT is declarative, so it first refuses to delete the apps it
        # does not know. Once they are shut down, it deploys there, fails with the app's file and line
        # and the replica log's tail (read through the dashboard: that Ray's files are not its own),
        # and its teardown deletes its app while that Ray keeps running.
        dashboard = re.search(r"dashboard +(http://127\.0\.0\.1:\d+)", out)[1]
        other = repo_copy.parent / "other"
        shutil.copytree(repo_copy, other, ignore=_COPY_IGNORE)
        run_only(other, "dev", {"text_stats"})
        line = break_text_stats(other)
        refused = run_tool(other, "up", "--check", "overlays/dev", "--address", dashboard, "--port", str(port))
        assert refused.returncode == 2
        assert error_lines(refused.stderr) == [
            f"error: the Ray at {dashboard} already serves echo_aana, echo_deployment, "
            "which deploying overlays/dev would delete — "
            "use another Ray, or shut those apps down first"]
        assert "regen: wrote" in refused.stdout     # apps/ changed, so tools/up regenerated first
        assert_clean(other, "dev")
        # No applications: Serve deletes them, in the background, and keeps its controller and proxies
        # (a DELETE would stop those too, and the next deploy would start them again).
        requests.put(f"{dashboard}/api/serve/applications/", json={"applications": []}, timeout=60).raise_for_status()
        deadline = time.monotonic() + 60
        while requests.get(f"{dashboard}/api/serve/applications/", timeout=10).json()["applications"]:
            assert time.monotonic() < deadline, "Serve did not delete the applications within 60 s"
            time.sleep(0.5)

        broken = run_tool(other, "up", "--check", "overlays/dev", "--address", dashboard, "--port", str(port))
        assert broken.returncode != 0
        errors = error_lines(broken.stderr)
        assert len(errors) == 1, broken.stderr
        assert errors[0].startswith(f"error: apps/text_stats.py:{line}: text_stats/TextStats is DEPLOY_FAILED")
        assert "RuntimeError: broken on purpose" in errors[0] and "replica_text_stats_TextStats_" in errors[0]
        assert "last lines of serve/replica_text_stats_TextStats_" in broken.stderr   # the replica log's tail
        assert f"of the Ray at {dashboard}:" in broken.stderr and "broken on purpose" in broken.stderr
        assert "deploying 1 application (PUT" in broken.stdout and "starting Ray" not in broken.stdout
        assert f"deleted the applications from the Ray at {dashboard}" in broken.stdout
        assert requests.get(f"{dashboard}/api/serve/applications/", timeout=10).json()["applications"] == {}
        assert_clean(other, "dev")

        again = run_tool(repo_copy, "up", "--check", "overlays/dev", "--port", str(free_port()))
        assert again.returncode != 0
        assert error_lines(again.stderr) == [line for line in error_lines(again.stderr) if "already up" in line]
        assert "tools/down overlays/dev" in again.stderr
        # Not a check: the whole dashboard, for the developer who opens it.
        dashboard_log = RunDir(repo_copy, "dev").ray_temp_dir() / "session_latest" / "logs" / "dashboard.log"
        assert "Loaded 1 subprocess modules" not in dashboard_log.read_text()
    finally:
        stopped = run_tool(repo_copy, "down", "overlays/dev")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped Ray" in stopped.stdout
    assert_clean(repo_copy, "dev")


@pytest.mark.ray
def test_staging_check_with_postgres_and_a_head_restart_then_a_refused_password(repo_copy: Path):
    # notes, an app that uses PostgreSQL, with its two NoteStore replicas. The Aana app's tables in
    # PostgreSQL are test_aana.py's record test; Aana in Ray is the dev scenario's. All seven apps,
    # the Aana app with its task queue, are `.ci/run`'s `tools/up --check overlays/staging`.
    run_only(repo_copy, "staging", {"notes"})
    # --timeout bounds each wait for RUNNING (the first deploy, and again after the head restart).
    result = run_tool(repo_copy, "up", "--check", "overlays/staging", "--port", str(free_port()), "--timeout", "300",
                      timeout=1500)   # two Ray starts, two waits for RUNNING and a second Ray node
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    out = result.stdout
    assert "local: DB_CONFIG host postgres.aana-staging.svc:5432 → 127.0.0.1:" in out
    assert "local: DB_CONFIG__DATASTORE_CONFIG__PASSWORD from .run/staging/secret → the Ray head's environment" in out
    assert "migration with app" in out and "notes table ready in postgresql+psycopg://aana:***@127.0.0.1:" in out
    assert '/notes/ → 200 in ' in out and '"text":"smoke test note"' in out   # written, then read back
    # GCS fault tolerance (base/components/gcs-ft): a real Redis, the head killed and started again.
    assert "local: gcsFaultToleranceOptions.redisAddress redis.aana-staging.svc:6379 → 127.0.0.1:" in out
    assert "from .run/staging/redis-secret, in the cluster from Secret aana-redis" in out
    assert re.search(r"^Redis on 127\.0\.0\.1:\d+ \(pid \d+\); GCS storage namespace raygitops-staging-", out, re.M)
    assert re.search(r"^head restart: killed the Ray head \(\d+ processes", out, re.M), out[-3000:]
    restarted = re.search(r"^head restart: Serve RUNNING again .* without a new deploy .* while the head was down "
                          r"(\d+) of (\d+) requests were answered", out, re.M)
    assert restarted, out[-3000:]
    assert int(restarted[1]) >= 1   # the worker node's proxy and replicas outlived the head
    after, sent = out[restarted.end():], len(re.findall(r"^smoke ", out[:restarted.start()], re.M))
    assert after.count(" → 200 in ") == sent and f"smoke: {sent} of {sent} requests answered" in after
    assert "check passed" in out
    assert "stopped the second Ray node" in out and "stopped Redis" in out
    # The second node unpacked the working_dir into a directory of its own, not into the head's.
    session = RunDir(repo_copy, "staging").ray_temp_dir() / "session_latest"
    assert list((session / NODE_RUNTIME_ENV_DIR / "working_dir_files").iterdir())
    # A check's dashboard runs the Serve REST API alone (rayhead.SERVE_ONLY_MODULES), not Ray's nine modules.
    dashboard_log = (session / "logs" / "dashboard.log").read_text()
    assert "Loaded 1 subprocess modules" in dashboard_log and "serve_head.ServeHead" in dashboard_log
    for name in ("secret", "redis-secret"):
        secret_file = repo_copy / ".run/staging" / name
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert secret_file.read_text().strip() not in out + result.stderr
    secret_file = repo_copy / ".run/staging/secret"
    assert_clean(repo_copy, "staging")

    # The database keeps the password it was created with, as a cluster's does: a changed
    # secret is refused, with one message, before Ray starts.
    secret_file.write_text("not-the-password\n")
    refused = run_tool(repo_copy, "up", "--check", "overlays/staging", "--port", str(free_port()))
    assert refused.returncode != 0
    errors = error_lines(refused.stderr)
    assert len(errors) == 1 and "PostgreSQL refused the password for user 'aana'" in errors[0], refused.stderr
    assert "tools/down --purge overlays/staging" in errors[0]
    assert "starting Ray" not in refused.stdout and "stopped PostgreSQL" in refused.stdout
    assert_clean(repo_copy, "staging")

    purged = run_tool(repo_copy, "down", "--purge", "overlays/staging")
    assert purged.returncode == 0 and not (repo_copy / ".run/staging").exists()
    assert not RunDir(repo_copy, "staging").pg_dir().exists()


@pytest.mark.ray
def test_a_bad_import_path_stops_before_ray(repo_copy: Path):
    config = repo_copy / "raygitops.yaml"
    config.write_text(config.read_text().replace("import_path: apps.language:app", "import_path: apps.langauge:app"))
    result = run_tool(repo_copy, "up", "--check", "overlays/dev", "--port", str(free_port()))
    assert result.returncode != 0
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "apps.langauge" in errors[0], result.stderr
    assert "starting Ray" not in result.stdout
    assert_clean(repo_copy, "dev")


@pytest.mark.ray
def test_the_serve_port_in_use_fails_before_anything_starts(repo_copy: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_tool(repo_copy, "up", "--check", "overlays/staging", "--port", str(port))
    assert result.returncode != 0
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and f"port {port} (Serve HTTP) is already in use" in errors[0], result.stderr
    assert "--port" in errors[0]
    assert "starting Ray" not in result.stdout and "PostgreSQL on" not in result.stdout
    assert_clean(repo_copy, "staging")


@pytest.mark.ray
def test_ray_failing_to_start_leaves_nothing_behind(repo_copy: Path):
    # Ray rejects this after it has started GCS and the dashboard process: they must not survive.
    # Without the dashboard's modules (--include-dashboard=false leaves one dashboard process, not
    # ten): the same clean-up, 14 s less CPU. One app without a database: no migration runs before Ray.
    run_only(repo_copy, "dev", {"text_stats"})
    result = run_tool(repo_copy, "up", "--check", "overlays/dev", "--port", str(free_port()),
                      "--ray-start-arg=--include-dashboard=false", "--ray-start-arg=--object-store-memory=1000")
    assert result.returncode != 0
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "Ray failed to start" in errors[0], result.stderr
    assert "object store memory" in errors[0] and ".run/dev/ray-start.log" in errors[0]
    assert_clean(repo_copy, "dev")


@pytest.mark.ray
def test_ctrl_c_during_start_up(repo_copy: Path):
    run_only(repo_copy, "dev", {"text_stats"})   # no migration to wait for before Ray starts
    env = dict(os.environ, RAYGITOPS_ROOT=str(repo_copy))
    process = subprocess.Popen([sys.executable, "-m", "raygitops", "up", "overlays/dev", "--port", str(free_port())],
                               cwd=repo_copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    output = []
    try:
        for line in process.stdout:
            output.append(line)
            if line.startswith("starting Ray"):
                time.sleep(2)   # `ray start` is half way: GCS up, raylet and dashboard coming
                process.send_signal(signal.SIGINT)
                break
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:   # the test failed: stop what it started, or that Ray outlives the suite
            process.kill()
            process.wait()
            run_tool(repo_copy, "down", "overlays/dev")
    output.append(rest)
    text = "".join(output)
    assert process.returncode == 130, text
    assert "stopping overlays/dev" in text and "interrupted" in text
    assert_clean(repo_copy, "dev")
