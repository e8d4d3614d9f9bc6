"""The environments' directory is named in one place (model/environment.py); code asks the Environment
model for paths instead of building "overlays/<env>" itself.

    tools/test tests/repo/test_environment_model_used.py
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "tools" / "raygitops"
# model/environment.py defines OVERLAYS; cli/down.py's positional argument is named "overlays" (its help shows it).
ALLOWED = {"model/environment.py", "cli/down.py"}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def hard_coded_layout(source: str) -> list[int]:
    """Lines that name the directory in code: the literal "overlays", or an f-string that builds a
    path starting with overlays/ from a value (f"overlays/{env}/…"). Messages describing the layout
    (fix="add overlays/<env>/…") and docstrings are allowed."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings and node.value in ("overlays", "overlays/"):
            lines.append(node.lineno)
        elif isinstance(node, ast.JoinedStr) and len(node.values) >= 2:
            head, after = node.values[0], node.values[1]
            if isinstance(head, ast.Constant) and head.value == "overlays/" and isinstance(after, ast.FormattedValue):
                lines.append(node.lineno)
    return sorted(set(lines))


def test_the_checker_finds_a_hard_coded_overlay_path():
    assert hard_coded_layout('p = root / "overlays" / env\n') == [1]
    assert hard_coded_layout('x = 1\nrel = f"overlays/{env}/serve.yaml"\n') == [2]
    assert hard_coded_layout('"""tools/up overlays/dev"""\nfix = "give overlays/<env>"\n') == []


def test_no_module_hard_codes_the_overlays_directory():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        lines = hard_coded_layout(path.read_text()) if rel not in ALLOWED else []
        if lines:
            found[rel] = lines
    assert found == {}, f"use raygitops.model.environment (Environment, OVERLAYS, discover) instead: {found}"
