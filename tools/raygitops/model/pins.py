"""An environment's pins: the code (a commit of apps/) and the image builds it runs, from overlays/<env>/pins.yaml.

    pins = load_pins(root, "staging")    # Pins(code="1a2b…", images={"ray-image": ImagePin(tag="2.46.0-py311-b2")})
    image_reference(config, spec, pins.images.get(spec.placeholder))   # (name, tag, digest) regen writes

An environment without the file, or without a key in it, follows the working tree (code) and
raygitops.yaml (images), as every environment did before pins. The Ray version stays global
(versions.ray): a pinned image must be a build of that version, because the local toolchain and
`serve build` run one Ray.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from raygitops.errors import UserError
from raygitops.model.environment import OVERLAYS
from raygitops.yamlio import load_yaml

PINS_FILE = "pins.yaml"
_KEYS = {"code", "images"}
_IMAGE_KEYS = {"name", "tag", "digest"}
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")          # the OCI distribution spec's tag
_NAME = re.compile(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")           # a commit or tag name


@dataclass(frozen=True)
class ImagePin:
    name: str | None = None     # another repository (default: raygitops.yaml's images.<placeholder>.name)
    tag: str | None = None      # default: <versions.ray><tag_suffix>
    digest: str | None = None   # sha256:…, kept beside the tag: name:tag@digest

    def as_dict(self) -> dict:
        return {k: v for k, v in (("name", self.name), ("tag", self.tag), ("digest", self.digest)) if v}


@dataclass(frozen=True)
class Pins:
    environment: str
    code: str | None = None                              # a commit (or tag); None: the working tree
    images: dict[str, ImagePin] = field(default_factory=dict)
    raw: bytes = b""                                     # the file's bytes: an input of the generated files

    @property
    def file(self) -> str:
        return pins_rel(self.environment)


def pins_rel(env: str) -> str:
    return f"{OVERLAYS}/{env}/{PINS_FILE}"


def load_pins(root: Path, env: str) -> Pins:
    path = root / pins_rel(env)
    if not path.is_file():
        return Pins(env)
    doc = load_yaml(path, root)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise UserError("expected a mapping with code and/or images", file=doc.file, line=1,
                        fix="see README.md, \"Promote a change\"")
    for key in data:
        if key not in _KEYS:
            raise UserError(f"unknown key '{key}'", file=doc.file, line=doc.line_of((key,)),
                            fix=f"use {', '.join(sorted(_KEYS))}")
    code = data.get("code")
    if code is not None and not (isinstance(code, str) and _REF.match(code)):
        raise UserError("'code' must be a commit or a tag", file=doc.file, line=doc.line_of(("code",)),
                        fix="write the full commit id in quotes, or use `raygitops set <env> code <ref>`")
    images_raw = data.get("images") or {}
    if not isinstance(images_raw, dict):
        raise UserError("'images' must be a mapping of placeholder → {name, tag, digest}", file=doc.file,
                        line=doc.line_of(("images",)), fix="e.g. ray-image: {tag: 2.46.0-py311-build2}")
    images = {}
    for placeholder, spec in images_raw.items():
        where = ("images", placeholder)
        if not isinstance(spec, dict) or not spec or set(spec) - _IMAGE_KEYS:
            raise UserError(f"images.{placeholder} must be a mapping of name, tag and/or digest", file=doc.file,
                            line=doc.line_of(where), fix="e.g. {tag: 2.46.0-py311-build2}")
        for key, pattern in (("name", _NAME), ("tag", _TAG), ("digest", _DIGEST)):
            value = spec.get(key)
            if value is not None and not (isinstance(value, str) and pattern.match(value)):
                raise UserError(f"images.{placeholder}.{key} is not a valid image {key}", file=doc.file,
                                line=doc.line_of(where + (key,)),
                                fix="a digest is sha256:<64 hex>" if key == "digest" else f"write the {key} as a string")
        images[str(placeholder)] = ImagePin(spec.get("name"), spec.get("tag"), spec.get("digest"))
    return Pins(env, code, images, path.read_bytes())


def image_reference(config, spec, pin: ImagePin | None) -> tuple[str, str, str | None]:
    """(repository, tag, digest) of a placeholder image in an environment."""
    pin = pin or ImagePin()
    return pin.name or spec.name, pin.tag or spec.tag(config.versions.ray), pin.digest


def image_pin_problem(config, placeholder: str, pin: ImagePin) -> str | None:
    """Why a pin cannot be used: an unknown placeholder, or a tag that is not a build of versions.ray."""
    specs = {spec.placeholder: spec for spec in config.images}
    if placeholder not in specs:
        return f"no image placeholder '{placeholder}' (raygitops.yaml images: {', '.join(sorted(specs))})"
    ray = config.versions.ray
    if pin.tag is not None and not re.match(rf"^(?:{re.escape(ray)}(?![0-9])|.*ray-{re.escape(ray)}(?![0-9]))", pin.tag):
        return (f"tag {pin.tag} is not a build of Ray {ray}: the Ray version is global (versions.ray in "
                f"raygitops.yaml) and a bump reaches every environment at once")
    return None
