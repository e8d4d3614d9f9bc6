"""generate/aana_apps.py and the `aana:` entry of raygitops.yaml, without running Aana (no subprocess here).

    tools/test tests/unit/test_aana_apps.py
"""
from __future__ import annotations

from pathlib import Path

import pytest

from raygitops.config import load_config
from raygitops.errors import UserError
from raygitops.generate.aana_apps import _group, serve_module, serve_module_files, settle_aana_env
from raygitops.yamlio import load_yaml

REPO = Path(__file__).resolve().parents[2]
ENTRY = "    aana: apps.echo_aana.app:aana_app\n"


def config_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (REPO / "raygitops.yaml").read_text()
    assert old in text, old
    (tmp_path / "raygitops.yaml").write_text(text.replace(old, new, 1))
    return tmp_path


def test_an_aana_entry_is_an_application_with_its_smoke_requests():
    [app] = [a for a in load_config(REPO).applications if a.aana]
    assert (app.name, app.import_path, app.route_prefix) == ("echo_aana", "apps.echo_aana.app:aana_app", "/echo_aana")
    assert [s["path"] for s in app.smoke] == ["/echo", "/record"] and app.smoke[0]["form"]["body"]["text"]


@pytest.mark.parametrize("new,message", [
    (ENTRY + "    import_path: apps.main:app\n", "application 'echo_aana' has both import_path and aana"),
    ("    aana: apps.echo_aana.app\n", "aana 'apps.echo_aana.app' must be module:attribute"),
    ("", "missing 'applications.4.import_path'"),
])
def test_an_aana_entry_names_one_app(tmp_path, new, message):
    with pytest.raises(UserError) as raised:
        load_config(config_with(tmp_path, ENTRY, new))
    assert raised.value.message == message and raised.value.file == "raygitops.yaml" and raised.value.line


def test_the_serve_targets_module_goes_into_the_zip_not_into_apps():
    files = serve_module_files(REPO)
    assert list(files) == ["apps/echo_aana/app_config.py"] == [serve_module("apps.echo_aana.app:aana_app")
                                                              .replace(".", "/") + ".py"]
    source = files["apps/echo_aana/app_config.py"].decode()
    assert "from apps.echo_aana.app import aana_app as _aana_app" in source
    compile(source, "app_config.py", "exec")
    assert not (REPO / "apps/echo_aana/app_config.py").exists()


def built(*names: str) -> dict:
    return {"http_options": {"host": "0.0.0.0", "port": 8000},
            "applications": [{"name": n, "route_prefix": f"/app{i + 1}", "import_path": f"apps.x.app_config:{n}",
                              "runtime_env": {}, "deployments": []} for i, n in enumerate(names)]}


def test_aana_apps_keep_aanas_names_and_get_stable_routes():
    [app] = [a for a in load_config(REPO).applications if a.aana]
    apps, _ = _group(app, built("task_queue_deployment", "echo_deployment", "echo_aana"))
    assert [(a["name"], a["route_prefix"]) for a in apps] == [
        ("task_queue_deployment", "/task_queue_deployment"), ("echo_deployment", "/echo_deployment"),
        ("echo_aana", "/echo_aana")]
    with pytest.raises(UserError) as raised:
        _group(app, built("echo_deployment", "other_name"))
    assert "is named 'other_name', not 'echo_aana'" in raised.value.message and raised.value.line == app.line


def test_every_app_of_an_aana_app_gets_its_settings_but_no_build_only_one(tmp_path):
    (tmp_path / "serve.yaml").write_text(
        "applications:\n"
        "  - name: echo_aana\n    runtime_env: {env_vars: {NUM_WORKERS: '3', TASK_QUEUE__ENABLED: 'false'}}\n"
        "  - name: echo_deployment\n    runtime_env: {env_vars: {OWN: 'x'}}\n")
    doc = load_yaml(tmp_path / "serve.yaml", tmp_path)
    shared = {"DB_CONFIG": "{}"}
    config = {"applications": [
        {"name": "echo_deployment", "runtime_env": {"working_dir": "w", "env_vars": {**shared, "OWN": "x"}}},
        {"name": "echo_aana", "runtime_env": {"working_dir": "w", "env_vars": {
            **shared, "NUM_WORKERS": "3", "TASK_QUEUE__ENABLED": "false"}}},
        {"name": "other", "runtime_env": {"working_dir": "w", "env_vars": {**shared, "NUM_WORKERS": "9"}}}]}
    settled = {a["name"]: a["runtime_env"]["env_vars"] for a in settle_aana_env(
        config, {"echo_aana": ["echo_deployment", "echo_aana"]}, doc)["applications"]}
    assert settled["echo_aana"] == {**shared, "TASK_QUEUE__ENABLED": "false"}
    assert settled["echo_deployment"] == {**shared, "TASK_QUEUE__ENABLED": "false", "OWN": "x"}
    assert settled["other"]["NUM_WORKERS"] == "9"   # not an Aana app: its env is its own
