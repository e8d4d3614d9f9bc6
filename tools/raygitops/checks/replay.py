"""A warm `tools/validate` replayed: when nothing the last run could have read has changed (every file of
the repository byte for byte, the roots outside it that kustomize reached, the tool, its options, the
schema store, kubectl), the last report is printed again, with nothing rendered, parsed or checked.

    entry = ReplayEntry.find(root, options_key)     # None: not replayable (stdin, --no-cache) or no entry
    if entry and entry.still_valid(root): print(entry.output); return entry.exit_code
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from raygitops.usercache import cache_root, code_fingerprint, store_in_repository

CACHE_DIR = ".run/check-cache"
# Directories no check reads: git's, the tools' own caches and state, virtualenvs, bytecode.
SKIPPED_DIRS = frozenset({".git", ".run", "build", "__pycache__", ".pytest_cache", ".hypothesis", "node_modules"})
# Bigger files are fingerprinted by size and mtime, as git's index does, not read (a model in apps/).
READ_LIMIT = 1 << 20
FORMAT = 1


@dataclass
class ReplayEntry:
    outside_roots: list[str]    # kustomization roots outside the repository that the run reached
    fingerprint: str
    output: str
    exit_code: int

    @staticmethod
    def path(root: Path, options_key: str) -> Path:
        return root / CACHE_DIR / f"replay-{hashlib.sha256(options_key.encode()).hexdigest()[:24]}.json"

    @classmethod
    def find(cls, root: Path, options_key: str) -> "ReplayEntry | None":
        try:
            return cls(**json.loads(cls.path(root, options_key).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def still_valid(self, root: Path) -> bool:
        return self.fingerprint == fingerprint(root, self.outside_roots)

    def store(self, root: Path, options_key: str) -> None:
        store_in_repository(root, self.path(root, options_key).relative_to(root).as_posix(), json.dumps(asdict(self)))


def options_key(arguments: dict) -> str:
    """The command's options (output format included: the output is what is replayed) and the
    environment that steers it."""
    environment = {k: v for k, v in os.environ.items() if k.startswith("RAYGITOPS_") or k == "XDG_CACHE_HOME"}
    return json.dumps([FORMAT, arguments, environment, sys.executable], sort_keys=True, default=str)


def fingerprint(root: Path, outside_roots: list[str]) -> str:
    digest = hashlib.sha256()
    _tree(digest, root, root)
    for outside in outside_roots:
        digest.update(f"\0outside {outside}\0".encode())
        if os.path.isdir(outside):
            _tree(digest, Path(outside), Path(outside))
    digest.update(f"\0code {code_fingerprint()}".encode())
    for name, path in _tool_files():
        digest.update(f"\0{name} {_stat_line(path)}".encode())
    return digest.hexdigest()


def _tree(digest, top: Path, base: Path) -> None:
    for here, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and not d.startswith(".venv"))
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(here, d))]:
            path = os.path.join(here, name)
            digest.update(f"\0{os.path.relpath(path, base)}\0".encode(errors="surrogateescape"))
            if os.path.islink(path):
                digest.update(b"link:" + os.readlink(path).encode(errors="surrogateescape"))
                continue
            try:
                stat = os.stat(path)
                if stat.st_size > READ_LIMIT:
                    digest.update(f"big:{stat.st_size}:{stat.st_mtime_ns}".encode())
                else:
                    with open(path, "rb") as file:
                        digest.update(file.read())
            except OSError as error:
                digest.update(f"unreadable:{error.errno}".encode())


def _tool_files():
    """What the checks depend on outside the repository besides their code, by size and mtime: the
    installed packages (a pip install changes site-packages), kubectl, and the schema store's files."""
    for path in sorted(set(sys.path)):
        if path.endswith("site-packages"):
            yield "site-packages", Path(path)
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        for command in ("kubectl", "kustomize"):
            if os.path.isfile(os.path.join(directory, command)):
                yield command, Path(directory, command)
    store = cache_root()
    for sub in ("crds", "schemas"):
        for path in sorted((store / sub).rglob("*")) if (store / sub).is_dir() else ():
            yield "schema", path


def _stat_line(path: Path) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return f"{path} missing"
    return f"{path} {stat.st_size} {stat.st_mtime_ns}"
