"""High-availability policies: GCS fault tolerance where policies.gcs_ft_required lists the environment,
and no hand-made GCS fault tolerance settings beside (or instead of) gcsFaultToleranceOptions.

    from raygitops.checks.policy_ha import check_gcs_ft_required, check_gcs_ft_conflict   # in POLICIES
    list(check_gcs_ft_required(rayservice, ctx))    # [Finding] when prod has no gcsFaultToleranceOptions

KubeRay v1.7.0 ray-operator/controllers/ray/utils/validation.go ValidateRayClusterSpec (L153-195) refuses
every combination check_gcs_ft_conflict reports as an error; the RayService then never reconciles.
"""
from __future__ import annotations

from typing import Iterator

from raygitops.findings import WARNING, Finding

FT_ANNOTATION = "ray.io/ft-enabled"                                # deprecated since KubeRay 1.3
STORAGE_NS_ANNOTATION = "ray.io/external-storage-namespace"
# Head env vars and rayStartParams KubeRay derives from gcsFaultToleranceOptions (common/pod.go configureRedisFT).
_MANAGED_ENV = {"RAY_REDIS_ADDRESS": "redisAddress", "REDIS_PASSWORD": "redisPassword", "REDIS_USERNAME": "redisUsername"}
_MANAGED_PARAMS = {"redis-password": "redisPassword", "redis-username": "redisUsername"}


def _ft(r: dict) -> tuple[dict | None, str]:
    from raygitops.checks.policies import _d, cluster_spec
    cs, base = cluster_spec(r)
    options = cs.get("gcsFaultToleranceOptions")
    return (_d(options) if options is not None else None), f"{base}.gcsFaultToleranceOptions"


def check_gcs_ft_required(r: dict, ctx) -> Iterator[Finding]:
    """GCS fault tolerance on, with an external Redis and its password from a Secret."""
    from raygitops.checks.policies import _d, _f
    if ctx.environment not in ctx.settings.gcs_ft_required:
        return
    options, path = _ft(r)
    if options is None:
        yield _f("gcs-ft-required", r, ctx, path.rsplit(".", 1)[0],
                 f"{ctx.environment} has no gcsFaultToleranceOptions: a head Pod failure loses the GCS and "
                 "restarts every Serve application")
        return
    backend = options.get("backend") or "redis"
    if backend != "redis":
        return   # rocksdb: alpha, behind a feature gate; KubeRay's own validation covers its fields
    if not options.get("redisAddress"):
        yield _f("gcs-ft-required", r, ctx, f"{path}.redisAddress",
                 "gcsFaultToleranceOptions has no redisAddress: KubeRay gives the head an empty RAY_REDIS_ADDRESS")
    password = _d(options.get("redisPassword"))
    if "value" in password:
        yield _f("gcs-ft-required", r, ctx, f"{path}.redisPassword.value",
                 "the Redis password is written in the manifest", fix="use redisPassword.valueFrom.secretKeyRef "
                 "to the Secret made by base/components/gcs-ft's ExternalSecret")
    elif not isinstance(_d(password.get("valueFrom")).get("secretKeyRef"), dict):
        yield _f("gcs-ft-required", r, ctx, f"{path}.redisPassword",
                 "gcsFaultToleranceOptions has no redisPassword from a Secret",
                 fix="include base/components/gcs-ft (redisPassword from the Secret aana-redis)")


def check_gcs_ft_conflict(r: dict, ctx) -> Iterator[Finding]:
    """The deprecated ray.io/ft-enabled annotation, and head env vars or rayStartParams that
    gcsFaultToleranceOptions owns, set by hand."""
    from raygitops.checks.policies import _d, _env, _f, groups
    options, path = _ft(r)
    annotations = _d(_d(r.get("metadata")).get("annotations"))
    if FT_ANNOTATION in annotations:
        if options is not None:
            yield _f("gcs-ft-conflict", r, ctx, f"metadata.annotations[{FT_ANNOTATION}]",
                     f"{FT_ANNOTATION} and gcsFaultToleranceOptions are both set: KubeRay rejects the RayService")
        else:
            yield _f("gcs-ft-conflict", r, ctx, f"metadata.annotations[{FT_ANNOTATION}]",
                     f"{FT_ANNOTATION} is deprecated since KubeRay 1.3", severity=WARNING)
    if options is not None and STORAGE_NS_ANNOTATION in annotations:
        yield _f("gcs-ft-conflict", r, ctx, f"metadata.annotations[{STORAGE_NS_ANNOTATION}]",
                 f"{STORAGE_NS_ANNOTATION} beside gcsFaultToleranceOptions: KubeRay rejects the RayService",
                 fix="drop it: KubeRay uses each RayCluster's UID, so a rollout's new cluster never reads the old "
                     "one's keys")
    head = next((g for g in groups(r) if g.is_head), None)
    if head is None:
        return
    containers = [c for c in (head.pod.get("containers") or []) if isinstance(c, dict)]
    env = _env(containers[0]) if containers else {}
    cpath = f"{head.pod_path}.containers[{containers[0].get('name', 0)}]" if containers else head.pod_path
    if "RAY_REDIS_ADDRESS" in env:
        yield _f("gcs-ft-conflict", r, ctx, f"{cpath}.env[RAY_REDIS_ADDRESS]",
                 "RAY_REDIS_ADDRESS is set by hand on the head" + (
                     " beside gcsFaultToleranceOptions" if options is not None
                     else ", which turns GCS fault tolerance on without gcsFaultToleranceOptions")
                 + ": KubeRay rejects the RayService")
    if options is None:
        return
    for name, field in _MANAGED_ENV.items():
        if name != "RAY_REDIS_ADDRESS" and name in env:
            yield _f("gcs-ft-conflict", r, ctx, f"{cpath}.env[{name}]",
                     f"{name} is set by hand beside gcsFaultToleranceOptions: KubeRay rejects the RayService",
                     fix=f"set gcsFaultToleranceOptions.{field} instead")
    params = _d(head.spec.get("rayStartParams"))
    for name, field in _MANAGED_PARAMS.items():
        if name in params:
            yield _f("gcs-ft-conflict", r, ctx, f"{head.path}.rayStartParams.{name}",
                     f"rayStartParams {name} beside gcsFaultToleranceOptions: KubeRay rejects the RayService",
                     fix=f"set gcsFaultToleranceOptions.{field} instead")
