"""Where a tool may write or delete: inside the repository, after every symbolic link is resolved.

    path = writable_path(root, "overlays/dev/generated/serve-config.yaml")   # or UserError naming the link
    link = escaping_link(root / "apps" / "main.py", root / "apps")           # the link that leaves apps/, or None
"""
from __future__ import annotations

import os
from pathlib import Path

from raygitops.errors import UserError

# Local state that may live on another disk: these two may themselves be links out of the repository.
LINKED_DIRS = (".run", "build")


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def escaping_link(path: Path, within: Path) -> Path | None:
    """The first of `path` and its ancestors below `within` that is a symbolic link whose target
    (every link in it resolved) lies outside `within`'s real location; None when none does.
    `path` must lie lexically below `within`."""
    real_within = within.resolve()
    current = within
    for part in path.relative_to(within).parts:
        current = current / part
        if current.is_symlink() and not _inside(current.resolve(), real_within):
            return current
    return None


def repo_relative(root: Path, path: Path | str) -> Path:
    """`path` (relative to `root`, or absolute below it) as a relative path with no '..' in it;
    a path that leaves the repository by name is refused."""
    path = Path(path)
    if path.is_absolute():
        try:
            path = path.relative_to(root)
        except ValueError:
            raise UserError("a path outside the repository", file=str(path),
                            fix="tools write only inside the repository") from None
    if not path.parts or ".." in path.parts:
        raise UserError("a path that leaves the repository", file=path.as_posix(),
                        fix="tools write only inside the repository")
    return path


def writable_path(root: Path, path: Path | str) -> Path:
    """`root / path`, when writing or deleting it stays inside the repository (or inside .run/ or
    build/, wherever they point) with every link resolved. Otherwise one UserError that names the
    link. Every writer, the write journal's recovery and the temporary-file sweep go through here."""
    rel = repo_relative(root, path)
    within = root / rel.parts[0] if rel.parts[0] in LINKED_DIRS else root
    link = escaping_link(root / rel, within)
    if link is not None:
        where = "the repository" if within == root else f"{within.name}/"
        raise UserError(f"a symbolic link to {os.path.realpath(link)}, outside {where}; tools write only inside it",
                        file=link.relative_to(root).as_posix(),
                        fix="replace the link with a real directory or file of the repository")
    return root / rel
