"""The editing commands as a user runs them, in a scratch copy: regen, validate and the rollout verdict, with
comments kept byte for byte outside the edited lines, and nothing written when the result would be invalid.

    .venv/bin/pytest tests/e2e/test_edit_commands.py -q
"""
from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import SHARED, copy_repository, run_tool


def snapshot(root: Path) -> dict[str, bytes]:
    skip = {"build", ".run", "__pycache__", ".git"}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(root).parts)}


def changed_files(before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    return sorted(rel for rel in before.keys() | after.keys() if before.get(rel) != after.get(rel))


def changed_lines(old: bytes, new: bytes) -> list[str]:
    return [line for line in difflib.unified_diff(old.decode().splitlines(), new.decode().splitlines(), n=0, lineterm="")
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def only_environment_changed(diff_text: str) -> list[str]:
    """The environments tools/diff's text names with a verdict (`<env>: <verdict>` lines)."""
    return sorted(line.split(":")[0] for line in diff_text.splitlines()
                  if re.match(r"^[a-z0-9-]+: (no-op|in-place|replica restart|app restart|new cluster)", line))


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
    assert only_environment_changed(result.stdout) == ["prod"]
    assert run_tool(repo_copy, "regen", "--check").returncode == 0


def test_scale_that_regen_rejects_writes_nothing(repo_copy):
    before = snapshot(repo_copy)
    # 100 replicas of half a GPU: prod's GPU group has 4 at most, so tools/validate fails (capacity).
    result = run_tool(repo_copy, "scale", "prod", "embedding", "100")
    assert result.returncode == 1, result.stdout
    assert "error capacity" in result.stderr and "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr and "warning" not in result.stderr
    assert snapshot(repo_copy) == before


def test_env_add_then_validate_and_the_operator_tests_pass_then_remove_is_step_one(warm_caches, tmp_path):
    repo_copy = copy_repository(tmp_path / "repo", warm_caches, code=True)   # it runs tests/repo in the copy
    result = run_tool(repo_copy, "env", "add", "qa", "--from", "staging")
    assert result.returncode == 0, result.stderr
    assert "qa: new cluster (environment added)" in result.stdout
    assert only_environment_changed(result.stdout) == ["qa"]
    assert run_tool(repo_copy, "validate").returncode == 0
    assert run_tool(repo_copy, "regen", "--check").returncode == 0
    # The repository's own checks that an environment is fully added (operator lists, one Application each).
    # --basetemp: a pytest of its own would otherwise clean up the outer session's old temporary folders.
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                            "--basetemp", str(tmp_path / "inner"), "tests/repo/test_argocd.py",
                            "-k", "operator_watches_every_environment or every_overlay or deploys_to_its_overlays"],
                           cwd=repo_copy, capture_output=True, text=True, env={**os.environ, "RAYGITOPS_SCHEMA_MIRROR": str(SHARED)})
    assert tests.returncode == 0 and " passed" in tests.stdout, tests.stdout[-3000:]

    before = snapshot(repo_copy)
    result = run_tool(repo_copy, "env", "remove", "qa")
    assert result.returncode == 0, result.stderr
    assert not (repo_copy / "overlays/qa").exists()
    assert changed_files(before, snapshot(repo_copy)) == sorted(rel for rel in before if rel.startswith("overlays/qa/"))
    assert "step 2" in result.stdout and "aana-qa" in (repo_copy / "base/kuberay-operator/values.yaml").read_text()
    assert run_tool(repo_copy, "validate").returncode == 0


def test_removing_prod_on_purpose_takes_its_cluster_layer_with_it(repo_copy):
    before = snapshot(repo_copy)
    result = run_tool(repo_copy, "env", "remove", "prod", "--unprotect")
    assert result.returncode == 0, result.stderr
    assert not (repo_copy / "clusters").exists()   # clusters/prod/eu-west built on overlays/prod: it goes too
    removed = [rel for rel in changed_files(before, snapshot(repo_copy)) if rel not in snapshot(repo_copy)]
    assert sorted(rel for rel in before if rel.startswith(("overlays/prod/", "clusters/prod/"))) == removed
    assert "prod/eu-west: new cluster (environment removed)" in result.stdout   # tools/diff shows that cluster too
    assert "`argocd app delete aana-prod --cascade` and `argocd app delete aana-prod-eu-west --cascade`" in result.stdout
    assert run_tool(repo_copy, "validate").returncode == 0


def test_set_pins_an_image_build_for_one_environment_and_refuses_a_global_value(repo_copy):
    ray = yaml.safe_load((repo_copy / "raygitops.yaml").read_text())["versions"]["ray"]
    before = snapshot(repo_copy)
    result = run_tool(repo_copy, "set", "dev", "image", "ray-image", f"{ray}-py311-build2")
    assert result.returncode == 0, result.stderr
    assert "dev: new cluster" in result.stdout and only_environment_changed(result.stdout) == ["dev"]
    assert changed_files(before, snapshot(repo_copy)) == ["overlays/dev/generated/images.yaml",
                                                          "overlays/dev/generated/kustomization.yaml", "overlays/dev/pins.yaml"]
    assert f"newTag: {ray}-py311-build2" in (repo_copy / "overlays/dev/generated/images.yaml").read_text()
    before = snapshot(repo_copy)
    refused = run_tool(repo_copy, "set", "dev", "ray-version", "2.47.0")
    assert refused.returncode == 2 and "ray-version is not per environment" in refused.stderr
    assert "reaches every environment at once" in refused.stderr and snapshot(repo_copy) == before


@pytest.mark.parametrize("args, message", [
    (("env", "add", "Bad_Name", "--from", "staging"), "'Bad_Name' cannot name an environment"),
    (("env", "add", "prod", "--from", "staging"), "overlays/prod exists already"),
    (("promote", "dev", "prod"), "would skip staging"),
    (("import", "{tmp}/deployment.yaml", "--env", "adopted"), "expected one RayService, found 0"),
    (("import", "{tmp}/missing.yaml", "--env", "adopted"), "missing.yaml: file not found"),
])
def test_a_refused_command_leaves_the_tree_untouched(repo_copy, tmp_path, args, message):
    (tmp_path / "deployment.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
    before = snapshot(repo_copy)
    result = run_tool(repo_copy, *(arg.format(tmp=tmp_path) for arg in args))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(repo_copy) == before
