"""Policies on what each Ray pod asks for: CPU and memory, ephemeral storage, GPUs with their taint and image.

    from raygitops.checks.policy_resources import POLICIES   # container-resources, ephemeral-storage-min, gpu-*
    findings = list(check_gpu_toleration(RayServiceView(rayservice), ctx))
"""
from __future__ import annotations

from typing import Iterator

from raygitops.checks.policy_base import Policy, PolicyContext, fmt, report
from raygitops.findings import Finding
from raygitops.model.rayservice import RAY_KINDS, RayServiceView, as_dict, as_list, parse_quantity
from raygitops.versions import parse_ray_image


def check_container_resources(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    for g in view.groups:
        for c in g.ray_containers:
            res = as_dict(c.spec.get("resources"))
            missing = [f"{s}.{k}" for s in ("requests", "limits") for k in ("cpu", "memory")
                       if as_dict(res.get(s)).get(k) in (None, "")]
            if missing:
                yield report("container-resources", view, ctx, f"{c.path}.resources",
                             f"group {g.name} container {c.spec.get('name', '?')} sets no {', '.join(missing)}")
        # The autoscaler sidecar KubeRay adds to the head: autoscalerOptions.resources replaces its
        # default (500m CPU, 512Mi, no ephemeral-storage) as a whole (kuberay v1.7.0
        # ray-operator/controllers/ray/common/pod.go BuildAutoscalerContainer, mergeAutoscalerOverrides).
        if g.autoscaler is not None:
            res = as_dict(g.autoscaler.spec.get("resources"))
            missing = [f"{s}.{k}" for s in ("requests", "limits") for k in ("cpu", "memory", "ephemeral-storage")
                       if as_dict(res.get(s)).get(k) in (None, "")]
            if missing:
                yield report("container-resources", view, ctx, f"{g.autoscaler.path}.resources",
                             f"the autoscaler sidecar sets no {', '.join(missing)}",
                             fix="set autoscalerOptions.resources.requests and .limits for cpu, memory and "
                                 "ephemeral-storage")


def check_ephemeral_storage(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    wanted = ctx.settings.ephemeral_storage_min
    minimum = parse_quantity(wanted)
    if minimum is None:
        return
    for g in view.groups:
        for c in g.ray_containers:
            raw = as_dict(as_dict(c.spec.get("resources")).get("requests")).get("ephemeral-storage")
            q = parse_quantity(raw)
            if raw is None:
                yield report("ephemeral-storage-min", view, ctx, f"{c.path}.resources.requests",
                             f"group {g.name} requests no ephemeral-storage (need ≥ {wanted})")
            elif q is not None and q < minimum:
                yield report("ephemeral-storage-min", view, ctx, f"{c.path}.resources.requests.ephemeral-storage",
                             f"group {g.name} requests ephemeral-storage {raw}, below {wanted}")


def _tolerates_gpu(pod: dict, keys: tuple[str, ...]) -> bool:
    for t in map(as_dict, as_list(pod.get("tolerations"))):
        if t.get("key") in keys or (t.get("operator") == "Exists" and not t.get("key")):
            return True
    return False


def check_gpu_toleration(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    for g in view.groups:
        if g.requests_gpu and not _tolerates_gpu(g.pod, ctx.settings.gpu_toleration_keys):
            yield report("gpu-toleration", view, ctx, f"{g.pod_path}.tolerations",
                         f"group {g.name} requests nvidia.com/gpu but tolerates no GPU-node taint "
                         f"({', '.join(ctx.settings.gpu_toleration_keys)})")


def check_gpu_image(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    for g in view.groups:
        if not g.requests_gpu:
            continue
        for c in g.ray_containers:
            tag = parse_ray_image(c.spec.get("image"))
            if tag is not None and not tag.is_gpu:
                yield report("gpu-image", view, ctx, f"{c.path}.image",
                             f"group {g.name} requests nvidia.com/gpu but runs the CPU image {c.spec.get('image')}")


def check_gpu_available(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    if not view.groups or any((g.ray_resource("gpu") or 0) > 0 for g in view.groups):
        return
    for app in view.apps:
        for dep in app.deployments:
            gpus = dep.actor_resource("gpu")
            if gpus is not None and gpus > 0:
                yield report("gpu-not-available", view, ctx, f"{dep.path}.ray_actor_options.num_gpus",
                             f"{app.name}/{dep.name} asks for {fmt(gpus)} GPU per replica but no Ray group has GPUs")


POLICIES = (
    Policy("container-resources", check_container_resources, RAY_KINDS),
    Policy("ephemeral-storage-min", check_ephemeral_storage, RAY_KINDS),
    Policy("gpu-toleration", check_gpu_toleration, RAY_KINDS),
    Policy("gpu-image", check_gpu_image, RAY_KINDS),
    Policy("gpu-not-available", check_gpu_available, ("RayService",)),
)
