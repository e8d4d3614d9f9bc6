"""raygitops import: the seed document's RayService (KubeRay 1.1.1 era) and one in KubeRay 1.7's style become an
environment; rendering it gives the input back except for the reported, intended changes.

    .venv/bin/pytest tests/e2e/test_import.py -q
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import copy_repository, run_tool
from raygitops.edit.adopt import adopt
from raygitops.edit.adoptcheck import _schema_of, classify, differences, rendered_rayservice, round_trip
from raygitops.edit.transaction import apply_edit
from raygitops.errors import UserError

CORPUS = Path(__file__).parent / "import_corpus"
SEED = CORPUS / "seed-kuberay-1.1.1.yaml"
OWN = CORPUS / "own-kuberay-1.7.yaml"
PASSWORD = "hunter2-not-for-git"   # pasted into OWN's DB_CONFIG by with_pasted_password


@pytest.fixture
def repo(tmp_path, warm_caches) -> Path:
    root = copy_repository(tmp_path / "repo", warm_caches)
    for args in (("init", "-q", "-b", "main"), ("add", "-A"),
                 ("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    return root


def files_text(root: Path) -> str:
    """Every file the deployment is made of (tests/ holds the input itself)."""
    paths = [root / "raygitops.yaml", *(p for top in ("base", "overlays") for p in (root / top).rglob("*"))]
    return "\n".join(p.read_text(errors="replace") for p in paths if p.is_file())


def test_the_seed_documents_rayservice_round_trips(repo):
    result = run_tool(repo, "import", str(SEED), "--env", "seed")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "seed: new cluster (environment added)" in out
    assert "round trip (import, then tools/render):" in out and "all intended" in out
    for reported in ("rayVersion → ", "serviceUnhealthySecondThreshold is deprecated", "test_project.app_config is not in apps/",
                     "is not a build of Ray", "the repository's content-addressed apps/ package"):
        assert reported in out, reported
    config = yaml.safe_load((repo / "raygitops.yaml").read_text())
    assert "test_project.app_config" in config["external_imports"]
    # raygitops.yaml keeps every comment and line: lines are only added (and the empty external_imports filled).
    diff = subprocess.run(["git", "-C", str(repo), "diff", "-U0", "raygitops.yaml"], capture_output=True, text=True).stdout
    assert [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")] == [
        "-external_imports: []"]
    apps = {a["name"]: a for a in config["applications"]}
    assert apps["whisper_app"]["environments"] == ["seed"] and apps["whisper_app"]["route_prefix"] == "/"
    assert "seed" not in apps["main"]["environments"]   # the repository's own apps stay where they ran
    assert run_tool(repo, "validate").returncode == 0
    assert run_tool(repo, "regen", "--check").returncode == 0

    # Independently of the command: render the environment and compare it with the input.
    source = yaml.safe_load(SEED.read_text())
    rendered = rendered_rayservice(repo, "seed")
    assert rendered["metadata"]["name"] == "aana-sdk"
    changes = {c.display_path: c for c in differences(source, rendered, _schema_of(repo))}
    serve = yaml.safe_load(rendered["spec"]["serveConfigV2"])
    whisper = next(a for a in serve["applications"] if a["name"] == "whisper_app")
    assert whisper["deployments"] == [{"name": "RequestHandler", "num_replicas": 2, "ray_actor_options": {"num_cpus": 0.1}}]
    assert [a["name"] for a in serve["applications"]] == ["asr_deployment", "vad_deployment", "whisper_app"]
    assert "spec.rayClusterConfig.workerGroupSpecs[gpu-group].template.spec.tolerations" not in changes
    assert "spec.rayClusterConfig.rayVersion" in changes
    assert not any(path.startswith("spec.serveConfigV2:applications[vad_deployment].deployments") for path in changes)


def with_pasted_password(tmp_path: Path) -> Path:
    """OWN with a literal password in its DB_CONFIG, as teams paste it (Git holds none)."""
    text = OWN.read_text()
    assert text.count('"user": "notes",') == 2
    path = tmp_path / "own-with-password.yaml"
    path.write_text(text.replace('"user": "notes",', f'"user": "notes", "password": "{PASSWORD}",'))
    return path


def test_a_kuberay_17_rayservice_round_trips_with_its_password_moved_out(repo, tmp_path):
    own = with_pasted_password(tmp_path)
    adoption = adopt(repo, own, "search")
    outcome = apply_edit(repo, adoption.edit, check=lambda tree: round_trip(tree, adoption))
    assert "overlays/search/rayservice-patch.yaml" in outcome.written and "overlays/search/pins.yaml" in outcome.written
    assert {env.name: env.status for env in outcome.diff.environments}["search"] == "added"
    assert PASSWORD not in outcome.text and PASSWORD not in files_text(repo)
    assert any("password moved out of Git" in line for line in adoption.report)

    source = yaml.safe_load(own.read_text())
    matched, unexpected = classify(differences(source, rendered_rayservice(repo, "search"), _schema_of(repo)),
                                   adoption.intended)
    assert unexpected == []
    reasons = {reason for _, reason in matched}
    assert any("password moved to the Secret" in r for r in reasons)
    assert not any("rayVersion" in r or "not a build of Ray" in r for r in reasons)   # 2.46.0 already: no version change
    paths = {change.display_path for change, _ in matched}
    assert not any("workerGroupSpecs[gpu-workers].replicas" in p or "upgradeStrategy" in p for p in paths)
    pins = yaml.safe_load((repo / "overlays/search/pins.yaml").read_text())
    assert pins == {"images": {"ray-image": {"name": "registry.example.com/search/ray-notes", "tag": "2.46.0-py311-build7"}}}
    kustomization = yaml.safe_load((repo / "overlays/search/kustomization.yaml").read_text())
    assert "../../base/components/postgres" in kustomization["components"]


def test_import_refuses_what_it_cannot_adopt(repo, tmp_path):
    bad = tmp_path / "two.yaml"
    bad.write_text(OWN.read_text() + "---\n" + OWN.read_text())
    with pytest.raises(UserError, match="expected one RayService, found 2"):
        adopt(repo, bad, "x")
    clash = tmp_path / "clash.yaml"
    clash.write_text(OWN.read_text().replace("import_path: apps.notes:app", "import_path: apps.other:app"))
    with pytest.raises(UserError, match="application 'notes' exists with import_path apps.notes:app"):
        adopt(repo, clash, "x")
    with pytest.raises(UserError, match="exists already"):
        adopt(repo, OWN, "staging")
