"""raygitops.yaml, the one place for versions and repo-wide settings, as a typed model.

    config = load_config(Path("."))
    config.versions.ray, [app.name for app in config.applications], config.environments()
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raygitops.config_schema import check_config_document
from raygitops.errors import UserError
from raygitops.model.environment import KUSTOMIZATION_NAMES, broken, discover  # noqa: F401 (re-exported)
from raygitops.yamlbounds import read_input
from raygitops.yamlio import YamlDoc, parse_yaml, relpath

CONFIG_FILE = "raygitops.yaml"
VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+$")   # MAJOR.MINOR.PATCH
_APP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Versions:
    ray: str
    kuberay: str
    kubernetes: str
    argocd: str | None = None   # the Argo CD whose CRDs argocd/ is checked against


@dataclass(frozen=True)
class ImageSpec:
    placeholder: str     # the image name written in base/ and overlays/
    name: str            # e.g. rayproject/ray
    tag_suffix: str      # e.g. -py311

    def tag(self, ray_version: str) -> str:
        return f"{ray_version}{self.tag_suffix}"


@dataclass(frozen=True)
class AppSpec:
    name: str
    import_path: str
    route_prefix: str
    smoke: dict[str, Any] = field(default_factory=dict)
    docs: str | None = None
    line: int | None = None
    # True for an `aana:` entry: import_path is then the AanaSDK object (module:attribute), which
    # tools/regen builds with Aana's own `aana build` into several Serve applications.
    aana: bool = False
    environments: tuple[str, ...] | None = None   # None: every environment runs it

    def runs_in(self, env: str) -> bool:
        return self.environments is None or env in self.environments


@dataclass(frozen=True)
class SchemaSettings:
    crd_dirs: tuple[str, ...] = ()           # more CRDs of your own, relative to the repository
    schema_locations: tuple[str, ...] = ()   # more kubeconform-style locations, relative to the repository
    skip_kinds: tuple[str, ...] = ()
    catalog: tuple[str, ...] = ()            # datreeio/CRDs-catalog paths, e.g. external-secrets.io/externalsecret_v1.json
    catalog_commit: str | None = None        # ... at this commit of the catalog


@dataclass(frozen=True)
class RepoConfig:
    root: Path
    versions: Versions
    images: tuple[ImageSpec, ...]
    working_dir_url: str
    applications: tuple[AppSpec, ...]
    external_imports: tuple[str, ...] = ()
    promotion_order: tuple[str, ...] = ()    # environments, in the order promote moves a change through them
    schemas: SchemaSettings = SchemaSettings()
    policies: dict[str, Any] = field(default_factory=dict)
    packs: tuple[str, ...] = ()   # checks.packs: check packs beyond the generic ones (checks/registry.py)
    doc: YamlDoc | None = None

    @property
    def file(self) -> str:
        return CONFIG_FILE

    def applications_in(self, env: str) -> tuple[AppSpec, ...]:
        """The applications an environment runs (all, unless an app lists its environments)."""
        return tuple(app for app in self.applications if app.runs_in(env))

    def environments(self) -> list[str]:
        """Every environment's name, sorted (raygitops.model.environment has the objects)."""
        return [env.name for env in discover(self.root)]

    def broken_environments(self) -> list[str]:
        return [env.name for env in broken(self.root)]




_TYPE_NAMES = {dict: "mapping", list: "list", str: "string", int: "number", float: "number"}


def _require(doc: YamlDoc, mapping: Any, key: str, path: tuple, kind: type, what: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise UserError(f"missing '{'.'.join(map(str, path + (key,)))}'", file=doc.file,
                        line=doc.line_of(path), fix=f"add {what}")
    value = mapping[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = " or ".join(dict.fromkeys(_TYPE_NAMES.get(k, k.__name__)
                                          for k in (kind if isinstance(kind, tuple) else (kind,))))
        raise UserError(f"'{'.'.join(map(str, path + (key,)))}' must be a {names}",
                        file=doc.file, line=doc.line_of(path + (key,)), fix=f"set it to {what}")
    return value


def load_config(root: Path) -> RepoConfig:
    """raygitops.yaml of the repository at `root`, read each call and parsed once per content: one
    command asks for it about ten times (diff: once per environment and side), 7 ms a parse."""
    path = root / CONFIG_FILE
    rel = relpath(path, root)
    return _parse_config(root, rel, read_input(path, rel))


@functools.lru_cache(maxsize=8)
def _parse_config(root: Path, rel: str, text: str) -> RepoConfig:
    """The RepoConfig of one text: it is frozen, and no caller changes its policies or doc."""
    doc = parse_yaml(text, rel)
    data = doc.data
    if not isinstance(data, dict):
        raise UserError("expected a mapping", file=doc.file, line=1, fix="see README.md for the format")
    check_config_document(doc)

    raw_versions = _require(doc, data, "versions", (), dict, "a mapping with ray, kuberay, kubernetes")
    versions = {}
    for key in ("ray", "kuberay", "kubernetes", "argocd"):
        if key == "argocd" and raw_versions.get(key) is None:
            continue   # optional: without it, argocd/ is not checked against Argo CD's CRDs
        value = str(_require(doc, raw_versions, key, ("versions",), (str, int, float), "a version like 2.46.0"))
        if not VERSION_PATTERN.match(value):
            raise UserError(f"versions.{key} '{value}' is not a version like 2.46.0", file=doc.file,
                            line=doc.line_of(("versions", key)), fix="write MAJOR.MINOR.PATCH")
        versions[key] = value

    images = []
    for placeholder, spec in sorted(_require(doc, data, "images", (), dict, "image placeholders").items()):
        name = _require(doc, spec, "name", ("images", placeholder), str, "an image repository")
        suffix = (spec.get("tag_suffix") or "") if isinstance(spec, dict) else ""
        images.append(ImageSpec(placeholder=placeholder, name=name, tag_suffix=str(suffix)))

    working_dir = _require(doc, data, "working_dir", (), dict, "a mapping with url")
    url = _require(doc, working_dir, "url", ("working_dir",), str, "a URL template containing {hash}")
    if "{hash}" not in url:
        raise UserError("working_dir.url has no {hash}", file=doc.file, line=doc.line_of(("working_dir", "url")),
                        fix="put {hash} in the file name so the URL changes exactly when apps/ changes")

    apps = []
    for index, raw in enumerate(_require(doc, data, "applications", (), list, "a list of applications")):
        path = ("applications", index)
        name = _require(doc, raw, "name", path, str, "an application name")
        if not _APP_NAME.match(name):
            raise UserError(f"application name '{name}' is not a valid name", file=doc.file,
                            line=doc.line_of(path + ("name",)), fix="use letters, digits, _ and -")
        kind = "aana" if isinstance(raw, dict) and "aana" in raw else "import_path"
        if isinstance(raw, dict) and "aana" in raw and "import_path" in raw:
            raise UserError(f"application '{name}' has both import_path and aana", file=doc.file,
                            line=doc.line_of(path + ("aana",)),
                            fix="keep import_path for a Ray Serve app, or aana for an Aana SDK app")
        import_path = _require(doc, raw, kind, path, str, "module:attribute, e.g. apps.main:app")
        if import_path.count(":") != 1:
            raise UserError(f"{kind} '{import_path}' must be module:attribute", file=doc.file,
                            line=doc.line_of(path + (kind,)), fix="e.g. apps.main:app")
        route = _require(doc, raw, "route_prefix", path, str, "a route such as /text_stats")
        problem = route_prefix_problem(route)
        if problem:
            raise UserError(f"route_prefix {route!r} {problem[0]}", file=doc.file,
                            line=doc.line_of(path + ("route_prefix",)), fix=problem[1])
        environments = _strings(doc, raw, "environments", path) if raw.get("environments") is not None else None
        apps.append(AppSpec(name=name, import_path=import_path, route_prefix=route,
                            smoke=_smoke_request(doc, raw, path), docs=raw.get("docs"), line=doc.line_of(path),
                            aana=kind == "aana", environments=environments))
    if not apps:
        raise UserError("applications is empty: there is nothing to build or deploy", file=doc.file,
                        line=doc.line_of(("applications",)),
                        fix="list at least one application with name, import_path and route_prefix (see README.md)")
    _reject_duplicates(doc, apps)

    schemas = _schema_settings(doc, _optional(doc, data, "schemas", (), dict, {}))
    return RepoConfig(
        root=root,
        versions=Versions(**versions),
        images=tuple(images),
        working_dir_url=url,
        applications=tuple(apps),
        external_imports=_strings(doc, data, "external_imports", ()),
        promotion_order=_promotion_order(doc, data),
        schemas=schemas,
        policies=_optional(doc, data, "policies", (), dict, {}),
        packs=_strings(doc, _optional(doc, data, "checks", (), dict, {}), "packs", ("checks",)),
        doc=doc,
    )


def route_prefix_problem(route: str) -> tuple[str, str] | None:
    """(what is wrong, fix) for a route Ray refuses at deploy: ray/serve/_private/utils.py
    validate_route_prefix (Ray 2.46) wants a leading /, no trailing / but for "/", no { or }."""
    if not route.startswith("/"):
        return "must start with /", f"use /{route}"
    if route != "/" and route.endswith("/"):
        return "must not end with / (Ray refuses it at deploy)", f"use {route.rstrip('/') or '/'}"
    if "{" in route or "}" in route:
        return "must not hold a path parameter ({…}): Ray routes by prefix only", \
            "use a fixed prefix and read the rest of the path in the app"
    return None


def _optional(doc: YamlDoc, mapping: dict, key: str, path: tuple, kind: type, default: Any) -> Any:
    if mapping.get(key) is None:
        return default
    return _require(doc, mapping, key, path, kind, f"a {_TYPE_NAMES.get(kind, kind.__name__)}")


def _strings(doc: YamlDoc, mapping: dict, key: str, path: tuple) -> tuple[str, ...]:
    """A list of strings (a lone string would otherwise be read character by character)."""
    values = _optional(doc, mapping, key, path, list, [])
    if not all(isinstance(v, str) for v in values):
        raise UserError(f"'{'.'.join(map(str, path + (key,)))}' must be a list of strings", file=doc.file,
                        line=doc.line_of(path + (key,)), fix="write one quoted string per item")
    return tuple(values)


def _promotion_order(doc: YamlDoc, data: dict) -> tuple[str, ...]:
    order = _strings(doc, _optional(doc, data, "promotion", (), dict, {}), "order", ("promotion",))
    for index, name in enumerate(order):
        if name in order[:index]:
            raise UserError(f"promotion.order lists '{name}' twice", file=doc.file,
                            line=doc.line_of(("promotion", "order")), fix="list each environment once")
    return order


def _schema_settings(doc: YamlDoc, raw: dict) -> SchemaSettings:
    lists = {key: _strings(doc, raw, key, ("schemas",))
             for key in ("crd_dirs", "schema_locations", "skip_kinds", "catalog")}
    for key in ("crd_dirs", "schema_locations"):
        for index, value in enumerate(lists[key]):
            if "{shared}" in value or "{kuberay}" in value:
                raise UserError(f"schemas.{key}: '{{shared}}' and '{{kuberay}}' are no longer expanded",
                                file=doc.file, line=doc.line_of(("schemas", key, index)),
                                fix="remove the entry: the KubeRay and Argo CD CRDs follow versions.kuberay and "
                                    "versions.argocd, catalog schemas schemas.catalog (tools/schemas fetches them)")
    commit = raw.get("catalog_commit")
    if lists["catalog"] and not commit:
        raise UserError("schemas.catalog needs schemas.catalog_commit", file=doc.file,
                        line=doc.line_of(("schemas", "catalog")),
                        fix="pin a full commit of https://github.com/datreeio/CRDs-catalog")
    return SchemaSettings(**lists, catalog_commit=commit)


_SMOKE_KEYS = {"method", "path", "json", "form", "expect"}


def _smoke_request(doc: YamlDoc, app: dict, path: tuple) -> dict[str, Any] | list[dict[str, Any]]:
    """The smoke request, or a list of them; servestatus.smoke_requests reads either."""
    smoke = app.get("smoke") or {}   # its type is checked by config_schema
    for index, request in enumerate(smoke if isinstance(smoke, list) else [smoke]):
        where = path + (("smoke", index) if isinstance(smoke, list) else ("smoke",))
        unknown = sorted(set(request) - _SMOKE_KEYS) if isinstance(request, dict) else ["(not a mapping)"]
        if unknown:
            raise UserError(f"unknown field '{unknown[0]}' in smoke", file=doc.file, line=doc.line_of(where),
                            fix=f"use {', '.join(sorted(_SMOKE_KEYS))}")
        _optional(doc, request, "expect", where, dict, {})
    return smoke


def _share_an_environment(a: AppSpec, b: AppSpec) -> bool:
    return a.environments is None or b.environments is None or bool(set(a.environments) & set(b.environments))


def _reject_duplicates(doc: YamlDoc, apps: list[AppSpec]) -> None:
    """Names are unique; a route only among the apps one environment runs together."""
    for attribute, what in (("name", "application name"), ("route_prefix", "route prefix")):
        seen: dict[str, int] = {}
        for index, app in enumerate(apps):
            value = getattr(app, attribute)
            if value in seen and (attribute == "name" or _share_an_environment(apps[seen[value]], app)):
                raise UserError(f"duplicate {what} '{value}' (also application {seen[value] + 1})",
                                file=doc.file, line=doc.line_of(("applications", index, attribute)),
                                fix=f"give every application its own {what}")
            seen[value] = index


def find_repo_root(start: Path | None = None) -> Path:
    """The nearest directory upwards holding raygitops.yaml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if os.path.lexists(candidate / CONFIG_FILE):   # a broken or looping link is found, then reported
            return candidate
    raise UserError(f"no {CONFIG_FILE} in {here} or above", fix="run from inside a raygitops repository")
