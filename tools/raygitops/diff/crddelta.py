"""A KubeRay CRD's schema changes between two operator versions: new, removed and newly required fields.

    crd_diffs("1.6.2", "1.7.0", schema_at)    # [ResourceDiff] of kind CustomResourceDefinition, one per changed CRD
    schema_at("1.7.0")("ray.io/v1", "RayService")   # the openAPIV3Schema, or None when the store lacks it
"""
from __future__ import annotations

from typing import Callable, Iterator

from raygitops.diff.fields import ADDED, CHANGED, REMOVED, FieldChange, Named, ResourceDiff

CRD_KIND = "CustomResourceDefinition"
KUBERAY_KINDS = ("RayService", "RayCluster", "RayJob", "RayCronJob")
API_VERSION = "ray.io/v1"
MAX_ROWS = 25            # per CRD; the rest is counted in one last row
DETAILED = ("RayService",)   # the kinds this repository deploys: a row per field; the others, one summary row
SUMMARY = ("schema",)        # the one field of a summary row
ANY_ITEM = Named("")     # a list item, shown as []

# version → that KubeRay's schema_of(api_version, kind), or None when the schema store does not hold the version
SchemaAt = Callable[[str], "Callable[[str, str], dict | None] | None"]
NOT_IN_STORE = ("schemas",)   # the one field of the row that says a version is missing


def _walk(schema: dict, path: tuple = ()) -> Iterator[tuple[tuple, bool]]:
    """(path, required) for every field of an openAPIV3Schema, parents before children."""
    needed = set(schema.get("required") or [])
    for key, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict) or (not path and key == "status"):
            continue      # the status is the operator's to write, not Git's
        here = path + (key,)
        yield here, key in needed
        yield from _walk(sub, here)
        if isinstance(sub.get("items"), dict):
            yield from _walk(sub["items"], here + (ANY_ITEM,))


def _fields(schema: dict | None) -> dict[tuple, bool]:
    return dict(_walk(schema or {}))


def _topmost(paths: set[tuple]) -> list[tuple]:
    """Paths whose parent is not in the set: a new object is one row, not one per field inside it."""
    return sorted(p for p in paths if not any(p[:n] in paths for n in range(1, len(p))))


def schema_changes(old: dict | None, new: dict | None, limit: int | None = MAX_ROWS) -> list[FieldChange]:
    """New and removed fields (topmost only), and fields that became required; at most `limit` rows."""
    before, after = _fields(old), _fields(new)
    changes = [FieldChange(p, ADDED, after=("required" if after[p] else "optional"))
               for p in _topmost(set(after) - set(before))]
    changes += [FieldChange(p, REMOVED, before=("required" if before[p] else "optional"))
                for p in _topmost(set(before) - set(after))]
    changes += [FieldChange(p, CHANGED, before="optional", after="required")
                for p in sorted(set(before) & set(after)) if after[p] and not before[p]]
    changes.sort(key=lambda c: (c.path, c.change))
    if limit is not None and len(changes) > limit:
        rest = len(changes) - limit + 1
        changes = changes[:limit - 1] + [FieldChange(("…",), ADDED, after=f"{rest} more schema changes")]
    return changes


def crd_diffs(old_version: str, new_version: str, schema_at: SchemaAt) -> list[ResourceDiff]:
    """One ResourceDiff per KubeRay CRD that differs; `before`/`after` hold the versions, not the schemas.
    A version the schema store does not hold gives one row saying so."""
    old_of, new_of = schema_at(old_version), schema_at(new_version)
    if old_of is None or new_of is None:
        missing = ", ".join(v for v, of in ((old_version, old_of), (new_version, new_of)) if of is None)
        row = FieldChange(NOT_IN_STORE, CHANGED, before=old_version, after=new_version)
        return [ResourceDiff(f"{CRD_KIND}//*.ray.io", CRD_KIND, CHANGED, (row,), {"missing": missing}, None)]
    out = []
    for kind in KUBERAY_KINDS:
        old, new = old_of(API_VERSION, kind), new_of(API_VERSION, kind)
        name = f"{CRD_KIND}//{kind.lower()}s.ray.io"
        sides = {"version": old_version}, {"version": new_version}
        if old is None and new is None:
            continue
        if old is None or new is None:
            change = ADDED if old is None else REMOVED
            out.append(ResourceDiff(name, CRD_KIND, change, (), *(s if present is not None else None
                                                                 for s, present in zip(sides, (old, new)))))
            continue
        fields = schema_changes(old, new, limit=MAX_ROWS if kind in DETAILED else None)
        if fields and kind not in DETAILED:
            counts = {change: sum(1 for f in fields if f.change == change) for change in (ADDED, REMOVED, CHANGED)}
            text = f"{counts[ADDED]} new, {counts[REMOVED]} removed, {counts[CHANGED]} newly required fields"
            fields = [FieldChange(SUMMARY, CHANGED, before=f"KubeRay {old_version}", after=f"KubeRay {new_version}: {text}")]
        if fields:
            out.append(ResourceDiff(name, CRD_KIND, CHANGED, tuple(fields), *sides))
    return out
