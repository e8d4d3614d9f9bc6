"""A CRD's CEL validation rules (x-kubernetes-validations): found, and evaluated as the API server does.

    rules = rules_of(crd_schema(crd))                      # [Rule]: every rule, where it sits, transition or not
    violations(new, crd_schema(crd), old=base)             # [Violation]: what the API server would reject

Evaluated by common-expression-language (the Rust `cel` crate, with its cel-go-like extension
functions). The walk follows kubernetes apiextensions-apiserver pkg/apiserver/schema/cel/validation.go
(v0.36, `validateExpressions`, `validateMap`, `validateArray`) and k8s.io/apiserver pkg/cel/common
equality.go (`CorrelatedObject`):
- a rule runs only where the field is present and not null ("We only validate non-null values");
- a transition rule (one that uses `oldSelf`) runs only when the old object has a correlated value
  there: same key in a map, same list-map keys in an `x-kubernetes-list-type: map` list; items of
  other lists never have one. With `optionalOldSelf: true` it runs anyway, `oldSelf` an optional;
- ratcheting (CRDValidationRatcheting, GA and locked on since Kubernetes 1.33): on an update, a
  failing rule without `oldSelf` on a value equal to its old value is only a warning, so it is not
  reported here; evaluation errors are never ratcheted;
- the message is `messageExpression`'s result, else `message`, else "failed rule: <rule>"; the
  path gets the rule's `fieldPath` appended.
Not modelled: the cost budget, and the typed values K8s makes of string formats (date-time, duration).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterator


ANY_ITEM = "[]"     # in a Rule's path: any item of a list
ANY_KEY = "*"       # in a Rule's path: any key of a map (additionalProperties)


class UnsupportedRule(ValueError):
    """A rule the CEL library cannot parse or evaluate (a function it lacks): a tool limit, not a finding."""


@dataclass(frozen=True)
class Rule:
    path: str                   # where it sits in the schema: spec.managedBy, spec.x.items[].y
    expression: str             # the CEL `rule`
    message: str = ""
    message_expression: str = ""
    reason: str = ""            # FieldValueInvalid (the default), FieldValueForbidden, …
    field_path: str = ""        # reported below `path`: ".name", "['key']"
    optional_old_self: bool = False
    is_transition: bool = False  # uses oldSelf: runs only on an update that keeps the field


@dataclass(frozen=True)
class Violation:
    path: str                   # the field in the object: spec.rayClusterConfig.workerGroupSpecs[gpu].x
    message: str
    rule: Rule


def crd_schema(crd: dict, version: str = "v1") -> dict:
    """The openAPIV3Schema of one version of a CustomResourceDefinition document."""
    for served in (crd.get("spec") or {}).get("versions") or []:
        if served.get("name") == version:
            return ((served.get("schema") or {}).get("openAPIV3Schema")) or {}
    raise KeyError(f"{(crd.get('metadata') or {}).get('name', 'CRD')} has no version {version}")


# --- paths, in the syntax findings and tools/diff use --------------------------------------------

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$-]+$")


def _child(path: str, key: str) -> str:
    key = key if _PLAIN_KEY.match(key) else json.dumps(key)   # metadata.annotations."ray.io/x"
    return f"{path}.{key}" if path else key


def _item(path: str, items: list, index: int) -> str:
    """[groupName] or [name] when every item of the list has a distinct one, else [index]."""
    for key in ("groupName", "name"):
        names = [item.get(key) if isinstance(item, dict) else None for item in items]
        if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
            return f"{path}[{names[index]}]"
    return f"{path}[{index}]"


# --- the schema, compiled once -------------------------------------------------------------------

@dataclass
class _Node:
    schema: dict
    rules: list[Rule] = field(default_factory=list)
    properties: dict[str, "_Node"] = field(default_factory=dict)
    items: "_Node | None" = None
    values: "_Node | None" = None   # additionalProperties
    has_rules: bool = False          # here or below: a walk skips subtrees without any


@lru_cache(maxsize=None)
def _cel():
    """The cel package, imported on first use. Its __init__ (common-expression-language 0.10.0) also
    imports its REPL, cel/cli.py, and with it prompt_toolkit: about 0.4 s of every diff, for a module
    this process never calls. An empty stand-in for cel.cli skips it; the extension and stdlib load as usual."""
    import sys
    import types
    sys.modules.setdefault("cel.cli", types.ModuleType("cel.cli"))
    import cel
    return cel


@lru_cache(maxsize=None)
def _program(expression: str) -> Any:
    try:
        return _cel().compile(expression)
    except ValueError as error:
        raise UnsupportedRule(f"CEL rule {expression!r} cannot be parsed here: {error}") from None


def _rule(entry: dict, path: str) -> Rule:
    expression = str(entry.get("rule") or "")
    # What K8s reads off the checked AST (compilation.go: UsesOldSelf), read off the parsed program.
    transition = "oldSelf" in _program(expression).variables()
    return Rule(path=path, expression=expression, message=str(entry.get("message") or ""),
                message_expression=str(entry.get("messageExpression") or ""),
                reason=str(entry.get("reason") or ""), field_path=str(entry.get("fieldPath") or ""),
                optional_old_self=bool(entry.get("optionalOldSelf")), is_transition=transition)


def _compile(schema: dict, path: str) -> _Node:
    node = _Node(schema, rules=[_rule(e, path) for e in schema.get("x-kubernetes-validations") or []])
    # allOf branches are checked against the same value (validation.go: AllOfValidators); rules
    # nested inside a branch's own properties are not followed (no KubeRay CRD has any).
    for branch in schema.get("allOf") or []:
        node.rules += _compile(branch, path).rules
    for key, sub in (schema.get("properties") or {}).items():
        node.properties[key] = _compile(sub, _child(path, key))
    if isinstance(schema.get("items"), dict):
        node.items = _compile(schema["items"], path + ANY_ITEM)
    if isinstance(schema.get("additionalProperties"), dict):
        node.values = _compile(schema["additionalProperties"], f"{path}.{ANY_KEY}" if path else ANY_KEY)
    children = [*node.properties.values(), node.items, node.values]
    node.has_rules = bool(node.rules) or any(c is not None and c.has_rules for c in children)
    return node


_TREES: dict[int, tuple[dict, _Node]] = {}   # keeps the schema alive, so its id stays its own


def _tree(schema: dict) -> _Node:
    if id(schema) not in _TREES:
        _TREES[id(schema)] = (schema, _compile(schema, ""))
    return _TREES[id(schema)][1]


def rules_of(schema: dict) -> list[Rule]:
    """Every x-kubernetes-validations rule in an openAPIV3Schema, in schema order."""
    def walk(node: _Node) -> Iterator[Rule]:
        yield from node.rules
        for child in (*node.properties.values(), node.items, node.values):
            if child is not None:
                yield from walk(child)
    return list(walk(_tree(schema)))


# --- values as CEL sees them -----------------------------------------------------------------------

def _property_schema(schema: dict, key: str) -> dict:
    extra = schema.get("additionalProperties")
    return (schema.get("properties") or {}).get(key) or (extra if isinstance(extra, dict) else {})


def _items_schema(schema: dict) -> dict:
    return schema["items"] if isinstance(schema.get("items"), dict) else {}


def _to_cel(value: Any, schema: dict, root: bool = False) -> Any:
    """Numbers typed by the schema (an integer in a `number` field is a double); at the resource
    root, metadata shows only name and generateName (model.WithTypeAndObjectMeta)."""
    kind = schema.get("type")
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        out = {k: _to_cel(v, _property_schema(schema, k)) for k, v in value.items()}
        if root and isinstance(out.get("metadata"), dict):
            out["metadata"] = {k: v for k, v in out["metadata"].items() if k in ("name", "generateName")}
        return out
    if isinstance(value, list):
        return [_to_cel(v, _items_schema(schema)) for v in value]
    return value


def _map_keys(schema: dict) -> list[str] | None:
    if schema.get("x-kubernetes-list-type") == "map":
        return list(schema.get("x-kubernetes-list-map-keys") or [])
    return None


def _map_key(item: Any, keys: list[str], items_schema: dict) -> tuple | None:
    if not isinstance(item, dict):
        return None
    props = items_schema.get("properties") or {}
    return tuple(item.get(k, (props.get(k) or {}).get("default")) for k in keys)


def _old_items(schema: dict, old: Any) -> dict[tuple, Any]:
    """Old items by their list-map keys; empty for every other kind of list (not correlatable)."""
    keys = _map_keys(schema)
    if not keys or not isinstance(old, list):
        return {}
    items = schema.get("items") or {}
    return {key: item for item in old if (key := _map_key(item, keys, items)) is not None}


def _unchanged(new: Any, old: Any, schema: dict) -> bool:
    """reflect.DeepEqual as CorrelatedObject.CachedDeepEqual applies it: list-map items by key."""
    if isinstance(new, dict) and isinstance(old, dict):
        return new.keys() == old.keys() and all(_unchanged(v, old[k], _property_schema(schema, k))
                                                for k, v in new.items())
    if isinstance(new, list) and isinstance(old, list):
        items = _items_schema(schema)
        if len(new) != len(old):
            return False
        keys = _map_keys(schema)
        if keys:
            olds = _old_items(schema, old)
            return all(_map_key(n, keys, items) in olds and _unchanged(n, olds[_map_key(n, keys, items)], items)
                       for n in new)
        return all(_unchanged(n, o, items) for n, o in zip(new, old))
    return type(new) is type(old) and new == old


# --- evaluation --------------------------------------------------------------------------------------

def _context(variables: dict) -> Any:
    cel = _cel()
    from cel import stdlib
    context = cel.Context()
    stdlib.add_stdlib_to_context(context)    # strings, lists, math, sets: K8s has these libraries
    for name, value in variables.items():
        context.add_variable(name, value)
    return context


_UNDEFINED = re.compile(r"Undefined variable or function: '([^']+)'")


def _evaluate(expression: str, variables: dict) -> Any:
    try:
        return _program(expression).execute(_context(variables))
    except (RuntimeError, KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError) as error:
        missing = _UNDEFINED.search(str(error))
        if missing:
            raise UnsupportedRule(f"CEL rule {expression!r} uses {missing.group(1)}(), which the CEL "
                                  f"library here does not provide") from None
        raise _EvalError(f"no such key: {error.args[0]}" if isinstance(error, KeyError) else str(error)) from None


class _EvalError(Exception):
    pass


def _message(rule: Rule, variables: dict) -> str:
    """validation.go evalMessageExpression / ruleMessageOrDefault."""
    if rule.message_expression:
        try:
            text = _evaluate(rule.message_expression, variables)
        except _EvalError:
            text = None
        if isinstance(text, str) and text.strip() and "\n" not in text.strip():
            return text.strip()
    return rule.message.strip() or f"failed rule: {rule.expression.strip()}"


def _report_path(text: str, rule: Rule) -> str:
    """The value's path, with the rule's fieldPath (".name", "['key']") below it."""
    extra = rule.field_path.strip()
    if not extra.startswith("["):
        extra = extra.lstrip(".")
    if not extra:
        return text
    return text + extra if extra.startswith("[") or not text else f"{text}.{extra}"


def _check_node(node: _Node, new: Any, old: Any, path: str, ratchet: bool, root: bool) -> Iterator[Violation]:
    self_value = _to_cel(new, node.schema, root)
    uses_old = old is not None and any(rule.is_transition for rule in node.rules)
    old_value = _to_cel(old, node.schema, root) if uses_old else None
    for rule in node.rules:
        variables = {"self": self_value}
        if rule.is_transition:
            if rule.optional_old_self:
                optional = _cel().OptionalValue
                variables["oldSelf"] = optional.none() if old is None else optional.of(old_value)
            elif old is None:
                continue   # "transition rules are evaluated only if there is a comparable existing value"
            else:
                variables["oldSelf"] = old_value
        try:
            result = _evaluate(rule.expression, variables)
        except _EvalError as error:   # never ratcheted
            yield Violation(_report_path(path, rule),
                            f"{error} evaluating rule: {rule.message.strip() or rule.expression}", rule)
            continue
        if result is True:
            continue
        if not isinstance(result, bool):
            yield Violation(_report_path(path, rule), f"rule did not evaluate to a bool: {rule.expression}", rule)
            continue
        if ratchet and not rule.is_transition:
            continue       # the API server only warns: the value is as it was
        yield Violation(_report_path(path, rule), _message(rule, variables), rule)


def _walk(node: _Node, new: Any, old: Any, path: str, anchor_unchanged: bool, root: bool = False
          ) -> Iterator[Violation]:
    if new is None or not node.has_rules:
        return
    # A value with an old counterpart ratchets on its own equality; one without, on that of the
    # nearest ancestor that has one (validation.go ratchetingOptions.shouldRatchetError).
    unchanged = _unchanged(new, old, node.schema) if old is not None else anchor_unchanged
    if node.rules:
        yield from _check_node(node, new, old, path, unchanged, root)
    if isinstance(new, dict):
        olds = old if isinstance(old, dict) else {}
        for key, value in new.items():
            child = node.properties.get(key) or node.values
            if child is not None:
                yield from _walk(child, value, olds.get(key), _child(path, str(key)), unchanged)
    elif isinstance(new, list) and node.items is not None:
        keys, olds = _map_keys(node.schema), _old_items(node.schema, old)
        for index, item in enumerate(new):
            old_item = olds.get(_map_key(item, keys, node.items.schema)) if keys else None
            yield from _walk(node.items, item, old_item, _item(path, new, index), unchanged)


def violations(obj: dict, schema: dict, old: dict | None = None) -> list[Violation]:
    """What the API server rejects when `obj` is created (old=None) or replaces `old`, by the CEL
    rules of `schema` (an openAPIV3Schema). Sorted by path, then rule."""
    found = _walk(_tree(schema), obj, old, "", anchor_unchanged=False, root=True)
    return sorted(found, key=lambda v: (v.path, v.rule.path, v.rule.expression))
