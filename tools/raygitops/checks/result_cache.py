"""Findings cached by exactly what they were computed from, so that a warm tools/validate neither parses
the CRDs nor imports Ray when nothing changed.

    cache = ResultCache.under(root, registry_fingerprint(registry), apps_digest)
    findings = cache.findings("schema", [label, resource], lambda: registry.validate(resource, file=label))

A key is the hash of the family, the payload (the resource, the serve config text…), the context
(schema sources, the apps/ package, the Ray pin) and the checking code itself (every module of this
package, by size and mtime): a change to any of them is a miss, never a stale answer.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterable

from raygitops.checks.registry import restore
from raygitops.findings import Finding
from raygitops.usercache import code_fingerprint, store_in_repository

CACHE_DIR = ".run/check-cache"


def registry_fingerprint(registry) -> str:
    """What a schema check reads besides the resource: the Kubernetes version, every CRD file (by name,
    size and mtime), the schema locations and the skipped kinds."""
    parts: list[str] = [registry.kubernetes_version, *registry.schema_locations, *sorted(registry.skip_kinds)]
    for directory in registry.crd_dirs:
        for path in sorted(Path(directory).iterdir()) if Path(directory).is_dir() else ():
            stat = path.stat()
            parts.append(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}")
    return hashlib.sha256("\0\0".join(parts).encode()).hexdigest()


class ResultCache:
    def __init__(self, root: Path | None, context: Iterable[str]):
        self.root = root
        self.context = "\0".join([code_fingerprint(), *context])

    @classmethod
    def under(cls, root: Path, *context: str, enabled: bool = True) -> "ResultCache":
        return cls(root if enabled else None, context)

    def _entry(self, family: str, payload: Any) -> str:
        text = json.dumps([family, payload], sort_keys=True, default=repr)
        key = hashlib.sha256(f"{self.context}\0{text}".encode()).hexdigest()
        return f"{CACHE_DIR}/{key[:2]}/{key}.json"

    def has(self, family: str, payload: Any) -> bool:
        """Whether findings(family, payload, …) would be read rather than computed."""
        return self.root is not None and (self.root / self._entry(family, payload)).is_file()

    def findings(self, family: str, payload: Any, compute: Callable[[], list[Finding]]) -> list[Finding]:
        if self.root is None:
            return compute()
        rel = self._entry(family, payload)
        try:
            return [restore(entry) for entry in json.loads((self.root / rel).read_text())]
        except (OSError, ValueError, TypeError, KeyError):
            pass   # a miss, or an entry this code cannot read: compute it again
        result = compute()
        store_in_repository(self.root, rel, json.dumps([asdict(f) for f in result]))
        return result

