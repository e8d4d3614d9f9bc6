"""tools/validate: render → schemas → serve config → policies → one report.

    report = validate(root, ["overlays/prod"])         # or None: every overlay, argocd/ and the operator's
    print(format_report(report, "text")); raise SystemExit(report.exit_code())   # raygitops.output.findings
"""
from __future__ import annotations

import difflib
import json
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from raygitops.config import RepoConfig, load_config
from raygitops.errors import UserError
from raygitops.findings import ERROR, WARNING, Finding, resource_id
from raygitops.checks.policies import POLICIES, PolicyContext, PolicySettings, run_policies
from raygitops.checks.registry import PACKS, finding
from raygitops.model.environment import Environment, broken, environment_of
from raygitops.checks.provenance import refuse_serve_config_past_bounds, serve_config_not_generated
from raygitops.checks.schemas import SchemaRegistry
from raygitops.checks.schema_sources import builtin_kubernetes_versions
from raygitops.checks.aana_pins import fastapi_pin_findings
from raygitops.checks.celcheck import cel_findings
from raygitops.checks.serve_config import check_serve_config_text
from raygitops.checks.sources import (STDIN, Source, default_paths, environment_name, load_plain,
                                      rendered_source, units_of)
from raygitops.model.rayservice import RayServiceView, parse_quantity
from raygitops.checks.result_cache import ResultCache, registry_fingerprint
from raygitops.render import InputMemo, Rendered, is_cached, is_kustomization, render
from raygitops.generate.aana_apps import aana_apps, serve_module
from raygitops.generate.regen import stale_environments
from raygitops.generate.workingdir import build_package
from raygitops.schemastore import SchemaStore
from raygitops.versions import pinned_ray_serve_version
from raygitops.yamlio import line_of_path


@dataclass(frozen=True)
class ValidateOptions:
    kubernetes_version: str | None = None    # default: versions.kubernetes
    crd_dirs: tuple[str, ...] = ()           # added to raygitops.yaml's schemas.crd_dirs
    schema_locations: tuple[str, ...] = ()
    skip_kinds: tuple[str, ...] = ()
    ignore_missing_schemas: bool = False     # a kind without a schema is skipped, not an error (kubeconform's flag)
    jobs: int | None = None
    use_cache: bool = True


@dataclass
class ValidationReport:
    sources: list[Source]
    findings: list[Finding] = field(default_factory=list)
    skipped_resources: set[tuple[str, str]] = field(default_factory=set)   # (source, resource): not schema-checked
    outside_roots: list[str] = field(default_factory=list)   # kustomization roots reached outside the repository

    @property
    def skipped(self) -> int:
        """Resources of a skipped kind, or without a schema under ignore_missing_schemas."""
        return len(self.skipped_resources)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def resource_count(self) -> int:
        return sum(len(s.resources) for s in self.sources)

    def exit_code(self, strict_warnings: bool = False) -> int:
        return 1 if self.errors or (strict_warnings and self.warnings) else 0


def _base_groups(result) -> tuple[str, ...] | None:
    """The worker groups of base/'s RayService, in order: what worker-group-order compares with."""
    if not isinstance(result, Rendered):
        return None
    for resource in result.resources:
        if isinstance(resource, dict) and resource.get("kind") == "RayService":
            return tuple(RayServiceView(resource).worker_names)
    return None


# --- check ------------------------------------------------------------------------------

def schema_registry(config: RepoConfig, options: ValidateOptions) -> SchemaRegistry:
    """The pinned, verified schemas of the schema store, plus any of the repository's and the options' own."""
    if not options.kubernetes_version:
        _check_kubernetes_version(config)
    store = SchemaStore(config)

    def in_repo(location: str) -> str:
        return location if "://" in location or Path(location).is_absolute() else str(config.root / location)
    return SchemaRegistry(
        options.kubernetes_version or config.versions.kubernetes,
        crd_dirs=[*store.crd_files(), *map(in_repo, config.schemas.crd_dirs), *options.crd_dirs],
        catalog_files=store.catalog_files(),
        schema_locations=[*map(in_repo, config.schemas.schema_locations), *options.schema_locations],
        skip_kinds=list(config.schemas.skip_kinds) + list(options.skip_kinds),
        ignore_missing=options.ignore_missing_schemas)


def _check_kubernetes_version(config: RepoConfig) -> None:
    """versions.kubernetes chooses kubernetes-validate's built-in schemas: it must be a version it ships."""
    shipped = builtin_kubernetes_versions()
    if ".".join(config.versions.kubernetes.split(".")[:2]) not in shipped:
        raise UserError(f"versions.kubernetes {config.versions.kubernetes}: kubernetes-validate has no built-in "
                        "schemas for it", file="raygitops.yaml",
                        line=config.doc.line_of(("versions", "kubernetes")) if config.doc else None,
                        fix=f"use one of: {', '.join(shipped)} (the newest it ships is {shipped[-1]})")


_SEVERITIES = ("error", "warning", "off")


def policy_settings(config: RepoConfig) -> PolicySettings:
    """raygitops.yaml's `policies:` and `checks.packs`, checked: a typo there would quietly weaken a check."""
    raw, defaults = config.policies, PolicySettings()

    def bad(path: tuple, message: str, fix: str) -> UserError:
        line = config.doc.line_of(("policies", *path)) if config.doc is not None else None
        return UserError(f"policies.{'.'.join(map(str, path))}: {message}", file="raygitops.yaml", line=line, fix=fix)

    fields = {"ephemeral_storage_min", "dev_environments", "require_digest", "severity", "gpu_toleration_keys",
              "gcs_ft_required"}
    for key in raw:
        if key not in fields:
            raise bad((key,), "unknown setting", f"use one of {', '.join(sorted(fields))}")
    floor = raw.get("ephemeral_storage_min", defaults.ephemeral_storage_min)
    if parse_quantity(floor) is None:
        raise bad(("ephemeral_storage_min",), f"{floor!r} is not a quantity", "write it as Kubernetes does, e.g. 10Gi")
    lists = {}
    for key in ("dev_environments", "require_digest", "gpu_toleration_keys", "gcs_ft_required"):
        value = raw.get(key, getattr(defaults, key))
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise bad((key,), "must be a list of strings", f"e.g. {key}: [{', '.join(getattr(defaults, key))}]")
        lists[key] = tuple(value)
    severity = raw.get("severity") or {}
    known = {p.id for p in POLICIES}
    if not isinstance(severity, dict):
        raise bad(("severity",), "must map environments to {policy id: level}", "e.g. severity: {prod: {image-digest: warning}}")
    for env, levels in severity.items():
        if not isinstance(levels, dict):
            raise bad(("severity", env), "must map policy ids to a level", f"e.g. {env}: {{image-digest: warning}}")
        for pid, level in levels.items():
            if pid not in known:
                close = difflib.get_close_matches(str(pid), sorted(known), n=1)
                raise bad(("severity", env, pid), "no such policy",
                          f"did you mean {close[0]}?" if close else "tools/validate --list-checks lists them")
            if level not in _SEVERITIES:
                raise bad(("severity", env, pid), f"level {level!r} is not one of {', '.join(_SEVERITIES)}",
                          f"use {' / '.join(_SEVERITIES)}")
    aana = tuple((app.name, serve_module(app.import_path) + ":") for app in aana_apps(config))
    return PolicySettings(ephemeral_storage_min=str(floor), severity=severity, packs=_packs(config), aana_apps=aana,
                          **lists)


def _packs(config: RepoConfig) -> tuple[str, ...]:
    for index, pack in enumerate(config.packs):
        if pack not in PACKS:
            close = difflib.get_close_matches(pack, PACKS, n=1)
            line = config.doc.line_of(("checks", "packs", index)) if config.doc is not None else None
            raise UserError(f"checks.packs: no pack '{pack}'", file="raygitops.yaml", line=line,
                            fix=f"did you mean {close[0]}?" if close else f"use one of {', '.join(PACKS)}")
    return config.packs


_serve_cache: dict[tuple, list[Finding]] = {}


def _serve_findings(resource: dict, source: Source, config: RepoConfig, cache: ResultCache) -> list[Finding]:
    spec = resource.get("spec")
    text = spec.get("serveConfigV2") if isinstance(spec, dict) else None
    # Environments often share a serve config: Ray's schema check runs once per distinct text
    # (and repository), and the findings are then placed in each resource.
    key = (text if isinstance(text, str) else repr(text), str(config.root), tuple(config.external_imports))
    if key not in _serve_cache:
        refuse_serve_config_past_bounds(resource, source.label)   # before any cache: it is the refusal
        _serve_cache[key] = cache.findings(
            "serve", _serve_payload(key[0], config),
            lambda: check_serve_config_text(text, root=config.root, external_imports=config.external_imports,
                                            file="", resource=""))
    rid = resource_id(resource)
    return [f.with_location(file=source.label, resource=rid) for f in _serve_cache[key]]


def _serve_payload(text: str, config: RepoConfig) -> list:
    """What a serve config's cached findings are keyed on, besides the cache's own context."""
    return [text, list(config.external_imports)]


def _serve_configs_unchecked(kustomizations: list[Path], root: Path, config: RepoConfig,
                             cache: ResultCache) -> bool:
    """Whether any of these renders may hold a serve config that the check cache has no findings for.
    An environment's serveConfigV2 is its generated serve config, verbatim, so that is known before
    the render; for any other kustomization it is not, and the answer is yes."""
    for path in kustomizations:
        env = environment_of(path.absolute(), root)
        if env is None or not env.serve_config.is_file():
            return True
        if not cache.has("serve", _serve_payload(env.serve_config.read_text(), config)):
            return True
    return False


@lru_cache(maxsize=4)
def _pinned(pyproject_text: str) -> str | None:
    return pinned_ray_serve_version(pyproject_text)


def check_source(source: Source, config: RepoConfig, registry: SchemaRegistry,
                 settings: PolicySettings, base_groups: tuple[str, ...] | None,
                 cache: ResultCache = ResultCache(None, ())) -> list[Finding]:
    if source.error is not None:
        error = source.error
        return [finding("kustomize" if "kustomize" in error.message else "yaml", error.message, fix=error.fix,
                        file=error.file or source.label, line=error.line)]
    findings: list[Finding] = []
    views = []   # each resource read once, as the policies see it; its node gives the lines of plain files
    for index, resource in enumerate(source.resources):
        node = source.nodes[index] if index < len(source.nodes) else None
        # The CRD's CEL rules read the same resource and schemas as the schema check: one cached result.
        own = cache.findings("schema", [source.label, resource],
                             lambda resource=resource: registry.validate(resource, file=source.label)
                             + cel_findings(resource, registry, file=source.label))
        if isinstance(resource, dict):
            views.append(RayServiceView(resource, node))
            if resource.get("kind") == "RayService":
                own += _serve_findings(resource, source, config, cache) + serve_config_not_generated(
                    resource, source.environment, source.label, config.root)
        findings.extend(f if f.line or node is None else f.with_location(line=line_of_path(node, _field_path(f)))
                        for f in own)
    pyproject = config.root / "pyproject.toml"
    context = PolicyContext(
        environment=source.environment, source=source.label,
        resources=tuple(r for r in source.resources if isinstance(r, dict)),
        ray_version=config.versions.ray,
        pinned_serve_version=_pinned(pyproject.read_text()) if pyproject.exists() else None,
        kuberay_version=config.versions.kuberay,
        base_worker_groups=base_groups if source.environment else None,
        settings=settings)
    return findings + run_policies(views, context)


_UNKNOWN_FIELD = re.compile(r"^unknown (?:field|key) '([^']+)'")


def _field_path(finding: Finding) -> str:
    """Where the finding's line is: an unknown field is reported at its parent (as kubeconform
    does), but the line to show is the field's own."""
    unknown = _UNKNOWN_FIELD.match(finding.message)
    if unknown and ":" not in finding.path:
        return f"{finding.path}[{json.dumps(unknown[1])}]"
    return finding.path


def _preload(registry: SchemaRegistry, serve_schema: bool) -> threading.Thread:
    """Compiling the RayService CRD (half a second) and, with `serve_schema`, importing Ray's serve schema
    (about a second) happen in a thread while kustomize renders, so both cores stay busy."""
    def load() -> None:
        if serve_schema:
            try:
                import ray.serve.schema  # noqa: F401
            except Exception:
                pass  # the real import later reports the problem
        try:
            registry.lookup("ray.io/v1", "RayService")
        except Exception:
            pass  # validation reports it
    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    return thread


def validate(root: Path, paths: Iterable[str | Path] | None = None,
             options: ValidateOptions = ValidateOptions()) -> ValidationReport:
    config = load_config(root)
    chosen = list(paths) if paths else default_paths(root)
    if not chosen:
        raise UserError("nothing to validate", fix="give paths, or add overlays/<env>/")
    registry = schema_registry(config, options)
    settings = policy_settings(config)
    units = units_of(chosen, root)
    # Files and stdin are read first: input past the bounds is refused before Ray is imported.
    plain = {unit: load_plain(unit, root) for unit in dict.fromkeys(units) if unit == STDIN or not Path(unit).is_dir()}
    kustomizations = list(dict.fromkeys(Path(u) for u in units if u != STDIN and Path(u).is_dir()))
    memo = InputMemo()
    package_digest = build_package(root).digest
    cache = ResultCache.under(root, registry_fingerprint(registry), package_digest,
                              json.dumps(sorted(config.external_imports)), enabled=options.use_cache)
    # A warm run (every render cached) most likely needs neither Ray nor a compiled CRD: no preload.
    # A new render may hold a changed RayService (the CRD is compiled ahead), but Ray is imported ahead
    # only for a serve config that is new to the check cache (an edit of a patch leaves it as it was).
    uncached = [k for k in kustomizations
                if is_kustomization(k) and not (options.use_cache and is_cached(k, root, memo))]
    preload = None
    if uncached:
        preload = _preload(registry, serve_schema=_serve_configs_unchecked(uncached, root, config, cache))
    base = root / "base"
    wants_base = is_kustomization(base) and any(environment_name(k, root) for k in kustomizations)
    report = ValidationReport(sources=[])
    # base/ (its worker-group order is the one overlays must keep) renders with the overlays.
    rendered = render([base, *kustomizations] if wants_base else kustomizations, root=root, jobs=options.jobs,
                      memo=memo, use_cache=options.use_cache)
    base_groups = _base_groups(rendered[base]) if wants_base else None
    if preload is not None:
        preload.join()
    for unit in units:
        if unit in plain:
            source = plain[unit]
        else:
            source = rendered_source(Path(unit), rendered[Path(unit)], root)
        report.sources.append(source)
        report.findings.extend(check_source(source, config, registry, settings,
                                            base_groups if source.environment else None, cache))
        report.skipped_resources.update((source.label, resource_id(r)) for r in source.resources
                                        if isinstance(r, dict) and isinstance(r.get("apiVersion"), str)
                                        and isinstance(r.get("kind"), str)
                                        and registry.is_skipped(r["apiVersion"], r["kind"]))
    report.findings.extend(generated_file_findings(root, config, [s.environment for s in report.sources
                                                                  if s.environment], checks_all=not paths,
                                                   package_digest=package_digest))
    report.findings.extend(fastapi_pin_findings(config))   # once per repository
    report.outside_roots = memo.outside(root)
    report.findings.sort(key=lambda f: (f.file or "", f.resource, f.severity != ERROR, f.id, f.path, f.message))
    return report


def generated_file_findings(root: Path, config: RepoConfig, environments: list[str], checks_all: bool,
                            package_digest: str | None = None) -> list[Finding]:
    """Rendering uses the committed generated files, so a serve.yaml, raygitops.yaml or apps/
    change without tools/regen would otherwise pass unseen."""
    findings = []
    wanted = [env for env in dict.fromkeys(environments) if Environment(root, env).serve_override.exists()]
    if wanted:
        for name in stale_environments(config, wanted, package_digest or build_package(root).digest):
            env = Environment(root, name)
            findings.append(finding(
                "regen-stale", f"{env.generated_rel}/ was made from older raygitops.yaml, apps/ or serve.yaml",
                file=env.rel))
    for env in broken(root) if checks_all else ():
        findings.append(finding("kustomize", f"environment {env.name} has no kustomization.yaml (Argo CD would "
                                             "still deploy it)", file=env.rel,
                                fix="restore it, or delete the whole directory to remove the environment"))
    return findings
