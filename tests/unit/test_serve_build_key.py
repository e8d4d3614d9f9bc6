"""The serve-build cache's key: what `serve build` reads moves it, and nothing else does."""
from __future__ import annotations

import shutil
from dataclasses import replace

from conftest import REPO
from raygitops.config import load_config
from raygitops.generate.aana_apps import serve_apps
from raygitops.generate.serve_schema import serve_build_entry


def test_the_entry_moves_with_apps_and_the_app_entries_only(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "apps", root / "apps", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "raygitops.yaml", root)
    apps = serve_apps(load_config(REPO))
    first = serve_build_entry(root, apps, ())
    assert serve_build_entry(root, apps, ()) == first
    (root / "overlays").mkdir()   # outside apps/: not an input of serve build
    assert serve_build_entry(root, apps, ()) == first

    renamed = (replace(apps[0], route_prefix="/elsewhere"), *apps[1:])
    assert serve_build_entry(root, renamed, ()) != first
    assert serve_build_entry(root, apps, ("other_package",)) != first
    module = root / "apps" / "text_stats.py"
    module.write_text(module.read_text() + "\n# a change to apps/\n")
    assert serve_build_entry(root, apps, ()) != first
