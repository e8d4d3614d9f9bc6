"""checks/aana_pins.py: the fastapi pin against Ray's @serve.ingress series and Aana's requirement."""
from __future__ import annotations

import dataclasses

from conftest import REPO
from raygitops.checks.aana_pins import exact_pins, fastapi_pin_findings, fastapi_pin_problems
from raygitops.config import load_config

AANA = {"fastapi": ">=0.111.0", "ray": ">=2.20"}   # aana 0.2.4's METADATA
GOOD = '# fastapi==0.1 in a comment is no pin\n"ray[serve]==2.46.0",\n"fastapi==0.115.12",\n"starlette==0.46.2",\n'


def test_exact_pins_give_version_and_line_and_skip_comments():
    assert exact_pins(GOOD) == {"ray": ("2.46.0", 2), "fastapi": ("0.115.12", 3), "starlette": ("0.46.2", 4)}


def test_the_fastapi_pin_fits_ray_and_aana():
    assert fastapi_pin_problems(GOOD, "aana==0.2.4\n", "2.46.0", AANA) == []
    assert fastapi_pin_problems(GOOD.replace("0.115.12", "0.118.0"), "", "2.46.0", AANA) == [
        ("pyproject.toml", 3, "pyproject.toml pins fastapi==0.118.0, but Ray 2.46.0's @serve.ingress works with "
                              "fastapi 0.115.*")]
    assert fastapi_pin_problems(GOOD, "", "2.46.0", {"fastapi": ">=0.116"}) == [
        ("pyproject.toml", 3, "fastapi==0.115.12 does not satisfy Aana's requirement fastapi>=0.116")]
    assert fastapi_pin_problems(GOOD, "aana==0.2.4\nfastapi==0.116.1\n", "2.46.0", AANA) == [
        ("requirements-aana.txt", 2, "requirements-aana.txt pins fastapi==0.116.1, but pyproject.toml pins "
                                     "0.115.12: installed after the project, it would replace it")]
    assert fastapi_pin_problems('"ray[serve]==2.46.0"', "", "2.46.0", AANA)[0][2].startswith("pyproject.toml pins no")
    assert fastapi_pin_problems(GOOD, "", "2.47.0", AANA) == []   # no known series: only Aana's requirement


def test_this_repository_pins_fit_and_the_check_runs_only_with_an_aana_app(tmp_path):
    config = load_config(REPO)
    assert fastapi_pin_findings(config) == []
    assert exact_pins((REPO / "requirements-aana.txt").read_text())["aana"][0] == "0.2.4"
    pyproject = (REPO / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(pyproject.replace('"fastapi==0.115.12"', '"fastapi==0.118.0"'))
    (tmp_path / "requirements-aana.txt").write_text((REPO / "requirements-aana.txt").read_text())
    moved = dataclasses.replace(config, root=tmp_path)
    [found] = fastapi_pin_findings(moved)
    line = pyproject[:pyproject.index('"fastapi==')].count("\n") + 1
    assert (found.id, found.severity, found.file, found.line) == ("aana-fastapi-pin", "error", "pyproject.toml", line)
    plain = dataclasses.replace(moved, applications=tuple(a for a in config.applications if not a.aana))
    assert fastapi_pin_findings(plain) == [] and fastapi_pin_findings(dataclasses.replace(moved, packs=())) == []
