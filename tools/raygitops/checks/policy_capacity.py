"""The capacity policy: the Serve replicas' CPUs and GPUs against what the Ray groups give, as Ray counts both.

    from raygitops.checks.policy_capacity import POLICIES      # capacity
    findings = list(check_capacity(RayServiceView(rayservice), ctx))
"""
from __future__ import annotations

from typing import Iterator

from raygitops.checks.policy_base import Policy, PolicyContext, fmt, report
from raygitops.findings import ERROR, WARNING, Finding
from raygitops.model.rayservice import SERVE_PATH, Group, RayServiceView


def _demand(view: RayServiceView, kind: str) -> tuple[float, list[str], float, str]:
    """Total asked at max replicas, its breakdown, and the largest single replica."""
    total, parts, largest, who = 0.0, [], 0.0, ""
    for app in view.apps:
        for dep in app.deployments:
            n, each = dep.max_replicas, dep.actor_resource(kind)
            if n is None or each is None or n <= 0 or each <= 0:
                continue
            total += n * each
            parts.append(f"{app.name}/{dep.name} {fmt(n)}×{fmt(each)}")
            if each > largest:
                largest, who = each, f"{app.name}/{dep.name}"
    return total, parts, largest, who


def _supply(groups: tuple[Group, ...], kind: str, at_max: bool) -> tuple[float | None, list[str]]:
    total, parts = 0.0, []
    for g in groups:
        per_pod = g.ray_resource(kind)
        if per_pod is None:
            return None, []
        n = g.pod_count(at_max)
        total += n * per_pod
        if per_pod and n:
            parts.append(f"{g.name} {fmt(per_pod)}" if g.is_head else f"{g.name} {fmt(n)}×{fmt(per_pod)}")
    return total, parts


def _short(parts: list[str], limit: int = 4) -> str:
    return ", ".join(parts[:limit]) + (", …" if len(parts) > limit else "")


def check_capacity(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    groups = view.groups
    if not groups:
        return
    for kind, unit in (("cpu", "CPUs"), ("gpu", "GPUs")):
        asked, asked_parts, largest, who = _demand(view, kind)
        if asked <= 0:
            continue
        per_pod = [g.ray_resource(kind) for g in groups if g.pod_count(True) > 0]
        if kind == "gpu" and not any(per_pod):
            continue   # gpu-not-available reports a cluster without GPUs
        biggest = max(per_pod) if per_pod and all(p is not None for p in per_pod) else None
        if biggest is not None and largest > biggest + 1e-9:
            yield report("capacity", view, ctx, SERVE_PATH,
                         f"a replica of {who} needs {fmt(largest)} {unit} but the largest Ray pod has {fmt(biggest)}")
            continue
        checks = [(True, ERROR, "at maxReplicas")]
        if not view.autoscaling:
            checks.append((False, WARNING, "at replicas (autoscaling off)"))
        for at_max, severity, when in checks:
            have, have_parts = _supply(groups, kind, at_max)
            if have is not None and asked > have + 1e-9:
                yield report("capacity", view, ctx, SERVE_PATH,
                             f"serve config asks for {fmt(asked)} {unit} ({_short(asked_parts)}) but the cluster has "
                             f"{fmt(have)} {when} ({_short(have_parts) or 'none'})", severity=severity)
                break


POLICIES = (Policy("capacity", check_capacity, ("RayService",)),)
