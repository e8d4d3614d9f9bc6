"""The round trip of `raygitops import`: render the new environment and compare it with the input RayService.

    lines = round_trip(tree, adoption)   # "round trip: …" lines; UserError when a difference is not intended

Both sides are compared as the API server stores them and KubeRay hashes them (model/stored.py: defaults,
canonical quantities), field by field with tools/diff's differ (serveConfigV2 and DB_CONFIG parsed).
Every difference must be one the import made on purpose (adoption.intended); anything else is a bug of
the import, and nothing is written.
"""
from __future__ import annotations

import re
from pathlib import Path

from raygitops.config import load_config
from raygitops.diff.fields import diff_values
from raygitops.errors import EXIT_FINDINGS, UserError
from raygitops.model.environment import Environment
from raygitops.model.stored import stored_form


def _schema_of(tree: Path):
    """The pinned KubeRay's CRDs (the schema store, verified): what the API server defaults the input with."""
    from raygitops.checks.schemas import SchemaRegistry
    from raygitops.schemastore import SchemaStore
    config = load_config(tree)
    return SchemaRegistry(config.versions.kubernetes, crd_dirs=SchemaStore(config).crd_files("kuberay")).crd_schema


def rendered_rayservice(tree: Path, env: str) -> dict:
    from raygitops.render import render_overlay
    resources = render_overlay(Environment(tree, env).overlay).resources
    return next(r for r in resources if isinstance(r, dict) and r.get("kind") == "RayService")


def differences(source: dict, rendered: dict, schema_of) -> list:
    return diff_values(stored_form(source, schema_of), stored_form(rendered, schema_of), kind="RayService")


def classify(changes: list, intended: list[tuple[str, str, tuple]]) -> tuple[list[tuple], list]:
    """(intended: [(change, reason)], unexpected: [change])."""
    matched, unexpected = [], []
    for change in changes:
        reason = next((why for pattern, why, kinds in intended
                       if re.search(pattern, change.display_path) and (not kinds or change.change in kinds)), None)
        if reason is None:
            unexpected.append(change)
        else:
            matched.append((change, reason))
    return matched, unexpected


def round_trip(tree: Path, adoption) -> list[str]:
    changes = differences(adoption.source, rendered_rayservice(tree, adoption.env), _schema_of(tree))
    matched, unexpected = classify(changes, adoption.intended)
    if unexpected:
        shown = "\n".join(f"  {c.display_path}: {c.summary()}" for c in unexpected[:20])
        raise UserError(f"the imported environment would render differently from the input, in ways the import "
                        f"does not account for; nothing was written:\n{shown}\n",
                        fix="report this with the input file (values of secrets are not shown)", exit_code=EXIT_FINDINGS)
    lines = [f"round trip (import, then tools/render): {len(matched)} differences from the input, all intended:"]
    by_reason: dict[str, list[str]] = {}
    for change, reason in matched:
        by_reason.setdefault(reason, []).append(change.display_path)
    for reason, paths in by_reason.items():
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        lines.append(f"  {reason}: {shown}")
    return lines
