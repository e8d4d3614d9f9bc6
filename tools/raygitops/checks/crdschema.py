"""A CRD version's openAPIV3Schema as a strict JSON schema, converted as kubeconform does.

    schema = crd_to_jsonschema(version["schema"]["openAPIV3Schema"])  # metadata: $ref OBJECT_META_REF
    schema = crd_to_jsonschema(openapi, object_meta=False)             # metadata: any object

The conversion follows kubeconform's `openapi2jsonschema.py` (with `DENY_ROOT_ADDITIONAL_PROPERTIES`):
every schema object with `properties` gets `additionalProperties: false`; int-or-string becomes
`oneOf: [string, integer]`. It also does what the API server does: objects marked
`x-kubernetes-preserve-unknown-fields` keep unknown fields, `nullable: true` allows null, and the
root allows `apiVersion`, `kind` and a `metadata` that must be a valid ObjectMeta.
"""
from __future__ import annotations

import copy
from typing import Any

__all__ = ["crd_to_jsonschema", "DEFINITIONS_URI", "OBJECT_META_REF"]

DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"  # the $id of kubernetes-validate's file
OBJECT_META_REF = DEFINITIONS_URI + "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

_SCHEMA_MAP_KEYWORDS = ("properties", "patternProperties", "definitions")
_SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf")
_SCHEMA_KEYWORDS = ("additionalProperties", "items", "not", "additionalItems")
_INT_OR_STRING = [{"type": "string"}, {"type": "integer"}]


def _is_int_or_string_anyof(value: Any) -> bool:
    return (isinstance(value, list) and value
            and all(isinstance(s, dict) and set(s) == {"type"} and s["type"] in ("integer", "string")
                    for s in value))


def _convert_node(node: Any) -> Any:
    if not isinstance(node, dict):
        return node  # a boolean schema (additionalProperties: true)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            out[key] = {name: _convert_node(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            out[key] = [_convert_node(sub) for sub in value]
        elif key in _SCHEMA_KEYWORDS:
            out[key] = [_convert_node(s) for s in value] if isinstance(value, list) else _convert_node(value)
        else:
            out[key] = value  # enum, default, required, x-kubernetes-*, ...: literal values

    # int-or-string (kubeconform rewrites `format: int-or-string`; controller-gen writes the extension)
    if out.get("x-kubernetes-int-or-string") is True or out.get("format") == "int-or-string":
        if out.get("format") == "int-or-string":
            del out["format"]
        if _is_int_or_string_anyof(out.get("anyOf")):
            del out["anyOf"]
        if "oneOf" not in out:
            out.pop("type", None)
            out["oneOf"] = copy.deepcopy(_INT_OR_STRING)

    # kubeconform -strict: objects with properties reject unknown fields, except where the API
    # server preserves them
    if ("properties" in out and "additionalProperties" not in out
            and out.get("x-kubernetes-preserve-unknown-fields") is not True):
        out["additionalProperties"] = False
    if out.get("x-kubernetes-embedded-resource") is True and out.get("additionalProperties") is False:
        props = out["properties"]
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})

    # OpenAPI `nullable: true`: null is allowed
    if out.get("nullable") is True:
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        elif isinstance(t, list) and "null" not in t:
            out["type"] = [*t, "null"]
        if "oneOf" in out and {"type": "null"} not in out["oneOf"]:
            out["oneOf"] = [*out["oneOf"], {"type": "null"}]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def crd_to_jsonschema(openapi_v3_schema: dict, *, object_meta: bool = True) -> dict:
    """One CRD version's `openAPIV3Schema` as a strict JSON schema (draft 4, as kubeconform uses).

    The input is not modified. With `object_meta`, `metadata` is checked against the Kubernetes
    ObjectMeta definition; this needs the built-in definitions in the validator's registry.
    """
    schema = _convert_node(openapi_v3_schema)
    if not isinstance(schema, dict):
        return schema
    if schema.get("x-kubernetes-preserve-unknown-fields") is not True:
        props = schema.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        # metadata is an ObjectMeta: a CRD may narrow it (e.g. name's maxLength) but never
        # lists all of its fields, so its own properties must not make the others unknown
        original = (openapi_v3_schema.get("properties") or {}).get("metadata")
        meta = props.get("metadata")
        if isinstance(meta, dict) and isinstance(original, dict) and "additionalProperties" not in original:
            meta.pop("additionalProperties", None)
        if object_meta:
            props["metadata"] = ({"allOf": [{"$ref": OBJECT_META_REF}, meta]}
                                 if isinstance(meta, dict) and "properties" in meta
                                 else {"$ref": OBJECT_META_REF})
        else:
            props.setdefault("metadata", {"type": "object"})
        schema.setdefault("additionalProperties", False)
    return schema

