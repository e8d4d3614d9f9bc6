"""An environment: one overlays/<name> directory, discovered once and passed around as an object.

    for env in discover(root): env.name, env.overlay, env.serve_override, env.namespace, env.cluster_layers
    environment_of(Path("overlays/prod/rayservice-patch.yaml"), root).name == "prod"   # clusters/prod/eu-west too
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

OVERLAYS = "overlays"        # the one place that names the environments' directory
# clusters/<env>/<cluster>/: what differs for an environment on one more cluster (README.md
# "Deploy to several clusters"); it builds on overlays/<env>. Not inside it: kustomize refuses a
# resource directory that contains the kustomization which names it.
CLUSTERS = "clusters"
SERVE_OVERRIDE = "serve.yaml"
GENERATED = "generated"
SERVE_CONFIG = "serve-config.yaml"   # in GENERATED: the environment's serveConfigV2, verbatim
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class Environment:
    root: Path
    name: str

    @property
    def rel(self) -> str:
        """overlays/<name>: how files, findings and messages name it."""
        return f"{OVERLAYS}/{self.name}"

    @property
    def overlay(self) -> Path:
        return self.root / OVERLAYS / self.name

    @property
    def serve_override(self) -> Path:
        return self.overlay / SERVE_OVERRIDE

    @property
    def generated(self) -> Path:
        """What tools/regen writes for this environment."""
        return self.overlay / GENERATED

    @property
    def generated_rel(self) -> str:
        return f"{self.rel}/{GENERATED}"

    @property
    def serve_config(self) -> Path:
        """The serve config tools/regen generated: kustomize puts this text into the RayService's
        spec.serveConfigV2 unchanged (a configMapGenerator file and a replacement)."""
        return self.generated / SERVE_CONFIG

    @property
    def kustomization(self) -> Path | None:
        return next((self.overlay / n for n in KUSTOMIZATION_NAMES if (self.overlay / n).is_file()), None)

    @property
    def cluster_layers(self) -> list[Path]:
        """clusters/<name>/<cluster>/ directories with a kustomization: the other clusters this
        environment runs on, besides the one Argo CD runs in."""
        base = self.root / CLUSTERS / self.name
        return sorted(p for p in base.iterdir() if p.is_dir() and has_kustomization(p)) if base.is_dir() else []

    @cached_property
    def namespace(self) -> str | None:
        """The overlay's `namespace:`, which Argo CD deploys into (aana-<name> by convention)."""
        from raygitops.render_inputs import read_kustomization
        file = self.kustomization
        data = read_kustomization(file) if file else None
        value = data.get("namespace") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None


def has_kustomization(directory: Path) -> bool:
    return any((directory / n).is_file() for n in KUSTOMIZATION_NAMES)


# argocd/environments.yaml names each environment's Application and namespace aana-<name>: a
# namespace is a DNS-1123 label (lowercase letters, digits, '-'; at most 63 characters).
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAMESPACE_PREFIX = "aana-"


def check_name(name: str) -> None:
    """Refuse an environment name that Argo CD cannot turn into an Application and a namespace."""
    from raygitops.errors import UserError
    if not _NAME.match(name) or len(_NAMESPACE_PREFIX + name) > 63:
        raise UserError(f"environment name {name!r} is not a valid Kubernetes name (Argo CD deploys it to "
                        f"namespace {_NAMESPACE_PREFIX}<name>)", file=f"{OVERLAYS}/{name}/",
                        fix=f"rename the directory: lowercase letters, digits and '-', at most "
                            f"{63 - len(_NAMESPACE_PREFIX)} characters")


def discover(root: Path) -> list[Environment]:
    """Every overlays/<name> with a kustomization, sorted: what Argo CD's generator deploys.
    A name Argo CD cannot use is refused (check_name)."""
    overlays = root / OVERLAYS
    if not overlays.is_dir():
        return []
    found = [Environment(root, p.name) for p in sorted(overlays.iterdir()) if p.is_dir() and has_kustomization(p)]
    for env in found:
        check_name(env.name)
    return found


def broken(root: Path) -> list[Environment]:
    """overlays/<name> directories that look like environments but have no kustomization:
    Argo CD's directory generator would still make an Application for them."""
    overlays = root / OVERLAYS
    if not overlays.is_dir():
        return []
    return [Environment(root, p.name) for p in sorted(overlays.iterdir())
            if p.is_dir() and not has_kustomization(p)
            and ((p / SERVE_OVERRIDE).exists() or (p / GENERATED).is_dir())]


def environment_of(path: Path, root: Path) -> Environment | None:
    """The environment a path lies in (the overlay itself or a file below it), if any."""
    try:
        rel = (path if path.is_absolute() else root / path).resolve().relative_to(root.resolve())
    except ValueError:
        return None
    parts = rel.parts
    if len(parts) >= 3 and parts[0] == CLUSTERS:
        return Environment(root, parts[1])   # a cluster layer checks as its environment
    return Environment(root, parts[1]) if len(parts) >= 2 and parts[0] == OVERLAYS else None
