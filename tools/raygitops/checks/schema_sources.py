"""Where schemas come from: kubernetes-validate's built-in ones, and kubeconform's schema locations.

    builtin_schema(builtin_dir_name("1.32.0"), builtin_filename("apps", "v1", "Deployment"))  # dict | None
    status, schema = read_local(render_location("schemas/{{.Group}}/{{.ResourceKind}}.json", "ray.io/v1", "RayService"))
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from referencing import Registry, Resource

from raygitops.checks.crdschema import DEFINITIONS_URI
from raygitops.errors import UserError
from raygitops.generate.kustomize_schema import kubernetes_schema_dir

__all__ = ["builtin_kubernetes_versions", "builtin_dir_name", "builtin_schema", "builtin_filename",
           "definitions_registry", "render_location", "check_template", "normalize_k8s_version",
           "is_url", "fetch_url", "read_local"]

DEFAULT_KUBERNETES_VERSION = "1.32.0"
CATALOG_LAYOUT = "{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"
TEMPLATE_VARIABLES = ("Group", "ResourceKind", "ResourceAPIVersion", "KindSuffix",
                      "NormalizedKubernetesVersion", "StrictSuffix")


# --- kubernetes-validate's strict schemas of the built-in kinds --------------------------------

@lru_cache(maxsize=None)
def builtin_kubernetes_versions() -> tuple[str, ...]:
    """The MAJOR.MINOR versions that kubernetes-validate ships strict schemas for."""
    found = []
    for entry in kubernetes_schema_dir().iterdir():
        m = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local-strict", entry.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2))))
    return tuple(f"{a}.{b}" for a, b in sorted(found))


def builtin_dir_name(kubernetes_version: str) -> str:
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


def definitions_registry(dir_name: str) -> Registry:
    """A registry holding the built-in `_definitions.json` (what every `$ref` points into)."""
    return Registry().with_resource(DEFINITIONS_URI, _builtin_definitions(dir_name))


@lru_cache(maxsize=None)
def builtin_schema(dir_name: str, filename: str) -> dict | None:
    try:
        return json.loads((kubernetes_schema_dir() / dir_name / filename).read_text())
    except FileNotFoundError:
        return None


def builtin_filename(group: str, version: str, kind: str) -> str:
    if group:
        return f"{kind.lower()}-{group.split('.')[0].lower()}-{version}.json"
    return f"{kind.lower()}-{version}.json"


# --- kubeconform schema-location templates -----------------------------------------------------

def normalize_k8s_version(version: str) -> str:
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


def check_template(template: str) -> None:
    for m in _TEMPLATE_ACTION.finditer(template):
        name = m.group(1)
        if not (name.startswith(".") and name[1:] in TEMPLATE_VARIABLES):
            raise UserError(f"schema location {template!r}: unsupported template action {m.group(0)!r}",
                            fix="use only " + ", ".join("{{." + v + "}}" for v in TEMPLATE_VARIABLES))


def render_location(template: str, api_version: str, kind: str,
                    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> str:
    """Fill in a kubeconform schema-location template for one resource type."""
    check_template(template)
    data = _template_data(api_version, kind, normalize_k8s_version(kubernetes_version))
    return _TEMPLATE_ACTION.sub(lambda m: data[m.group(1)[1:]], template)


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


# --- reading a location: a local file or a download, each once per process ----------------------

_FETCHED: dict[str, tuple[str, Any]] = {}  # url -> ("ok", schema) | ("missing", None) | ("error", msg)


def fetch_url(url: str, timeout: float) -> tuple[str, Any]:
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


def read_local(path: str) -> tuple[str, Any]:
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
