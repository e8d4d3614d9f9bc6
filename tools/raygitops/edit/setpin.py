"""Per-environment values: pin an environment's images or code in overlays/<env>/pins.yaml, comments kept.

    edit = set_image(root, "dev", "ray-image", "2.46.0-py311-build2")   # a new build of the same Ray
    edit = set_code(root, "prod", "v1.4.0")                             # the commit of apps/ prod deploys
"""
from __future__ import annotations

from pathlib import Path

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from raygitops.config import load_config
from raygitops.edit.overlay import existing_environment
from raygitops.edit.roundtrip import EditableYaml, delete_entry, flow_mapping, load_for_edit, parse_for_edit
from raygitops.edit.transaction import Edit
from raygitops.errors import UserError
from raygitops.generate.pinned import resolve_code
from raygitops.model.pins import ImagePin, image_pin_problem, pins_rel

# Values that are not per environment, and why.
GLOBAL = {
    "ray-version": "versions.ray in raygitops.yaml: the local toolchain and `serve build` run one Ray, so a Ray "
                   "bump reaches every environment at once (tools/diff shows each)",
    "kuberay-version": "versions.kuberay in raygitops.yaml: one operator serves every environment",
}
SETTABLE = ("image", "code")


def pins_document(root: Path, env: str) -> EditableYaml:
    """overlays/<env>/pins.yaml for editing; a new one starts with the comment that says what it is."""
    rel = pins_rel(env)
    if (root / rel).is_file():
        doc = load_for_edit(root / rel, root)
        if doc.data is None:
            doc.data = CommentedMap()
        return doc
    header = (f"# What {env} runs, written by `raygitops promote` and `raygitops set`: the code of apps/ at a\n"
              f"# commit (code) and image builds (images). Without them {env} follows the working tree and\n"
              f"# raygitops.yaml; the Ray version is always versions.ray.\n")
    doc = parse_for_edit(header + "{}\n", rel)
    doc.data.fa.set_block_style()
    return doc


def pins_text(doc: EditableYaml) -> str | None:
    """The file's new text, or None (delete it) when no pin is left."""
    return doc.dumps() if doc.data else None


def parse_image_value(value: str) -> ImagePin:
    """`2.46.0-py311-b2`, `2.46.0-py311@sha256:…`, `@sha256:…`, or a whole `registry/name:tag[@digest]`."""
    from raygitops.versions import split_image
    if "/" in value:
        name, tag, digest = split_image(value)
        return ImagePin(name=name, tag=tag, digest=digest)
    tag, _, digest = value.partition("@")
    return ImagePin(tag=tag or None, digest=digest or None)


def set_image(root: Path, env_name: str, placeholder: str, value: str | None) -> Edit:
    """Pin (or with value None, unpin) one placeholder image of an environment."""
    env = existing_environment(root, env_name)
    config = load_config(root)
    doc = pins_document(root, env.name)
    images = doc.data.get("images")
    if value is None:
        if not isinstance(images, dict) or placeholder not in images:
            raise UserError(f"{env.name} pins no image {placeholder}", file=pins_rel(env.name), fix="nothing to unpin")
        delete_entry(images, placeholder)
        if not images:
            delete_entry(doc.data, "images")
        note = f"{env.name} {placeholder}: unpinned (follows raygitops.yaml)"
    else:
        pin = parse_image_value(value)
        problem = image_pin_problem(config, placeholder, pin)
        if problem:
            raise UserError(problem, file=pins_rel(env.name), fix="pin a build of versions.ray")
        if not isinstance(images, dict):
            images = CommentedMap()
            doc.data["images"] = images
        images[placeholder] = flow_mapping(pin.as_dict())
        note = f"{env.name} {placeholder}: pinned to {value}"
    return Edit({pins_rel(env.name): pins_text(doc)}, notes=[note])


def set_code(root: Path, env_name: str, ref: str | None) -> Edit:
    """Pin an environment's code to a commit (or tag; stored as its commit), or with None follow the working tree."""
    env = existing_environment(root, env_name)
    doc = pins_document(root, env.name)
    if ref is None:
        if "code" not in doc.data:
            raise UserError(f"{env.name} follows the working tree already", file=pins_rel(env.name), fix="nothing to unpin")
        delete_entry(doc.data, "code")
        note = f"{env.name} code: follows the working tree"
    else:
        commit, _ = resolve_code(root, ref, pins_rel(env.name))
        write_code(doc, commit, ref)
        note = f"{env.name} code: pinned to {commit[:12]}" + (f" ({ref})" if not commit.startswith(ref) else "")
    return Edit({pins_rel(env.name): pins_text(doc)}, notes=[note])


def write_code(doc: EditableYaml, commit: str, ref: str | None = None) -> None:
    if commit.isdigit():   # all digits: YAML would read a number
        commit = DoubleQuotedScalarString(commit)
    if "code" in doc.data:
        doc.data["code"] = commit
    else:
        doc.data.insert(0, "code", commit)   # first: what the environment runs, then its images
    if ref and not commit.startswith(ref):
        doc.data.yaml_add_eol_comment(ref, "code")


def refuse_global(key: str) -> None:
    if key in GLOBAL:
        raise UserError(f"{key} is not per environment", fix=f"set {GLOBAL[key]}")
    raise UserError(f"unknown value '{key}'", fix=f"use one of: {', '.join(SETTABLE)} (global: {', '.join(GLOBAL)})")

