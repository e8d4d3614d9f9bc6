"""Policies on what runs being pinned: Ray versions that agree, images by digest, a content-addressed working_dir.

    from raygitops.checks.policy_versions import POLICIES      # ray-version-mismatch, image-digest, working-dir-mutable
    findings = list(check_ray_version(RayServiceView(rayservice), ctx))
"""
from __future__ import annotations

import re
from typing import Iterator

from raygitops.checks.policy_base import Policy, PolicyContext, report
from raygitops.findings import Finding
from raygitops.model.rayservice import RAY_KINDS, WORKLOAD_KINDS, RayServiceView
from raygitops.versions import ray_version_in_image, versions_agree


def check_ray_version(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    pin = ctx.ray_version
    if ctx.pinned_serve_version and not versions_agree(ctx.pinned_serve_version, pin):
        yield report("ray-version-mismatch", view, ctx, "",
                     f"pyproject.toml pins ray[serve]=={ctx.pinned_serve_version} but versions.ray is {pin}")
    raw = view.cluster_spec.get("rayVersion")
    ray_version = raw if isinstance(raw, str) and re.fullmatch(r"\d+\.\d+(\.\d+)?", raw) else None
    if ray_version is None or not versions_agree(ray_version, pin):
        shown = "is not set;" if raw is None else f"{raw} but" if ray_version else f"{raw!r} is not a version;"
        yield report("ray-version-mismatch", view, ctx, f"{view.cluster_path}.rayVersion",
                     f"rayVersion {shown} versions.ray is {pin}")
    for g in view.groups:
        for c in g.ray_containers:
            image = c.spec.get("image")
            v = ray_version_in_image(image)
            if v is None:
                continue
            if ray_version and not versions_agree(v, ray_version):
                yield report("ray-version-mismatch", view, ctx, f"{c.path}.image",
                             f"image {image} but rayVersion {ray_version}")
            elif not versions_agree(v, pin):
                yield report("ray-version-mismatch", view, ctx, f"{c.path}.image",
                             f"image {image} but versions.ray is {pin}")


def check_image_digest(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    if ctx.environment not in ctx.settings.require_digest:
        return
    for c in view.containers:
        image = c.spec.get("image")
        if c.sidecar and image is None:
            continue   # the autoscaler then runs the head's image, reported there
        if not (isinstance(image, str) and "@sha256:" in image):
            yield report("image-digest", view, ctx, f"{c.path}.image",
                         f"image {image or '(none)'} is not pinned by digest in {ctx.environment}")


_HASHED = re.compile(r"(?:^|[^0-9a-fA-F])[0-9a-fA-F]{12,}(?:[^0-9a-fA-F]|$)")


def _content_addressed(url: str) -> bool:
    if "://" not in url:
        return False
    path = url.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0]
    # The host counts too: Ray's own packages are gcs://_ray_pkg_<hash>.zip.
    return any(_HASHED.search(seg) for seg in path.split("/"))


def check_working_dir(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    for renv in view.runtime_envs:
        wd = renv.spec.get("working_dir")
        if isinstance(wd, str) and not _content_addressed(wd):
            yield report("working-dir-mutable", view, ctx, f"{renv.path}.working_dir",
                         f"app {renv.app} working_dir {wd} is not content-addressed")


POLICIES = (
    Policy("ray-version-mismatch", check_ray_version, RAY_KINDS),
    Policy("image-digest", check_image_digest, WORKLOAD_KINDS),
    Policy("working-dir-mutable", check_working_dir, ("RayService",)),
)
