"""High-availability policies: GCS fault tolerance where policies.gcs_ft_required lists the environment,
and no hand-made GCS fault tolerance settings beside (or instead of) gcsFaultToleranceOptions.

    from raygitops.checks.policy_ha import POLICIES   # gcs-ft-required, gcs-ft-conflict
    list(check_gcs_ft_required(RayServiceView(rayservice), ctx))   # [Finding] when prod has no gcsFaultToleranceOptions

KubeRay v1.7.0 ray-operator/controllers/ray/utils/validation.go ValidateRayClusterSpec (L153-195) refuses
every combination check_gcs_ft_conflict reports as an error; the RayService then never reconciles.
"""
from __future__ import annotations

from typing import Iterator

from raygitops.checks.policy_base import Policy, PolicyContext, report
from raygitops.findings import WARNING, Finding
from raygitops.model.rayservice import RAY_KINDS, RayServiceView, as_dict

FT_ANNOTATION = "ray.io/ft-enabled"                                # deprecated since KubeRay 1.3
STORAGE_NS_ANNOTATION = "ray.io/external-storage-namespace"
# Head env vars and rayStartParams KubeRay derives from gcsFaultToleranceOptions (common/pod.go configureRedisFT).
_MANAGED_ENV = {"RAY_REDIS_ADDRESS": "redisAddress", "REDIS_PASSWORD": "redisPassword",
                "REDIS_USERNAME": "redisUsername"}
_MANAGED_PARAMS = {"redis-password": "redisPassword", "redis-username": "redisUsername"}


def _ft(view: RayServiceView) -> tuple[dict | None, str]:
    options = view.cluster_spec.get("gcsFaultToleranceOptions")
    return (as_dict(options) if options is not None else None), f"{view.cluster_path}.gcsFaultToleranceOptions"


def check_gcs_ft_required(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    """GCS fault tolerance on, with an external Redis and its password from a Secret."""
    if ctx.environment not in ctx.settings.gcs_ft_required:
        return
    options, path = _ft(view)
    if options is None:
        yield report("gcs-ft-required", view, ctx, path.rsplit(".", 1)[0],
                     f"{ctx.environment} has no gcsFaultToleranceOptions: a head Pod failure loses the GCS and "
                     "restarts every Serve application")
        return
    backend = options.get("backend") or "redis"
    if backend != "redis":
        return   # rocksdb: alpha, behind a feature gate; KubeRay's own validation covers its fields
    if not options.get("redisAddress"):
        yield report("gcs-ft-required", view, ctx, f"{path}.redisAddress",
                     "gcsFaultToleranceOptions has no redisAddress: KubeRay gives the head an empty RAY_REDIS_ADDRESS")
    password = as_dict(options.get("redisPassword"))
    if "value" in password:
        yield report("gcs-ft-required", view, ctx, f"{path}.redisPassword.value",
                     "the Redis password is written in the manifest", fix="use redisPassword.valueFrom.secretKeyRef "
                     "to the Secret made by base/components/gcs-ft's ExternalSecret")
    elif not isinstance(as_dict(password.get("valueFrom")).get("secretKeyRef"), dict):
        yield report("gcs-ft-required", view, ctx, f"{path}.redisPassword",
                     "gcsFaultToleranceOptions has no redisPassword from a Secret",
                     fix="include base/components/gcs-ft (redisPassword from the Secret aana-redis)")


def check_gcs_ft_conflict(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    """The deprecated ray.io/ft-enabled annotation, and head env vars or rayStartParams that
    gcsFaultToleranceOptions owns, set by hand."""
    options, path = _ft(view)
    annotations = as_dict(as_dict(view.resource.get("metadata")).get("annotations"))
    if FT_ANNOTATION in annotations:
        if options is not None:
            yield report("gcs-ft-conflict", view, ctx, f"metadata.annotations[{FT_ANNOTATION}]",
                         f"{FT_ANNOTATION} and gcsFaultToleranceOptions are both set: KubeRay rejects the RayService")
        else:
            yield report("gcs-ft-conflict", view, ctx, f"metadata.annotations[{FT_ANNOTATION}]",
                         f"{FT_ANNOTATION} is deprecated since KubeRay 1.3", severity=WARNING)
    if options is not None and STORAGE_NS_ANNOTATION in annotations:
        yield report("gcs-ft-conflict", view, ctx, f"metadata.annotations[{STORAGE_NS_ANNOTATION}]",
                     f"{STORAGE_NS_ANNOTATION} beside gcsFaultToleranceOptions: KubeRay rejects the RayService",
                     fix="drop it: KubeRay uses each RayCluster's UID, so a rollout's new cluster never reads the old "
                         "one's keys")
    head = next((g for g in view.groups if g.is_head), None)
    if head is None or not head.containers:
        return
    # KubeRay reads the Ray container, containers[0] (validation.go RayContainerIndex).
    env, cpath = head.containers[0].env, head.containers[0].path
    if "RAY_REDIS_ADDRESS" in env:
        yield report("gcs-ft-conflict", view, ctx, f"{cpath}.env[RAY_REDIS_ADDRESS]",
                     "RAY_REDIS_ADDRESS is set by hand on the head" + (
                         " beside gcsFaultToleranceOptions" if options is not None
                         else ", which turns GCS fault tolerance on without gcsFaultToleranceOptions")
                     + ": KubeRay rejects the RayService")
    if options is None:
        return
    for name, field in _MANAGED_ENV.items():
        if name != "RAY_REDIS_ADDRESS" and name in env:
            yield report("gcs-ft-conflict", view, ctx, f"{cpath}.env[{name}]",
                         f"{name} is set by hand beside gcsFaultToleranceOptions: KubeRay rejects the RayService",
                         fix=f"set gcsFaultToleranceOptions.{field} instead")
    params = as_dict(head.spec.get("rayStartParams"))
    for name, field in _MANAGED_PARAMS.items():
        if name in params:
            yield report("gcs-ft-conflict", view, ctx, f"{head.path}.rayStartParams.{name}",
                         f"rayStartParams {name} beside gcsFaultToleranceOptions: KubeRay rejects the RayService",
                         fix=f"set gcsFaultToleranceOptions.{field} instead")


POLICIES = (
    Policy("gcs-ft-required", check_gcs_ft_required, ("RayService",)),
    Policy("gcs-ft-conflict", check_gcs_ft_conflict, RAY_KINDS),
)
