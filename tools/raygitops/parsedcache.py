"""Big YAML documents parsed once per content: the pinned CRDs (KubeRay's RayService CRD takes
PyYAML about 1.5 s, on every validate and every diff) are kept as JSON in the user's cache.

    doc = load_yaml(text, Loader=LOADER)     # the same object yaml.load gives, from JSON when seen before
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from raygitops.usercache import read_json, user_cache, write_atomically

# Below this size PyYAML is as fast as reading a cache file.
MIN_SIZE = 64 * 1024
# Bump when what is stored changes shape.
FORMAT = "1"


def load_yaml(text: str, Loader) -> object:
    """yaml.load(text, Loader), served from $XDG_CACHE_HOME/raygitops/parsed-yaml/<sha256>.json when
    this exact text was parsed before. An entry is only ever written for a document that JSON holds
    exactly (no dates, no non-string keys), so a cached load equals a fresh one."""
    if len(text) < MIN_SIZE:
        return yaml.load(text, Loader=Loader)
    digest = hashlib.sha256(f"{FORMAT}\0{Loader.__name__}\0{text}".encode()).hexdigest()
    path = user_cache("parsed-yaml") / f"{digest}.json"
    cached = read_json(path)   # None: not cached yet, or a damaged entry (parsed again and replaced)
    if cached is not None:
        return cached
    doc = yaml.load(text, Loader=Loader)
    _store(path, doc)
    return doc


def _store(path: Path, doc: object) -> None:
    try:
        text = json.dumps(doc, separators=(",", ":"))
    except (TypeError, ValueError):
        return   # a date or another type JSON lacks: never cached
    if json.loads(text) != doc:
        return   # non-string keys would come back as strings
    write_atomically(path, text)
