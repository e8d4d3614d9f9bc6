"""jsonschema errors as findings' one-line messages and paths, values masked (raygitops.masking.shown).

    for path, message in explain(error, secret_at): finding("schema", path=dotted(path), message=message,
                                                           fix=schema_fix(message, origin))
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from jsonschema import exceptions as js_exceptions

from raygitops.masking import shown

__all__ = ["explain", "schema_fix", "dotted", "path_sort_key"]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


def dotted(path: Iterable[Any]) -> str:
    """('spec', 'containers', 0, 'resources') -> 'spec.containers[0].resources'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def path_sort_key(path: tuple) -> tuple:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in path)


# the pattern controller-gen writes for resource.Quantity
_QUANTITY_PATTERN = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]"
                     r"|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")


_SCHEMA_FIXES = (
    ("unknown field", "remove it or fix its spelling (unknown fields are errors, as with kubeconform -strict)"),
    ("missing required field", "add the field"),
    ("is not a Kubernetes quantity", "write a quantity such as 2, 500m or 4Gi"),
    ("is not of type", "write a value of that type (quote a number that is meant as a string)"),
)


def schema_fix(message: str, origin: str) -> str:
    return next((fix for words, fix in _SCHEMA_FIXES if words in message),
                f"make the value match the schema ({Path(str(origin)).name})")


def _types(value: Any) -> list[str]:
    return list(value) if isinstance(value, list) else [value]


def explain(error: js_exceptions.ValidationError, secret_at=lambda path: False) -> Iterator[tuple[tuple, str]]:
    """One-line messages for an error. A value is quoted only when short, scalar and not secret-like
    (raygitops.masking.shown): the messages go to CI logs and PR comments."""
    path = tuple(error.absolute_path)
    keyword, instance = error.validator, error.instance
    value = shown(instance, secret_at(path))

    if keyword == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        props = schema.get("properties") or {}
        patterns = [re.compile(p) for p in (schema.get("patternProperties") or {})]
        extras = [k for k in instance if k not in props and not any(p.search(k) for p in patterns)]
        if extras and error.validator_value is False:
            for name in extras:
                yield path, f"unknown field {name!r}"
            return

    if keyword == "required" and isinstance(instance, dict) and isinstance(error.validator_value, list):
        for name in error.validator_value:
            if name not in instance:
                yield path, f"missing required field {name!r}"
        return

    if keyword == "type":
        wanted = ", ".join(repr(t) for t in _types(error.validator_value))
        yield path, f"{value} is not of type {wanted}"
        return

    if keyword == "pattern" and isinstance(error.validator_value, str):
        if error.validator_value == _QUANTITY_PATTERN:
            yield path, f"{value} is not a Kubernetes quantity (like 2, 500m, 4Gi)"
        else:
            yield path, f"{value} does not match the pattern {error.validator_value}"
        return

    if keyword in ("oneOf", "anyOf") and error.context:
        context = list(error.context)
        if all(e.validator == "type" and not e.relative_path for e in context):
            wanted: list[str] = []
            for e in context:
                wanted.extend(t for t in _types(e.validator_value) if t not in wanted)
            yield path, f"{value} is not of type {', '.join(repr(t) for t in wanted)}"
            return
        best = js_exceptions.best_match(context)
        if best is not None:
            yield from explain(best, secret_at)
            return

    message = error.message
    full = repr(instance)
    if full in message:   # jsonschema quotes a value whole (enum, minimum, maxLength…), keys by name
        message = message.replace(full, value)
    message = " ".join(message.split())
    if len(message) > 300:
        message = message[:299] + "…"
    yield path, message
