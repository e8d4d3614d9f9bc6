"""Policies on KubeRay's API: no deprecated fields, and worker groups kept in base order (else a new RayCluster).

    from raygitops.checks.policy_kuberay import POLICIES      # deprecated-field, worker-group-order
    findings = list(check_worker_group_order(RayServiceView(rayservice), ctx))
"""
from __future__ import annotations

from typing import Iterator

from raygitops.checks.policy_base import Policy, PolicyContext, report
from raygitops.findings import Finding
from raygitops.model.rayservice import RAY_KINDS, RayServiceView, as_dict


def check_deprecated(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    if view.resource.get("apiVersion") == "ray.io/v1alpha1":
        yield report("deprecated-field", view, ctx, "apiVersion",
                     f"apiVersion ray.io/v1alpha1 is deprecated (KubeRay {ctx.kuberay_version}; removed in 1.9)",
                     fix="use apiVersion ray.io/v1")
    spec = as_dict(view.resource.get("spec"))
    for key in ("serviceUnhealthySecondThreshold", "deploymentUnhealthySecondThreshold"):
        if view.kind == "RayService" and key in spec:
            yield report("deprecated-field", view, ctx, f"spec.{key}",
                         f"{key} is deprecated since KubeRay 1.1.0 and unused by KubeRay {ctx.kuberay_version}")


def check_worker_group_order(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    base = ctx.base_worker_groups
    if base is None:
        return
    names = view.worker_names
    if names[:len(base)] != list(base):
        yield report("worker-group-order", view, ctx, f"{view.cluster_path}.workerGroupSpecs",
                     f"worker groups are [{', '.join(names)}] but must start with the base's [{', '.join(base)}]")


POLICIES = (
    Policy("deprecated-field", check_deprecated, RAY_KINDS),
    Policy("worker-group-order", check_worker_group_order, RAY_KINDS),
)
