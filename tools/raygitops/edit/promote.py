"""Promote: copy one environment's effective pins (code commit and images) into the next one's pins.yaml.

    edit = promote(root, "dev", "staging")    # dev unpinned: HEAD's commit (the tree must be clean)
    apply_edit(root, edit, dry_run=True)      # the diff of what staging will do, nothing written
"""
from __future__ import annotations

from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from raygitops.config import load_config
from raygitops.edit.overlay import existing_environment
from raygitops.edit.roundtrip import delete_entry, flow_mapping
from raygitops.edit.setpin import pins_document, pins_text, write_code
from raygitops.edit.transaction import Edit, git_toplevel
from raygitops.errors import UserError
from raygitops.generate.pinned import WORKING_TREE, resolve_code
from raygitops.model.environment import Environment
from raygitops.model.pins import load_pins, pins_rel


def check_order(order: tuple[str, ...], source: str, target: str, force: bool) -> None:
    """A promotion goes to the next environment of promotion.order in raygitops.yaml."""
    if source == target:
        raise UserError(f"cannot promote {source} to itself", fix="name two environments")
    if force:
        return
    missing = [env for env in (source, target) if env not in order]
    if missing:
        raise UserError(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in promotion.order "
                        f"({', '.join(order) or 'empty'})", file="raygitops.yaml",
                        fix="add it to promotion.order, or pass --force")
    step = order.index(target) - order.index(source)
    if step < 0:
        raise UserError(f"{target} comes before {source} in promotion.order ({' → '.join(order)})", file="raygitops.yaml",
                        fix=f"promote forwards; to roll {target} back, set its code with `raygitops set {target} code "
                            "<commit>` or revert the promotion's commit (or pass --force)")
    if step > 1:
        skipped = order[order.index(source) + 1:order.index(target)]
        raise UserError(f"promoting {source} to {target} would skip {', '.join(skipped)} ({' → '.join(order)})",
                        file="raygitops.yaml", fix=f"promote {source} to {skipped[0]} first, or pass --force")


def _uncommitted(root: Path) -> list[str]:
    import subprocess
    process = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all", "--", "."],
                             capture_output=True, text=True)
    return sorted(line[3:] for line in process.stdout.splitlines() if line.strip())


def effective_code(root: Path, source: str) -> tuple[str, str]:
    """(commit, how it was found) that the source environment runs."""
    pins = load_pins(root, source)
    if pins.code:
        commit, _ = resolve_code(root, pins.code, pins.file)
        return commit, f"{source}'s pin"
    if git_toplevel(root) is None:
        raise UserError(f"{source} follows the working tree, and this is not a git repository",
                        fix="promote in a clone: the promoted code is a commit")
    dirty = _uncommitted(root)
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise UserError(f"{source} follows the working tree, which has uncommitted changes: {shown}",
                        fix=f"commit them first: promote pins HEAD's commit, which must be what {source} runs")
    commit, _ = resolve_code(root, "HEAD", pins_rel(source))
    return commit, f"HEAD ({source} follows the working tree)"


def _refuse_stale(root: Path, config, source: str) -> None:
    from raygitops.generate.regen import stale_environments
    from raygitops.generate.workingdir import build_package
    if stale_environments(config, [source], build_package(root).digest):
        raise UserError(f"{source}'s generated files are stale: they are not what {source} runs",
                        file=Environment(root, source).generated_rel,
                        fix="run tools/regen and commit the result, then promote")


def promote(root: Path, source: str, target: str, *, force: bool = False) -> Edit:
    config = load_config(root)
    existing_environment(root, source)
    existing_environment(root, target)
    check_order(config.promotion_order, source, target, force)
    _refuse_stale(root, config, source)
    commit, origin = effective_code(root, source)
    source_pins = load_pins(root, source)
    before = load_pins(root, target)

    doc = pins_document(root, target)
    write_code(doc, commit)
    if source_pins.images:
        images = doc.data.get("images")
        if not isinstance(images, dict):
            images = CommentedMap()
            doc.data["images"] = images
        for placeholder in [p for p in images if p not in source_pins.images]:
            delete_entry(images, placeholder)
        for placeholder, pin in source_pins.images.items():
            images[placeholder] = flow_mapping(pin.as_dict())
    elif "images" in doc.data:
        delete_entry(doc.data, "images")   # the source runs raygitops.yaml's images: so will the target

    notes = [f"{target} code: {before.code[:12] if before.code else WORKING_TREE} → {commit[:12]} ({origin})"]
    old_images = {p: pin.as_dict() for p, pin in before.images.items()}
    new_images = {p: pin.as_dict() for p, pin in source_pins.images.items()}
    if old_images != new_images:
        notes.append(f"{target} images: {_images(old_images)} → {_images(new_images)}")
    return Edit({pins_rel(target): pins_text(doc)}, notes=notes)


def _images(images: dict) -> str:
    if not images:
        return "raygitops.yaml's"
    return ", ".join(f"{p} " + " ".join(f"{k}={v}" for k, v in pin.items()) for p, pin in sorted(images.items()))
