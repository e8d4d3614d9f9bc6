"""The schema store against the real pinned files: ../shared as the mirror, a cache in tmp.

    .venv/bin/pytest tests/unit/test_schemastore.py -q
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import socket
from pathlib import Path

import pytest

from conftest import REPO, SHARED
from raygitops.config import load_config
from raygitops.errors import UserError
from raygitops.schemastore import LOCK_FILE, MIRROR_ENV, SchemaStore, read_lock, sha256

LOCKED = sorted(path for entry in read_lock(REPO).values() for path in entry["files"])


@pytest.fixture
def repo_config(tmp_path):
    """raygitops.yaml of this repository, with its root (and schemas.lock) in tmp."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / LOCK_FILE, root / LOCK_FILE)
    return dataclasses.replace(load_config(REPO), root=root)


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Path:
    """A copy of the pinned part of ../shared, safe to change."""
    target = tmp_path / "mirror"
    for rel in LOCKED:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHARED / rel, target / rel)
    shutil.copy(SHARED / "crds/argo-cd/TAG", target / "crds/argo-cd/TAG")
    monkeypatch.setenv(MIRROR_ENV, str(target))
    return target


def store_of(config, tmp_path, lines=None) -> SchemaStore:
    return SchemaStore(config, cache=tmp_path / "cache", announce=(lines.append if lines is not None else print))


def test_first_use_fetches_every_pinned_file_once_and_says_so_on_one_line(repo_config, mirror, tmp_path):
    lines: list[str] = []
    files = store_of(repo_config, tmp_path, lines).ensure()
    assert sorted(str(p.relative_to(tmp_path / "cache")) for paths in files.values() for p in paths) == LOCKED
    assert len(lines) == 1 and lines[0].startswith(f"raygitops: fetching {len(LOCKED)} schema files (KubeRay v1.7.0 CRDs")
    assert f"from the mirror {mirror}" in lines[0]
    again: list[str] = []
    store_of(repo_config, tmp_path, again).ensure()
    assert again == []
    assert (tmp_path / "cache/crds/argo-cd/TAG").read_text() == "v3.5.1\n"


def test_a_mirror_given_as_a_file_url(repo_config, mirror, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, mirror.as_uri())
    assert store_of(repo_config, tmp_path, []).catalog_files() == {
        "external-secrets.io/externalsecret_v1.json": tmp_path / "cache/schemas/external-secrets.io/externalsecret_v1.json"}


def test_a_tampered_cached_file_is_refused_by_its_hash(repo_config, mirror, tmp_path):
    store_of(repo_config, tmp_path, []).ensure()
    cached = tmp_path / "cache/crds/kuberay/v1.7.0/ray.io_rayservices.yaml"
    cached.write_text(cached.read_text().replace("maxReplicas", "maxReplica", 1))
    with pytest.raises(UserError) as error:
        store_of(repo_config, tmp_path, []).ensure()
    assert (error.value.file, error.value.message) == (str(cached), "the cached file does not match its sha256 in "
                                                                     "schemas.lock: refused")
    assert "delete it to fetch it again" in error.value.fix


def test_a_cached_file_of_another_version_is_fetched_again(repo_config, mirror, tmp_path):
    store_of(repo_config, tmp_path, []).ensure()
    cached = tmp_path / "cache/crds/argo-cd/application-crd.yaml"
    cached.write_text("# Argo CD v3.4.0's, left by another checkout\n")
    (tmp_path / "cache/crds/argo-cd/TAG").write_text("v3.4.0\n")
    lines: list[str] = []
    store_of(repo_config, tmp_path, lines).ensure()
    assert lines == [f"raygitops: fetching 1 schema file (Argo CD v3.5.1 CRDs) from the mirror {mirror} "
                     f"into {tmp_path / 'cache'}"]
    assert sha256(cached.read_bytes()) == sha256((SHARED / "crds/argo-cd/application-crd.yaml").read_bytes())


def test_a_mirror_file_that_differs_from_the_lock_is_refused_and_nothing_is_written(repo_config, mirror, tmp_path):
    bad = mirror / "schemas/external-secrets.io/externalsecret_v1.json"
    bad.write_text(json.dumps({"type": "object"}))
    with pytest.raises(UserError, match="externalsecret_v1.json does not match its sha256 in schemas.lock: refused"):
        store_of(repo_config, tmp_path, []).ensure()
    assert not (tmp_path / "cache").exists()


def test_a_mirror_of_another_argo_cd_version_is_refused(repo_config, mirror, tmp_path):
    (mirror / "crds/argo-cd/TAG").write_text("v3.4.0\n")
    with pytest.raises(UserError, match="the mirror holds v3.4.0 in crds/argo-cd/, but raygitops.yaml pins Argo CD v3.5.1"):
        store_of(repo_config, tmp_path, []).ensure()


def test_a_missing_mirror_directory_is_one_clear_error(repo_config, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match=f"{MIRROR_ENV} names .*nowhere, which is not a directory"):
        store_of(repo_config, tmp_path, []).ensure()


def test_without_network_or_mirror_the_error_says_what_to_fetch_from_where_and_where_to_put_it(
        repo_config, tmp_path, monkeypatch):
    with socket.socket() as s:   # a proxy that refuses every connection: the same failure as no network
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    with pytest.raises(UserError) as error:
        store_of(repo_config, tmp_path, []).ensure()
    text = str(error.value)
    assert text.startswith("cannot download the schemas (")
    assert f"and {MIRROR_ENV} is not set" in text
    for expected in ("KubeRay v1.7.0 CRDs from https://github.com/ray-project/kuberay/tree/v1.7.0/ray-operator/config/"
                     "crd/bases into crds/kuberay/v1.7.0/",
                     "Argo CD v3.5.1 CRDs from https://github.com/argoproj/argo-cd/tree/v3.5.1/manifests/crds into "
                     "crds/argo-cd/",
                     "into schemas/ (external-secrets.io/externalsecret_v1.json)",
                     f"under {tmp_path / 'cache'}/"):
        assert expected in text
    assert "\n" not in text
    assert not (tmp_path / "cache").exists()


def test_a_pin_the_lock_does_not_have_asks_for_update_which_rewrites_the_lock(repo_config, mirror, tmp_path):
    shutil.copytree(SHARED / "crds/kuberay/v1.6.2", mirror / "crds/kuberay/v1.6.2")
    bumped = dataclasses.replace(repo_config, versions=dataclasses.replace(repo_config.versions, kuberay="1.6.2"))
    with pytest.raises(UserError) as error:
        store_of(bumped, tmp_path, []).ensure()
    assert str(error.value) == ("schemas.lock: schemas.lock has kuberay v1.7.0, but raygitops.yaml pins KubeRay v1.6.2 "
                                "CRDs — run `raygitops schemas --update` (tools/schemas --update) and commit schemas.lock")
    text, changed = store_of(bumped, tmp_path, []).update()
    kuberay = json.loads(text)["sources"]["kuberay"]
    assert kuberay["ref"] == "v1.6.2"
    assert sorted(kuberay["files"]) == [f"crds/kuberay/v1.6.2/ray.io_{name}.yaml"
                                        for name in ("rayclusters", "raycronjobs", "rayjobs", "rayservices")]
    assert changed == sorted([*kuberay["files"], *(p for p in LOCKED if p.startswith("crds/kuberay/v1.7.0/"))])
    (bumped.root / LOCK_FILE).write_text(text)
    assert len(store_of(bumped, tmp_path, []).crd_files("kuberay")) == 4


def test_the_catalog_list_must_match_the_lock(repo_config, mirror, tmp_path):
    more = dataclasses.replace(repo_config, schemas=dataclasses.replace(
        repo_config.schemas, catalog=(*repo_config.schemas.catalog, "bitnami.com/sealedsecret_v1alpha1.json")))
    with pytest.raises(UserError, match="lists other catalog schemas than schemas.catalog"):
        store_of(more, tmp_path, []).ensure()


def test_no_lock_or_a_broken_one(repo_config, tmp_path):
    (repo_config.root / LOCK_FILE).write_text("{not json")
    with pytest.raises(UserError, match="is not a lock file written by raygitops"):
        store_of(repo_config, tmp_path, []).ensure()
    (repo_config.root / LOCK_FILE).unlink()
    with pytest.raises(UserError, match="run `raygitops schemas --update`"):
        store_of(repo_config, tmp_path, []).ensure()


def test_crds_by_group_and_kind(repo_config, mirror, tmp_path):
    store = store_of(repo_config, tmp_path, [])
    service = store.crd("ray.io/RayService", "v1")
    assert service["spec"]["names"]["kind"] == "RayService"
    assert store.crd("argoproj.io/Application")["spec"]["group"] == "argoproj.io"
    with pytest.raises(UserError, match="does not serve v2"):
        store.crd("ray.io/RayService", "v2")
    with pytest.raises(UserError, match="no CRD for example.com/Widget"):
        store.crd("example.com/Widget")


def test_the_lock_matches_the_mirror_this_repository_is_tested_with():
    """schemas.lock and ../shared agree (both are upstream's files at the pins)."""
    for entry in read_lock(REPO).values():
        for rel, digest in entry["files"].items():
            assert sha256((SHARED / rel).read_bytes()) == digest, rel


def test_without_argo_cd_or_catalog_pins_only_the_kuberay_crds_are_fetched(repo_config, mirror, tmp_path):
    bare = dataclasses.replace(repo_config, versions=dataclasses.replace(repo_config.versions, argocd=None),
                               schemas=dataclasses.replace(repo_config.schemas, catalog=(), catalog_commit=None))
    store = store_of(bare, tmp_path, [])
    assert list(store.ensure()) == ["kuberay"] and store.catalog_files() == {}
    assert [p.name for p in store.crd_files()] == [f"ray.io_{n}.yaml" for n in ("rayclusters", "raycronjobs", "rayjobs",
                                                                               "rayservices")]
