"""tools/diff's work: two revisions, environment by environment — render what changed, diff, classify.

    report = compare(root, DiffOptions(base="main"))     # HEAD: the working tree
    [(env.name, env.verdict) for env in report.environments], report.has_differences
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from raygitops.config import load_config
from raygitops.diff.capacity import RolloverCapacity, rollover_capacity
from raygitops.diff.crddelta import SchemaAt
from raygitops.diff.fields import ResourceDiff, diff_resources
from raygitops.diff.gitrefs import default_base, resolve_commit, toplevel, uncommitted_files, worktree
from raygitops.diff.history import BaselineFinder
from raygitops.diff.kuberay import INCREMENTAL_MODE, OperatorSetup, operator_setup
from raygitops.diff.operator import VALUES_FILE, operator_diffs, read_yaml
from raygitops.diff.rollout import Classified, classify, lifts_block, worst
from raygitops.errors import UserError
from raygitops.model.environment import (CLUSTERS, GENERATED, OVERLAYS, SERVE_CONFIG, SERVE_OVERRIDE, Environment,
                                        discover)
from raygitops.model.pins import pins_rel
from raygitops.model.stored import SchemaOf, stored_form
from raygitops.render import InputMemo, Rendered, is_kustomization, render

# Environment status, beside the verdict.
UNCHANGED = "unchanged"       # no input file differs: not rendered at all
SAME_OUTPUT = "no changes"    # inputs differ, the rendered resources do not
CHANGED = "changed"
ENV_ADDED, ENV_REMOVED = "added", "removed"
# Diffed beside the environments, named by their directory: Argo CD's objects and the operator's setup.
SETUP_DIRS = ("argocd", "argocd/root", "base/kuberay-operator")
OPERATOR_DIR = "base/kuberay-operator"


@dataclass(frozen=True)
class DiffOptions:
    base: str | None = None           # default: git merge-base main HEAD
    head: str | None = None           # default: the working tree, uncommitted changes included
    kuberay: str | None = None        # default: versions.kuberay in HEAD's raygitops.yaml
    require_clean: bool = False       # refuse a working tree with uncommitted changes
    jobs: int | None = None
    environments: tuple[str, ...] | None = None   # only these (`tools/diff -- overlays/prod`); None: all


@dataclass
class EnvironmentDiff:
    name: str
    status: str
    resources: list[ResourceDiff] = field(default_factory=list)
    classified: list[Classified] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    capacity: RolloverCapacity | None = None      # requests of the old and new cluster in a rollover
    is_setup: bool = False                        # argocd/ or the operator, not an overlay
    # The other clusters the environment runs on (clusters/<env>/<cluster>, ApplicationSet aana-clusters),
    # each built on overlays/<env>: a change to the environment reaches 1 + len(clusters) clusters.
    clusters: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return target_path(self.name)

    @property
    def is_layer(self) -> bool:
        """clusters/<env>/<cluster>, named <env>/<cluster>: what that one cluster of the environment runs."""
        return is_layer(self.name)

    @property
    def cluster_count(self) -> int:
        return 1 + len(self.clusters)

    @property
    def differs(self) -> bool:
        return bool(self.resources)

    @property
    def verdict(self) -> str | None:
        return worst(c.verdict for c in self.classified) if self.classified else None

    @property
    def errors(self) -> list[str]:
        """What will not deploy as Git says, or takes the service down: error-level in the PR comment."""
        return sorted({c.warning or f"{c.resource.resource}"
                       + (f" {c.change.display_path}" if c.change and c.change.path else "") + f": {c.impact}"
                       for c in self.classified if c.is_error})

    @property
    def warnings(self) -> list[str]:
        return sorted({c.warning for c in self.classified if c.warning and not c.is_error})


@dataclass
class DiffReport:
    base: str                  # label: the ref given and its commit
    head: str
    kuberay: str
    environments: list[EnvironmentDiff]

    @property
    def has_differences(self) -> bool:
        return any(env.differs for env in self.environments)

    @property
    def verdict(self) -> str | None:
        verdicts = [env.verdict for env in self.environments if env.verdict]
        return worst(verdicts) if verdicts else None

    def has_verdict(self, wanted: frozenset[str]) -> bool:
        return any(c.verdict in wanted for env in self.environments for c in env.classified)


@dataclass(frozen=True)
class _Side:
    label: str                 # BASE or HEAD, for messages
    root: Path                 # the raygitops root on this side
    environments: dict         # name → overlay directory


def is_layer(name: str) -> bool:
    """<env>/<cluster>; a setup directory's name ends with / (argocd/root/)."""
    return "/" in name and not name.endswith("/")


def target_path(name: str) -> str:
    """The directory a diff target renders: overlays/<env>, clusters/<env>/<cluster> (named <env>/<cluster>),
    or a setup directory (named with its trailing /)."""
    return name.rstrip("/") if name.endswith("/") else f"{CLUSTERS}/{name}" if is_layer(name) else f"{OVERLAYS}/{name}"


def _side(label: str, root: Path) -> _Side:
    # Each cluster layer is a target of its own, rendered and judged as an environment is: a change under
    # clusters/<env>/<cluster>/ alone reaches that cluster only, and a change to overlays/<env> reaches it too.
    layers = {f"{p.parent.name}/{p.name}": p for p in sorted((root / CLUSTERS).glob("*/*")) if is_kustomization(p)}
    setup = {f"{rel}/": root / rel for rel in SETUP_DIRS if is_kustomization(root / rel)}
    return _Side(label, root, {**{env.name: env.overlay for env in discover(root)}, **layers, **setup})


def compare(root: Path, options: DiffOptions) -> DiffReport:
    repo = toplevel(root)
    prefix = root.resolve().relative_to(repo)
    if options.base:
        base_label, base_commit = options.base, resolve_commit(repo, options.base)
    else:
        base_label, base_commit = default_base(repo)
    head_commit = resolve_commit(repo, options.head) if options.head else None
    # HEAD as the working tree includes uncommitted changes (like `git diff`); CI asks for none.
    dirty = uncommitted_files(repo, prefix.as_posix()) if head_commit is None else []
    if dirty and options.require_clean:
        _refuse_dirty(dirty)
    memo = InputMemo()
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=1) as helper:
        # While git checks BASE out, one helper thread reads HEAD: its config and its input digests.
        if head_commit is None:
            head = _side("HEAD", root)
            head_digests = helper.submit(_digests, head, memo)
            config = helper.submit(load_config, head.root)
        base = _side("BASE", stack.enter_context(worktree(repo, base_commit)) / prefix)
        if head_commit is not None:
            head = _side("HEAD", stack.enter_context(worktree(repo, head_commit)) / prefix)
            head_digests = helper.submit(_digests, head, memo)
            config = helper.submit(load_config, head.root)
        kuberay = options.kuberay or config.result().versions.kuberay
        schema_of = _crd_schemas(root, kuberay) or _no_schema
        setup = operator_setup(kuberay, read_yaml(head.root / VALUES_FILE))
        finder = stack.enter_context(_closing(BaselineFinder(repo, prefix, base_commit, setup, schema_of, root)))
        judge = _Judge(setup, schema_of, finder)
        environments = _compare_environments(base, head, judge, memo=memo, head_digests=head_digests.result(),
                                              cache_root=root, jobs=options.jobs, only=options.environments)
        _add_operator(environments, base, head, judge, lambda version: _crd_schemas(root, version))
    head_label = (f"{options.head} ({head_commit[:12]})" if head_commit else
                  "working tree" + (f" ({len(dirty)} uncommitted files)" if dirty else ""))
    return DiffReport(f"{base_label} ({base_commit[:12]})", head_label, kuberay, environments)


def _refuse_dirty(files: list[str]) -> None:
    shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    raise UserError(f"the working tree has uncommitted changes: {shown}",
                    fix="commit or stash them, give HEAD as a revision, or drop --require-clean")


def _digests(side: _Side, memo: InputMemo) -> dict[str, str]:
    return {name: memo.digest(path) for name, path in side.environments.items()}


def _crd_schemas(root: Path, kuberay: str) -> SchemaOf | None:
    """The CRDs of the KubeRay being judged: both sides are compared as that API server stores them.
    The pinned KubeRay's come from the schema store (verified); another one (--kuberay-version) from
    the mirror's crds/kuberay/v<version>/ when it has them, else None: the sides are then compared as written,
    and CRD schema changes between versions cannot be told."""
    from raygitops.checks.schemas import SchemaRegistry
    from raygitops.schemastore import SchemaStore, mirror_dir
    config = load_config(root)
    if kuberay == config.versions.kuberay:
        crds = SchemaStore(config).crd_files("kuberay")
    else:
        mirror = mirror_dir()
        crds = [mirror / f"crds/kuberay/v{kuberay}"] if mirror and (mirror / f"crds/kuberay/v{kuberay}").is_dir() else []
        if not crds:
            return None
    return SchemaRegistry(config.versions.kubernetes, crd_dirs=crds).crd_schema


def _no_schema(api_version: str, kind: str) -> None:
    return None


@contextmanager
def _closing(finder: BaselineFinder):
    try:
        yield finder
    finally:
        finder.close()


@dataclass(frozen=True)
class _Judge:
    """What classifies a resource: the operator, the pinned CRDs, and git history for a lifted block."""
    setup: OperatorSetup
    schema_of: SchemaOf
    finder: BaselineFinder | None = None

    def classify(self, env: str, resource: ResourceDiff, environment: tuple) -> list[Classified]:
        side = resource.after or resource.before or {}
        api_version, kind = side.get("apiVersion"), side.get("kind")
        schema = self.schema_of(api_version, kind) if isinstance(api_version, str) and isinstance(kind, str) else None
        # Git history is searched for overlays/<env> only: a cluster layer's lifted block goes without a baseline.
        baseline = (self.finder.find(env, resource.resource) if self.finder and not env.endswith("/")
                    and not is_layer(env) and lifts_block(resource, self.setup) else None)
        return classify(resource, setup=self.setup, environment=environment, schema=schema, baseline=baseline)


def _compare_environments(base: _Side, head: _Side, judge: _Judge, *, memo: InputMemo, head_digests: dict[str, str],
                          cache_root: Path, jobs: int | None, only: tuple[str, ...] | None = None) -> list[EnvironmentDiff]:
    names = sorted(set(base.environments) | set(head.environments), key=lambda n: (n.endswith("/"), n))
    unknown = [name for name in only or () if name not in names]
    if unknown:
        raise UserError(f"no environment {unknown[0]} at BASE or HEAD", file=target_path(unknown[0]),
                        fix=f"use one of: {', '.join(n for n in names if not n.endswith('/') and not is_layer(n))}")
    names = [name for name in names if not only or name in only or (is_layer(name) and name.split("/")[0] in only)]
    to_render: list[tuple[_Side, str]] = []
    status: dict[str, str] = {}
    for name in names:
        old, new = base.environments.get(name), head.environments.get(name)
        if old is None or new is None:
            status[name] = ENV_ADDED if old is None else ENV_REMOVED
            to_render.append((head, name) if old is None else (base, name))
        elif memo.digest(old) == head_digests[name]:
            status[name] = UNCHANGED
        else:
            status[name] = CHANGED
            to_render += [(base, name), (head, name)]
    rendered = _render(to_render, cache_root, jobs, memo)
    def hints(name: str) -> list[str]:   # a layer's are its environment's: said once, there
        return [] if is_layer(name) else _regen_hints(base, head, name) + ray_bump_hints(base.root, head.root, name)

    out = [_environment(name, status[name], rendered.get((base.label, name)), rendered.get((head.label, name)),
                        judge, hints(name)) for name in names]
    for env in out:
        if not env.is_layer:
            env.clusters = _cluster_layers(head.root if env.status != ENV_REMOVED else base.root, env.name)
    return out


def _cluster_layers(root: Path, name: str) -> list[str]:
    layers = root / CLUSTERS / name
    return sorted(p.name for p in layers.iterdir() if is_kustomization(p)) if layers.is_dir() else []


def _render(wanted: list[tuple[_Side, str]], cache_root: Path, jobs: int | None,
            memo: InputMemo) -> dict[tuple[str, str], Rendered]:
    """Every wanted overlay, one `render` per side: the sides apart, since each has its own base
    schema and both make the same resources (one kustomize process could not build them together).
    The cache under the real repository serves both sides, because the digest does not depend on
    where the tree is checked out."""
    sides: dict[str, list[Path]] = {}
    for side, name in wanted:
        sides.setdefault(side.label, []).append(side.environments[name])
    results: dict[Path, Rendered | UserError] = {}
    for paths in sides.values():
        results.update(render(paths, root=cache_root, jobs=jobs, memo=memo))
    out = {}
    for side, name in wanted:
        result = results[side.environments[name]]
        if isinstance(result, UserError):
            message = result.message.replace(f"{side.root}/", "")
            where = target_path(name)
            raise UserError(f"{side.label} does not render: {message}", file=where,
                            fix=f"fix the kustomization at {side.label}, or diff against another revision")
        out[(side.label, name)] = result
    return out


def _environment(name: str, status: str, old: Rendered | None, new: Rendered | None, judge: _Judge,
                 hints: list[str]) -> EnvironmentDiff:
    env = EnvironmentDiff(name, status, hints=hints, is_setup=name.endswith("/"))
    if status == UNCHANGED:
        return env
    # An edit that leaves the stored object equal (a default written out, 1000m for 1) changes nothing.
    env.resources = diff_resources([stored_form(r, judge.schema_of) for r in (old.resources if old else ())],
                                   [stored_form(r, judge.schema_of) for r in (new.resources if new else ())])
    if status == CHANGED and not env.resources:
        env.status = SAME_OUTPUT
    for resource in env.resources:
        env.classified += judge.classify(name, resource, (new or old).resources)
    env.capacity = _rollover_capacity(env)
    return env


def _add_operator(environments: list[EnvironmentDiff], base: _Side, head: _Side, judge: _Judge,
                  schema_at: SchemaAt) -> None:
    """versions.kuberay, the operator's Helm values and the CRD schema changes, in base/kuberay-operator/'s section."""
    found = operator_diffs(base.root, head.root, schema_at)
    if not found:
        return
    name = f"{OPERATOR_DIR}/"
    env = next((e for e in environments if e.name == name), None)
    if env is None:
        env = EnvironmentDiff(name, CHANGED, is_setup=True)
        environments.append(env)
    env.status = CHANGED if env.status in (UNCHANGED, SAME_OUTPUT) else env.status
    env.resources += found
    for resource in found:
        env.classified += judge.classify(name, resource, ())


def _rollover_capacity(env: EnvironmentDiff) -> RolloverCapacity | None:
    """Old and new cluster requests when a RayService rolls a new cluster: both run until the switch."""
    rolling = {id(c.resource): c for c in env.classified if c.rule.rollover}
    return rollover_capacity([(c.rollover_from, c.resource.after,
                               bool(c.situation.after and c.situation.after.kind == INCREMENTAL_MODE))
                              for c in rolling.values()])


def ray_bump_hints(base_root: Path, head_root: Path, name: str) -> list[str]:
    """The Ray version is global (model/pins.py): say so, since pins make every other change per environment."""
    def ray(root: Path) -> str | None:
        try:
            return load_config(root).versions.ray
        except (UserError, OSError):
            return None
    old, new = ray(base_root), ray(head_root)
    if old and new and old != new:
        return [f"versions.ray {old} → {new} reaches every environment at once, pinned ones too: the Ray version "
                f"is not per environment ({pins_rel(name)} pins code and image builds of one Ray)"]
    return []


def _regen_hints(base: _Side, head: _Side, name: str) -> list[str]:
    """serve.yaml is not a kustomize input: changing it without tools/regen changes nothing."""
    def read(side: _Side, rel: str) -> bytes | None:
        path = Environment(side.root, name).overlay / rel
        return path.read_bytes() if path.is_file() else None

    if name not in base.environments or name not in head.environments or name.endswith("/"):
        return []
    env = Environment(head.root, name)
    if read(base, SERVE_OVERRIDE) != read(head, SERVE_OVERRIDE) and \
            read(base, f"{GENERATED}/{SERVE_CONFIG}") == read(head, f"{GENERATED}/{SERVE_CONFIG}"):
        return [f"{env.rel}/{SERVE_OVERRIDE} changed but {env.generated_rel}/ did not: run tools/regen"]
    return []

