"""What a kustomize build reads, and its digest: the render cache's key. Each file is read once per memo.

    memo = InputMemo(); digests = {p: memo.digest(p) for p in overlays}   # overlays share base/: read once
    files = input_files(Path("overlays/dev"))                            # every local file kustomize may read
"""
from __future__ import annotations

import hashlib
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from raygitops.config import KUSTOMIZATION_NAMES
from raygitops.errors import UserError
from raygitops.yamlbounds import InputRefused, read_input
from raygitops.yamlio import load_text


# Keys of a kustomization that name local files or directories.
_PATH_LISTS = ("resources", "components", "bases", "crds", "configurations", "transformers", "generators",
               "validators", "patchesStrategicMerge")


@lru_cache(maxsize=None)
def kustomize_identity() -> bytes:
    """The kustomize in use, for cache keys: an upgraded binary must not reuse old renders.
    Its path, size and mtime are enough and cost no process start."""
    command = kustomize_command()
    binary = shutil.which(command[0]) or command[0]
    stat = os.stat(binary)
    return f"{' '.join(command)} {os.path.realpath(binary)} {stat.st_size} {stat.st_mtime_ns}".encode()


@lru_cache(maxsize=None)
def kustomize_command() -> tuple[str, ...]:
    """Standalone kustomize when on PATH, else the one built into kubectl."""
    if shutil.which("kustomize"):
        return ("kustomize", "build")
    if shutil.which("kubectl"):
        return ("kubectl", "kustomize")
    raise UserError("neither kustomize nor kubectl is on PATH", fix="install kubectl (it has kustomize built in)")


def kustomization_file(path: Path) -> Path | None:
    return next((path / n for n in KUSTOMIZATION_NAMES if (path / n).exists()), None)


def read_kustomization(file: Path) -> dict | None:
    """A kustomization file's mapping; None when it is not YAML or not a mapping (kustomize
    itself reports that when it builds). Past the YAML bounds it is refused (InputRefused)."""
    try:
        data = load_text(read_input(file, str(file)), str(file))
    except InputRefused:
        raise
    except UserError:
        return None
    return data if isinstance(data, dict) else None


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _root_references(kustomization: dict) -> Iterable[str]:
    """Entries that may name another kustomization directory (a new root): kustomize loads those with
    a new loader (api/internal/loader/fileloader.go, FileLoader.New, kustomize/v5.5.0)."""
    for key in _PATH_LISTS:
        for item in _list(kustomization.get(key)):
            if isinstance(item, str):
                yield item


def input_files(path: Path) -> list[Path]:
    """Every local file kustomize may read to build `path`: the whole closure (see InputMemo).
    Remote bases (URLs) are not followed: their ref pins them."""
    return InputMemo().files(path)


def input_digest(path: Path) -> str:
    """Same inputs, same digest. Paths are relative to the kustomization, so the same tree
    checked out elsewhere (tools/diff's BASE worktree) hits the same cache entry."""
    return InputMemo().digest(path)


class InputMemo:
    """The input closure and digest of many kustomizations, each directory walked, each file read once:
    overlays share `base/`. Only for trees that do not change while it is in use (one command).

        memo = InputMemo(); [memo.digest(p) for p in overlays]; render(overlays, root=root, memo=memo)

    The closure is complete by construction, not by a list of fields that name files: with its default
    load restrictor (RestrictionRootOnly, api/internal/loader/loadrestrictions.go, kustomize/v5.5.0)
    kustomize reads a file only when its real path (every link resolved: fsOnDisk.CleanedAbs,
    kyaml/filesys/fsondisk.go) lies in or below the root of a kustomization it builds. So the closure is
    every file under each such root: the kustomization given, and every directory its kustomization
    files name (resources, components, generators, transformers, ...), followed to the end. A patch path
    inside a PatchTransformer, a ConfigMapGenerator's files, a replacements source: all lie under a root.
    """

    def __init__(self) -> None:
        self._resolved: dict[Path, Path] = {}
        self._kustomizations: dict[Path, dict | None] = {}
        self._parsed: dict[bytes, dict | None] = {}
        self._steps: dict[Path, tuple[Path | None, tuple[Path, ...]]] = {}
        self._trees: dict[Path, tuple[Path, ...]] = {}
        self._roots: dict[Path, tuple[Path, ...]] = {}
        self._bytes: dict[Path, bytes] = {}
        self._digests: dict[Path, str] = {}
        self._batch_keys: dict[Path, tuple[str, ...] | None] = {}

    def resolve(self, path: Path) -> Path:
        resolved = self._resolved.get(path)
        if resolved is None:
            resolved = self._resolved[path] = path.resolve()
        return resolved

    def kustomization(self, file: Path) -> dict | None:
        """`read_kustomization(file)`, parsed once per content (BASE and HEAD share most files);
        callers must not change the mapping."""
        if file not in self._kustomizations:
            try:
                content: bytes | None = self.read_bytes(file)
            except OSError:
                content = None
            if content is None or content not in self._parsed:
                data = read_kustomization(file)
                if content is not None:
                    self._parsed[content] = data
            else:
                data = self._parsed[content]
            self._kustomizations[file] = data
        return self._kustomizations[file]

    def _step(self, directory: Path) -> tuple[Path | None, tuple[Path, ...]]:
        """A resolved root's kustomization file and the resolved roots it names. A root at or above the
        one naming it is left out: kustomize refuses it (FileLoader.errIfArgEqualOrHigher)."""
        step = self._steps.get(directory)
        if step is None:
            kfile = kustomization_file(directory)
            roots: list[Path] = []
            for ref in _root_references(self.kustomization(kfile) or {}) if kfile is not None else ():
                if "://" in ref or ref.startswith(("github.com/", "git@")):
                    continue
                target = directory / ref
                if target.is_dir():
                    target = self.resolve(target)
                    if target != directory and target not in directory.parents:
                        roots.append(target)
            step = self._steps[directory] = (kfile, tuple(roots))
        return step

    def roots(self, path: Path) -> tuple[Path, ...]:
        """Every kustomization root (resolved) that building `path` reaches, `path` first."""
        start = self.resolve(path)
        found = self._roots.get(start)
        if found is None:
            seen: dict[Path, None] = {}
            pending = [start]
            while pending:
                directory = pending.pop()
                if directory in seen:
                    continue
                seen[directory] = None
                kfile, refs = self._step(directory)
                if kfile is not None:
                    pending.extend(reversed(refs))
            found = self._roots[start] = tuple(seen)
        return found

    def _tree(self, directory: Path) -> tuple[Path, ...]:
        """Every file and link below a root, links not followed: a link's target is read by kustomize
        only when it lies inside a root, where the walk meets it as a file of its own."""
        tree = self._trees.get(directory)
        if tree is None:
            entries = []
            for here, dirnames, filenames in os.walk(directory):
                here_path = Path(here)
                entries += [here_path / name for name in filenames]
                entries += [here_path / name for name in dirnames if (here_path / name).is_symlink()]
            tree = self._trees[directory] = tuple(sorted(entries))
        return tree

    def outside(self, root: Path) -> list[str]:
        """Every kustomization root reached so far that lies outside `root` (checks/replay.py hashes them)."""
        top = self.resolve(root)
        reached = {r for roots in self._roots.values() for r in roots}
        return sorted(str(r) for r in reached if r != top and top not in r.parents)

    def kustomization_files(self, path: Path) -> list[Path]:
        return [kfile for kfile in (self._step(root)[0] for root in self.roots(path)) if kfile is not None]

    def files(self, path: Path) -> list[Path]:
        return sorted({entry for root in self.roots(path) for entry in self._tree(root)})

    def read_bytes(self, file: Path) -> bytes:
        data = self._bytes.get(file)
        if data is None:
            data = self._bytes[file] = file.read_bytes()
        return data

    def _content(self, entry: Path) -> bytes:
        """What kustomize could read at `entry`: a file's bytes, where a link points, or a marker."""
        if entry.is_symlink():
            return b"link:" + os.readlink(entry).encode(errors="surrogateescape")
        if not entry.is_file():
            return b"special"   # a FIFO or socket: nothing kustomize reads as YAML
        try:
            return b"file:" + self.read_bytes(entry)
        except OSError as error:
            return f"unreadable:{error.errno}".encode()

    def digest(self, path: Path) -> str:
        start = self.resolve(path)
        digest = self._digests.get(start)
        if digest is None:
            hasher = hashlib.sha256(kustomize_identity())
            for entry in self.files(start):
                hasher.update(os.path.relpath(entry, start).encode(errors="surrogateescape") + b"\0"
                              + self._content(entry) + b"\0")
            digest = self._digests[start] = hasher.hexdigest()
        return digest

    def batch_key(self, path: Path) -> tuple[str, ...] | None:
        start = self.resolve(path)
        if start not in self._batch_keys:
            self._batch_keys[start] = _batch_key(start, self)
        return self._batch_keys[start]


_PROCESS_WIDE = ("configurations", "crds", "helmCharts", "helmGlobals")


def _batch_key(path: Path, memo: InputMemo | None = None) -> tuple[str, ...] | None:
    """What a kustomization must share with the others in one kustomize process: the `openapi`
    schemas its tree sets (kustomize keeps the last one set for the whole process). None when it
    builds alone: `configurations` and `crds` reach into every resource's name references, Helm
    charts need a flag, and a kustomization that does not parse reports its own error."""
    memo = memo if memo is not None else InputMemo()
    key: set[str] = set()
    for file in memo.kustomization_files(path):
        data = memo.kustomization(file)
        if data is None or any(data.get(k) for k in _PROCESS_WIDE):
            return None
        if data.get("openapi"):
            key.add(f"{file.parent}: {data['openapi']!r}")
    return tuple(sorted(key))
