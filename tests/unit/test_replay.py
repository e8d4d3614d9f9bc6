"""checks/replay: the fingerprint of everything a validate run could read moves with each of them."""
from __future__ import annotations

import os

from raygitops.checks import replay
from raygitops.cli import validate as validate_command
from raygitops.output.findings import FORMATS


def make_repo(root):
    (root / "overlays" / "dev").mkdir(parents=True)
    (root / "overlays" / "dev" / "kustomization.yaml").write_text("resources: []\n")
    (root / "raygitops.yaml").write_text("versions: {}\n")
    return root


def test_the_fingerprint_moves_with_every_file_and_only_with_them(tmp_path):
    root = make_repo(tmp_path / "repo")
    first = replay.fingerprint(root, [])
    assert replay.fingerprint(root, []) == first
    for skipped in (".run/render-cache/x.yaml", ".git/index", "build/working_dir/a.zip", ".venv/bin/python"):
        (root / skipped).parent.mkdir(parents=True, exist_ok=True)
        (root / skipped).write_text("not an input")
    assert replay.fingerprint(root, []) == first

    (root / "overlays" / "dev" / "kustomization.yaml").write_text("resources: [a.yaml]\n")
    changed = replay.fingerprint(root, [])
    assert changed != first
    (root / "overlays" / "qa").mkdir()
    assert replay.fingerprint(root, []) == changed   # an empty directory is no input
    (root / "overlays" / "qa" / "kustomization.yaml").write_text("resources: []\n")
    assert replay.fingerprint(root, []) != changed
    os.symlink("elsewhere", root / "overlays" / "link")
    assert replay.fingerprint(root, []) != changed


def test_a_root_outside_the_repository_is_part_of_it_once_reached(tmp_path):
    root = make_repo(tmp_path / "repo")
    shared = tmp_path / "shared-base"
    shared.mkdir()
    (shared / "kustomization.yaml").write_text("resources: []\n")
    before = replay.fingerprint(root, [str(shared)])
    (shared / "kustomization.yaml").write_text("resources: [x.yaml]\n")
    assert replay.fingerprint(root, [str(shared)]) != before


def test_a_big_file_counts_by_size_and_mtime(tmp_path):
    root = make_repo(tmp_path / "repo")
    model = root / "apps" / "model.bin"
    model.parent.mkdir()
    model.write_bytes(b"\0" * (replay.READ_LIMIT + 1))
    before = replay.fingerprint(root, [])
    os.utime(model, ns=(1, 1))
    assert replay.fingerprint(root, []) != before


def test_an_entry_is_found_under_its_options_only(tmp_path):
    root = make_repo(tmp_path / "repo")
    key = replay.options_key({"output": "text", "paths": []})
    entry = replay.ReplayEntry([], replay.fingerprint(root, []), "Summary: …", 1)
    entry.store(root, key)
    assert replay.ReplayEntry.find(root, key) == entry and entry.still_valid(root)
    assert replay.ReplayEntry.find(root, replay.options_key({"output": "json", "paths": []})) is None
    (root / "raygitops.yaml").write_text("versions: {ray: 2.46.0}\n")
    assert not replay.ReplayEntry.find(root, key).still_valid(root)


def test_the_command_offers_the_formats_the_formatter_has():
    assert validate_command.FORMATS == tuple(FORMATS)
