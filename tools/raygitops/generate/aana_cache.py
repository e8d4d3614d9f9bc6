"""Aana builds kept in the user's cache, reused while the package files that the build imported are unchanged.

    entry = build_entry(package, "apps.echo_aana.app:aana_app", settings, versions)
    built = entry.lookup()               # the serve config of an earlier build of these inputs, or None
    entry.store(built, imported)         # imported: the files the build imported (aana_builder.py), or None

Why not a key of the whole package: each build costs a process that imports Ray, FastAPI and SQLAlchemy
(3-4 CPU-seconds), and an edit to apps/text_stats.py cannot change what `aana build` writes for
apps.echo_aana.app unless the build imports text_stats. The key holds everything else that the build
can see: the app, its settings, the versions of Aana, Ray and Python, the name of every file in the
package (a new file can shadow a module, or be found by a scan), and the content of every file that is
not Python source (data an import may read). The imported files are compared by content when an entry
is read. A few variants are kept per key, so that switching between two branches rebuilds neither.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from raygitops.generate.workingdir import TOP_DIR, Package
from raygitops.usercache import read_json, user_cache, write_atomically

# Bump when what is cached changes shape.
CACHE_FORMAT = 3
# Variants of one key (the same app and settings, different imported code) kept, the newest first.
VARIANTS_KEPT = 8


def cache_dir() -> Path:
    """user_cache("aana-build"). Shared by every checkout: a repository copy or tools/diff's worktree
    of the same code and settings reuses the build."""
    return user_cache("aana-build")


def file_digests(package: Package) -> dict[str, str]:
    """{path under the zip's top directory: sha256 of its content} for every file of the package."""
    return _file_digests(package.content)


@lru_cache(maxsize=4)   # regen asks once per environment, for the same package
def _file_digests(content: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {info.filename.removeprefix(f"{TOP_DIR}/"): hashlib.sha256(archive.read(info)).hexdigest()
                for info in archive.infolist() if not info.is_dir()}


def is_source(name: str) -> bool:
    return name.endswith(".py")


@dataclass(frozen=True)
class BuildEntry:
    """The cache entry of one build's inputs, all but the content of the package's Python files."""
    path: Path
    files: dict[str, str]   # the package's files, by content digest
    memo_key: str           # this key and the whole package: the same build within one process

    def lookup(self) -> dict | None:
        """The serve config of a variant whose imported files all have their content now, or None."""
        stored = read_json(self.path)
        for variant in stored.get("variants", []) if isinstance(stored, dict) else []:
            imports = variant.get("imports") if isinstance(variant, dict) else None
            built = variant.get("built") if isinstance(variant, dict) else None
            if isinstance(imports, dict) and isinstance(built, dict) and \
                    all(self.files.get(name) == digest for name, digest in imports.items()):
                return built
        return None

    def store(self, built: dict, imported: list[str] | None) -> None:
        """Keep `built` with the digests of the package's files among `imported`; when the builder could not
        say what it imported (None), with every Python file's, as a whole-package key would."""
        if imported is None:
            names = [name for name in self.files if is_source(name)]
        else:
            names = [name for name in imported if name in self.files]
        variant = {"imports": {name: self.files[name] for name in sorted(names)}, "built": built}
        stored = read_json(self.path)
        earlier = stored.get("variants", []) if isinstance(stored, dict) else []
        kept = [v for v in earlier if isinstance(v, dict) and v.get("imports") != variant["imports"]]
        write_atomically(self.path, json.dumps({"variants": [variant, *kept][:VARIANTS_KEPT]}))


def build_entry(package: Package, app_path: str, settings: dict[str, str], versions: dict[str, str]) -> BuildEntry:
    files = file_digests(package)
    inputs = {"format": CACHE_FORMAT, "app": app_path, "settings": sorted(settings.items()), **versions,
              "names": sorted(files), "data": {name: digest for name, digest in files.items() if not is_source(name)}}
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:24]
    return BuildEntry(cache_dir() / f"{key}.json", files, f"{key}-{package.digest}")
