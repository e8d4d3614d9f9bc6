"""Per-environment pins (overlays/<env>/pins.yaml): what is accepted, what `set` writes, the promotion order.

    .venv/bin/pytest tests/unit/test_pins.py -q
"""
from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from raygitops.config import load_config
from raygitops.edit.promote import check_order
from raygitops.edit.setpin import parse_image_value, refuse_global, set_image
from raygitops.errors import UserError
from raygitops.model.pins import ImagePin, image_pin_problem, image_reference, load_pins

DIGEST = "sha256:" + "ab" * 32


def test_an_environment_without_pins_follows_the_working_tree_and_raygitops_yaml():
    pins = load_pins(REPO, "dev")
    assert pins.code is None and pins.images == {}
    config = load_config(REPO)
    spec = next(s for s in config.images if s.placeholder == "ray-image")
    assert image_reference(config, spec, None) == ("rayproject/ray", f"{config.versions.ray}-py311", None)
    assert image_reference(config, spec, ImagePin(tag=f"{config.versions.ray}-py311-b2", digest=DIGEST)) == (
        "rayproject/ray", f"{config.versions.ray}-py311-b2", DIGEST)


@pytest.mark.parametrize("text, message", [
    ("cod: abc\n", "unknown key 'cod'"),
    ("code: 1234567\n", "'code' must be a commit or a tag"),   # YAML reads a number: it must be quoted
    ("images: [a]\n", "'images' must be a mapping"),
    ("images:\n  ray-image: {tga: x}\n", "images.ray-image must be a mapping of name, tag and/or digest"),
    ("images:\n  ray-image: {digest: md5:1}\n", "images.ray-image.digest is not a valid image digest"),
])
def test_a_bad_pins_file_is_refused_with_its_line(cold_repo_copy, text, message):
    (cold_repo_copy / "overlays/dev/pins.yaml").write_text("# pins\n" + text)
    with pytest.raises(UserError) as error:
        load_pins(cold_repo_copy, "dev")
    assert message in error.value.message and error.value.file == "overlays/dev/pins.yaml"
    assert error.value.line and error.value.line > 1


def test_image_values_and_the_one_ray_version():
    assert parse_image_value("2.46.0-py311-b2") == ImagePin(tag="2.46.0-py311-b2")
    assert parse_image_value(f"2.46.0-py311@{DIGEST}") == ImagePin(tag="2.46.0-py311", digest=DIGEST)
    assert parse_image_value(f"@{DIGEST}") == ImagePin(digest=DIGEST)
    assert parse_image_value("registry.example.com:5000/team/aana:0.2-ray-2.46.0") == ImagePin(
        name="registry.example.com:5000/team/aana", tag="0.2-ray-2.46.0")
    config = load_config(REPO)
    ray = config.versions.ray
    assert image_pin_problem(config, "ray-image", ImagePin(tag=f"{ray}-py311-b2")) is None
    assert image_pin_problem(config, "ray-image", ImagePin(tag=f"0.2-ray-{ray}")) is None
    assert "reaches every environment at once" in image_pin_problem(config, "ray-image", ImagePin(tag="2.47.0-py311"))
    assert "reaches every environment" in image_pin_problem(config, "ray-image", ImagePin(tag=f"{ray}0-py311"))
    assert "no image placeholder 'ray'" in image_pin_problem(config, "ray", ImagePin(tag=ray))
    with pytest.raises(UserError, match="ray-version is not per environment"):
        refuse_global("ray-version")


def test_set_image_writes_the_pin_and_keeps_the_files_comments(cold_repo_copy):
    ray = load_config(cold_repo_copy).versions.ray
    edit = set_image(cold_repo_copy, "dev", "ray-image", f"{ray}-py311-b2")
    text = edit.files["overlays/dev/pins.yaml"]
    assert text.startswith("# What dev runs") and yaml.safe_load(text) == {"images": {"ray-image": {"tag": f"{ray}-py311-b2"}}}
    (cold_repo_copy / "overlays/dev/pins.yaml").write_text(text.replace("images:", "# kept\nimages:  # and this"))
    edit = set_image(cold_repo_copy, "dev", "ray-gpu-image", f"{ray}-py311-gpu@{DIGEST}")
    assert "# kept\nimages:  # and this\n" in edit.files["overlays/dev/pins.yaml"]
    (cold_repo_copy / "overlays/dev/pins.yaml").write_text(edit.files["overlays/dev/pins.yaml"])
    set_image(cold_repo_copy, "dev", "ray-gpu-image", None)   # unpin one
    (cold_repo_copy / "overlays/dev/pins.yaml").write_text(text)
    assert set_image(cold_repo_copy, "dev", "ray-image", None).files == {"overlays/dev/pins.yaml": None}   # none left: deleted
    with pytest.raises(UserError, match="not a build of Ray"):
        set_image(cold_repo_copy, "dev", "ray-image", "2.0.0-py311")


def test_the_promotion_order():
    order = ("dev", "staging", "prod")
    check_order(order, "dev", "staging", force=False)
    check_order(order, "staging", "prod", force=False)
    with pytest.raises(UserError, match="would skip staging"):
        check_order(order, "dev", "prod", force=False)
    with pytest.raises(UserError, match="qa is not in promotion.order"):
        check_order(order, "dev", "qa", force=False)
    with pytest.raises(UserError, match="to itself"):
        check_order(order, "dev", "dev", force=True)
    check_order(order, "dev", "prod", force=True)
    assert load_config(REPO).promotion_order == order


def test_tools_diff_says_a_ray_bump_reaches_every_environment(tmp_path):
    from raygitops.diff.compare import ray_bump_hints
    text = (REPO / "raygitops.yaml").read_text()
    ray = load_config(REPO).versions.ray
    for name, version in (("old", ray), ("new", "9.9.9")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "raygitops.yaml").write_text(text.replace(f"ray: {ray}", f"ray: {version}", 1))
    [hint] = ray_bump_hints(tmp_path / "old", tmp_path / "new", "staging")
    assert f"versions.ray {ray} → 9.9.9 reaches every environment at once" in hint
    assert ray_bump_hints(tmp_path / "old", tmp_path / "old", "staging") == []
