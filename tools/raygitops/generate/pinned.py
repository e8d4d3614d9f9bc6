"""A pinned environment's code: apps/ and the applications list at a commit, extracted once and cached by commit.

    code = pinned_code(root, "1a2b3c…", file="overlays/staging/pins.yaml")   # refuses a missing commit or apps/
    base = code.base_config(); code.package.url(config.working_dir_url)       # what regen builds for that env

The cache is build/pinned/<commit>/ (`git archive` of apps/ and raygitops.yaml at that commit, and the
base serve config `serve build` made from them, per Ray version). A commit never changes, so an entry
is never stale; the recorded apps/ tree id lets `tools/regen --check` tell, without Ray, that the
generated files name the code they were built from. The applications (names, import paths, routes)
come from the commit's raygitops.yaml, because they are part of the code: an app added later is not in
an environment pinned before it.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from raygitops.config import CONFIG_FILE, AppSpec
from raygitops.errors import UserError
from raygitops.generate.workingdir import APPS_PACKAGE, Package, build_package, forget_apps_modules
from raygitops.yamlio import LOADER

CACHE = "build/pinned"
WORKING_TREE = "working tree"


def _git(root: Path, *args: str, binary: bool = False) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=not binary)
    except FileNotFoundError:
        raise UserError("git is not on PATH", fix="install git; pinned environments need it") from None


def _prefix(root: Path) -> str:
    process = _git(root, "rev-parse", "--show-prefix")
    if process.returncode != 0:
        raise UserError(f"{root.name} is not a git repository, so a pinned commit cannot be read",
                        fix="pin environments in a clone, or remove their pins.yaml `code:`")
    return process.stdout.strip()


def resolve_code(root: Path, ref: str, file: str) -> tuple[str, str]:
    """(commit, apps/ tree id) of a pin; a UserError when the commit does not exist or holds no apps/."""
    prefix = _prefix(root)
    commit = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if commit.returncode != 0 or not commit.stdout.strip():
        raise UserError(f"pinned code '{ref}' is no commit of this repository", file=file,
                        fix="pin a commit or tag that exists (git fetch it), e.g. with `raygitops promote`")
    sha = commit.stdout.strip()
    tree = _git(root, "rev-parse", "--verify", "--quiet", f"{sha}:{prefix}{APPS_PACKAGE}")
    if tree.returncode != 0 or not tree.stdout.strip():
        raise UserError(f"commit {sha[:12]} has no {APPS_PACKAGE}/", file=file,
                        fix="pin a commit of this repository that holds the apps")
    return sha, tree.stdout.strip()


@dataclass(frozen=True)
class PinnedCode:
    commit: str
    tree: str          # git tree id of apps/ at the commit
    directory: Path    # build/pinned/<commit>: apps/ and raygitops.yaml as they were
    file: str          # the pins.yaml that pinned it, for messages

    @property
    def label(self) -> str:
        return f"{self.commit} (apps/ tree {self.tree})"

    @cached_property
    def package(self) -> Package:
        return build_package(self.directory)

    @cached_property
    def applications(self) -> tuple[AppSpec, ...]:
        data = yaml.load((self.directory / CONFIG_FILE).read_text(), Loader=LOADER) or {}
        apps = []
        for raw in data.get("applications") or [] if isinstance(data, dict) else []:
            path = raw.get("import_path") or raw.get("aana") if isinstance(raw, dict) else None
            if not (isinstance(path, str) and all(isinstance(raw.get(k), str) for k in ("name", "route_prefix"))):
                raise UserError(f"raygitops.yaml at {self.commit[:12]} has an application without name, "
                                "import_path (or aana) and route_prefix", file=self.file, fix="pin another commit")
            environments = raw.get("environments")
            apps.append(AppSpec(name=raw["name"], import_path=path, route_prefix=raw["route_prefix"],
                                aana="aana" in raw and "import_path" not in raw,
                                environments=tuple(environments) if isinstance(environments, list) else None))
        if not apps:
            raise UserError(f"raygitops.yaml at {self.commit[:12]} lists no applications", file=self.file,
                            fix="pin another commit")
        return tuple(apps)

    def base_config(self, ray_version: str, external_imports: tuple[str, ...] = ()) -> dict:
        """The base serve config `serve build` makes from this code, cached beside it per Ray version
        (and the external imports, which decide what `serve build` imports)."""
        from raygitops.generate.external import build_base
        key = hashlib.sha256(json.dumps(sorted(external_imports)).encode()).hexdigest()[:8]
        cached = self.directory / f"base-config-ray-{ray_version}-{key}.json"
        if cached.is_file():
            return json.loads(cached.read_text())
        plain = tuple(app for app in self.applications if not app.aana)   # Aana apps: built per environment
        with _own_apps_modules():
            config = build_base(self.directory, plain, external_imports, config_file=self.file)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(config))   # key order kept: it is the generated file's order
        tmp.replace(cached)
        return config


class _own_apps_modules:
    """`serve build` imports `apps` in this process: another tree's `apps` must neither be reused from
    the module cache nor left in it."""

    def __enter__(self):
        forget_apps_modules()

    def __exit__(self, *exc):
        forget_apps_modules()


def pinned_code(root: Path, ref: str, file: str) -> PinnedCode:
    commit, tree = resolve_code(root, ref, file)
    directory = root / CACHE / commit
    if not (directory / ".complete").is_file():
        _extract(root, commit, directory)
    return PinnedCode(commit, tree, directory, file)


def _extract(root: Path, commit: str, directory: Path) -> None:
    prefix = _prefix(root)
    treeish = f"{commit}:{prefix}" if prefix else commit
    members = [APPS_PACKAGE] + ([CONFIG_FILE] if _git(root, "cat-file", "-e", f"{commit}:{prefix}{CONFIG_FILE}").returncode == 0 else [])
    archive = _git(root, "archive", "--format=tar", treeish, *members, binary=True)
    if archive.returncode != 0:
        raise UserError(f"git archive of {commit[:12]} failed: {archive.stderr.decode(errors='replace').strip()[-200:]}",
                        fix="check the repository")
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tmp, filter="data")   # the data filter refuses links and paths out of the directory
    (tmp / ".complete").write_text(commit + "\n")
    shutil.rmtree(directory, ignore_errors=True)
    tmp.replace(directory)


@dataclass(frozen=True)
class EnvironmentBuild:
    """What regen builds one environment from: its pins, and the code (working tree or pinned)."""
    pins: object                 # model.pins.Pins
    code: PinnedCode | None      # None: the working tree

    @property
    def code_line(self) -> str:
        """Recorded in the generated Component's header (never deployed)."""
        return f"# Code: {self.code.label if self.code else WORKING_TREE}\n"

    def inputs(self, config, working_tree_package: Package, working_tree_base: dict, env: str):
        """(config with only the apps `env` runs, the package it deploys, the `serve build` base of those
        apps): the working tree's, or its pinned code's."""
        from dataclasses import replace
        from raygitops.generate.external import environment_apps
        apps = self.code.applications if self.code else config.applications
        base = self.code.base_config(config.versions.ray, config.external_imports) if self.code else working_tree_base
        package = self.code.package if self.code else working_tree_package
        env_config = replace(config, applications=tuple(app for app in apps if app.runs_in(env)))
        return env_config, package, environment_apps(base, apps, env)

    def package_digest(self, working_tree_digest: str) -> str:
        return self.code.package.digest if self.code else working_tree_digest


def environment_build(root: Path, env: str) -> EnvironmentBuild:
    from raygitops.model.pins import load_pins
    pins = load_pins(root, env)
    return EnvironmentBuild(pins, pinned_code(root, pins.code, pins.file) if pins.code else None)


def pinned_packages_missing(root: Path) -> bool:
    """Whether a pinned environment's working_dir zip is not in build/working_dir (a fresh clone)."""
    from raygitops.generate.workingdir import package_problem
    from raygitops.model.environment import discover
    builds = [environment_build(root, env.name) for env in discover(root)]
    return any(package_problem(root, b.code.package) is not None for b in builds if b.code)


def check_image_pins(config, build: EnvironmentBuild) -> None:
    from raygitops.model.pins import image_pin_problem
    for placeholder, pin in build.pins.images.items():
        problem = image_pin_problem(config, placeholder, pin)
        if problem:
            raise UserError(problem, file=build.pins.file, fix="pin a build of versions.ray, or remove the pin")
