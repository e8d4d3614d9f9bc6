"""What Ray's serve schema says about a config is kept in the user cache: a config seen before needs no Ray."""
from __future__ import annotations

import json

from raygitops.generate import serve_schema
from raygitops.generate.serve_schema import ray_schema_errors, unknown_keys

BAD = {"applications": [{"name": "a", "import_path": "apps.a:app", "deployments": [{"name": "D", "num_replicas": -1}]}]}


def _schema_cache(xdg_cache):
    return xdg_cache / "raygitops" / "serve-schema"


def test_the_errors_of_a_config_are_kept_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = ray_schema_errors(BAD)
    assert first and any("num_replicas" in ".".join(map(str, loc)) + message for loc, message in first)
    [entry] = _schema_cache(tmp_path).glob("errors-*.json")
    assert ray_schema_errors(BAD) == first

    # The entry is what the second call answers from: changed by hand, the change comes back.
    entry.write_text(json.dumps([[["applications", 0], "from the cache"]]))
    assert ray_schema_errors(BAD) == [(("applications", 0), "from the cache")]
    # Another config is another entry; a damaged entry is checked again.
    assert ray_schema_errors({"applications": []}) == []
    entry.write_text("{not json")
    assert ray_schema_errors(BAD) == first


def test_a_config_json_cannot_key_is_checked_without_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    mixed = {"applications": [], 1: "an int key beside str keys"}
    assert ray_schema_errors(mixed)   # Ray's schema rejects the extra key
    assert not list(_schema_cache(tmp_path).glob("errors-*.json"))


def test_the_field_names_are_kept_per_ray_version(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    serve_schema._schema_fields.cache_clear()
    try:
        assert unknown_keys({"applications": [{"name": "a", "import_paht": "x:y"}]}) == [(("applications", 0), "import_paht")]
        [entry] = _schema_cache(tmp_path).glob("fields-*.json")
        assert serve_schema._ray_version() in entry.name
        fields = json.loads(entry.read_text())
        assert "import_path" in fields["app"] and "num_replicas" in fields["deployment"]
    finally:
        serve_schema._schema_fields.cache_clear()
