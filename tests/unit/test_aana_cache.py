"""The Aana build cache (generate/aana_cache.py): a build is reused while the files it imported keep
their content, and any other input (a file added, a data file, the settings, a version) is a new key."""
from __future__ import annotations

import json

import pytest

from raygitops.generate.aana_cache import VARIANTS_KEPT, build_entry
from raygitops.generate.workingdir import build_package

APP = "apps.echo_aana.app:aana_app"
VERSIONS = {"aana": "0.2.4", "ray": "2.46.0", "python": "3.11.7"}
SETTINGS = {"NUM_WORKERS": "1"}
IMPORTED = ["apps/__init__.py", "apps/echo_aana/__init__.py", "apps/echo_aana/app.py"]


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "repo"
    for name, text in {"apps/__init__.py": "", "apps/echo_aana/__init__.py": "", "apps/echo_aana/app.py": "x = 1\n",
                       "apps/text_stats.py": "y = 1\n", "apps/words.txt": "a b\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def entry(root, settings=SETTINGS, versions=VERSIONS):
    return build_entry(build_package(root), APP, settings, versions)


def edit(root, name: str, text: str = "\n# edited\n") -> None:
    with (root / name).open("a") as out:
        out.write(text)


def test_an_edit_to_a_module_the_build_did_not_import_reuses_it(root):
    first = entry(root)
    assert first.lookup() is None
    first.store({"applications": ["built"]}, IMPORTED)
    edit(root, "apps/text_stats.py")
    again = entry(root)
    assert again.path == first.path and again.memo_key != first.memo_key   # same key, other package
    assert again.lookup() == {"applications": ["built"]}


def test_an_edit_to_an_imported_module_misses_and_both_variants_are_kept(root):
    entry(root).store({"v": 1}, IMPORTED)
    edit(root, "apps/echo_aana/app.py")
    changed = entry(root)
    assert changed.lookup() is None
    changed.store({"v": 2}, IMPORTED)
    assert changed.lookup() == {"v": 2}
    (root / "apps/echo_aana/app.py").write_text("x = 1\n")   # back on the first branch: no rebuild
    assert entry(root).lookup() == {"v": 1}


def test_only_the_newest_variants_are_kept(root):
    for number in range(VARIANTS_KEPT + 1):
        (root / "apps/echo_aana/app.py").write_text(f"x = {number}\n")
        entry(root).store({"v": number}, IMPORTED)
    assert len(json.loads(entry(root).path.read_text())["variants"]) == VARIANTS_KEPT
    assert entry(root).lookup() == {"v": VARIANTS_KEPT}
    (root / "apps/echo_aana/app.py").write_text("x = 0\n")
    assert entry(root).lookup() is None


@pytest.mark.parametrize("change", ["a new file", "a data file", "the settings", "a version"])
def test_every_other_input_is_a_new_key(root, change):
    first = entry(root)
    first.store({"v": 1}, IMPORTED)
    settings, versions = SETTINGS, VERSIONS
    if change == "a new file":   # it could shadow a module, or be found by a scan of the package
        (root / "apps/echo_aana/extra.py").write_text("")
    elif change == "a data file":   # an import may read it
        edit(root, "apps/words.txt")
    elif change == "the settings":
        settings = {"NUM_WORKERS": "2"}
    else:
        versions = {**VERSIONS, "aana": "0.2.5"}
    again = entry(root, settings, versions)
    assert again.path != first.path and again.lookup() is None


def test_a_builder_that_did_not_say_what_it_imported_keys_on_every_module(root):
    entry(root).store({"v": 1}, None)
    edit(root, "apps/text_stats.py")
    assert entry(root).lookup() is None


def test_a_damaged_entry_is_a_miss(root):
    first = entry(root)
    first.path.parent.mkdir(parents=True)
    for damaged in ("{", "[]", '{"variants": [1, {"imports": 2}, {"imports": {}, "built": 3}]}'):
        first.path.write_text(damaged)
        assert first.lookup() is None
    first.store({"v": 1}, IMPORTED)
    assert first.lookup() == {"v": 1}
