"""parsedcache: a big YAML document comes back from the cache equal to a fresh parse, and only then."""
from __future__ import annotations

import pytest
import yaml

from raygitops import parsedcache
from raygitops.yamlio import LOADER


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "raygitops" / "parsed-yaml"


def entries(tmp_path):
    return sorted((tmp_path / "xdg" / "raygitops" / "parsed-yaml").glob("*.json"))


def big(extra: str = "") -> str:
    return extra + "items:\n" + "".join(f"- {{name: item{i}, value: {i}.5, enabled: true}}\n" for i in range(2000))


def test_the_rayservice_crd_is_the_same_from_the_cache(tmp_path, shared):
    text = next((shared / "crds" / "kuberay").glob("v1.7.0/*rayservices*.yaml")).read_text()
    fresh = parsedcache.load_yaml(text, LOADER)
    assert len(entries(tmp_path)) == 1
    assert parsedcache.load_yaml(text, LOADER) == fresh and fresh["kind"] == "CustomResourceDefinition"


def test_small_documents_are_never_cached(tmp_path):
    assert parsedcache.load_yaml("a: 1\n", LOADER) == {"a": 1}
    assert entries(tmp_path) == []


@pytest.mark.parametrize("prefix", ["when: 2024-01-01\n", "1: an integer key\n"])
def test_what_json_cannot_hold_exactly_is_parsed_every_time(tmp_path, prefix):
    text = big(prefix)
    assert parsedcache.load_yaml(text, LOADER) == yaml.load(text, Loader=LOADER)
    assert entries(tmp_path) == []


def test_a_damaged_entry_is_parsed_again_and_replaced(tmp_path):
    text = big()
    expected = parsedcache.load_yaml(text, LOADER)
    [entry] = entries(tmp_path)
    entry.write_text('{"items": [')   # cut short, as by a full disk
    assert parsedcache.load_yaml(text, LOADER) == expected
    assert parsedcache.load_yaml(text, LOADER) == expected and entry.read_text().startswith('{"items":[')


def test_a_second_load_is_served_from_the_entry(tmp_path):
    text = big()
    parsedcache.load_yaml(text, LOADER)
    [entry] = entries(tmp_path)
    entry.write_text('{"served": "from the cache"}')
    assert parsedcache.load_yaml(text, LOADER) == {"served": "from the cache"}


def test_a_changed_text_is_a_new_entry(tmp_path):
    parsedcache.load_yaml(big(), LOADER)
    assert parsedcache.load_yaml(big("extra: 1\n"), LOADER)["extra"] == 1
    assert len(entries(tmp_path)) == 2

