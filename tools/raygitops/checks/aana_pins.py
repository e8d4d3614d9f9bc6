"""Aana pack, once per repository: the fastapi pin fits Ray's @serve.ingress and Aana's own requirement.

    findings = fastapi_pin_findings(config)   # [] unless an `aana:` app is configured and the pins disagree
    fastapi_pin_problems(pyproject_text, requirements_text, "2.46.0", {"fastapi": ">=0.111.0"})  # (file, line, msg)

Ray's @serve.ingress serialises the FastAPI app; FastAPI/Starlette releases after Ray's time break that, so
each Ray minor has the fastapi series it works with (0.115 for Ray 2.46: pyproject.toml's comment, checked on
this repository's apps with tools/up). Aana 0.2.4 asks for fastapi>=0.111.0 and ray[serve]>=2.20 (its METADATA);
an installed Aana's own requirement is read from its metadata, without importing it (importing Aana's
settings creates /tmp/aana_data: aana 0.2.4, aana/configs/settings.py).
"""
from __future__ import annotations

import re
from importlib import metadata
from typing import Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from raygitops.checks.registry import AANA, finding
from raygitops.config import RepoConfig
from raygitops.findings import Finding

PYPROJECT, REQUIREMENTS = "pyproject.toml", "requirements-aana.txt"
FASTAPI_FOR_RAY = {"2.46": "0.115"}   # Ray minor → the fastapi series its @serve.ingress works with
AANA_REQUIRES = {"fastapi": ">=0.111.0", "ray": ">=2.20"}   # aana 0.2.4's METADATA
_PIN = re.compile(r"""^[^#\n]*?["']?\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*==\s*([A-Za-z0-9_.\-*+!]+)""", re.M)


def exact_pins(text: str) -> dict[str, tuple[str, int]]:
    """name → (version, line) of every `name==version` outside comments in a pyproject.toml or requirements file."""
    return {m.group(1).lower().replace("_", "-"): (m.group(2), text.count("\n", 0, m.start(1)) + 1)
            for m in _PIN.finditer(text)}


def aana_requirements() -> dict[str, str]:
    """Aana's declared requirements on fastapi and ray: from the installed Aana, else aana 0.2.4's."""
    try:
        declared = metadata.requires("aana") or []
    except metadata.PackageNotFoundError:
        return dict(AANA_REQUIRES)
    found = dict(AANA_REQUIRES)
    for line in declared:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.name.lower() in found and not requirement.marker:
            found[requirement.name.lower()] = str(requirement.specifier)
    return found


def fastapi_pin_problems(pyproject: str, requirements: str, ray_version: str,
                         aana: Mapping[str, str]) -> list[tuple[str, int | None, str]]:
    """(file, line, message) for pyproject.toml's fastapi pin against Ray's series and Aana's requirement;
    requirements-aana.txt (installed with --no-deps after the project) must pin no other fastapi, starlette or ray."""
    project, extra = exact_pins(pyproject), exact_pins(requirements)
    if "fastapi" not in project:
        return [(PYPROJECT, None, "pyproject.toml pins no fastapi==…: pip would take the newest, which breaks "
                                  "@serve.ingress")]
    fastapi, line = project["fastapi"]
    problems = []
    series = FASTAPI_FOR_RAY.get(".".join(ray_version.split(".")[:2]))
    if series and not (fastapi == series or fastapi.startswith(series + ".")):
        problems.append((PYPROJECT, line, f"pyproject.toml pins fastapi=={fastapi}, but Ray {ray_version}'s "
                                          f"@serve.ingress works with fastapi {series}.*"))
    ray, ray_line = project.get("ray", (ray_version, None))
    for name, pinned, at in (("fastapi", fastapi, line), ("ray", ray, ray_line)):
        try:
            if name in aana and Version(pinned) not in SpecifierSet(aana[name]):
                problems.append((PYPROJECT, at, f"{name}=={pinned} does not satisfy Aana's requirement "
                                                f"{name}{aana[name]}"))
        except InvalidVersion:
            problems.append((PYPROJECT, at, f"{name}=={pinned} is not a version"))
    for name in ("fastapi", "starlette", "ray"):
        if name in extra and extra[name][0] != project.get(name, (None,))[0]:
            problems.append((REQUIREMENTS, extra[name][1],
                             f"requirements-aana.txt pins {name}=={extra[name][0]}, but pyproject.toml pins "
                             f"{project.get(name, ('none',))[0]}: installed after the project, it would replace it"))
    return problems


def fastapi_pin_findings(config: RepoConfig) -> list[Finding]:
    """Once per repository, when the aana pack is on and raygitops.yaml has an `aana:` app."""
    if AANA not in config.packs or not any(app.aana for app in config.applications):
        return []
    root = config.root
    texts = [(root / name).read_text() if (root / name).is_file() else "" for name in (PYPROJECT, REQUIREMENTS)]
    return [finding("aana-fastapi-pin", message, file=file, line=line)
            for file, line, message in fastapi_pin_problems(*texts, config.versions.ray, aana_requirements())]
