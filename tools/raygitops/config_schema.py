"""The one typed schema of raygitops.yaml: every key any feature reads is declared here.

    check_config_document(doc)   # raises UserError naming file:line and the fix
    CONFIG_SCHEMA["properties"]["versions"]

A JSON Schema, so an editor can use it too. Unknown keys are errors: a typo such as `verions`
must never become a silently ignored setting. Messages name the key and the expected type and
never echo the value (a value in this file may be a secret pasted in by mistake).
"""
from __future__ import annotations

import difflib
import hashlib
import json
from typing import TYPE_CHECKING, Any

from raygitops.errors import UserError

if TYPE_CHECKING:
    import jsonschema

# The loader checks the form (MAJOR.MINOR.PATCH) and names the value; a number such as `1.32`
# is let through to it, so that it is told to write MAJOR.MINOR.PATCH rather than "a string".
VERSION = {"type": ["string", "number"]}
STRINGS = {"type": "array", "items": {"type": "string"}}


def _closed(properties: dict, required: tuple = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


# `form` fields are sent as multipart form data (Aana's endpoints read a `body` field); a mapping
# value is sent as JSON.
SMOKE_REQUEST = _closed({"method": {"type": "string"}, "path": {"type": "string"}, "json": {},
                         "form": {"type": "object"}, "expect": {"type": "object"}})

CONFIG_SCHEMA: dict[str, Any] = _closed({
    "versions": _closed({"ray": VERSION, "kuberay": VERSION, "kubernetes": VERSION, "argocd": VERSION},
                        required=("ray", "kuberay", "kubernetes")),
    "images": {"type": "object", "additionalProperties": _closed(
        {"name": {"type": "string"}, "tag_suffix": {"type": "string"}}, required=("name",))},
    "working_dir": _closed({"url": {"type": "string"}}, required=("url",)),
    "applications": {"type": "array", "items": _closed({
        "name": {"type": "string"},
        "import_path": {"type": "string"},
        # An Aana SDK app instead of import_path (module:AanaSDK object); see generate/aana_apps.py.
        "aana": {"type": "string"},
        "route_prefix": {"type": "string"},
        "docs": {"type": "string"},
        # The environments that run the app (default: every one); an imported environment runs its own.
        "environments": STRINGS,
        # One request, or a list of them (an Aana app proves its endpoint and its database).
        "smoke": {"if": {"type": "array"}, "then": {"type": "array", "items": SMOKE_REQUEST}, "else": SMOKE_REQUEST},
    }, required=("name", "route_prefix"))},   # config.py: import_path or aana
    "schemas": _closed({
        "crd_dirs": STRINGS, "schema_locations": STRINGS, "skip_kinds": STRINGS,
        "catalog_commit": {"type": "string", "pattern": "^[0-9a-f]{40}$",
                           "description": "a full 40-character commit of datreeio/CRDs-catalog"},
        "catalog": {"type": "array", "items": {
            "type": "string", "pattern": r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?/[a-z0-9]+_[a-z0-9]+\.json$",
            "description": "a catalog path such as external-secrets.io/externalsecret_v1.json"}},
    }),
    "external_imports": STRINGS,
    # The order `raygitops promote` moves code and images through the environments (edit/promote.py).
    "promotion": _closed({"order": STRINGS}),
    # Each policy setting is typed by the policy that reads it (checks/policies.py).
    "policies": {"type": "object"},
    # Check packs beyond the generic ones, e.g. [aana] (DB_CONFIG, TMP_DATA_DIR, HMAC secret).
    "checks": _closed({"packs": STRINGS}),
}, required=("versions", "images", "working_dir", "applications"))

_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "a whole number",
               "number": "a number", "boolean": "true or false"}


def check_config_document(doc) -> None:
    """Refuse the first place where raygitops.yaml leaves its schema, with its line. A document seen
    clean before (the same data under the same schema) is not checked again: importing jsonschema
    alone costs `regen --check` a third of its 0.5 s budget (issue 9), on every commit's hook."""
    marker = _clean_marker(doc.data)
    if marker is not None and marker.exists():
        return
    import jsonschema
    validator = jsonschema.Draft202012Validator(CONFIG_SCHEMA)
    # Outermost first, and an unknown key before a missing one: `verions` explains a missing `versions`.
    errors = sorted(validator.iter_errors(doc.data),
                    key=lambda e: (len(e.absolute_path), e.validator != "additionalProperties", list(map(str, e.path))))
    if errors:
        raise _user_error(doc, errors[0])
    if marker is not None:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass   # a read-only cache costs time, not correctness


def _clean_marker(data: Any):
    """$XDG_CACHE_HOME/raygitops/config-clean/<sha256 of the schema and the data>, or None when the
    data has no JSON form (then it is always checked)."""
    from raygitops.usercache import user_cache
    try:
        text = json.dumps([CONFIG_SCHEMA, data], sort_keys=True)
    except (TypeError, ValueError):
        return None
    return user_cache("config-clean") / hashlib.sha256(text.encode()).hexdigest()


def _user_error(doc, error: jsonschema.ValidationError) -> UserError:
    path = tuple(error.absolute_path)
    where = ".".join(map(str, path)) or "the top level"
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))[0]
        close = difflib.get_close_matches(str(unknown), known, n=1)
        fix = f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(known)}"
        return UserError(f"unknown key '{unknown}' in {where}", file=doc.file,
                         line=doc.line_of(path + (unknown,)), fix=fix)
    if error.validator == "required":
        missing = next(k for k in schema["required"] if k not in error.instance)
        return UserError(f"missing '{'.'.join(map(str, path + (missing,)))}'", file=doc.file,
                         line=doc.line_of(path), fix=f"add {missing}")
    if error.validator == "type":
        types = schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]
        expected = " or ".join(dict.fromkeys(_TYPE_WORDS.get(t, str(t)) for t in types))
        return UserError(f"'{where}' must be {expected}", file=doc.file, line=doc.line_of(path),
                         fix=f"write {expected} there (see README.md for raygitops.yaml)")
    if error.validator == "pattern":
        return UserError(f"'{where}' is not {schema.get('description', 'in the expected form')}",
                         file=doc.file, line=doc.line_of(path), fix=f"write {schema.get('description', 'it')}")
    return UserError(f"'{where}' is not valid ({error.validator})", file=doc.file, line=doc.line_of(path),
                     fix="see README.md for raygitops.yaml")
