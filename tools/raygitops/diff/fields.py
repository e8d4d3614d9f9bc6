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

import yaml

from raygitops.findings import resource_id
from raygitops.yamlio import LOADER

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
REORDERED = "reordered"       # same named items, another order (KubeRay: a new cluster for worker groups)
REFORMATTED = "reformatted"   # an embedded YAML/JSON string: other text, same content
HIDDEN = "(hidden)"


# --- paths ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Named:
    """An item of a list matched by its name (or groupName): shown as [name]."""
    name: str


@dataclass(frozen=True)
class Index:
    """An item of a list without names, matched by position: shown as [0]."""
    index: int


class _Embedded:
    """The step from a string into the YAML/JSON document it holds: shown as ':'."""

    def __repr__(self) -> str:
        return "EMBEDDED"


EMBEDDED = _Embedded()
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


# --- secrets -------------------------------------------------------------------------------

# A key or item name whose value must never be printed contains one of _SECRET_STEMS anywhere
# (PGPASSWORD, password_hash, secrets), or ends in one of _SECRET_WORDS (API_TOKEN, DB_PASS,
# HF_TOKEN_2), or in "key" after one of _KEY_QUALIFIERS (OPENAI_API_KEY, tls.key). Judging only
# the last word for the short words keeps max_tokens, tokenizer, sort_key and bypass readable.
_SECRET_STEMS = ("password", "passwd", "passphrase", "secret", "credential")
_SECRET_WORDS = {"password", "passwd", "passphrase", "pass", "pwd", "secret", "token", "credential",
                 "credentials", "apikey", "privatekey", "dsn"}
_KEY_QUALIFIERS = {"api", "access", "private", "secret", "client", "ssh", "signing", "encryption", "tls"}
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_VERSION_WORD = re.compile(r"v?[0-9]+$")
# Keys that hold a reference to a secret (its name, where to find it), not the secret itself.
_REFERENCE = re.compile(r"(Ref|Name|^valueFrom)$")
_SECRET_KINDS_DATA = {"Secret": ("data", "stringData")}


def _label(segment: Any) -> str:
    return segment.name if isinstance(segment, Named) else segment if isinstance(segment, str) else ""


def names_a_secret(label: str) -> bool:
    if any(stem in label.lower() for stem in _SECRET_STEMS):
        return True
    words = [word.lower() for word in _WORD.findall(label)]
    while words and _VERSION_WORD.match(words[-1]):
        words.pop()  # HF_TOKEN_2, API_KEY_V2
    if not words:
        return False
    if words[-1] in _SECRET_WORDS or words[-2:] == ["connection", "string"]:
        return True
    return words[-1] == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS


def is_secret_path(path: tuple, kind: str = "") -> bool:
    """Whether the value at `path` is secret: under a password/secret/token/…-like name and not
    inside a reference to one (valueFrom.secretKeyRef.name stays visible), or any Secret data."""
    if kind in _SECRET_KINDS_DATA and path and path[0] in _SECRET_KINDS_DATA[kind]:
        return True
    if path and path[-1] == "name":
        return False  # an item's identity (env[DB_PASSWORD].name) or a reference's target
    secret = False
    for segment in path:
        label = _label(segment)
        if _REFERENCE.search(label):
            secret = False
        elif names_a_secret(label):
            secret = True
    return secret


def redact(value: Any, path: tuple = (), kind: str = "") -> Any:
    """`value` as it may be printed: secret leaves become (hidden), and so does a string that
    holds a YAML/JSON document with a secret inside. Keys and names stay visible."""
    if isinstance(value, dict):
        return {key: redact(item, path + (key,), kind) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, path + (Named(item["name"]) if isinstance(item, dict) and isinstance(item.get("name"), str)
                                     else Index(i),), kind) for i, item in enumerate(value)]
    if is_secret_path(path, kind):
        return HIDDEN
    if isinstance(value, str):
        document = parse_embedded(value)
        if document is not None and redact(document, path + (EMBEDDED,), kind) != document:
            return HIDDEN
    return value


# --- embedded documents ----------------------------------------------------------------------

def parse_embedded(text: str) -> dict | list | None:
    """The mapping or list a string holds as YAML or JSON, or None for ordinary text. Only
    multi-line strings and {…}/[…] are tried, so a one-line "a: b" stays a string."""
    stripped = text.strip()
    if not ("\n" in stripped or stripped[:1] in ("{", "[")):
        return None
    try:
        document = yaml.load(text, Loader=LOADER)
    except yaml.YAMLError:
        return None
    return document if isinstance(document, (dict, list)) else None


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
            return [f"~ {name}:"] + [f"  {line}" for line in list(body)[2:]]
        lines = [f"- {name}: {_dump(self.before)}"] if self.change != ADDED else []
        return lines + ([f"+ {name}: {_dump(self.after)}"] if self.change != REMOVED else [])


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and "\n" in value.strip()


def show(value: Any, limit: int = 100) -> str:
    """A value on one line: strings bare, structures as compact JSON, long ones cut."""
    if isinstance(value, str) and _is_text(value):
        return f"({len(value.strip().splitlines())} lines of text)"
    text = value if isinstance(value, str) and value and value.strip() == value else to_json(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _dump(value: Any) -> str:
    return to_json(value) if not isinstance(value, str) else value


def to_json(value: Any, **options) -> str:
    """JSON of a YAML value: keys sorted where they compare, dates and the like as strings."""
    try:
        return json.dumps(value, sort_keys=True, default=str, **options)
    except TypeError:  # mixed key types, such as 1 and "a"
        return json.dumps(value, default=str, **options)


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
        self.changes.append(FieldChange(path, change, None if secret else redact(before, path, self.kind),
                                        None if secret else redact(after, path, self.kind), secret))

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
        old, new = parse_embedded(before), parse_embedded(after)
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
