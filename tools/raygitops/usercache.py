"""The user's cache, shared by every checkout: $XDG_CACHE_HOME/raygitops (default ~/.cache/raygitops).
Each kind of entry has its own folder; an entry is named by the hash of all its inputs, so it is never stale.
Also what every cache shares: atomic best-effort writes, and the tool's own code as part of a key.

    path = user_cache("serve-build") / f"{key}.json"
    built = read_json(path); write_atomically(path, json.dumps(built))
    store_in_repository(root, ".run/check-cache/x.json", text)   # never through a link out of .run/
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from raygitops.errors import UserError
from raygitops.safepath import writable_path


def cache_root() -> Path:
    """$XDG_CACHE_HOME/raygitops, or ~/.cache/raygitops (a relative XDG_CACHE_HOME is ignored, as the spec says)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "raygitops"


def user_cache(kind: str) -> Path:
    """The folder of one kind of entry, e.g. user_cache("aana-build"); not created until written."""
    return cache_root() / kind


def read_json(path: Path) -> Any | None:
    """The entry's JSON, or None when it is missing or damaged (then the caller computes it again)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_atomically(path: Path, text: str) -> None:
    """Write an entry whole or not at all: a concurrent reader sees the old state or the new entry."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass   # a read-only cache costs time, not correctness


def store_in_repository(root: Path, rel: str, text: str) -> None:
    """write_atomically under the repository (a cache in .run/), unless a link leads the path out of it:
    writable_path refuses that, and a cache that is not written only costs time next run."""
    try:
        path = writable_path(root, rel)
    except UserError:
        return
    write_atomically(path, text)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """This package's code, every module by size and mtime: in every key of a cached result."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(package)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()
