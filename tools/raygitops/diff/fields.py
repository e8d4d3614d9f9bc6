"""Semantic diff of rendered resources: by kind/namespace/name, named list items by name,
YAML/JSON held in strings (serveConfigV2, DB_CONFIG) parsed and diffed as structure, secrets masked.

    resources = diff_resources(base_render.resources, head_render.resources)  # [ResourceDiff]
    [format_path(c.path) for c in resources[0].fields]  # spec.serveConfigV2:applications[main].deployments[Gateway].num_replicas
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

from raygitops.findings import resource_id
# Paths and secrets are masking's: one notion of secret-like for every printer. Re-exported here.
from raygitops.masking import (DOCUMENT_KEYS, EMBEDDED, HIDDEN, Index, Named, is_secret_path, json_safe,  # noqa: F401
                               parse_embedded, printable, redact)

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
REORDERED = "reordered"       # same named items, another order (KubeRay: a new cluster for worker groups)
REFORMATTED = "reformatted"   # an embedded YAML/JSON string: other text, same content


# --- paths ---------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$-]+$")


def format_path(path: tuple) -> str:
    """('spec', 'serveConfigV2', EMBEDDED, 'applications', Named('main')) → spec.serveConfigV2:applications[main]"""
    out = ""
    for segment in path:
        if segment is EMBEDDED:
            out += ":"
        elif isinstance(segment, Named):
            out += f"[{segment.name}]"
        elif isinstance(segment, Index):
            out += f"[{segment.index}]"
        else:
            key = segment if _PLAIN_KEY.match(str(segment)) else json.dumps(str(segment))
            out += key if not out or out.endswith(":") else f".{key}"
    return out


def path_shape(path: tuple) -> tuple[str, ...]:
    """The path with list items generalised, for matching rules: (..., 'workerGroupSpecs', '[]', 'maxReplicas')."""
    return tuple(":" if s is EMBEDDED else "[]" if isinstance(s, (Named, Index)) else str(s) for s in path)


# --- field changes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldChange:
    path: tuple                  # of str keys, Named, Index and EMBEDDED
    change: str                  # ADDED, REMOVED, CHANGED, REORDERED or REFORMATTED
    before: Any = None           # already redacted: safe to print
    after: Any = None
    secret: bool = False         # the values are hidden

    @property
    def display_path(self) -> str:
        return format_path(self.path)

    def summary(self) -> str:
        """`1 → 3`, `(changed)` for a secret, `added: {...}`; one line."""
        if self.change == REORDERED:
            return f"order {show(self.before)} → {show(self.after)}"
        if self.change == REFORMATTED:
            return "same content, different text"
        if self.secret:
            return "(changed)" if self.change == CHANGED else f"({self.change})"
        if self.change == ADDED:
            return f"added: {show(self.after)}"
        if self.change == REMOVED:
            return f"removed (was {show(self.before)})"
        return f"{show(self.before)} → {show(self.after)}"

    def detail_lines(self) -> list[str]:
        """A diff-style rendering for the raw details: -/+ lines, a line diff for long text."""
        name = self.display_path or "(resource)"
        if self.secret or self.change in (REORDERED, REFORMATTED):
            return [f"~ {name}: {self.summary()}"]
        if self.change == CHANGED and _is_text(self.before) and _is_text(self.after):
            body = difflib.unified_diff(self.before.splitlines(), self.after.splitlines(), lineterm="", n=1)
            return [f"~ {name}:"] + [f"  {printable(line)}" for line in list(body)[2:]]
        lines = [f"- {name}: {_dump(self.before)}"] if self.change != ADDED else []
        return lines + ([f"+ {name}: {_dump(self.after)}"] if self.change != REMOVED else [])


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and "\n" in value.strip()


def show(value: Any, limit: int = 100) -> str:
    """A value on one line: strings bare, structures as compact JSON, long ones cut."""
    if isinstance(value, str) and _is_text(value):
        return f"({len(value.strip().splitlines())} lines of text)"
    text = value if isinstance(value, str) and value and value.strip() == value else to_json(value)
    return printable(text if len(text) <= limit else text[:limit - 1] + "…")


def _dump(value: Any) -> str:
    return printable(to_json(value) if not isinstance(value, str) else value)


def to_json(value: Any, **options) -> str:
    """JSON of a YAML value: keys sorted where they compare, dates and the like as strings,
    NaN and infinities as YAML writes them (JSON has no such numbers)."""
    value = json_safe(value)
    try:
        return json.dumps(value, sort_keys=True, default=str, allow_nan=False, **options)
    except TypeError:  # mixed key types, such as 1 and "a"
        return json.dumps(value, default=str, allow_nan=False, **options)


def _list_key(before: list, after: list) -> str | None:
    """groupName or name, when every item on both sides has a distinct one."""
    for key in ("groupName", "name"):
        ok = True
        for items in (before, after):
            names = [item.get(key) if isinstance(item, dict) else None for item in items]
            if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
                ok = False
                break
        if ok:
            return key
    return None


class _Differ:
    """Walks two values of one resource; `kind` decides which data is secret."""

    def __init__(self, kind: str):
        self.kind = kind
        self.changes: list[FieldChange] = []

    def emit(self, path: tuple, change: str, before: Any = None, after: Any = None) -> None:
        secret = _is_leaf(before) and _is_leaf(after) and is_secret_path(path, self.kind)
        shown_before, shown_after = (None, None) if secret else (redact(before, path, self.kind),
                                                                 redact(after, path, self.kind))
        if not secret and change == CHANGED and shown_before == shown_after:
            secret = True   # only a hidden part changed: say so, without showing it
            shown_before = shown_after = None
        self.changes.append(FieldChange(path, change, shown_before, shown_after, secret))

    def values(self, before: Any, after: Any, path: tuple) -> None:
        if before == after:
            return
        if isinstance(before, dict) and isinstance(after, dict):
            self.mappings(before, after, path)
        elif isinstance(before, list) and isinstance(after, list) and not _all_scalars(before, after):
            self.lists(before, after, path)
        elif isinstance(before, str) and isinstance(after, str) and not is_secret_path(path, self.kind):
            self.strings(before, after, path)
        else:
            self.emit(path, CHANGED, before, after)

    def mappings(self, before: dict, after: dict, path: tuple) -> None:
        for key in sorted(set(before) | set(after), key=str):
            if key not in after:
                self.emit(path + (key,), REMOVED, before=before[key])
            elif key not in before:
                self.emit(path + (key,), ADDED, after=after[key])
            else:
                self.values(before[key], after[key], path + (key,))

    def lists(self, before: list, after: list, path: tuple) -> None:
        key = _list_key(before, after)
        if key is None:
            for i in range(max(len(before), len(after))):
                if i >= len(after):
                    self.emit(path + (Index(i),), REMOVED, before=before[i])
                elif i >= len(before):
                    self.emit(path + (Index(i),), ADDED, after=after[i])
                else:
                    self.values(before[i], after[i], path + (Index(i),))
            return
        old = {item[key]: item for item in before}
        new = {item[key]: item for item in after}
        common_old = [item[key] for item in before if item[key] in new]
        common_new = [item[key] for item in after if item[key] in old]
        if common_old != common_new:
            self.emit(path, REORDERED, common_old, common_new)
        for name in [item[key] for item in before] + [n for n in new if n not in old]:
            if name not in new:
                self.emit(path + (Named(name),), REMOVED, before=old[name])
            elif name not in old:
                self.emit(path + (Named(name),), ADDED, after=new[name])
            else:
                self.values(old[name], new[name], path + (Named(name),))

    def strings(self, before: str, after: str, path: tuple) -> None:
        always = bool(path) and path[-1] in DOCUMENT_KEYS
        old, new = parse_embedded(before, always=always), parse_embedded(after, always=always)
        if old is None or new is None:
            self.emit(path, CHANGED, before, after)
            return
        count = len(self.changes)
        self.values(old, new, path + (EMBEDDED,))
        if len(self.changes) == count:
            self.emit(path, REFORMATTED)


def _is_leaf(value: Any) -> bool:
    return not isinstance(value, (dict, list))


def _all_scalars(*lists: list) -> bool:
    return all(not isinstance(item, (dict, list)) for items in lists for item in items)


def diff_values(before: Any, after: Any, *, kind: str = "", path: tuple = ()) -> list[FieldChange]:
    differ = _Differ(kind)
    differ.values(before, after, path)
    return differ.changes


# --- resources -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResourceDiff:
    resource: str                # kind/namespace/name (HEAD's name when a generated name changed)
    kind: str
    change: str                  # ADDED, REMOVED or CHANGED
    fields: tuple[FieldChange, ...]
    before: dict | None          # the whole resource, for rules that need context; never printed
    after: dict | None


def _identity(resource: dict) -> tuple[str, str, str, str]:
    group = str(resource.get("apiVersion", "")).rpartition("/")[0]
    meta = resource.get("metadata") if isinstance(resource.get("metadata"), dict) else {}
    return group, str(resource.get("kind", "?")), str(meta.get("namespace") or ""), str(meta.get("name", "?"))


# kustomize's configMapGenerator/secretGenerator name suffix: a new hash on every data change.
_GENERATED_SUFFIX = re.compile(r"^(.*)-[a-z0-9]{10}$")


def _pair_generated_names(old: dict, new: dict) -> dict:
    """{base identity: head identity} for generated resources whose hash suffix changed, so a
    new ConfigMap data value reads as a change of one resource, not a removal and an addition."""
    def stem(identity: tuple) -> tuple | None:
        match = _GENERATED_SUFFIX.match(identity[3])
        return identity[:3] + (match.group(1),) if match else None

    removed = {stem(i): i for i in old if i not in new and stem(i)}
    added = {stem(i): i for i in new if i not in old and stem(i)}
    return {removed[s]: added[s] for s in sorted(set(removed) & set(added))}


def diff_resources(before: Iterable[dict], after: Iterable[dict]) -> list[ResourceDiff]:
    """Every added, removed or changed resource, sorted by kind/namespace/name."""
    old = {_identity(r): r for r in before if isinstance(r, dict)}
    new = {_identity(r): r for r in after if isinstance(r, dict)}
    renamed = _pair_generated_names(old, new)
    out = []
    for identity in sorted(set(old) | set(new)):
        if identity in renamed.values():
            continue  # reported with its base-side twin
        base = old.get(identity)
        head = new.get(renamed.get(identity, identity))
        kind = identity[1]
        if base is None or head is None:
            present = head if base is None else base
            out.append(ResourceDiff(resource_id(present), kind, ADDED if base is None else REMOVED, (), base, head))
            continue
        fields = diff_values(base, head, kind=kind)
        if fields:
            out.append(ResourceDiff(resource_id(head), kind, CHANGED, tuple(fields), base, head))
    return sorted(out, key=lambda d: (d.kind != "RayService", d.resource))
