"""What every checks/policy_*.py module shares: the settings, the context of one source, a Policy, and report().

    POLICIES = (Policy("capacity", check_capacity, ("RayService",)),)          # in a policy module
    yield report("capacity", view, ctx, "spec.serveConfigV2", "serve config asks for 9 CPUs …")

A policy is a function of one resource's RayServiceView (model/rayservice.py) and the PolicyContext;
its id, severity, description and remediation live in checks/registry.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from raygitops.checks.registry import finding
from raygitops.findings import Finding
from raygitops.model.rayservice import RayServiceView, as_dict


@dataclass(frozen=True)
class PolicySettings:
    ephemeral_storage_min: str = "10Gi"
    dev_environments: tuple[str, ...] = ("dev",)
    require_digest: tuple[str, ...] = ("prod",)   # environments where images must be pinned by digest
    # {env or "*": {policy id: "error" | "warning" | "off"}}; the environment's entry beats "*"
    severity: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    gpu_toleration_keys: tuple[str, ...] = ("nvidia.com/gpu",)
    packs: tuple[str, ...] = ()   # checks.packs in raygitops.yaml: the packs beyond "generic" that run
    gcs_ft_required: tuple[str, ...] = ("prod",)   # environments whose RayService must have GCS fault tolerance
    # The Aana apps of raygitops.yaml (`aana:` entries): (entry name, import_path prefix of the Serve
    # applications `aana build` makes of it, e.g. "apps.echo_aana.app_config:").
    aana_apps: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PolicyContext:
    environment: str             # "dev"/"staging"/"prod"; "" for a plain file outside overlays/
    source: str                  # overlay dir or file path: Finding.file
    resources: tuple[dict, ...]  # every rendered resource of the same source
    ray_version: str             # versions.ray in raygitops.yaml
    pinned_serve_version: str | None   # ray[serve]==… in pyproject.toml
    kuberay_version: str
    base_worker_groups: tuple[str, ...] | None = None
    settings: PolicySettings = field(default_factory=PolicySettings)

    @property
    def in_dev(self) -> bool:
        return self.environment in self.settings.dev_environments


@dataclass(frozen=True)
class Policy:
    id: str                                                                # registered in checks/registry.py
    check: Callable[[RayServiceView, PolicyContext], Iterable[Finding]]
    kinds: tuple[str, ...]                                                 # the kinds it reads


_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")   # what str.splitlines splits on


def report(pid: str, view: RayServiceView, ctx: PolicyContext, path: str, message: str,
           *, fix: str | None = None, severity: str | None = None) -> Finding:
    """A finding of policy `pid` at `path` of the viewed resource, with its line when read from a file."""
    # Values quoted from the input may hold newlines; a message stays one line.
    message = _LINE_BREAK.sub(lambda m: repr(m[0])[1:-1], message)
    return finding(pid, message, severity=severity, fix=fix, file=ctx.source, resource=view.resource_id,
                   path=path, line=view.line_of(path))


def fmt(x: float) -> str:
    return f"{x:g}"


_REF = re.compile(r"(?:\$\{\w+\})+")


def is_ref(value: Any) -> bool:
    """A value made only of ${VAR} references, which Ray expands from the pod's environment."""
    return isinstance(value, str) and _REF.fullmatch(value) is not None


def from_secret(entry: dict | None) -> bool:
    """A container env entry whose value comes from a Secret."""
    return isinstance(as_dict(as_dict(entry).get("valueFrom")).get("secretKeyRef"), dict)


SERVE_ENV, CONTAINER_ENV, CONFIG_MAP = "serve env var", "container env", "ConfigMap key"
SECRET_REF_FIX = {CONTAINER_ENV: "use valueFrom.secretKeyRef to a Secret made by an ExternalSecret",
                  CONFIG_MAP: "keep it in a Secret made by an ExternalSecret and read it with secretKeyRef"}


def literal_settings(view: RayServiceView) -> list[tuple[str, str, str, Any]]:
    """(where, name, path, value) of every setting written out in the manifest: serve env vars,
    container env values (not valueFrom) and ConfigMap data. Credentials must be none of them."""
    out = [(SERVE_ENV, name, path, value) for name, path, value in view.env_var_settings]
    for c in view.containers:
        out.extend((CONTAINER_ENV, name, f"{c.path}.env[{name}]", e.get("value"))
                   for name, e in sorted(c.env.items()) if "valueFrom" not in e)
    if view.kind == "ConfigMap":
        out.extend((CONFIG_MAP, str(k), f"data.{k}", v)
                   for k, v in sorted(as_dict(view.resource.get("data")).items(), key=str))
    return out
