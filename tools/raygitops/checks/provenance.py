"""Where validate's input comes from, checked: a kustomization of this repository that reads
nothing outside it, and a serveConfigV2 that is the one tools/regen generated, within the YAML bounds.

    check_kustomization_place(Path("overlays/dev"), root, "overlays/dev")   # raises UserError
    findings = serve_config_not_generated(rayservice, "dev", "overlays/dev", root)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from raygitops.checks.registry import finding
from raygitops.errors import UserError
from raygitops.findings import Finding, resource_id
from raygitops.generate.serveconfig import serve_config_of
from raygitops.model.environment import SERVE_OVERRIDE, Environment
from raygitops.render_inputs import input_files
from raygitops.yamlbounds import InputRefused, check_bounds, read_input
from raygitops.yamlio import load_text, relpath


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def check_kustomization_place(path: Path, root: Path, given: str) -> None:
    """Argo CD renders a path of this repository, with nothing from outside it: refuse anything else."""
    if not _inside(path, root):
        raise UserError("this kustomization is outside the repository, where Argo CD cannot render it", file=given,
                        fix="move it under overlays/ (or check its output: kubectl kustomize DIR | tools/validate -)")
    outside = next((f for f in input_files(path) if not _inside(f, root)), None)
    if outside is not None:
        raise UserError("this kustomization reads a file outside the repository, which Argo CD does not have",
                        file=relpath(path, root), fix="copy what it needs into the repository and refer to that")


def refuse_serve_config_past_bounds(resource: Any, label: str) -> None:
    """A RayService's serveConfigV2 past the YAML bounds (an alias bomb in the string) stops the run,
    as the same text in a file would (raygitops.yamlio.InputRefused)."""
    spec = resource.get("spec") if isinstance(resource, dict) and resource.get("kind") == "RayService" else None
    text = spec.get("serveConfigV2") if isinstance(spec, dict) else None
    if not isinstance(text, str):
        return
    try:
        check_bounds(text, "serveConfigV2")
    except InputRefused as error:
        where = f" (line {error.line} of the string)" if error.line else ""
        raise InputRefused(f"{resource_id(resource)}: spec.serveConfigV2: {error.message}{where}",
                           file=label, fix=error.fix) from None
    except UserError:
        pass   # a syntax error: the serve-yaml finding says so


def serve_config_not_generated(resource: dict, environment: str, label: str, root: Path) -> list[Finding]:
    """An overlay's serveConfigV2 must be what tools/regen generated: a patch that replaces or edits
    it passes every other check, and tools/regen --check, and is never regenerated."""
    env = Environment(root, environment) if environment else None
    generated = env.serve_config if env else None
    rendered = serve_config_of(resource)
    if generated is None or not generated.is_file() or rendered is None:
        return []    # a plain file, an environment without generated files (regen-stale says so), bad YAML
    rel = relpath(generated, root)
    wanted = load_text(read_input(generated, rel), rel)
    if rendered == wanted:
        return []
    from raygitops.diff.fields import diff_values
    changes = diff_values(wanted, rendered)
    where = f" (first difference: {changes[0].display_path})" if changes and changes[0].display_path else ""
    return [finding("serve-not-generated", f"serveConfigV2 is not {rel}{where}: a patch replaces or edits it",
                    fix=f"remove that patch; change {env.rel}/{SERVE_OVERRIDE} and run tools/regen",
                    file=label, resource=resource_id(resource), path="spec.serveConfigV2")]
