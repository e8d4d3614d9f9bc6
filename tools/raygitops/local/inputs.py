"""What tools/up deploys: inputs checked (regen, validate), the rendered serve config, the working_dir zip.

    service = check_inputs(root, "overlays/dev", regen=True, console=console)   # the RayService validate rendered
    config = rendered_serve_config(root, "overlays/dev", service)
"""
from __future__ import annotations

import copy
from pathlib import Path

from raygitops.errors import UserError
from raygitops.model.rayservice import RayServiceView
from raygitops.local.servestatus import Console

# --- checks and the rendered serve config -----------------------------------------------------

def check_inputs(root: Path, overlay_label: str, *, regen: bool, console: Console) -> dict:
    """regen --check (regenerating when stale, unless told not to), then tools/validate. Returns the
    overlay's RayService as validate rendered it: the run deploys what was checked, rendered once."""
    from raygitops.checks.validate import validate
    from raygitops.generate.regen import check, regenerate
    from raygitops.output.findings import format_text

    ok, report = check(root)
    if not ok:
        if not regen:
            console.err(report)
            raise UserError("generated files are stale (report above)", fix="run tools/regen, or drop --no-regen")
        changed, _, _ = regenerate(root)
        console.out(f"regen: wrote {', '.join(changed) or 'nothing'}")
    result = validate(root, [root / overlay_label])
    for line in format_text(result).splitlines()[:-1]:  # the summary line is for tools/validate
        console.out(f"validate: {line}")
    if result.errors:
        raise UserError(f"{overlay_label} has {len(result.errors)} validation error(s) (above)",
                        fix=f"fix them; tools/validate {overlay_label} shows the same report")
    [source] = [s for s in result.sources if s.label == overlay_label]
    return _one_rayservice(source.resources, overlay_label)


def rendered_rayservice(root: Path, overlay_label: str) -> dict:
    """The overlay's one RayService, exactly as kustomize renders it."""
    from raygitops.render import render_overlay
    return _one_rayservice(render_overlay(root / overlay_label, root=root).resources, overlay_label)


def _one_rayservice(resources: tuple, overlay_label: str) -> dict:
    services = [r for r in resources if isinstance(r, dict) and r.get("kind") == "RayService"]
    if len(services) != 1:
        raise UserError(f"expected one RayService, found {len(services)}", file=overlay_label,
                        fix="tools/up serves an overlay with exactly one RayService")
    return services[0]


def rendered_serve_config(root: Path, overlay_label: str, service: dict | None = None) -> dict:
    """spec.serveConfigV2 of the overlay's RayService, exactly as kustomize renders it."""
    config = RayServiceView(service if service is not None else rendered_rayservice(root, overlay_label)).serve_config
    if config is None or not isinstance(config.get("applications"), list):
        raise UserError("the RayService has no serveConfigV2 with applications", file=overlay_label,
                        fix="run tools/regen and include generated/ in the overlay's components")
    return copy.deepcopy(config)   # the view's serve config is shared


def ensure_package(root: Path, digest: str) -> Path:
    """build/working_dir/apps-<digest>.zip, written from apps/ when missing (a fresh clone:
    build/ is not in Git)."""
    from raygitops.generate.workingdir import build_package, package_path, write_package
    path = package_path(root, digest)
    if path.exists():
        return path
    package = build_package(root)
    if package.digest != digest:
        raise UserError(f"the serve config names apps-{digest}.zip but apps/ now packs to apps-{package.digest}.zip",
                        fix="run tools/regen")
    return write_package(root, package)
