"""Round-trip editing keeps every human-edited YAML file of the repository byte for byte.

    .venv/bin/pytest tests/unit/test_roundtrip.py -q
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from conftest import REPO
from raygitops.edit.roundtrip import FLUSH_STYLE, REPOSITORY_STYLE, detect_style, parse_for_edit
from raygitops.errors import UserError

# Deliberately invalid inputs of tools/validate's corpus: no editor can load them.
INVALID_ON_PURPOSE = "tests/e2e/validate_corpus/"
# Verbatim copies of outside documents that mix both list styles in one file (the seed document's RayService
# indents its tolerations but not its containers): one indent setting cannot reproduce both, and these
# files are inputs of raygitops import, never edited by it.
MIXED_VERBATIM = {"tests/e2e/import_corpus/seed-kuberay-1.1.1.yaml"}


def human_edited_yaml(root: Path) -> list[Path]:
    """Every YAML file of the repository that people write: all but generated/ and local state."""
    skip = {".git", ".venv", "build", ".run", "generated", "node_modules", ".pytest_cache"}
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in skip]   # never into .venv's 40,000 files
        found += [Path(folder, name) for name in files if name.endswith((".yaml", ".yml"))]
    return sorted(found)


def _loads(path: Path) -> bool:
    try:
        parse_for_edit(path.read_text(), path.name)
        return True
    except UserError:
        return False


def list_styles(text: str) -> set:
    """The style of every block list in the file (detect_style reads the first)."""
    lines = text.splitlines()
    return {detect_style("\n".join(lines[max(0, i - 1):i + 1])) for i, line in enumerate(lines)
            if line.lstrip().startswith("- ") and i > 0 and lines[i - 1].rstrip().endswith(":")}


def test_the_files_are_found():
    rels = {p.relative_to(REPO).as_posix() for p in human_edited_yaml(REPO)}
    assert {"raygitops.yaml", "base/rayservice.yaml", "overlays/prod/serve.yaml", "argocd/project.yaml",
            "base/kuberay-operator/namespace.yaml", ".github/workflows/pr.yaml"} <= rels
    assert not any("/generated/" in rel for rel in rels)


@pytest.mark.parametrize("path", human_edited_yaml(REPO), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_human_edited_file_round_trips_byte_for_byte(path: Path):
    rel = path.relative_to(REPO).as_posix()
    text = path.read_text()
    if not _loads(path):
        assert rel.startswith(INVALID_ON_PURPOSE), f"{rel} does not load"
        return
    if rel in MIXED_VERBATIM:
        assert list_styles(text) == {FLUSH_STYLE, REPOSITORY_STYLE}, f"{rel} is no longer mixed: remove the exception"
        return
    out = parse_for_edit(text, rel).dumps()
    assert out == text, "".join(difflib.unified_diff(text.splitlines(True), out.splitlines(True), rel, "round trip"))


def test_default_settings_would_rewrite_lines():
    """The settings matter: ruamel's defaults put a list's dash at its key's column."""
    import io
    from ruamel.yaml import YAML
    text = (REPO / "overlays/prod/rayservice-patch.yaml").read_text()
    yaml = YAML()
    out = io.StringIO()
    yaml.dump(yaml.load(text), out)
    assert out.getvalue() != text


def test_style_is_read_from_the_file():
    assert detect_style("a:\n  - x\n") == REPOSITORY_STYLE
    assert detect_style("a:\n- x\n") == FLUSH_STYLE
    assert detect_style("# c\n- x\n") == FLUSH_STYLE
    assert detect_style("a:\n  - b:\n      - x\n") == REPOSITORY_STYLE
    assert detect_style("a: 1\n") == REPOSITORY_STYLE


def test_a_flush_style_file_round_trips_and_edits_in_its_style():
    text = "spec:\n  containers:\n  - name: a  # the one\n    image: x\n  - name: b\n"
    doc = parse_for_edit(text, "t.yaml")
    assert doc.dumps() == text
    doc.data["spec"]["containers"][1]["image"] = "y"
    assert doc.dumps() == text + "    image: y\n"


def test_an_edit_changes_only_its_line():
    rel = "overlays/prod/serve.yaml"
    text = (REPO / rel).read_text()
    doc = parse_for_edit(text, rel)
    main = next(app for app in doc.data["applications"] if app["name"] == "main")
    main["deployments"][0]["num_replicas"] = 7
    changed = [(a, b) for a, b in zip(text.splitlines(), doc.dumps().splitlines()) if a != b]
    assert changed == [("        num_replicas: 4", "        num_replicas: 7")]


def test_bad_yaml_is_a_user_error_with_its_line():
    with pytest.raises(UserError) as error:
        parse_for_edit("a: 1\nb: [\n", "x.yaml")
    assert error.value.file == "x.yaml" and error.value.line


def test_deleting_an_entry_keeps_the_comment_lines_that_follow_it():
    from raygitops.edit.roundtrip import delete_entry
    text = ("a:\n  dirs:\n    - path: x\n    - path: y\n      exclude: true\n  # about b\n"
            "b:\n  - one  # eol\n  - two\n  # about c\nc: {x: 1, y: 2}\n")
    doc = parse_for_edit(text, "t.yaml")
    delete_entry(doc.data["a"]["dirs"], 1)
    delete_entry(doc.data["b"], 1)
    delete_entry(doc.data["c"], "y")
    assert doc.dumps() == "a:\n  dirs:\n    - path: x\n  # about b\nb:\n  - one  # eol\n  # about c\nc: {x: 1}\n"
