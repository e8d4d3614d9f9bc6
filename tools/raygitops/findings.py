"""What every check returns: a Finding, and the kind/namespace/name it names the resource by.

    f = Finding(id="schema", severity="error", message="unknown field 'replica'",
                resource="RayService/aana-dev/aana", path="spec.rayClusterConfig", file="overlays/dev")
"""
from __future__ import annotations

from dataclasses import dataclass, replace

ERROR = "error"
WARNING = "warning"
INFO = "info"          # worth knowing, never a failure (e.g. a null the API server drops)


@dataclass(frozen=True)
class Finding:
    id: str                 # "schema", "serve-…", or a policy id
    severity: str           # ERROR, WARNING or INFO
    message: str
    fix: str = ""
    file: str | None = None      # overlay directory or YAML file the resource came from
    line: int | None = None
    resource: str = ""           # kind/namespace/name
    # The field, dotted: spec.rayClusterConfig.workerGroupSpecs[gpu]; ':' steps into the YAML a
    # string holds: spec.serveConfigV2:applications[main].deployments[Gateway] (as tools/diff writes it).
    path: str = ""

    def with_location(self, **changes) -> "Finding":
        return replace(self, **changes)


def resource_id(resource: dict) -> str:
    """kind/namespace/name of a rendered resource (namespace left empty when unset)."""
    meta = resource.get("metadata") or {}
    if not isinstance(meta, dict):
        meta = {}
    return f"{resource.get('kind', '?')}/{meta.get('namespace', '') or ''}/{meta.get('name', '?')}"
