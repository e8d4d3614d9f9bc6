"""The Serve apps' logic, DB_CONFIG handling and notes storage against real SQLite and Postgres.

    .venv/bin/pytest tests/repo/test_apps.py -q
    (Ray itself is exercised by tools/up and test_up; these tests stay well under 20 s.)
"""
from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import inspect
from starlette.requests import Request

from apps import db, words
from apps.embedding import Embedder, embed
from apps.language import LanguageGuesser, guess_language
from apps.main import fastapi_app
from apps.notes import NoteStore, add_note, recent_notes
from apps.text_stats import TextStats, text_stats
from conftest import PG_PASSWORD, postgres_environ

ROOT = Path(__file__).resolve().parents[2]


def http_request(body: bytes, method: str = "POST") -> Request:
    """A real Starlette request, as Serve hands one to a deployment's __call__."""
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": method, "path": "/", "headers": [], "query_string": b""}
    return Request(scope, receive)


def call(deployment, body: bytes, method: str = "POST"):
    return asyncio.run(deployment(http_request(body, method)))


# --- the contract with raygitops.yaml --------------------------------------------------

# Ray Serve apps; the Aana apps (`aana:` entries) are built by Aana and tested in tests/e2e/test_aana.py.
APPLICATIONS = [entry for entry in yaml.safe_load((ROOT / "raygitops.yaml").read_text())["applications"]
                if "import_path" in entry]
CLASSES = {"text_stats": "TextStats", "language": "LanguageGuesser", "embedding": "Embedder",
           "notes": "NoteStore", "main": "Gateway"}


@pytest.mark.parametrize("entry", APPLICATIONS, ids=[entry["name"] for entry in APPLICATIONS])
def test_every_configured_app_imports_and_fits_on_a_laptop(entry):
    from ray import serve   # here, not at the top: collecting the unit tier imports no Ray
    module_name, attr = entry["import_path"].split(":")
    module = importlib.import_module(module_name)
    assert isinstance(getattr(module, attr), serve.Application)
    deployment = getattr(module, CLASSES[entry["name"]])
    assert deployment.name == CLASSES[entry["name"]]
    assert 0.1 <= deployment.ray_actor_options["num_cpus"] <= 0.5


def test_gateway_routes_and_docs():
    assert {"/analyze", "/healthz", "/journal"} <= set(fastapi_app.openapi()["paths"])
    assert fastapi_app.docs_url == "/docs"
    assert importlib.import_module("apps.main").Gateway.ray_actor_options["num_cpus"] == 0.1


# --- pure logic, and reconfigure changing it -------------------------------------------

def test_words_keep_contractions_and_other_scripts():
    assert words("Don't STOP, Straße 42!") == ["don't", "stop", "straße", "42"]


def test_text_stats_counts_and_ties_sort_alphabetically():
    stats = text_stats("The cat sat. The mat?! ... Hat", top_k=3)
    assert stats == {
        "chars": 30, "words": 6, "unique_words": 5, "sentences": 3,
        "top_words": [{"word": "the", "count": 2}, {"word": "cat", "count": 1},
                      {"word": "hat", "count": 1}],
    }
    assert text_stats("", top_k=5) == {"chars": 0, "words": 0, "unique_words": 0, "sentences": 0,
                                       "top_words": []}


def test_text_stats_reconfigure_changes_top_k():
    deployment = TextStats.func_or_class()
    deployment.reconfigure(TextStats.user_config)
    text = "a b c d e f g a"
    assert len(deployment.analyze(text)["top_words"]) == 5
    deployment.reconfigure({"top_k": 1})
    assert deployment.analyze(text)["top_words"] == [{"word": "a", "count": 2}]
    for bad in (0, "3", True):
        with pytest.raises(ValueError, match="top_k"):
            deployment.reconfigure({"top_k": bad})


def test_language_guesses_and_reports_ties_as_unknown():
    four = ["en", "de", "fr", "es"]
    assert guess_language("der Hund und die Katze sind nicht hier", four)["language"] == "de"
    assert guess_language("the quick brown fox and the lazy dog", four)["language"] == "en"
    assert guess_language("le chat et la maison sont dans le jardin", four)["language"] == "fr"
    assert guess_language("el perro y la casa de mi madre", four)["language"] == "es"
    assert guess_language("xyzzy plugh", four) == {
        "language": "unknown", "confidence": 0.0, "scores": {lang: 0 for lang in four}}
    assert guess_language("la", ["fr", "es"])["language"] == "unknown"  # one word, both languages


def test_language_reconfigure_limits_candidates():
    deployment = LanguageGuesser.func_or_class()
    deployment.reconfigure(LanguageGuesser.user_config)
    dutch = "het huis van mijn vader is niet groot"
    assert deployment.analyze(dutch)["scores"].keys() == {"en", "de", "fr", "es"}
    deployment.reconfigure({"languages": ["en", "nl"]})
    assert deployment.analyze(dutch)["language"] == "nl"
    with pytest.raises(ValueError, match="unknown.*'xx'"):
        deployment.reconfigure({"languages": ["en", "xx"]})


def test_embedding_is_normalised_and_the_same_in_every_process():
    vector = embed("ray serve on kubernetes", 64)
    assert len(vector) == 64
    assert sum(x * x for x in vector) == pytest.approx(1.0)
    assert embed("", 8) == [0.0] * 8
    # A golden value: Python's salted hash() would give a different one in each process.
    assert embed("ray serve ray", 8) == pytest.approx([0, 0, 0, -0.4472136, 0, 0, 0.8944272, 0])


def test_embedding_reconfigure_changes_dim():
    deployment = Embedder.func_or_class()
    deployment.reconfigure(Embedder.user_config)
    assert deployment.analyze("hello")["dim"] == len(deployment.analyze("hello")["vector"]) == 64
    deployment.reconfigure({"dim": 16})
    assert len(deployment.analyze("hello")["vector"]) == 16
    with pytest.raises(ValueError, match="dim"):
        deployment.reconfigure({"dim": 0})


def test_http_entry_points_answer_json_and_reject_bad_bodies_with_400():
    deployment = TextStats.func_or_class()
    deployment.reconfigure({"top_k": 1})
    assert call(deployment, b'{"text": "hi hi"}')["top_words"] == [{"word": "hi", "count": 2}]
    for body in (b"not json", b'{"txt": "x"}', b'["text"]', b'{"text": 3}'):
        response = call(deployment, body)
        assert response.status_code == 400
        assert '"text"' in json.loads(response.body)["error"]


# --- DB_CONFIG ------------------------------------------------------------------------

def test_db_config_default_is_sqlite_under_tmp():
    assert db.db_config_from_env({}) == db.DEFAULT_CONFIG
    assert db.db_config_from_env({"DB_CONFIG": ""}) == db.DEFAULT_CONFIG


def test_db_config_merges_nested_variables_over_the_json():
    environ = {
        "DB_CONFIG": json.dumps({"datastore_type": "PostgreSQL", "datastore_config": {
            "host": "db", "port": 5432, "user": "aana", "password": "", "database": "aana"}}),
        "DB_CONFIG__DATASTORE_CONFIG__PASSWORD": "s3cret",
        "db_config__datastore_config__host": "pg.internal",  # case-insensitive, like pydantic
        "DB_CONFIG__DATASTORE_CONFIG__USER": "",  # empty counts as unset
        "UNRELATED": "x",
    }
    assert db.db_config_from_env(environ) == {"datastore_type": "postgresql", "datastore_config": {
        "host": "pg.internal", "port": 5432, "user": "aana", "password": "s3cret", "database": "aana"}}


@pytest.mark.parametrize("environ, message", [
    ({"DB_CONFIG": "{not json"}, "DB_CONFIG is not valid JSON"),
    ({"DB_CONFIG": "[]"}, "DB_CONFIG must be a JSON object"),
    ({"DB_CONFIG": '{"datastore_type": "mysql", "datastore_config": {}}'}, "DB_CONFIG datastore_type"),
    ({"DB_CONFIG": '{"datastore_type": "postgresql", "datastore_config": {"host": "h", "port": 1, '
                   '"user": "u", "database": "d"}}'},
     "missing password .*DB_CONFIG__DATASTORE_CONFIG__PASSWORD"),
    ({"DB_CONFIG__DATASTORE_CONFIG__PASSWORD": "only-this"}, "DB_CONFIG datastore_type"),
])
def test_db_config_errors_name_db_config(environ, message):
    with pytest.raises(ValueError, match=message):
        db.db_config_from_env(environ)


# --- notes through real SQLite --------------------------------------------------------

def sqlite_config(path: Path) -> dict:
    return {"datastore_type": "sqlite", "datastore_config": {"path": str(path)}}


def test_notes_roundtrip_through_sqlite(tmp_path):
    engine = db.engine_for(sqlite_config(tmp_path / "new-dir" / "notes.sqlite"))
    db.migrate(engine)
    db.migrate(engine)  # idempotent
    assert add_note(engine, "first") == {"id": 1, "text": "first"}
    assert add_note(engine, "zweite Notiz ✓") == {"id": 2, "text": "zweite Notiz ✓"}
    assert recent_notes(engine) == [{"id": 2, "text": "zweite Notiz ✓"}, {"id": 1, "text": "first"}]
    assert recent_notes(engine, limit=1) == [{"id": 2, "text": "zweite Notiz ✓"}]


def test_note_store_reads_db_config_and_migrates_sqlite_on_start(tmp_path, monkeypatch):
    monkeypatch.setenv("DB_CONFIG", json.dumps(sqlite_config(tmp_path / "store.sqlite")))
    store = NoteStore.func_or_class()
    assert call(store, b'{"text": "via http"}') == {"id": 1, "text": "via http"}
    assert store.add("via handle") == {"id": 2, "text": "via handle"}
    assert call(store, b"", method="GET") == {"notes": [{"id": 2, "text": "via handle"},
                                                        {"id": 1, "text": "via http"}]}


def run_migrate(environ: dict) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith("DB_CONFIG")}
    return subprocess.run([sys.executable, "-m", "apps.db", "migrate"], cwd=ROOT, env={**env, **environ},
                          capture_output=True, text=True, timeout=60)


def test_migrate_command_on_sqlite_and_bad_config(tmp_path):
    path = tmp_path / "cli.sqlite"
    result = run_migrate({"DB_CONFIG": json.dumps(sqlite_config(path))})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"apps.db: notes table ready in sqlite:///{path}\n"
    assert "notes" in inspect(db.engine_for(sqlite_config(path))).get_table_names()

    result = run_migrate({"DB_CONFIG": "{oops"})
    assert result.returncode == 2
    assert result.stderr.startswith("apps.db: DB_CONFIG is not valid JSON")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


# --- notes through a real PostgreSQL over TCP -----------------------------------------

def test_notes_roundtrip_through_postgres(postgres):
    result = run_migrate(postgres_environ(postgres, PG_PASSWORD))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"apps.db: notes table ready in postgresql+psycopg://raygitops:***@"
                             f"127.0.0.1:{postgres['port']}/notes\n")
    assert run_migrate(postgres_environ(postgres, PG_PASSWORD)).returncode == 0  # idempotent

    engine = db.engine_for(db.db_config_from_env(postgres_environ(postgres, PG_PASSWORD)))
    try:
        first = add_note(engine, "stored in postgres")
        second = add_note(engine, "and read back")
        assert first["text"] == "stored in postgres" and second["id"] > first["id"]
        assert recent_notes(engine, limit=2) == [second, first]
    finally:
        engine.dispose()


def test_migrate_with_a_wrong_password_fails_in_one_clear_line(postgres):
    result = run_migrate(postgres_environ(postgres, "wrong-password"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("apps.db: cannot migrate postgresql+psycopg://raygitops:***@")
    assert 'password authentication failed for user "raygitops"' in result.stderr
    assert "wrong-password" not in result.stderr
