"""Environments are discovered once, from overlays/<name> directories with a kustomization.

    tools/test tests/unit/test_environment.py
"""
from __future__ import annotations

from pathlib import Path

from raygitops.model.environment import Environment, broken, discover, environment_of


def make(root: Path, name: str, *files: str) -> None:
    for file in files:
        path = root / "overlays" / name / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("namespace: aana-" + name + "\n" if file == "kustomization.yaml" else "")


def test_only_overlays_with_a_kustomization_are_environments(tmp_path):
    make(tmp_path, "prod", "kustomization.yaml", "serve.yaml")
    make(tmp_path, "dev", "kustomization.yaml")
    make(tmp_path, "half", "serve.yaml")
    make(tmp_path, "notes", "README.md")
    assert [e.name for e in discover(tmp_path)] == ["dev", "prod"]
    assert [e.name for e in broken(tmp_path)] == ["half"]


def test_an_environment_knows_its_paths_and_namespace(tmp_path):
    make(tmp_path, "qa", "kustomization.yaml")
    [qa] = discover(tmp_path)
    assert qa.rel == "overlays/qa" and qa.generated_rel == "overlays/qa/generated"
    assert qa.generated == tmp_path / "overlays" / "qa" / "generated"
    assert qa.serve_override == tmp_path / "overlays/qa/serve.yaml"
    assert qa.namespace == "aana-qa"


def test_a_path_names_its_environment(tmp_path):
    make(tmp_path, "qa", "kustomization.yaml")
    assert environment_of(Path("overlays/qa/rayservice-patch.yaml"), tmp_path) == Environment(tmp_path, "qa")
    assert environment_of(tmp_path / "overlays/qa", tmp_path) == Environment(tmp_path, "qa")
    assert environment_of(tmp_path / "base/rayservice.yaml", tmp_path) is None
    assert environment_of(tmp_path / "overlays", tmp_path) is None


def test_no_overlays_directory_means_no_environments(tmp_path):
    assert discover(tmp_path) == [] and broken(tmp_path) == []
