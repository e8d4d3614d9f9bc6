"""Ray image tag parsing and the version-pin checks.

    parse_ray_image("rayproject/ray:2.46.0-py311-gpu").is_gpu             # True; .ray_version "2.46.0", .python "3.11"
    ray_version_in_image("europe-docker.pkg.dev/p/aana:0.2-ray-2.46.0")  # "2.46.0"
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass

from raygitops.errors import UserError


@dataclass(frozen=True)
class RayImageTag:
    ray_version: str | None   # "2.46.0"; None for latest, nightly and SHA-only dev tags
    commit: str | None        # the 6-hex dev-build SHA of "2.20.0.0ae93f"
    python: str | None        # "3.11" for "-py311"
    platform: str | None      # "cpu", "gpu" or "cu121"
    arch: str | None          # "aarch64"
    is_gpu: bool


# {version}[-py{NNN}][-{cpu|gpu|cuNN}][-{arch}] per rayproject/ray's docker README; older
# tags (Aana's docs use one) add a dev-build SHA after the version.
_TAG = re.compile(
    r"(?:(?P<ver>\d+\.\d+\.\d+)(?:\.(?P<sha>[0-9a-f]{6}))?|(?P<alias>latest|nightly)|(?P<sha_only>[0-9a-f]{6}))"
    r"(?:-py(?P<py>\d)(?P<pyminor>\d{1,2}))?"
    r"(?:-(?P<plat>cpu|gpu|cu\d{2,3}))?"
    r"(?:-(?P<arch>aarch64|x86_64))?")
# A custom image that names its Ray version: "aana:0.2-ray-2.46.0", "ray-2.20".
_CUSTOM = re.compile(r"(?:^|[-_])ray-(\d+\.\d+(?:\.\d+)?)(?=$|[-_])")


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """repository, tag, digest of an image reference (a registry port is not a tag): split_image("r/x:1@sha256:…")."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:], digest or None
    return name, None, digest or None


def _is_ray_repo(repo: str) -> bool:
    parts = repo.split("/")
    return len(parts) >= 2 and parts[-2] == "rayproject" and re.fullmatch(r"ray(-[a-z]+)?", parts[-1]) is not None


def parse_ray_image(image: str) -> RayImageTag | None:
    """The tag of a rayproject/ray* image, or None when it is not one or the tag is unreadable.

    An untagged image means :latest (ray_version None); a digest-only reference names no
    version, so it gives None.
    """
    if not isinstance(image, str):
        return None
    repo, tag, digest = split_image(image.strip())
    if not _is_ray_repo(repo):
        return None
    if tag is None:
        return None if digest else RayImageTag(None, None, None, None, None, False)
    m = _TAG.fullmatch(tag)
    if not m:
        return None
    plat = m["plat"]
    return RayImageTag(
        ray_version=m["ver"],
        commit=m["sha"] or m["sha_only"],
        python=f"{m['py']}.{m['pyminor']}" if m["py"] else None,
        platform=plat,
        arch=m["arch"],
        is_gpu=plat is not None and (plat == "gpu" or plat.startswith("cu")),
    )


def ray_version_in_image(image: str) -> str | None:
    """The Ray version an image's tag names, also for custom "…-ray-X.Y[.Z]" tags; None when unsure."""
    parsed = parse_ray_image(image)
    if parsed is not None:
        return parsed.ray_version
    if not isinstance(image, str):
        return None
    _, tag, _ = split_image(image.strip())
    found = _CUSTOM.findall(tag or "")
    # Two candidates ("ray-2.9-ray-2.10") mean we cannot tell which one is Ray's.
    return found[0] if len(found) == 1 else None


def versions_agree(a: str, b: str) -> bool:
    """Whether two Ray versions agree; "2.46" agrees with "2.46.0" since custom tags may name only X.Y."""
    pa, pb = a.split("."), b.split(".")
    n = min(len(pa), len(pb))
    return pa[:n] == pb[:n] if n >= 2 else a == b


_RAY_REQ = re.compile(r"\s*ray\s*(?:\[(?P<extras>[^\]]*)\])?\s*==\s*(?P<ver>[^\s;,]+)\s*(?:;.*)?", re.IGNORECASE)


def pinned_ray_serve_version(pyproject_text: str) -> str | None:
    """The ==version of ray[serve] (else of plain ray) in [project].dependencies, or None.

    Raises UserError when the text is not TOML.
    """
    try:
        data = tomllib.loads(pyproject_text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"pyproject.toml is not valid TOML: {e}", file="pyproject.toml",
                        fix="fix the TOML syntax") from None
    deps = (data.get("project") or {}).get("dependencies") if isinstance(data.get("project"), dict) else None
    plain = None
    for dep in deps if isinstance(deps, list) else []:
        m = _RAY_REQ.fullmatch(dep) if isinstance(dep, str) else None
        if not m:
            continue
        extras = {e.strip().lower() for e in (m["extras"] or "").split(",")}
        if "serve" in extras:
            return m["ver"]
        plain = plain or m["ver"]
    return plain
