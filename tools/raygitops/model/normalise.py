"""An object as the API server stores it: nulls dropped where the schema forbids them, then its defaults applied.

    schema = structural_schema(crd, "v1")            # crd: a CustomResourceDefinition as a dict
    normalised = normalise(rayservice, schema)       # .obj (a new dict), .dropped_nulls ("spec.x.metadata", ...)

Follows kubernetes/apiextensions-apiserver v0.33.0 (prunenulls.go and algorithm.go are the same from v0.28.0
to master 1aa2717a5, July 2026), in the order a create or update runs them:
1. Decoding (pkg/apiserver/customresource_handler.go schemaCoercingDecoder.Decode →
   unstructuredSchemaCoercer.apply):
   a. the root's metadata is read as ObjectMeta first (objectmeta/coerce.go GetObjectMetaWithOptions),
   b. unknown fields are pruned (pruning/algorithm.go PruneWithOptions); NOT done here: unknown fields
      are kept, so that strict validation elsewhere reports them,
   c. nulls are pruned (defaulting/prunenulls.go PruneNonNullableNullsWithoutDefaults): a map entry whose
      schema is not `nullable` and has no `default`; entries without a schema (unknown fields, fields
      under x-kubernetes-preserve-unknown-fields) are left alone, and so are null list items,
   d. the metadata of every x-kubernetes-embedded-resource is coerced as ObjectMeta
      (objectmeta/algorithm.go CoerceWithOptions), and the root's is written back (SetObjectMeta).
2. Defaulting, which the versioning codec runs after the decoder (apimachinery
   runtime/serializer/versioning/versioning.go codec.Decode: c.decoder.Decode, then c.defaulter.Default →
   customresource_handler.go unstructuredDefaulter.Default → defaulting/algorithm.go Default): a missing
   property, or a null one that is not `nullable`, gets a deep copy of its default (so a null with a
   default is replaced, not dropped). Default then recurses into every entry, the defaults it just set
   included: a default `{}` gets its properties' defaults. Null list items and null additionalProperties
   values that are not `nullable` get the items' / additionalProperties' default.
Only then does the strategy validate (registry/customresource/strategy.go Validate), so `required` and the
uniqueness of x-kubernetes-list-map-keys (listtype/validation.go validateListMap) see the defaulted object:
a port {containerPort: 8080} is stored, and keyed, as {containerPort: 8080, protocol: TCP}.
x-kubernetes-int-or-string takes no part here: the value is stored as written, 8080 or "http".
Only the structural parts of a schema matter (properties, items, additionalProperties, default, nullable):
anyOf/allOf/oneOf/not are value validation and hold no structure.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# metav1.ObjectMeta's JSON fields. Every one is `omitempty` except creationTimestamp, which
# CoerceWithOptions removes when zero; deletionGracePeriodSeconds is a pointer, so only null is empty.
_OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields"})
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$-]+$")


@dataclass(frozen=True)
class Normalised:
    """The object as stored, and the fields whose nulls the API server drops (in the repo's path syntax)."""
    obj: dict
    dropped_nulls: tuple[str, ...]


def structural_schema(crd: dict, version: str) -> dict:
    """The openAPIV3Schema of a served version of a CRD; ValueError naming the versions it serves."""
    name = (crd.get("metadata") or {}).get("name", "the CRD")
    versions = (crd.get("spec") or {}).get("versions") or []
    served = [v.get("name") for v in versions if isinstance(v, dict) and v.get("served")]
    for entry in versions:
        if isinstance(entry, dict) and entry.get("name") == version and entry.get("served"):
            schema = (entry.get("schema") or {}).get("openAPIV3Schema")
            if not isinstance(schema, dict):
                raise ValueError(f"{name} version {version} has no schema.openAPIV3Schema")
            return schema
    raise ValueError(f"{name} serves no version {version!r} (it serves: {', '.join(map(str, served)) or 'none'})")


def normalise(obj: dict, schema: dict) -> Normalised:
    """The object the API server would store for `obj` (never mutated), and the nulls it drops."""
    stored = _copy(obj)
    dropped: list[str] = []
    _prune_nulls(stored, schema, (), dropped)
    if isinstance(stored, dict) and "metadata" in stored:
        stored["metadata"] = _as_object_meta(stored["metadata"], ("metadata",), dropped)
    _default(stored, schema)
    return Normalised(obj=stored, dropped_nulls=tuple(dropped))


# --- 1c/1d: nulls pruned, embedded metadata coerced ------------------------------------------------

@dataclass(frozen=True)
class _Item:
    """A list item in a path: [name] by groupName or name when the list has distinct ones, else [index]."""
    label: str


def _prune_nulls(node: Any, schema: dict | None, path: tuple, dropped: list[str]) -> None:
    """PruneNonNullableNullsWithoutDefaults, then CoerceWithOptions for embedded resources below the root."""
    if schema is None:
        return   # no schema, nothing pruned (prunenulls.go getSchemaForField returns nil)
    if isinstance(node, dict):
        for key in list(node):
            if not path and key == "metadata":
                continue   # the root's ObjectMeta was taken out before pruning (apply, step 1a)
            child = _field_schema(schema, key)
            if node[key] is None and child is not None and not child.get("nullable") and child.get("default") is None:
                del node[key]
                dropped.append(_format(path + (key,)))
            else:
                _prune_nulls(node[key], child, path + (key,), dropped)
        if path and schema.get("x-kubernetes-embedded-resource") and "metadata" in node:
            node["metadata"] = _as_object_meta(node["metadata"], path + ("metadata",), dropped)
    elif isinstance(node, list):
        items = _items(schema)
        for item, label in zip(node, _labels(node)):
            _prune_nulls(item, items, path + (_Item(label),), dropped)


def _as_object_meta(meta: Any, path: tuple, dropped: list[str]) -> Any:
    """metadata after a round trip through metav1.ObjectMeta: empty known fields gone, null becomes {}.

    Unknown keys are kept (the API server drops them; strict validation reports them).
    """
    if meta is None:
        dropped.append(_format(path))
        return {}
    if not isinstance(meta, dict):
        return meta   # the API server rejects it; validation reports it
    kept = {}
    for key, value in meta.items():
        empty = value is None or (isinstance(value, (str, dict, list)) and not value) or (
            key == "generation" and value == 0 and not isinstance(value, bool))
        if key in _OBJECT_META_FIELDS and empty:
            if value is None:
                dropped.append(_format(path + (key,)))
            continue
        kept[key] = value
    return kept


# --- 2: defaults -------------------------------------------------------------------------------

def _default(node: Any, schema: dict | None) -> None:
    """algorithm.go Default."""
    if schema is None:
        return
    if isinstance(node, dict):
        properties = schema.get("properties") or {}
        for key, prop in properties.items():
            if prop.get("default") is not None and (key not in node or _non_nullable_null(node[key], prop)):
                node[key] = _copy(prop["default"])
        extra = _additional(schema)
        for key in list(node):   # the defaults just set too: nested defaults apply inside them
            if key in properties:
                _default(node[key], properties[key])
            elif extra is not None:
                if _non_nullable_null(node[key], extra):
                    node[key] = _copy(extra.get("default"))
                _default(node[key], extra)
    elif isinstance(node, list):
        items = _items(schema)
        for index, item in enumerate(node):
            if _non_nullable_null(item, items):
                node[index] = _copy(items.get("default"))
            _default(node[index], items)


# --- helpers ---------------------------------------------------------------------------------

def _non_nullable_null(value: Any, schema: dict | None) -> bool:
    return value is None and schema is not None and not schema.get("nullable")


def _additional(schema: dict) -> dict | None:
    """additionalProperties as a schema; `true` carries none (convert.go: StructuralOrBool without Structural)."""
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _items(schema: dict) -> dict | None:
    items = schema.get("items")
    return items if isinstance(items, dict) else None


def _field_schema(schema: dict, key: str) -> dict | None:
    """prunenulls.go getSchemaForField: the property's schema, else additionalProperties'."""
    prop = (schema.get("properties") or {}).get(key)
    return prop if isinstance(prop, dict) else _additional(schema)


def _labels(items: list) -> list[str]:
    """groupName or name when every item has a distinct one (as tools/diff matches items), else the index."""
    for key in ("groupName", "name"):
        names = [item.get(key) if isinstance(item, dict) else None for item in items]
        if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
            return names
    return [str(index) for index in range(len(items))]


def _format(path: tuple) -> str:
    """The repo's field-path syntax: spec.rayClusterConfig.workerGroupSpecs[gpu].template.metadata."""
    out = ""
    for segment in path:
        if isinstance(segment, _Item):
            out += f"[{segment.label}]"
        else:
            key = str(segment) if _PLAIN_KEY.match(str(segment)) else json.dumps(str(segment))
            out += f".{key}" if out else key
    return out


def _copy(node: Any) -> Any:
    """A deep copy of a JSON-like tree (scalars are immutable and shared)."""
    if isinstance(node, dict):
        return {key: _copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copy(value) for value in node]
    return node
