"""Who reads a ConfigMap, Secret or PVC in an environment, and when its pods see a change.

    consumer_note(resource_diff, environment_resources)   # "mounted by Job/aana-db-migrate: running pods see …"
    consumer_note(rayservice_diff, ())                     # "": only ConfigMaps, Secrets, ExternalSecrets and PVCs get one
"""
from __future__ import annotations

from raygitops.diff.fields import ResourceDiff
from raygitops.model.rayservice import RAY_KINDS, Container, RayServiceView


def _pod_specs(resource: dict) -> list[tuple[str, dict, tuple[Container, ...], bool]]:
    """(who, pod spec, its containers, whether it is a Ray pod) for every pod template a resource holds."""
    view = RayServiceView(resource)
    if view.kind == "RayService":
        return [(f"Ray {t.group.name}", t.spec, t.containers, True) for t in view.pod_templates if t.group]
    if view.kind in RAY_KINDS:
        return []   # a RayCluster or RayJob of its own is not followed
    who = f"{view.kind}/{(resource.get('metadata') or {}).get('name', '?')}"
    return [(who, t.spec, t.containers, False) for t in view.pod_templates]


def _references(pod: dict, containers: tuple[Container, ...]) -> set[tuple[str, str, str]]:
    """(kind, name, how) for every ConfigMap, Secret and PVC a pod spec uses; how is env or volume.
    The containers include KubeRay's autoscaler sidecar, whose env comes from autoscalerOptions."""
    refs = set()
    for container in (c.spec for c in containers):
        for env in container.get("env") or []:
            source = (env.get("valueFrom") or {}) if isinstance(env, dict) else {}
            if source.get("configMapKeyRef"):
                refs.add(("ConfigMap", source["configMapKeyRef"].get("name", ""), "env"))
            if source.get("secretKeyRef"):
                refs.add(("Secret", source["secretKeyRef"].get("name", ""), "env"))
        for env_from in container.get("envFrom") or []:
            if env_from.get("configMapRef"):
                refs.add(("ConfigMap", env_from["configMapRef"].get("name", ""), "env"))
            if env_from.get("secretRef"):
                refs.add(("Secret", env_from["secretRef"].get("name", ""), "env"))
    for volume in pod.get("volumes") or []:
        sources = [volume] + [s for s in (volume.get("projected") or {}).get("sources") or []]
        for source in sources:
            if source.get("configMap"):
                refs.add(("ConfigMap", source["configMap"].get("name", ""), "volume"))
            if source.get("secret"):
                refs.add(("Secret", source["secret"].get("secretName") or source["secret"].get("name", ""), "volume"))
        if volume.get("persistentVolumeClaim"):
            refs.add(("PersistentVolumeClaim", volume["persistentVolumeClaim"].get("claimName", ""), "volume"))
    return refs


def _target(resource: dict) -> tuple[str, str]:
    """The object pods refer to: an ExternalSecret stands for the Secret it writes."""
    meta = resource.get("metadata") or {}
    if resource.get("kind") == "ExternalSecret":
        target = ((resource.get("spec") or {}).get("target") or {}).get("name") or meta.get("name", "")
        return "Secret", target
    return resource.get("kind", ""), meta.get("name", "")


def consumer_note(resource: ResourceDiff, workloads: tuple[dict, ...]) -> str:
    """Which pods of the environment use this ConfigMap/Secret/PVC, and when they see a change."""
    if resource.kind not in ("ConfigMap", "Secret", "ExternalSecret", "PersistentVolumeClaim"):
        return ""
    names = {_target(side) for side in (resource.before, resource.after) if side}
    users: dict[str, list[str]] = {"env": [], "volume": []}
    ray_env = False
    for workload in workloads:
        for who, pod, containers, is_ray in _pod_specs(workload):
            for kind, name, how in sorted(_references(pod, containers)):
                if (kind, name) in names and who not in users[how]:
                    users[how].append(who)
                    ray_env |= is_ray and how == "env"
    notes = []
    if users["env"]:
        notes.append(f"read as env by {', '.join(users['env'])} when their pods start"
                     + ("; running Ray pods see the change only after a restart (the next new cluster)"
                        if ray_env else ""))
    if users["volume"] and resource.kind == "PersistentVolumeClaim":
        notes.append(f"the volume of {', '.join(users['volume'])}; a PVC's storage can only grow, "
                     f"and only where the StorageClass allows expansion")
    elif users["volume"]:
        notes.append(f"mounted by {', '.join(users['volume'])}: running pods see new files after the kubelet "
                     f"sync (not with subPath)")
    return "; ".join(notes) or "not used by any pod in this environment"
