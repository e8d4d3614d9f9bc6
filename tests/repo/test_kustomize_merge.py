"""The kustomize schema in base/generated makes patches merge worker groups and containers by name."""
from __future__ import annotations

import subprocess

import yaml

BASE_GROUPS = """
      - groupName: {name}
        replicas: 1
        template:
          spec:
            containers:
              - name: ray-worker
                image: ray-image
                env: [{{name: GROUP, value: {name}}}]
              - name: log-shipper
                image: busybox
"""

PATCH = """apiVersion: ray.io/v1
kind: RayService
metadata: {{name: aana}}
spec:
  rayClusterConfig:
    headGroupSpec:
      template:
        spec:
          containers:
            - name: ray-head
              env: [{{name: EXTRA, value: "1"}}]
    workerGroupSpecs:
{groups}
"""


def render(path):
    result = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    [service] = [d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "RayService"]
    return service["spec"]["rayClusterConfig"]


def make_repo(root, patch_groups: str, with_schema: bool = True):
    base = root / "base"
    text = (base / "rayservice.yaml").read_text()
    head, _, _ = text.partition("    workerGroupSpecs:\n")
    (base / "rayservice.yaml").write_text(
        head + "    workerGroupSpecs:\n" + "".join(BASE_GROUPS.format(name=n) for n in ("alpha", "beta", "gamma")))
    if not with_schema:
        kustomization = (base / "kustomization.yaml").read_text()
        (base / "kustomization.yaml").write_text(kustomization.split("openapi:")[0])
    overlay = root / "overlays" / "merge-test"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources: [../../base]\npatches:\n  - path: patch.yaml\n")
    (overlay / "patch.yaml").write_text(PATCH.format(groups=patch_groups))
    return overlay


GAMMA_ONLY = """      - groupName: gamma
        replicas: 5
        template:
          spec:
            containers:
              - name: ray-worker
                resources: {limits: {cpu: "3"}}
"""
ALL_IN_ORDER = "      - groupName: alpha\n      - groupName: beta\n" + GAMMA_ONLY + "      - groupName: delta\n        replicas: 2\n"


def test_patch_merges_worker_group_by_group_name_and_container_by_name(repo_copy):
    cluster = render(make_repo(repo_copy, ALL_IN_ORDER))
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    gamma = groups["gamma"]
    assert gamma["replicas"] == 5
    containers = {c["name"]: c for c in gamma["template"]["spec"]["containers"]}
    assert set(containers) == {"ray-worker", "log-shipper"}          # the sidecar survived
    assert containers["ray-worker"]["image"] == "ray-image"            # untouched fields kept
    assert containers["ray-worker"]["env"] == [{"name": "GROUP", "value": "gamma"}]
    assert containers["ray-worker"]["resources"] == {"limits": {"cpu": "3"}}
    assert groups["alpha"]["template"]["spec"]["containers"][1]["name"] == "log-shipper"
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["name"] == "ray-head" and head["ports"] and head["env"] == [{"name": "EXTRA", "value": "1"}]
    # Listing every base group in base order keeps that order; new groups go last.
    assert [g["groupName"] for g in cluster["workerGroupSpecs"]] == ["alpha", "beta", "gamma", "delta"]


def test_without_the_schema_the_patch_replaces_the_whole_list(repo_copy):
    """Proof that the schema is what makes the merge work (the CRD declares a plain list)."""
    cluster = render(make_repo(repo_copy, ALL_IN_ORDER, with_schema=False))
    gamma = next(g for g in cluster["workerGroupSpecs"] if g["groupName"] == "gamma")
    assert "image" not in gamma["template"]["spec"]["containers"][0]
    assert cluster["workerGroupSpecs"][0] == {"groupName": "alpha"}


def test_patching_one_group_moves_it_to_the_front(repo_copy):
    """The trap DEVELOPERS.md describes, pinned down so a kustomize upgrade that fixes or
    changes it is noticed (tools/validate's worker-group-order policy relies on it)."""
    cluster = render(make_repo(repo_copy, GAMMA_ONLY))
    assert [g["groupName"] for g in cluster["workerGroupSpecs"]] == ["gamma", "alpha", "beta"]
