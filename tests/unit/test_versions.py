"""Ray image tags and the ray[serve] pin, on the tag forms rayproject/ray publishes."""
from pathlib import Path

import pytest

from raygitops.errors import UserError
from raygitops.versions import (RayImageTag, parse_ray_image, pinned_ray_serve_version,
                                ray_version_in_image, versions_agree)

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "@sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize("tag, expected", [
    ("2.46.0", RayImageTag("2.46.0", None, None, None, None, False)),
    ("2.46.0-py311", RayImageTag("2.46.0", None, "3.11", None, None, False)),
    ("2.46.0-py311-gpu", RayImageTag("2.46.0", None, "3.11", "gpu", None, True)),
    ("2.46.0-cu121", RayImageTag("2.46.0", None, None, "cu121", None, True)),
    ("2.46.0-py310-cu121", RayImageTag("2.46.0", None, "3.10", "cu121", None, True)),
    ("2.20.0.0ae93f-py310", RayImageTag("2.20.0", "0ae93f", "3.10", None, None, False)),
    ("2.46.0-py312-cpu-aarch64", RayImageTag("2.46.0", None, "3.12", "cpu", "aarch64", False)),
    ("2.9.0-py39-cu11", RayImageTag("2.9.0", None, "3.9", "cu11", None, True)),
    ("latest", RayImageTag(None, None, None, None, None, False)),
    ("nightly", RayImageTag(None, None, None, None, None, False)),
    ("nightly-py310-cpu", RayImageTag(None, None, "3.10", "cpu", None, False)),
])
def test_rayproject_tags(tag, expected):
    assert parse_ray_image(f"rayproject/ray:{tag}") == expected


@pytest.mark.parametrize("image, version, gpu", [
    ("localhost:5000/rayproject/ray:2.46.0-py311-gpu", "2.46.0", True),
    ("docker.io/rayproject/ray:2.46.0-py311" + DIGEST, "2.46.0", False),
    ("my.registry:443/mirror/rayproject/ray-ml:2.9.0-gpu", "2.9.0", True),
    ("rayproject/ray", None, False),                       # untagged = latest
])
def test_hosts_ports_digests(image, version, gpu):
    tag = parse_ray_image(image)
    assert tag is not None and tag.ray_version == version and tag.is_gpu == gpu


@pytest.mark.parametrize("image", [
    "rayproject/ray" + DIGEST,          # a digest names no version
    "rayproject/ray:2.46",              # not a published form
    "rayproject/ray:2.46.0-py311-tpu",
    "python:3.11",
    "localhost:5000/ray:2.46.0",        # not rayproject's
    "rayproject/raylet:2.46.0",
    "ray-image", "", None, 2.46, ["rayproject/ray:2.46.0"],
])
def test_not_a_readable_ray_image(image):
    assert parse_ray_image(image) is None


@pytest.mark.parametrize("image, version", [
    ("rayproject/ray:2.46.0-py311", "2.46.0"),
    ("europe-docker.pkg.dev/p/eu.gcr.io/aana/aana:0.2-ray-2.46.0", "2.46.0"),
    ("europe-docker.pkg.dev/customised-training-app/eu.gcr.io/aana/aana:0.2-ray-2.20" + DIGEST, "2.20"),
    ("registry:5000/aana:ray-2.46", "2.46"),
    ("aana:0.2-ray-2.46.0-py311", "2.46.0"),
    ("aana:0.2", None),
    ("aana:xray-2.46.0", None),
    ("aana:ray-2.9-ray-2.10", None),    # two candidates: unsure
    ("aana:0.2-ray-2.20.0.0ae93f", None),
    ("aana" + DIGEST, None),
    ("rayproject/ray:nightly", None),
    (None, None),
])
def test_ray_version_in_image(image, version):
    assert ray_version_in_image(image) == version


@pytest.mark.parametrize("a, b, agree", [
    ("2.46.0", "2.46.0", True), ("2.46", "2.46.0", True), ("2.46.0", "2.45.0", False),
    ("2.20", "2.46.0", False), ("2.46.1", "2.46.0", False),
])
def test_versions_agree(a, b, agree):
    assert versions_agree(a, b) is agree


def test_pin_of_this_repo():
    assert pinned_ray_serve_version((ROOT / "pyproject.toml").read_text()) == "2.46.0"


@pytest.mark.parametrize("deps, version", [
    ('["ray[serve]==2.46.0"]', "2.46.0"),
    ('["Ray[Serve, default] == 2.46.0 ; python_version < \'3.13\'"]', "2.46.0"),
    ('["ray==2.45.0"]', "2.45.0"),
    ('["ray==2.45.0", "ray[serve]==2.46.0"]', "2.46.0"),
    ('["ray[serve]>=2.20,<2.47"]', None),
    ('["raydp==1.6.0", "fastapi==0.115.12"]', None),
    ('[]', None),
])
def test_pinned_ray_serve_version(deps, version):
    assert pinned_ray_serve_version(f"[project]\nname = 'x'\ndependencies = {deps}\n") == version


def test_pin_absent_or_broken():
    assert pinned_ray_serve_version("[tool.x]\na = 1\n") is None
    with pytest.raises(UserError, match="not valid TOML"):
        pinned_ray_serve_version("[project\n")
