"""A fresh clone and a user's own repository: no ../shared beside it, schemas fetched and locked,
`raygitops` installed as a package and run from inside a checkout.

    .venv/bin/pytest tests/e2e/test_fresh_clone.py -q
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path


from conftest import REPO, SHARED, run_tool
from raygitops.schemastore import LOCK_FILE, MIRROR_ENV


def _fresh_env(tmp_path: Path, **extra: str) -> dict:
    """An empty schema cache of the test's own (nothing fetched yet), plus `extra`."""
    return {"XDG_CACHE_HOME": str(tmp_path / "cache"), **extra}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the schema store, as a user meets it ----------------------------------------------------------

def test_a_clone_without_shared_validates_clean_through_the_mirror(cold_repo_copy, tmp_path):
    assert not (cold_repo_copy.parent / "shared").exists()
    result = run_tool(cold_repo_copy, "validate", env=_fresh_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    [fetched] = [line for line in result.stderr.splitlines() if "fetching" in line]
    assert fetched.startswith("raygitops: fetching 8 schema files (KubeRay v1.7.0 CRDs, Argo CD v3.5.1 CRDs, "
                              "CRDs-catalog schemas at 7b1e26ef9dee) from the mirror ")
    assert "Invalid: 0, Errors: 0" in result.stdout
    again = run_tool(cold_repo_copy, "validate", "overlays/staging", env=_fresh_env(tmp_path))
    assert again.returncode == 0 and "fetching" not in again.stderr   # fetched once, then read from the cache


def test_without_network_and_mirror_validate_stops_at_once_with_one_message(cold_repo_copy, tmp_path):
    proxy = f"http://127.0.0.1:{_closed_port()}"   # refuses every connection, as no network does
    env = {**_fresh_env(tmp_path, https_proxy=proxy, HTTPS_PROXY=proxy), MIRROR_ENV: ""}
    result = run_tool(cold_repo_copy, "validate", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    [error] = [line for line in result.stderr.splitlines() if not line.startswith("raygitops: fetching")]
    assert error.startswith("error: cannot download the schemas (")
    for what in ("https://github.com/ray-project/kuberay/tree/v1.7.0/ray-operator/config/crd/bases",
                 "https://github.com/argoproj/argo-cd/tree/v3.5.1/manifests/crds",
                 "https://github.com/datreeio/CRDs-catalog/tree/7b1e26ef9deea49293714d204c1a2270aab1178f",
                 f"under {tmp_path / 'cache' / 'raygitops'}/", MIRROR_ENV):
        assert what in error


def test_a_tampered_schema_file_is_refused_by_its_hash(cold_repo_copy, tmp_path):
    assert run_tool(cold_repo_copy, "schemas", env=_fresh_env(tmp_path)).returncode == 0
    cached = tmp_path / "cache/raygitops/crds/kuberay/v1.7.0/ray.io_rayservices.yaml"
    # a looser schema: a typo in a RayService would pass, and nobody would notice
    cached.write_text(cached.read_text().replace("x-kubernetes-preserve-unknown-fields: false", "", 1) + "\n")
    result = run_tool(cold_repo_copy, "validate", "overlays/staging", env=_fresh_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {cached}: the cached file does not match its sha256 in schemas.lock: refused — delete it to fetch it "
        "again; if KubeRay v1.7.0 CRDs changed on purpose, run `raygitops schemas --update` "
        "(tools/schemas --update) and commit schemas.lock"]


def test_update_rewrites_the_lock_after_a_version_bump(cold_repo_copy, tmp_path):
    config = cold_repo_copy / "raygitops.yaml"
    config.write_text(config.read_text().replace("kuberay: 1.7.0", "kuberay: 1.6.2", 1))
    stale = run_tool(cold_repo_copy, "schemas", env=_fresh_env(tmp_path))
    assert stale.returncode == 2
    assert "schemas.lock has kuberay v1.7.0, but raygitops.yaml pins KubeRay v1.6.2 CRDs" in stale.stderr
    before = json.loads((cold_repo_copy / LOCK_FILE).read_text())["sources"]
    updated = run_tool(cold_repo_copy, "schemas", "--update", env=_fresh_env(tmp_path))
    assert updated.returncode == 0, updated.stderr
    after = json.loads((cold_repo_copy / LOCK_FILE).read_text())["sources"]
    assert after["kuberay"]["ref"] == "v1.6.2"
    for rel, digest in after["kuberay"]["files"].items():
        assert rel.startswith("crds/kuberay/v1.6.2/")
        assert hashlib.sha256((SHARED / rel).read_bytes()).hexdigest() == digest
    assert {k: v for k, v in after.items() if k != "kuberay"} == {k: v for k, v in before.items() if k != "kuberay"}
    assert updated.stdout.startswith("wrote schemas.lock: 8 files changed: crds/kuberay/v1.6.2/ray.io_rayclusters.yaml")
    assert "every file matches schemas.lock" in updated.stdout


# --- one installable command --------------------------------------------------------------------

def test_the_installed_command_finds_the_repository_from_the_current_directory(cold_repo_copy, tmp_path):
    """A non-editable install, run inside a second copy of the repository (no RAYGITOPS_ROOT), as a
    kubeconform user would call it."""
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                              str(REPO)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    env = {key: value for key, value in os.environ.items() if key not in ("RAYGITOPS_ROOT", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    where = subprocess.run([sys.executable, "-c", "import raygitops; print(raygitops.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site)   # the installed copy, not tools/ of this checkout
    result = subprocess.run([str(site / "bin/raygitops"), "validate", "-output", "json", "-summary", "../overlays/dev"],
                            cwd=cold_repo_copy / "apps", env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["invalid"] == 0 and report["summary"]["valid"] == report["summary"]["resources"] > 0
    outside = subprocess.run([str(site / "bin/raygitops"), "validate"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert outside.returncode == 2
    assert outside.stderr.strip() == (f"error: no raygitops.yaml in {tmp_path.resolve()} or above — "
                                      "run from inside a raygitops repository")
