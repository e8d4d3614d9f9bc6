"""The editing commands as a user runs them, in a scratch copy: regen, validate and the rollout verdict, with
comments kept byte for byte outside the edited lines, and nothing written when the result would be invalid.

    .venv/bin/pytest tests/e2e/test_edit_commands.py -q
"""
from __future__ import annotations

import difflib
from pathlib import Path

from conftest import run_tool


def snapshot(root: Path) -> dict[str, bytes]:
    skip = {"build", ".run", "__pycache__", ".git"}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(root).parts)}


def changed_files(before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    return sorted(rel for rel in before.keys() | after.keys() if before.get(rel) != after.get(rel))


def changed_lines(old: bytes, new: bytes) -> list[str]:
    return [line for line in difflib.unified_diff(old.decode().splitlines(), new.decode().splitlines(), n=0, lineterm="")
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_scale_writes_the_change_and_its_regen_and_says_in_place(repo_copy):
    before = snapshot(repo_copy)
    result = run_tool(repo_copy, "scale", "prod", "main/Gateway", "6")
    assert result.returncode == 0, result.stderr
    after = snapshot(repo_copy)
    assert changed_files(before, after) == ["overlays/prod/generated/kustomization.yaml",
                                            "overlays/prod/generated/serve-config.yaml", "overlays/prod/serve.yaml"]
    assert changed_lines(before["overlays/prod/serve.yaml"], after["overlays/prod/serve.yaml"]) == [
        "-        num_replicas: 4", "+        num_replicas: 6"]
    assert "prod: in-place" in result.stdout and "num_replicas: 4 → 6" in result.stdout
    assert "unchanged (inputs identical, not rendered): dev, staging" in result.stdout
    assert run_tool(repo_copy, "regen", "--check").returncode == 0


def test_scale_that_regen_rejects_writes_nothing(repo_copy):
    before = snapshot(repo_copy)
    # 100 replicas of half a GPU: prod's GPU group has 4 at most, so tools/validate fails (capacity).
    result = run_tool(repo_copy, "scale", "prod", "embedding", "100")
    assert result.returncode == 1, result.stdout
    assert "error capacity" in result.stderr and "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr and "warning" not in result.stderr
    assert snapshot(repo_copy) == before
