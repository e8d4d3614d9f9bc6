"""raygitops scale, in process: the edit it makes (not yet regenerated), and what it refuses.

    .venv/bin/pytest tests/unit/test_edit_scale.py -q
"""
from __future__ import annotations

import pytest
import yaml
from ruamel.yaml.comments import CommentedSeq

from conftest import REPO
from raygitops.edit.roundtrip import parse_for_edit
from raygitops.edit.scale import scale_deployment, scale_group, with_base_groups
from raygitops.errors import UserError


def changed_lines(rel: str, new_text: str) -> list[tuple[str, str]]:
    old = (REPO / rel).read_text().splitlines()
    new = new_text.splitlines()
    import difflib
    return [(line[0], line[1:]) for line in difflib.unified_diff(old, new, n=0, lineterm="")
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_fixed_replicas_change_one_line():
    edit = scale_deployment(REPO, "prod", "main/Gateway", replicas=6)
    assert changed_lines("overlays/prod/serve.yaml", edit.files["overlays/prod/serve.yaml"]) == [
        ("-", "        num_replicas: 4"), ("+", "        num_replicas: 6")]


def test_autoscaling_replaces_num_replicas_and_keeps_other_settings():
    edit = scale_deployment(REPO, "prod", "text_stats", minimum=3, maximum=9)   # one deployment: its name may be left out
    assert changed_lines("overlays/prod/serve.yaml", edit.files["overlays/prod/serve.yaml"]) == [
        ("-", "        autoscaling_config: {min_replicas: 2, max_replicas: 8, target_ongoing_requests: 4}"),
        ("+", "        autoscaling_config: {min_replicas: 3, max_replicas: 9, target_ongoing_requests: 4}")]
    edit = scale_deployment(REPO, "prod", "main/Gateway", minimum=1, maximum=5)
    assert changed_lines("overlays/prod/serve.yaml", edit.files["overlays/prod/serve.yaml"]) == [
        ("-", "        num_replicas: 4"), ("+", "        autoscaling_config: {min_replicas: 1, max_replicas: 5}")]


def test_a_deployment_serve_yaml_does_not_name_yet_is_added():
    config = yaml.safe_load((REPO / "overlays/dev/generated/serve-config.yaml").read_text())
    (deployment,) = next(a["deployments"] for a in config["applications"] if a["name"] == "language")
    edit = scale_deployment(REPO, "dev", "language", replicas=2)
    assert changed_lines("overlays/dev/serve.yaml", edit.files["overlays/dev/serve.yaml"]) == [
        ("+", "  - name: language"), ("+", "    deployments:"), ("+", f"      - name: {deployment['name']}"),
        ("+", "        num_replicas: 2")]


@pytest.mark.parametrize("args, message", [
    (("nope", "main/Gateway"), "no environment 'nope'"),
    (("prod", "mian/Gateway"), "no application 'mian'"),
    (("prod", "main/Gatway"), "no deployment 'Gatway'"),
])
def test_unknown_names_are_refused_with_the_choices(args, message):
    with pytest.raises(UserError) as error:
        scale_deployment(REPO, *args, replicas=1)
    assert message in error.value.message and "use one of" in error.value.fix


def test_an_app_of_several_deployments_needs_the_deployment_named(cold_repo_copy):
    config = cold_repo_copy / "overlays/dev/generated/serve-config.yaml"
    config.write_text(config.read_text().replace("  - name: Gateway\n", "  - name: Gateway\n  - name: Other\n", 1))
    with pytest.raises(UserError) as error:
        scale_deployment(cold_repo_copy, "dev", "main", replicas=1)
    assert "main/Gateway" in error.value.fix


def test_worker_group_edit_keeps_comments():
    edit = scale_group(REPO, "prod", "gpu-workers", replicas=2, maximum=6)
    assert changed_lines("overlays/prod/rayservice-patch.yaml", edit.files["overlays/prod/rayservice-patch.yaml"]) == [
        ("-", "        replicas: 1"), ("+", "        replicas: 2"),
        ("-", "        maxReplicas: 4"), ("+", "        maxReplicas: 6")]


def test_worker_group_patch_gets_every_base_group_in_base_order(cold_repo_copy):
    """The Kustomize trap: a patch naming only some groups moves them to the front."""
    patch = cold_repo_copy / "overlays/staging/rayservice-patch.yaml"
    patch.write_text(patch.read_text().split("    workerGroupSpecs:")[0] + "    enableInTreeAutoscaling: true\n")
    edit = scale_group(cold_repo_copy, "staging", "cpu-workers", maximum=5)
    text = edit.files["overlays/staging/rayservice-patch.yaml"]
    assert text.endswith("    enableInTreeAutoscaling: true\n    workerGroupSpecs:\n"
                         "      - groupName: cpu-workers\n        maxReplicas: 5\n")
    groups = parse_for_edit("a:\n  - {groupName: gpu}\n", "x").data["a"]
    assert [g["groupName"] for g in with_base_groups(groups, ["cpu", "small"], "x")] == ["cpu", "small", "gpu"]
    groups = parse_for_edit("a:\n  - {groupName: small}\n", "x").data["a"]
    assert [g["groupName"] for g in with_base_groups(groups, ["cpu", "small"], "x")] == ["cpu", "small"]
    with pytest.raises(UserError, match="out of base order"):
        with_base_groups(parse_for_edit("a:\n  - {groupName: small}\n  - {groupName: cpu}\n", "x").data["a"],
                         ["cpu", "small"], "x")
    assert isinstance(groups, CommentedSeq)


def test_worker_group_bounds_are_checked():
    with pytest.raises(UserError, match="outside minReplicas..maxReplicas"):
        scale_group(REPO, "staging", "cpu-workers", replicas=9)
    with pytest.raises(UserError, match="minReplicas 5 > maxReplicas 4"):
        scale_group(REPO, "staging", "cpu-workers", minimum=5)
    with pytest.raises(UserError, match="no worker group 'gpu'"):
        scale_group(REPO, "staging", "gpu", replicas=1)
