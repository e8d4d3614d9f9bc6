"""What every check returns: a Finding, and how findings are counted.

    f = Finding(id="schema", severity="error", message="unknown field 'replica'",
                resource="RayService/aana-dev/aana", path="spec.rayClusterConfig", file="overlays/dev")
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    id: str                 # "schema", "serve-…", or a policy id
    severity: str           # ERROR or WARNING
    message: str
    fix: str = ""
    file: str | None = None      # overlay directory or YAML file the resource came from
    line: int | None = None
    resource: str = ""           # kind/namespace/name
    path: str = ""               # the field, dotted: spec.rayClusterConfig.workerGroupSpecs[gpu]

    def with_location(self, **changes) -> "Finding":
        return replace(self, **changes)

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


def resource_id(resource: dict) -> str:
    """kind/namespace/name of a rendered resource (namespace left empty when unset)."""
    meta = resource.get("metadata") or {}
    if not isinstance(meta, dict):
        meta = {}
    return f"{resource.get('kind', '?')}/{meta.get('namespace', '') or ''}/{meta.get('name', '?')}"
