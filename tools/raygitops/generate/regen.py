"""Everything tools/regen writes: per-environment serve configs, the kustomize glue, the working_dir zip.

    plan = plan_regen(root)              # files (path → bytes), package, pin problems
    regenerate(root) / check(root)       # zip, then the files (all or nothing) / report what is stale
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

from raygitops.config import KUSTOMIZATION_NAMES, RepoConfig, load_config
from raygitops.errors import UserError
from raygitops.generate.aana_apps import job_env, prebuild_aana_apps, serve_apps, settle_aana_env, with_aana_apps
from raygitops.generate.external import build_base
from raygitops.generate.pinned import check_image_pins, environment_build, pinned_packages_missing
from raygitops.generate.kustomize_schema import kustomize_schema, render_schema_file
from raygitops.generate.lock import regen_lock
from raygitops.generate.seal import INPUTS_LINE, digest_of, is_sealed, seal_lines
from raygitops.generate.serveconfig import ENV_LEVEL_ENV_VARS, apply_environment, encode_env_vars
from raygitops.generate.workingdir import Package, build_package, package_path, package_problem, write_package
from raygitops.generate.writes import TMP_SUFFIX, Stamp, head_commit, interrupted_write_pending, write_generated
from raygitops.safepath import writable_path
from raygitops.model.environment import GENERATED, OVERLAYS, SERVE_CONFIG, SERVE_OVERRIDE, Environment, broken, discover
from raygitops.model.pins import PINS_FILE, image_reference, pins_rel
from raygitops.versions import parse_ray_image, pinned_ray_serve_version
from raygitops.masking import mask_yaml_text
from raygitops.yamlbounds import read_input
from raygitops.yamlio import GENERATED_HEADER, dump_yaml, load_yaml

SCHEMA_FILE = "base/generated/kustomize-schema.yaml"
SERVE_CONFIGMAP = "raygitops-serve-config"
ENV_CONFIGMAP = "raygitops-env"
ARGOCD_SETTINGS = "argocd/settings/settings.yaml"   # Argo CD installs KubeRay at this version


@dataclass
class RegenPlan:
    config: RepoConfig
    package: Package
    files: dict[str, bytes] = field(default_factory=dict)
    pin_problems: list[str] = field(default_factory=list)
    pinned_packages: list[Package] = field(default_factory=list)   # pinned environments' code (generate/pinned.py)


def _header(*sources: str) -> str:
    return GENERATED_HEADER.format(sources=", ".join(sources))


def _component(config: RepoConfig, shared_env: dict[str, str], working_dir_url: str) -> str:
    """The kustomize Component that carries the serve config into spec.serveConfigV2.
    Kustomize cannot write into that string itself, so the file goes through a local-only
    ConfigMap (never applied) and a replacement."""
    env_literals = [f"{name}={value}" for name, value in sorted(shared_env.items())]
    env_literals.append(f"WORKING_DIR_URL={working_dir_url}")
    to_rayservice = {"select": {"kind": "RayService"}, "options": {"create": True}}
    component = {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "configMapGenerator": [
            {"name": SERVE_CONFIGMAP, "files": [f"serveConfigV2={SERVE_CONFIG}"],
             "literals": [f"rayVersion={config.versions.ray}"],
             "options": {"disableNameSuffixHash": True,
                         "annotations": {"config.kubernetes.io/local-config": "true"}}},
            # The same settings for jobs outside Ray, such as the database migration.
            {"name": ENV_CONFIGMAP, "literals": env_literals},
        ],
        "replacements": [
            {"source": {"kind": "ConfigMap", "name": SERVE_CONFIGMAP, "fieldPath": "data.serveConfigV2"},
             "targets": [dict(to_rayservice, fieldPaths=["spec.serveConfigV2"])]},
            {"source": {"kind": "ConfigMap", "name": SERVE_CONFIGMAP, "fieldPath": "data.rayVersion"},
             "targets": [dict(to_rayservice, fieldPaths=["spec.rayClusterConfig.rayVersion"])]},
        ],
    }
    return dump_yaml(component)


def _image_transformers(config: RepoConfig, pins=None) -> str:
    """Ray image tags from the pin (and the environment's image pins, model/pins.py). A transformers
    file, not the Component's `images:`, because transformers run after the overlay's own patches,
    which may add groups (prod's GPU workers) that use a placeholder image."""
    def image_tag(image) -> dict:
        name, tag, digest = image_reference(config, image, pins.images.get(image.placeholder) if pins else None)
        return {"name": image.placeholder, "newName": name, "newTag": tag, **({"digest": digest} if digest else {})}
    return "---\n".join(dump_yaml({
        "apiVersion": "builtin", "kind": "ImageTagTransformer", "metadata": {"name": image.placeholder},
        "imageTag": image_tag(image),
    }) for image in config.images)


_IMAGE_LINE = re.compile(r"^\s*-?\s*image:\s*[\"']?([^\s\"'#]+)", re.M)
_RAY_VERSION_LINE = re.compile(r"^\s*rayVersion:\s*[\"']?([0-9][^\s\"'#]*)", re.M)   # a version, not the placeholder


def version_pin_problems(config: RepoConfig) -> list[str]:
    """Places that name a Ray or KubeRay version other than raygitops.yaml's versions."""
    root, ray = config.root, config.versions.ray
    problems = []
    pyproject = root / "pyproject.toml"
    if pyproject.exists():
        pinned = pinned_ray_serve_version(pyproject.read_text())
        if pinned and pinned != ray:
            problems.append(f"pyproject.toml pins ray[serve]=={pinned} but raygitops.yaml versions.ray is {ray}")
    for top in ("base", OVERLAYS):
        for path in sorted((root / top).rglob("*.yaml")):
            if "generated" in path.parts or not path.is_file():   # a FIFO named x.yaml would block the read
                continue
            text = path.read_text(errors="replace")
            for match in _IMAGE_LINE.finditer(text):
                tag = parse_ray_image(match.group(1))
                if tag and tag.ray_version and tag.ray_version != ray:
                    line = text.count("\n", 0, match.start(1)) + 1
                    problems.append(f"{path.relative_to(root).as_posix()}:{line}: image {match.group(1)} "
                                    f"but raygitops.yaml versions.ray is {ray} — use the placeholder image "
                                    f"({', '.join(i.placeholder for i in config.images)}) so tools/regen sets the tag")
            for match in _RAY_VERSION_LINE.finditer(text):
                if match.group(1) != ray:
                    line = text.count("\n", 0, match.start(1)) + 1
                    problems.append(f"{path.relative_to(root).as_posix()}:{line}: rayVersion {match.group(1)} but "
                                    f"raygitops.yaml versions.ray is {ray} — remove it; tools/regen sets rayVersion")
    settings = root / ARGOCD_SETTINGS
    if settings.exists():
        match = re.search(r"^\s*kuberayVersion:\s*[\"']?([^\s\"'#]+)", settings.read_text(errors="replace"), re.M)
        if match and match.group(1) != config.versions.kuberay:
            problems.append(f"{ARGOCD_SETTINGS}: kuberayVersion {match.group(1)} but raygitops.yaml "
                            f"versions.kuberay is {config.versions.kuberay}")
    return problems


# The parts of raygitops.yaml that regen's output depends on (not, say, policy settings).
_CONFIG_INPUTS = ("versions", "images", "working_dir", "applications")


def inputs_digest(config: RepoConfig, env: str, package_digest: str) -> str:
    """A hash of what an environment's generated files are made from. It sits in the generated
    Component's header (never deployed), so tools/validate can tell stale files without Ray."""
    data = config.doc.data if config.doc is not None and isinstance(config.doc.data, dict) else {}
    used = {key: data.get(key) for key in _CONFIG_INPUTS}
    serve_yaml = Environment(config.root, env).serve_override
    pins = config.root / pins_rel(env)   # an unpinned environment's digest stays what it was before pins
    return digest_of(package_digest.encode(), json.dumps(used, sort_keys=True, default=str).encode(),
                     serve_yaml.read_bytes() if serve_yaml.exists() else b"", *([pins.read_bytes()] if pins.exists() else []))


def schema_inputs_digest(config: RepoConfig) -> str:
    return digest_of(config.versions.kubernetes.encode())


def inputs_stamp(root: Path, package_digest: str | None = None) -> Stamp:
    """The commit, and a hash of what tools/regen makes a generation from: raygitops.yaml, the apps/
    package, and every overlay's serve.yaml and kustomization. The write journal records it, so a
    killed write is finished only where it was made (never after a `git switch` or an edit)."""
    digest = hashlib.sha256((package_digest or build_package(root).digest).encode())
    overlays = sorted((root / OVERLAYS).iterdir()) if (root / OVERLAYS).is_dir() else []   # broken ones too
    paths = [root / "raygitops.yaml"] + [overlay / name for overlay in overlays
                                         for name in (SERVE_OVERRIDE, PINS_FILE, *KUSTOMIZATION_NAMES)]
    for path in paths:
        try:
            content = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            continue
        digest.update(b"\0" + path.relative_to(root).as_posix().encode() + b"\0" + content)
    return Stamp(head_commit(root), "sha256:" + digest.hexdigest())


def stale_environments(config: RepoConfig, environments: list[str], package_digest: str) -> list[str]:
    """Environments whose generated files were made from other inputs than today's."""
    stale = []
    for env in environments:
        component = Environment(config.root, env).generated / "kustomization.yaml"
        head = component.read_text(errors="replace").splitlines()[:2] if component.exists() else []
        env_digest = environment_build(config.root, env).package_digest(package_digest)
        if INPUTS_LINE.format(digest=inputs_digest(config, env, env_digest)).strip() not in head:
            stale.append(env)
    return stale


def plan_regen(root: Path) -> RegenPlan:
    config = load_config(root)
    package = build_package(root)
    plan = RegenPlan(config=config, package=package, pin_problems=version_pin_problems(config))
    environments = discover(root)
    for env in broken(root):
        raise UserError(f"environment {env.name} has no kustomization.yaml", file=f"{env.rel}/",
                        fix="restore it, or delete the whole directory to remove the environment")
    if not environments:
        raise UserError("no environments", file=f"{OVERLAYS}/",
                        fix="add overlays/<env>/kustomization.yaml and serve.yaml")
    overrides = {}
    for env in environments:  # every input is read (and rejected) before Ray is imported
        if not env.serve_override.exists():
            raise UserError(f"missing {SERVE_OVERRIDE} for environment {env.name}",
                            file=f"{env.rel}/{SERVE_OVERRIDE}", fix="create it (it may hold just `applications: []`)")
        overrides[env.name] = load_yaml(env.serve_override, root)
    builds = {env: environment_build(root, env) for env in overrides}   # pinned code: refused before Ray runs
    for build in builds.values():
        check_image_pins(config, build)
    base = _build_base_config(root, config)   # the Ray Serve apps; Aana apps are built per environment
    inputs = {env: builds[env].inputs(config, package, base, env) for env in overrides}   # apps, code, package
    prebuild_aana_apps([(env_config, env_package, overrides[env])
                        for env, (env_config, env_package, _) in inputs.items()])
    for env, doc in overrides.items():
        build = builds[env]
        env_config, env_package, plain = inputs[env]
        if env_package is not package:
            plan.pinned_packages.append(env_package)
        url = env_package.url(config.working_dir_url)
        env_base, aana_groups = with_aana_apps(plain, env_config, env_package, doc)
        serve_config = settle_aana_env(apply_environment(env_base, doc, url), aana_groups, doc)
        shared_env = encode_env_vars((doc.data or {}).get(ENV_LEVEL_ENV_VARS) or {}, doc, (ENV_LEVEL_ENV_VARS,))
        shared_env.update(job_env(env_config))
        if "WORKING_DIR_URL" in shared_env:
            raise UserError("WORKING_DIR_URL is set by tools/regen", file=doc.file,
                            line=doc.line_of((ENV_LEVEL_ENV_VARS, "WORKING_DIR_URL")),
                            fix="remove it; working_dir.url in raygitops.yaml sets it")
        header = _header("apps/", "raygitops.yaml", doc.file)
        others = {SERVE_CONFIG: (header + dump_yaml(serve_config)).encode(),
                  "images.yaml": (header + _image_transformers(config, build.pins)).encode()}
        for name, content in others.items():
            plan.files[f"{Environment(config.root, env).generated_rel}/{name}"] = content
        # The Component carries the seal of its environment's generated files: regen --check trusts it.
        component = build.code_line + _component(config, shared_env, url)   # the code it runs, then the Component
        plan.files[f"{Environment(config.root, env).generated_rel}/kustomization.yaml"] = (
            header + seal_lines(inputs_digest(config, env, env_package.digest), others, component) + component).encode()
    schema = render_schema_file(kustomize_schema(config.versions.kubernetes), "")
    plan.files[SCHEMA_FILE] = (_header("raygitops.yaml (versions.kubernetes)")
                               + seal_lines(schema_inputs_digest(config), {}, schema) + schema).encode()
    return plan


def sealed_up_to_date(config: RepoConfig, package_digest: str) -> bool:
    """Every generated file was made from today's inputs and is unedited, by the seals alone:
    no Ray, no `serve build`. False sends regen --check to the real rebuild and its diff."""
    root = config.root
    try:
        for env in config.environments():
            directory = Environment(root, env).generated
            others = {p.name: p.read_bytes() for p in directory.iterdir() if p.name != "kustomization.yaml"}
            env_digest = environment_build(root, env).package_digest(package_digest)
            if not is_sealed((directory / "kustomization.yaml").read_bytes(),
                             inputs_digest(config, env, env_digest), others):
                return False
        return is_sealed((root / SCHEMA_FILE).read_bytes(), schema_inputs_digest(config), {})
    except OSError:
        return False


def _build_base_config(root: Path, config: RepoConfig) -> dict:
    """`build_base_config`, where Ctrl-C stays an interrupt (exit 130): click, which runs `serve build`,
    would turn it into "Aborted!" and a failed build."""
    noticed: list[int] = []

    def on_interrupt(signum, frame):
        noticed.append(signum)
        raise KeyboardInterrupt

    plain = serve_apps(config)   # Aana apps are built per environment, with Aana's own `aana build`
    if not plain:
        return {}
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if main_thread else None
    try:
        base = build_base(root, plain, config.external_imports)
    except UserError:
        if noticed:
            raise KeyboardInterrupt from None
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if noticed:
        raise KeyboardInterrupt
    return base


def stale_files(plan: RegenPlan) -> dict[str, str]:
    """path → unified diff for every generated file that differs from what regen writes,
    plus generated files no environment owns any more."""
    root = plan.config.root
    stale = {}
    for rel, content in sorted(plan.files.items()):
        path = root / rel
        old = read_input(path, rel) if path.exists() or path.is_symlink() else ""
        new = content.decode()
        if old != new:
            stale[rel] = _masked_diff(rel, old, new)
    for path in sorted((root / OVERLAYS).glob(f"*/{GENERATED}/*")):
        rel = path.relative_to(root).as_posix()
        if rel not in plan.files:
            stale[rel] = f"{rel}: not written by tools/regen any more; delete it\n"
    return stale


def _masked_diff(rel: str, old: str, new: str) -> str:
    """A unified diff of a stale generated file with every secret value hidden (raygitops.masking):
    `regen --check` runs in CI, whose log is public. A file that is no YAML is not shown at all."""
    try:
        old, new = (mask_yaml_text(text, rel) if text else "" for text in (old, new))
    except UserError:
        return f"{rel}: differs, and is not valid YAML (not shown)\n"
    if old == new:
        return f"{rel}: a hidden (secret-like) value differs (not shown)\n"
    diff = list(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{rel}", f"b/{rel}", n=2))
    if len(diff) > 80:
        diff = diff[:80] + [f"... ({len(diff) - 80} more diff lines)\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in diff)


def check(root: Path) -> tuple[bool, str]:
    """(up to date?, report). Writes nothing. Decided from the seals when they all hold (fast, no Ray);
    otherwise from a real rebuild, whose diff the report shows."""
    fast = _check_by_seals(root)
    if fast is not None:
        return True, fast
    plan = plan_regen(root)
    lines = [f"version pin: {p}" for p in plan.pin_problems]
    if interrupted_write_pending(root):
        lines.append("an interrupted tools/regen left .regen-journal.json; run tools/regen to finish it")
    stale = stale_files(plan)
    for rel, diff in stale.items():
        lines.append(f"stale: {rel}")
        lines.append(diff.rstrip("\n"))
    # The zip the generated files name: built here and intact, or missing (a fresh clone) and made
    # byte for byte from apps/ by tools/regen, since its name is the hash of exactly these bytes.
    zip_rel = package_path(root, plan.package.digest).relative_to(root).as_posix()
    problem = package_problem(root, plan.package)
    if problem not in (None, "missing"):
        lines.append(f"working_dir package {zip_rel}: {problem}; delete it and run tools/regen")
    if lines:
        lines.append("run tools/regen and commit the result" if stale else "")
        return False, "\n".join(line for line in lines if line)
    built = "not built here; tools/regen makes it from apps/, byte for byte" if problem == "missing" else "built"
    return True, (f"generated files are up to date ({len(plan.files)} files, {len(plan.config.environments())} "
                  f"environments; {zip_rel}: {built})")


def _check_by_seals(root: Path) -> str | None:
    """The up-to-date report when the cheap checks all pass, else None."""
    config = load_config(root)
    package = build_package(root)
    if (version_pin_problems(config) or interrupted_write_pending(root) or config.broken_environments()
            or package_problem(root, package) not in (None, "missing")
            or not sealed_up_to_date(config, package.digest)):
        return None
    zip_rel = package_path(root, package.digest).relative_to(root).as_posix()
    built = ("not built here; tools/regen makes it from apps/, byte for byte"
             if package_problem(root, package) == "missing" else "built")
    return f"generated files are up to date ({len(config.environments())} environments, by their seals; {zip_rel}: {built})"


def regenerate(root: Path) -> tuple[list[str], Path, RegenPlan]:
    """The working_dir zip first, then every generated file (all or nothing) that points at it; one
    tools/regen at a time writes, and only what it planned from inputs that did not change meanwhile.
    When every seal holds and the zip is built, there is nothing to write: no Ray, no `serve build`."""
    config = load_config(root)
    package = build_package(root)
    if _check_by_seals(root) is not None and package_problem(root, package) is None \
            and not pinned_packages_missing(root):
        return [], package_path(root, package.digest), RegenPlan(config=config, package=package)
    stamp = inputs_stamp(root)
    plan = plan_regen(root)
    if plan.pin_problems:
        problem = plan.pin_problems[0]
        fix = ("set it to versions.kuberay in raygitops.yaml (the KubeRay Argo CD installs)"
               if "versions.kuberay" in problem else "make every Ray version equal versions.ray in raygitops.yaml")
        raise UserError(problem, fix=fix)
    with regen_lock(root):
        if inputs_stamp(root) != stamp:
            raise UserError("the inputs changed while tools/regen ran (raygitops.yaml, apps/, a serve.yaml "
                            "or the checked-out commit)", fix="run tools/regen again")
        for rel in plan.files:   # a generated/ that links out of the repository is refused before any write
            writable_path(root, rel)
        removed = []
        for directory in sorted((root / OVERLAYS).glob(f"*/{GENERATED}")):
            writable_path(root, directory)
            if not directory.is_dir():
                continue
            removed += [f"{directory.relative_to(root).as_posix()}/{name}" for name in sorted(os.listdir(directory))
                        if not name.endswith(TMP_SUFFIX) and (os.path.islink(directory / name) or
                                                               (directory / name).is_file())]
        zip_path = write_package(root, plan.package)
        for pinned in plan.pinned_packages:
            write_package(root, pinned)
        changed = write_generated(root, plan.files, stamp=stamp,
                                  remove=[rel for rel in removed if rel not in plan.files])
    return changed, zip_path, plan
