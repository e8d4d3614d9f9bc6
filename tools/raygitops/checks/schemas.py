"""Strict, offline JSON-schema validation of rendered resources, with kubeconform's semantics.

    registry = SchemaRegistry(kubernetes_version="1.32.0", crd_dirs=[kuberay_crds], schema_locations=[catalog])
    findings = registry.validate(resource, file="overlays/dev")  # -> list[Finding], sorted by path

Where a schema comes from, first match wins:

1. Built-in kinds: the `-local-strict` schemas shipped in the `kubernetes-validate` package for the
   configured Kubernetes version. Their `$ref`s into `_definitions.json` are resolved in memory.
2. CustomResourceDefinitions: every `*.yaml`/`*.yml` file in `crd_dirs` (directories or single files, such as
   the schema store's verified files). These files are only scanned for group and kind when needed
   (checks/crdfiles.py), and a CRD version is converted the first time a resource uses it, as
   kubeconform's `openapi2jsonschema.py` does (checks/crdschema.py).
3. `catalog_files`: schemas in the CRDs-catalog layout, by their catalog path
   (`external-secrets.io/externalsecret_v1.json`), as the schema store pins them. Then
   `schema_locations`: kubeconform `-schema-location` templates (`{{.Group}}`, `{{.ResourceKind}}`,
   `{{.ResourceAPIVersion}}`, `{{.KindSuffix}}`, `{{.NormalizedKubernetesVersion}}`,
   `{{.StrictSuffix}}`), given as local paths or http(s) URLs. A location without `{{` and without
   a `.json` ending is a directory in the CRDs-catalog layout:
   `<dir>/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json`.

Built-in schemas and locations are read by checks/schema_sources.py; messages are made by
checks/schema_errors.py. A resource with no schema is an error, unless its kind is in `skip_kinds`,
or `ignore_missing` is set (kubeconform `-ignore-missing-schemas`). A skipped kind is not validated
at all (kubeconform `-skip`). Formats are not checked (kubeconform doesn't check them either).
Each schema is compiled once per process and shared by every registry that uses the same source.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from jsonschema import Draft4Validator, exceptions as js_exceptions
from jsonschema.validators import validator_for
from referencing import Registry
from referencing import exceptions as ref_exceptions

from raygitops.checks.crdfiles import CrdDoc, crd_doc_versions, scan_crd_file
from raygitops.checks.crdschema import OBJECT_META_REF, crd_to_jsonschema
from raygitops.checks.registry import finding
from raygitops.checks.schema_errors import dotted, explain, path_sort_key, schema_fix
from raygitops.checks.schema_sources import (
    CATALOG_LAYOUT, DEFAULT_KUBERNETES_VERSION, builtin_dir_name, builtin_filename, builtin_schema, check_template,
    definitions_registry, fetch_url, is_url, normalize_k8s_version, read_local, render_location)
from raygitops.errors import UserError
from raygitops.findings import Finding, resource_id
from raygitops.masking import is_secret_path, named_path, shown
from raygitops.model.normalise import normalise

__all__ = ["SchemaRegistry", "SchemaSource", "split_api_version", "compile_count"]

FETCH_TIMEOUT_SECONDS = 5.0
_SKIP_FIX = ("add the CRD's directory to crd_dirs, add a --schema-location that has it, "
             "or list the kind under skip")

_API_VERSION = re.compile(r"(?:[a-z0-9]([a-z0-9.-]*[a-z0-9])?/)?[a-z0-9]+")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")

_LOCK = threading.RLock()


def split_api_version(api_version: str) -> tuple[str, str]:
    """'apps/v1' -> ('apps', 'v1'); 'v1' -> ('', 'v1')."""
    group, _, version = api_version.rpartition("/")
    return group, version


# ---------------------------------------------------------------------------------------------
# Process-wide cache of compiled validators

_VALIDATORS: dict[tuple, Any] = {}
_COMPILES = 0


def compile_count() -> int:
    """How many schemas this process has compiled (each source at most once)."""
    return _COMPILES


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
        self.kubernetes_version = normalize_k8s_version(kubernetes_version)
        self._builtin_dir = builtin_dir_name(self.kubernetes_version)
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
        self._crd_index: dict[tuple[str, str], list[CrdDoc]] | None = None
        self._resolved: dict[tuple[str, str, str], SchemaSource | _Missing] = {}
        self._lock = threading.RLock()

    @staticmethod
    def _location_template(location: str) -> str:
        if location == "default":
            return location  # kubeconform's alias for the built-in Kubernetes schemas: always on here
        if "{{" not in location and not location.endswith("json"):
            location = location.rstrip("/") + "/" + CATALOG_LAYOUT
        check_template(location)
        if not is_url(location):
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
        filename = builtin_filename(group, version, kind)
        schema = builtin_schema(self._builtin_dir, filename)
        if schema is None:
            return None
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        if {"group": group, "version": version, "kind": kind} not in gvks:
            return None  # e.g. a CRD kind that shares a built-in kind's name and group prefix

        def build():
            return schema, definitions_registry(self._builtin_dir)
        validator = _compile(("builtin", self._builtin_dir, filename), build)
        return SchemaSource(self._builtin_label, validator)

    def _index(self) -> dict[tuple[str, str], list[CrdDoc]]:
        if self._crd_index is None:
            index: dict[tuple[str, str], list[CrdDoc]] = {}
            for d in self.crd_dirs:
                files = [d] if d.is_file() else sorted(p for p in d.iterdir()
                                                       if p.suffix in (".yaml", ".yml") and p.is_file())
                for p in files:
                    for doc in scan_crd_file(str(p), p.stat().st_mtime_ns):
                        index.setdefault((doc.group, doc.kind), []).append(doc)
            self._crd_index = index
        return self._crd_index

    def _from_crds(self, group: str, version: str, kind: str) -> SchemaSource | _Missing | None:
        docs = self._index().get((group, kind))
        if not docs:
            return None
        served: list[str] = []
        for doc in docs:
            versions = crd_doc_versions(doc)
            served.extend(v for v in versions if v not in served)
            if version not in versions:
                continue
            entry = versions[version]

            def build(entry=entry):
                return crd_to_jsonschema(entry["schema"]), definitions_registry(self._builtin_dir)
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
            if is_url(where):
                status, payload = fetch_url(where, self.fetch_timeout)
                key = ("url", where)
            else:
                try:
                    key = ("file", os.path.realpath(where), Path(where).stat().st_mtime_ns)
                except OSError:
                    continue
                status, payload = read_local(where)
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
                                   lambda: ({"$ref": OBJECT_META_REF}, definitions_registry(self._builtin_dir)))
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
            entry = crd_doc_versions(doc).get(version)
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
                findings.update(explain(error, secret_at))
            if found.metadata_validator is not None and "metadata" in resource:
                for error in found.metadata_validator.iter_errors(resource["metadata"]):
                    findings.update((("metadata", *path), message)
                                    for path, message in explain(error, lambda p: secret_at(("metadata", *p))))
        except (js_exceptions.SchemaError, ref_exceptions.Unresolvable, TypeError) as err:
            return [finding("schema", file=file, resource=rid,
                            message=f"the schema from {found.origin} is broken: "
                                    + str(err).splitlines()[0][:200],
                            fix="use another schema source, or list the kind under skip")]
        result = [finding("schema", message=message, resource=rid,
                          path=dotted(path), file=file, fix=schema_fix(message, found.origin))
                  for path, message in sorted(findings, key=lambda f: (path_sort_key(f[0]), f[1]))]
        result.extend(finding("schema-null-dropped", resource=rid, path=path, file=file,
                              message="null here is dropped by the API server (the field is not nullable)",
                              fix="remove the empty key, or give it a value") for path in dropped)
        if found.deprecation:
            result.append(finding("schema-deprecated-version", message=found.deprecation,
                                  resource=rid, path="apiVersion", file=file,
                                  fix="move to a served, non-deprecated version"))
        return result
