"""Strict, offline JSON-schema validation of rendered resources, with kubeconform's semantics.

    registry = SchemaRegistry(kubernetes_version="1.32.0", crd_dirs=[kuberay_crds], schema_locations=[catalog])
    findings = registry.validate(resource, file="overlays/dev")  # -> list[Finding], sorted by path

Where a schema comes from, first match wins:

1. Built-in kinds: the `-local-strict` schemas shipped in the `kubernetes-validate` package for the
   configured Kubernetes version. Their `$ref`s into `_definitions.json` are resolved in memory.
2. CustomResourceDefinitions: every `*.yaml`/`*.yml` file in `crd_dirs` (directories or single files, such as
   the schema store's verified files). These files are only scanned for
   group and kind when needed, and a CRD version is converted the first time a resource uses it.
   The conversion follows kubeconform's `openapi2jsonschema.py` (with `DENY_ROOT_ADDITIONAL_PROPERTIES`):
   every schema object with `properties` gets `additionalProperties: false`; int-or-string becomes
   `oneOf: [string, integer]`. It also does what the API server does: objects marked
   `x-kubernetes-preserve-unknown-fields` keep unknown fields, `nullable: true` allows null, and the
   root allows `apiVersion`, `kind` and a `metadata` that must be a valid ObjectMeta.
3. `catalog_files`: schemas in the CRDs-catalog layout, by their catalog path
   (`external-secrets.io/externalsecret_v1.json`), as the schema store pins them. Then
   `schema_locations`: kubeconform `-schema-location` templates (`{{.Group}}`, `{{.ResourceKind}}`,
   `{{.ResourceAPIVersion}}`, `{{.KindSuffix}}`, `{{.NormalizedKubernetesVersion}}`,
   `{{.StrictSuffix}}`), given as local paths or http(s) URLs. A location without `{{` and without
   a `.json` ending is a directory in the CRDs-catalog layout:
   `<dir>/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json`.

A resource with no schema is an error, unless its kind is in `skip_kinds`, or `ignore_missing` is set
(kubeconform `-ignore-missing-schemas`). A skipped kind is not validated at all (kubeconform `-skip`). Formats are not checked (kubeconform doesn't check them either).
Each schema is compiled once per process and shared by every registry that uses the same source.
"""
from __future__ import annotations

import copy
import json
import os
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import yaml
from jsonschema import Draft4Validator, exceptions as js_exceptions
from jsonschema.validators import validator_for
from referencing import Registry, Resource
from referencing import exceptions as ref_exceptions

from raygitops.parsedcache import load_yaml
from raygitops.errors import UserError
from raygitops.checks.registry import finding
from raygitops.findings import Finding, resource_id
from raygitops.model.normalise import normalise
from raygitops.generate.kustomize_schema import kubernetes_schema_dir
from raygitops.masking import is_secret_path, named_path, shown
from raygitops.yamlio import LOADER

__all__ = [
    "SchemaRegistry", "SchemaSource", "crd_to_jsonschema", "render_location", "split_api_version",
    "builtin_kubernetes_versions", "compile_count",
]

DEFAULT_KUBERNETES_VERSION = "1.32.0"
FETCH_TIMEOUT_SECONDS = 5.0
CATALOG_LAYOUT = "{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"
TEMPLATE_VARIABLES = ("Group", "ResourceKind", "ResourceAPIVersion", "KindSuffix",
                      "NormalizedKubernetesVersion", "StrictSuffix")
DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"  # the $id of kubernetes-validate's file
OBJECT_META_REF = DEFINITIONS_URI + "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_SKIP_FIX = ("add the CRD's directory to crd_dirs, add a --schema-location that has it, "
             "or list the kind under skip")

_API_VERSION = re.compile(r"(?:[a-z0-9]([a-z0-9.-]*[a-z0-9])?/)?[a-z0-9]+")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")


class _SafeLoader(LOADER):  # type: ignore[misc]
    """Safe loading that also reads a plain `=` (PyYAML resolves it to a tag it can't construct)."""


_SafeLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
_LOCK = threading.RLock()


# ---------------------------------------------------------------------------------------------
# Small pure helpers


def split_api_version(api_version: str) -> tuple[str, str]:
    """'apps/v1' -> ('apps', 'v1'); 'v1' -> ('', 'v1')."""
    group, _, version = api_version.rpartition("/")
    return group, version


def _normalize_k8s_version(version: str) -> str:
    m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?", str(version).strip())
    if not m:
        raise UserError(f"invalid Kubernetes version {version!r}", fix="use MAJOR.MINOR.PATCH, e.g. 1.32.0")
    return f"{m.group(1)}.{m.group(2)}.{m.group(3) or 0}"


def _template_data(api_version: str, kind: str, kubernetes_version: str) -> dict[str, str]:
    """kubeconform's template variables (pkg/registry/registry.go), quirks included: for a core
    `v1` resource `.Group` is "v1"."""
    group_parts = api_version.split("/")
    kind_suffix = "-" + group_parts[0].split(".")[0].lower()
    if len(group_parts) > 1:
        kind_suffix += "-" + group_parts[1].lower()
    return {
        "NormalizedKubernetesVersion": "v" + kubernetes_version,
        "StrictSuffix": "-strict",
        "ResourceKind": kind.lower(),
        "ResourceAPIVersion": group_parts[-1],
        "Group": group_parts[0],
        "KindSuffix": kind_suffix,
    }


_TEMPLATE_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")


def _check_template(template: str) -> None:
    for m in _TEMPLATE_ACTION.finditer(template):
        name = m.group(1)
        if not (name.startswith(".") and name[1:] in TEMPLATE_VARIABLES):
            raise UserError(f"schema location {template!r}: unsupported template action {m.group(0)!r}",
                            fix="use only " + ", ".join("{{." + v + "}}" for v in TEMPLATE_VARIABLES))


def render_location(template: str, api_version: str, kind: str,
                    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> str:
    """Fill in a kubeconform schema-location template for one resource type."""
    _check_template(template)
    data = _template_data(api_version, kind, _normalize_k8s_version(kubernetes_version))
    return _TEMPLATE_ACTION.sub(lambda m: data[m.group(1)[1:]], template)


def _is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


def _dotted(path: Iterable[Any]) -> str:
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


def _path_sort_key(path: tuple) -> tuple:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in path)


# ---------------------------------------------------------------------------------------------
# CRD -> JSON schema

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


# ---------------------------------------------------------------------------------------------
# Process-wide caches: parsed sources and compiled validators

_VALIDATORS: dict[tuple, Any] = {}
_COMPILES = 0


def compile_count() -> int:
    """How many schemas this process has compiled (each source at most once)."""
    return _COMPILES


@lru_cache(maxsize=None)
def builtin_kubernetes_versions() -> tuple[str, ...]:
    """The MAJOR.MINOR versions that kubernetes-validate ships strict schemas for."""
    found = []
    for entry in kubernetes_schema_dir().iterdir():
        m = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local-strict", entry.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2))))
    return tuple(f"{a}.{b}" for a, b in sorted(found))


def _builtin_dir_name(kubernetes_version: str) -> str:
    major_minor = ".".join(kubernetes_version.split(".")[:2])
    if major_minor not in builtin_kubernetes_versions():
        shipped = builtin_kubernetes_versions()
        raise UserError(
            f"no built-in schemas for Kubernetes {kubernetes_version} in kubernetes-validate",
            fix=f"use one of: {', '.join(shipped)} (the newest it ships is {shipped[-1]})")
    return f"v{major_minor}.0-local-strict"


@lru_cache(maxsize=None)
def _builtin_definitions(dir_name: str) -> Resource:
    text = (kubernetes_schema_dir() / dir_name / "_definitions.json").read_text()
    return Resource.from_contents(json.loads(text))


def _definitions_registry(dir_name: str) -> Registry:
    """A registry holding the built-in `_definitions.json` (what every `$ref` points into)."""
    return Registry().with_resource(DEFINITIONS_URI, _builtin_definitions(dir_name))


@lru_cache(maxsize=None)
def _builtin_schema(dir_name: str, filename: str) -> dict | None:
    try:
        return json.loads((kubernetes_schema_dir() / dir_name / filename).read_text())
    except FileNotFoundError:
        return None


def _builtin_filename(group: str, version: str, kind: str) -> str:
    if group:
        return f"{kind.lower()}-{group.split('.')[0].lower()}-{version}.json"
    return f"{kind.lower()}-{version}.json"


def _compile(key: tuple, build) -> Any:
    """The validator for `key`, built by `build()` the first time (once per process)."""
    global _COMPILES
    validator = _VALIDATORS.get(key)
    if validator is not None:
        return validator
    with _LOCK:
        validator = _VALIDATORS.get(key)
        if validator is None:
            schema, registry = build()
            cls = validator_for(schema, default=Draft4Validator)
            validator = cls(schema, registry=registry)  # no format_checker: formats are not checked
            _VALIDATORS[key] = validator
            _COMPILES += 1
    return validator


# --- CRD files ---------------------------------------------------------------------------------

def _document_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each YAML document in a multi-document file: split at `---` / `...` lines."""
    cuts: list[tuple[int, int]] = []  # (separator line start, content start)
    for marker in ("---", "..."):
        pos = 0 if text.startswith(marker) else text.find("\n" + marker)
        while pos != -1:
            line_start = pos if pos == 0 and text.startswith(marker) else pos + 1
            after = line_start + 3
            if after >= len(text) or text[after] in " \t\r\n":
                cuts.append((line_start, after))
            pos = text.find("\n" + marker, after)
    cuts.sort()
    spans, start = [], 0
    for line_start, after in cuts:
        spans.append((start, line_start))
        start = after
    spans.append((start, len(text)))
    return spans


@dataclass(frozen=True)
class _CrdDoc:
    path: str
    mtime_ns: int
    start: int          # character offsets of the YAML document in the file
    end: int
    first_line: int     # 1-based line of the document's first character
    item: int | None    # index in a List document's `items`
    group: str
    kind: str


def _yaml_error(path: str, first_line: int, err: yaml.YAMLError) -> UserError:
    mark = getattr(err, "problem_mark", None)
    line = first_line + mark.line if mark is not None else None
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return UserError(f"invalid YAML in CRD file: {problem}", file=path, line=line,
                     fix="fix the file or remove it from the CRD directory")


def _quick_header(text: str) -> dict[str, str] | None:
    """kind, spec.group and spec.names.kind of one YAML document, reading only as far as needed.

    Returns None when the document is not a mapping. Values missing from the document are absent.
    """
    wanted = {("kind",), ("spec", "group"), ("spec", "names", "kind")}
    found: dict[tuple, str] = {}
    stack: list[list] = []  # frames: [is_mapping, path, key_or_None]
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if stack:
                frame = stack[-1]
                path = (*frame[1], frame[2]) if frame[0] else (*frame[1], None)
                frame[2] = None
            elif isinstance(event, yaml.SequenceStartEvent):
                return None
            else:
                path = ()
            stack.append([isinstance(event, yaml.MappingStartEvent), path, None])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            stack.pop()
            if not stack:
                break
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            if not stack:
                return None
            frame = stack[-1]
            if not frame[0]:
                continue
            if frame[2] is None:
                frame[2] = event.value if isinstance(event, yaml.ScalarEvent) else "*"
            else:
                full = (*frame[1], frame[2])
                if full in wanted and isinstance(event, yaml.ScalarEvent):
                    found[full] = event.value
                    if len(found) == len(wanted):
                        break
                    if full == ("kind",) and event.value != "CustomResourceDefinition" \
                            and not event.value.endswith("List"):
                        break  # not a CRD: no need to read further
                frame[2] = None
    return {"/".join(k): v for k, v in found.items()}


@lru_cache(maxsize=256)
def _scan_crd_file(path: str, mtime_ns: int) -> tuple[_CrdDoc, ...]:
    """The CRDs in one file, found without building the (large) documents."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read CRD file: {err}", file=path) from None
    docs: list[_CrdDoc] = []
    for start, end in _document_spans(text):
        chunk = text[start:end]
        if not chunk.strip():
            continue
        first_line = text.count("\n", 0, start) + 1
        try:
            header = _quick_header(chunk)
        except yaml.YAMLError as err:
            raise _yaml_error(path, first_line, err) from None
        if header is None:
            continue
        kind = header.get("kind")
        if kind == "CustomResourceDefinition":
            if header.get("spec/group") is not None and header.get("spec/names/kind"):
                docs.append(_CrdDoc(path, mtime_ns, start, end, first_line, None,
                                    header["spec/group"], header["spec/names/kind"]))
        elif kind and kind.endswith("List"):
            doc = _load_crd_chunk(path, mtime_ns, start, end, first_line)
            for i, item in enumerate(doc.get("items") or []):
                if isinstance(item, dict) and item.get("kind") == "CustomResourceDefinition":
                    spec = item.get("spec") or {}
                    names = spec.get("names") or {}
                    if spec.get("group") is not None and names.get("kind"):
                        docs.append(_CrdDoc(path, mtime_ns, start, end, first_line, i,
                                            str(spec["group"]), str(names["kind"])))
    return tuple(docs)


@lru_cache(maxsize=8)
def _load_crd_chunk(path: str, mtime_ns: int, start: int, end: int, first_line: int) -> dict:
    text = Path(path).read_text(encoding="utf-8")[start:end]
    try:
        doc = load_yaml(text, _SafeLoader)
    except yaml.YAMLError as err:
        raise _yaml_error(path, first_line, err) from None
    return doc if isinstance(doc, dict) else {}


def _crd_versions(crd: dict) -> dict[str, dict]:
    """Served versions of a CRD: name -> {'schema': openAPIV3Schema, 'deprecation': str | None}."""
    spec = crd.get("spec") or {}
    legacy = ((spec.get("validation") or {}).get("openAPIV3Schema"))
    out: dict[str, dict] = {}
    versions = spec.get("versions") or []
    if not versions and spec.get("version"):
        versions = [{"name": spec["version"]}]
    for v in versions:
        if not isinstance(v, dict) or not v.get("name") or v.get("served", True) is False:
            continue
        schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or legacy
        if schema is None:
            continue
        deprecation = None
        if v.get("deprecated"):
            deprecation = v.get("deprecationWarning") or (
                f"{spec.get('group')}/{v['name']} {(spec.get('names') or {}).get('kind')} is deprecated")
        out[str(v["name"])] = {"schema": schema, "deprecation": deprecation}
    return out


def _crd_doc_versions(doc: _CrdDoc) -> dict[str, dict]:
    crd = _load_crd_chunk(doc.path, doc.mtime_ns, doc.start, doc.end, doc.first_line)
    if doc.item is not None:
        crd = (crd.get("items") or [])[doc.item]
    return _crd_versions(crd)


# --- schema locations --------------------------------------------------------------------------

_FETCHED: dict[str, tuple[str, Any]] = {}  # url -> ("ok", schema) | ("missing", None) | ("error", msg)


def _fetch_url(url: str, timeout: float) -> tuple[str, Any]:
    import http.client  # only needed for URL locations
    import urllib.error
    import urllib.request

    cached = _FETCHED.get(url)
    if cached is not None:
        return cached
    result: tuple[str, Any]
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http/https only)
            body = response.read()
    except urllib.error.HTTPError as err:
        result = ("missing", None) if err.code == 404 else (
            "error", f"could not download schema {url}: HTTP {err.code}")
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
        result = ("error", f"could not download schema {url}: {getattr(err, 'reason', None) or err}")
    else:
        try:
            result = ("ok", json.loads(body))
        except (ValueError, UnicodeDecodeError) as err:
            result = ("error", f"schema {url} is not valid JSON: {err}")
    _FETCHED[url] = result
    return result


def _read_local(path: str) -> tuple[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return ("missing", None)
    except (OSError, UnicodeDecodeError) as err:
        return ("error", f"cannot read schema {path}: {err}")
    try:
        return ("ok", json.loads(text))
    except ValueError as err:
        return ("error", f"schema {path} is not valid JSON: {err}")


# ---------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class SchemaSource:
    """Where one resource type's schema came from, and its compiled validator."""
    origin: str                  # "kubernetes-validate 1.32", "CRD <file>", or the schema's path/URL
    validator: Any               # a jsonschema validator instance, shared process-wide
    deprecation: str | None = None
    # Catalog schemas (datreeio's, like kubeconform's) leave metadata unchecked; this validates
    # it as the ObjectMeta it is, as the built-in and CRD-derived schemas do.
    metadata_validator: Any = None
    # A CRD's openAPIV3Schema: the API server normalises an object with it (defaults, nulls)
    # before it validates, so validation runs on the normalised object (model/normalise.py).
    structural: dict | None = None


@dataclass(frozen=True)
class _Missing:
    message: str
    fix: str
    absent: bool = True     # no source has it (False: a source failed to load)


class SchemaRegistry:
    """Finds, compiles and applies the schema of each resource type (see the module docstring)."""

    def __init__(self, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION, *,
                 crd_dirs: Iterable[str | os.PathLike] = (),
                 schema_locations: Iterable[str | os.PathLike] = (),
                 skip_kinds: Iterable[str] = (),
                 fetch_timeout: float = FETCH_TIMEOUT_SECONDS,
                 catalog_files: Mapping[str, str | os.PathLike] | None = None,
                 ignore_missing: bool = False):
        self.kubernetes_version = _normalize_k8s_version(kubernetes_version)
        self._builtin_dir = _builtin_dir_name(self.kubernetes_version)
        self._builtin_label = "kubernetes-validate " + ".".join(self.kubernetes_version.split(".")[:2])
        self.crd_dirs = tuple(Path(d) for d in crd_dirs)
        for d in self.crd_dirs:
            if not d.exists():
                raise UserError(f"CRD directory not found: {d}",
                                fix="point crd_dirs at a directory of CRD YAML files")
        self.catalog_files = {name: str(path) for name, path in (catalog_files or {}).items()}
        self.ignore_missing = ignore_missing
        self.schema_locations = tuple(self._location_template(str(loc)) for loc in schema_locations)
        self.skip_kinds = frozenset(skip_kinds)
        self.fetch_timeout = fetch_timeout
        self._crd_index: dict[tuple[str, str], list[_CrdDoc]] | None = None
        self._resolved: dict[tuple[str, str, str], SchemaSource | _Missing] = {}
        self._lock = threading.RLock()

    @staticmethod
    def _location_template(location: str) -> str:
        if location == "default":
            return location  # kubeconform's alias for the built-in Kubernetes schemas: always on here
        if "{{" not in location and not location.endswith("json"):
            location = location.rstrip("/") + "/" + CATALOG_LAYOUT
        _check_template(location)
        if not _is_url(location):
            prefix = location.split("{{", 1)[0]
            base = Path(prefix) if prefix.endswith(("/", os.sep)) else Path(prefix).parent
            if not base.is_dir():
                raise UserError(f"schema location not found: {base}",
                                fix="give an existing directory, a path template or an http(s) URL")
        return location

    # --- lookup ------------------------------------------------------------------------------

    def is_skipped(self, api_version: str, kind: str) -> bool:
        group, _ = split_api_version(api_version)
        forms = {kind, f"{api_version}/{kind}"}
        if group:
            forms.add(f"{group}/{kind}")
        if not self.skip_kinds.isdisjoint(forms):
            return True
        if self.ignore_missing:
            found = self._lookup(api_version, kind)
            return isinstance(found, _Missing) and found.absent
        return False

    def lookup(self, api_version: str, kind: str) -> SchemaSource | None:
        """The schema of one resource type, or None when no source has it."""
        found = self._lookup(api_version, kind)
        return found if isinstance(found, SchemaSource) else None

    def _lookup(self, api_version: str, kind: str) -> SchemaSource | _Missing:
        group, version = split_api_version(api_version)
        key = (group, version, kind)
        found = self._resolved.get(key)
        if found is None:
            with self._lock:
                found = self._resolved.get(key)
                if found is None:
                    found = (self._from_builtin(group, version, kind)
                             or self._from_crds(group, version, kind)
                             or self._from_locations(api_version, kind))
                    self._resolved[key] = found
        return found

    def _from_builtin(self, group: str, version: str, kind: str) -> SchemaSource | None:
        filename = _builtin_filename(group, version, kind)
        schema = _builtin_schema(self._builtin_dir, filename)
        if schema is None:
            return None
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        if {"group": group, "version": version, "kind": kind} not in gvks:
            return None  # e.g. a CRD kind that shares a built-in kind's name and group prefix

        def build():
            return schema, _definitions_registry(self._builtin_dir)
        validator = _compile(("builtin", self._builtin_dir, filename), build)
        return SchemaSource(self._builtin_label, validator)

    def _index(self) -> dict[tuple[str, str], list[_CrdDoc]]:
        if self._crd_index is None:
            index: dict[tuple[str, str], list[_CrdDoc]] = {}
            for d in self.crd_dirs:
                files = [d] if d.is_file() else sorted(p for p in d.iterdir()
                                                       if p.suffix in (".yaml", ".yml") and p.is_file())
                for p in files:
                    for doc in _scan_crd_file(str(p), p.stat().st_mtime_ns):
                        index.setdefault((doc.group, doc.kind), []).append(doc)
            self._crd_index = index
        return self._crd_index

    def _from_crds(self, group: str, version: str, kind: str) -> SchemaSource | _Missing | None:
        docs = self._index().get((group, kind))
        if not docs:
            return None
        served: list[str] = []
        for doc in docs:
            versions = _crd_doc_versions(doc)
            served.extend(v for v in versions if v not in served)
            if version not in versions:
                continue
            entry = versions[version]

            def build(entry=entry):
                return crd_to_jsonschema(entry["schema"]), _definitions_registry(self._builtin_dir)
            key = ("crd", os.path.realpath(doc.path), doc.mtime_ns, doc.start, doc.item, version,
                   self._builtin_dir)
            validator = _compile(key, build)
            return SchemaSource(f"CRD {doc.path}", validator, entry["deprecation"], structural=entry["schema"])
        # the CRD exists but does not serve this version; a schema location may still have it
        found = self._from_locations(f"{group}/{version}" if group else version, kind)
        if isinstance(found, SchemaSource):
            return found
        return _Missing(f"no schema for {group}/{version} {kind}: its CRD serves only "
                        + ", ".join(f"{group}/{v}" for v in served),
                        fix=f"use one of the served versions, or {_SKIP_FIX}")

    def _from_locations(self, api_version: str, kind: str) -> SchemaSource | _Missing:
        errors: list[str] = []
        pinned = self.catalog_files.get(render_location(CATALOG_LAYOUT, api_version, kind, self.kubernetes_version))
        for template in ([pinned] if pinned else []) + list(self.schema_locations):
            if template == "default":
                continue
            where = template if template is pinned else render_location(template, api_version, kind,
                                                                         self.kubernetes_version)
            if _is_url(where):
                status, payload = _fetch_url(where, self.fetch_timeout)
                key = ("url", where)
            else:
                try:
                    key = ("file", os.path.realpath(where), Path(where).stat().st_mtime_ns)
                except OSError:
                    continue
                status, payload = _read_local(where)
            if status == "missing":
                continue
            if status == "error":
                errors.append(payload)
                continue
            if not isinstance(payload, (dict, bool)):
                errors.append(f"schema {where} is not a JSON object")
                continue

            def build(schema=payload):
                return schema, Registry()
            object_meta = _compile(("object-meta", self._builtin_dir),
                                   lambda: ({"$ref": OBJECT_META_REF}, _definitions_registry(self._builtin_dir)))
            return SchemaSource(where, _compile(key, build), metadata_validator=object_meta)
        gvk = f"{api_version} {kind}"
        if errors:
            return _Missing(f"no schema for {gvk}: " + "; ".join(errors),
                            fix=f"check the network or use a local schema directory; or {_SKIP_FIX}", absent=False)
        return _Missing(f"no schema for {gvk} in {self._searched()}", fix=_SKIP_FIX)

    def _searched(self) -> str:
        places = [self._builtin_label]
        if self.crd_dirs:
            places.append(", ".join(dict.fromkeys(f"CRDs in {d if d.is_dir() else d.parent}" for d in self.crd_dirs)))
        if self.catalog_files:
            places.append("the catalog schemas " + ", ".join(sorted(self.catalog_files)))
        places.extend(t for t in self.schema_locations if t != "default")
        return ", ".join(places)

    # --- validation --------------------------------------------------------------------------

    def crd_schema(self, api_version: str, kind: str) -> dict | None:
        """The openAPIV3Schema of a custom resource's CRD at that version, or None (built-in kinds and
        unknown ones: their stored form needs no CRD defaults). Nothing is compiled."""
        group, _, version = api_version.rpartition("/")
        for doc in self._index().get((group, kind), ()):
            entry = _crd_doc_versions(doc).get(version)
            if entry is not None:
                return entry["schema"]
        return None

    def validate(self, resource: Any, *, file: str | None = None) -> list[Finding]:
        """Every schema violation of one rendered resource, sorted by path, then message."""
        if not isinstance(resource, dict):
            return [finding("schema", file=file, resource="?",
                            message=f"resource is not a mapping (got {type(resource).__name__})",
                            fix="each YAML document must be a Kubernetes object")]
        rid = resource_id(resource)
        api_version, kind = resource.get("apiVersion"), resource.get("kind")
        missing = [name for name, v in (("apiVersion", api_version), ("kind", kind))
                   if not isinstance(v, str) or not v]
        if missing:
            return [finding("schema", file=file, resource=rid,
                            path=missing[0],
                            message="; ".join(f"{name} must be a string, not {shown(resource[name])}"
                                              if resource.get(name) not in (None, "") else f"resource has no {name}"
                                              for name in missing),
                            fix="every Kubernetes object needs a string apiVersion and kind")]
        for name, value, pattern in (("apiVersion", api_version, _API_VERSION), ("kind", kind, _KIND)):
            if not pattern.fullmatch(value):
                return [finding("schema", file=file, resource=rid, path=name,
                                message=f"invalid {name} {shown(value)}",
                                fix="apiVersion is [group/]version (apps/v1, v1); kind is a CamelCase name")]
        if self.is_skipped(api_version, kind):
            return []
        found = self._lookup(api_version, kind)
        if isinstance(found, _Missing):
            return [finding("schema", file=file, resource=rid,
                            message=found.message, fix=found.fix)]
        dropped: tuple[str, ...] = ()
        if found.structural is not None:  # judge what the API server would store, not what was written
            normalised = normalise(resource, found.structural)
            resource, dropped = normalised.obj, normalised.dropped_nulls
        findings: set[tuple[tuple, str]] = set()

        def secret_at(path: tuple) -> bool:   # a secret's wrong value is described, never quoted
            return is_secret_path(named_path(resource, path), kind)
        try:
            for error in found.validator.iter_errors(resource):
                findings.update(_explain(error, secret_at))
            if found.metadata_validator is not None and "metadata" in resource:
                for error in found.metadata_validator.iter_errors(resource["metadata"]):
                    findings.update((("metadata", *path), message)
                                    for path, message in _explain(error, lambda p: secret_at(("metadata", *p))))
        except (js_exceptions.SchemaError, ref_exceptions.Unresolvable, TypeError) as err:
            return [finding("schema", file=file, resource=rid,
                            message=f"the schema from {found.origin} is broken: "
                                    + str(err).splitlines()[0][:200],
                            fix="use another schema source, or list the kind under skip")]
        result = [finding("schema", message=message, resource=rid,
                          path=_dotted(path), file=file, fix=_schema_fix(message, found.origin))
                  for path, message in sorted(findings, key=lambda f: (_path_sort_key(f[0]), f[1]))]
        result.extend(finding("schema-null-dropped", resource=rid, path=path, file=file,
                              message="null here is dropped by the API server (the field is not nullable)",
                              fix="remove the empty key, or give it a value") for path in dropped)
        if found.deprecation:
            result.append(finding("schema-deprecated-version", message=found.deprecation,
                                  resource=rid, path="apiVersion", file=file,
                                  fix="move to a served, non-deprecated version"))
        return result


# ---------------------------------------------------------------------------------------------
# jsonschema errors -> one-line messages


# the pattern controller-gen writes for resource.Quantity
_QUANTITY_PATTERN = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]"
                     r"|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")


_SCHEMA_FIXES = (
    ("unknown field", "remove it or fix its spelling (unknown fields are errors, as with kubeconform -strict)"),
    ("missing required field", "add the field"),
    ("is not a Kubernetes quantity", "write a quantity such as 2, 500m or 4Gi"),
    ("is not of type", "write a value of that type (quote a number that is meant as a string)"),
)


def _schema_fix(message: str, origin: str) -> str:
    return next((fix for words, fix in _SCHEMA_FIXES if words in message),
                f"make the value match the schema ({Path(str(origin)).name})")


def _types(value: Any) -> list[str]:
    return list(value) if isinstance(value, list) else [value]


def _explain(error: js_exceptions.ValidationError, secret_at=lambda path: False) -> Iterator[tuple[tuple, str]]:
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
            yield from _explain(best, secret_at)
            return

    message = error.message
    full = repr(instance)
    if full in message:   # jsonschema quotes a value whole (enum, minimum, maxLength…), keys by name
        message = message.replace(full, value)
    message = " ".join(message.split())
    if len(message) > 300:
        message = message[:299] + "…"
    yield path, message
