"""Aana pack: the directories Aana writes (TMP_DATA_DIR, a SQLite file) are on storage every node shares.

    from raygitops.checks.policy_storage import POLICIES      # node-local-storage
    findings = list(check_node_local_storage(RayServiceView(rayservice), ctx))
"""
from __future__ import annotations

from typing import Iterator

from raygitops.checks.policy_base import Policy, PolicyContext, report
from raygitops.findings import ERROR, WARNING, Finding
from raygitops.model.dbconfig import parse_db_config
from raygitops.model.rayservice import Container, Group, RayServiceView, as_dict, as_list

_TMP_DEFAULT = "/tmp/aana_data"


def _shared_volumes(view: RayServiceView, ctx: PolicyContext, pod: dict) -> set[str]:
    """Volumes of a pod that every node sees: NFS, or a PVC whose claim is ReadWriteMany."""
    ns = as_dict(view.resource.get("metadata")).get("namespace")
    rwx = set()
    for o in map(as_dict, ctx.resources):
        meta = as_dict(o.get("metadata"))
        if (o.get("kind") == "PersistentVolumeClaim"
                and "ReadWriteMany" in as_list(as_dict(o.get("spec")).get("accessModes"))
                and (not ns or not meta.get("namespace") or meta.get("namespace") == ns)):
            rwx.add(str(meta.get("name")))
    out = set()
    for v in map(as_dict, as_list(pod.get("volumes"))):
        claim = as_dict(v.get("persistentVolumeClaim")).get("claimName")
        if isinstance(v.get("nfs"), dict) or (isinstance(claim, str) and claim in rwx):
            out.add(str(v.get("name")))
    return out


def _on_shared(directory: str, container: dict, shared: set[str]) -> bool:
    """Whether the deepest mount that holds `directory` is a shared volume."""
    best = None
    for m in map(as_dict, as_list(container.get("volumeMounts"))):
        mp = m.get("mountPath")
        if isinstance(mp, str) and mp and (directory == mp.rstrip("/") or directory.startswith(mp.rstrip("/") + "/")):
            if best is None or len(mp) > len(best.get("mountPath")):
                best = m
    return best is not None and str(best.get("name")) in shared


def _can_have_workers(groups: tuple[Group, ...]) -> bool:
    return any(not g.is_head and (g.pod_count(True) > 0 or g.pod_count(False) > 0) for g in groups)


def _can_host_replicas(g: Group) -> bool:
    cpu = g.ray_resource("cpu")
    return g.pod_count(True) > 0 and (cpu is None or cpu > 0 or (g.ray_resource("gpu") or 0) > 0)


def _aana_dirs(env_vars: dict, container: Container | None) -> list[tuple[str, str]]:
    """(what, directory) Aana writes to for one app in one container: TMP_DATA_DIR and a SQLite file."""
    tmp = env_vars.get("TMP_DATA_DIR", as_dict(container.env.get("TMP_DATA_DIR") if container else None).get("value"))
    # Aana's settings ignore an empty value (env_ignore_empty), so "" means the default.
    out = [(f"TMP_DATA_DIR {tmp}", tmp) if isinstance(tmp, str) and tmp
           else (f"TMP_DATA_DIR {_TMP_DEFAULT} (Aana's default)", _TMP_DEFAULT)]
    db = parse_db_config(env_vars["DB_CONFIG"]) if isinstance(env_vars.get("DB_CONFIG"), str) else None
    if db is not None and db.datastore_type == "sqlite":
        path = db.datastore_config.get("path")
        if isinstance(path, str) and path:
            out.append((f"the SQLite database {path}", path))
    return out


def check_node_local_storage(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    groups = view.groups
    if not _can_have_workers(groups):
        return
    severity = WARNING if ctx.in_dev else ERROR
    seen = set()
    for app in view.apps:
        for g in filter(_can_host_replicas, groups):
            main = g.containers[0] if g.containers else None
            shared = _shared_volumes(view, ctx, g.pod)
            for what, directory in _aana_dirs(app.env_vars, main):
                if (what, g.name) in seen or not directory.startswith("/") or _on_shared(directory, g.main_container,
                                                                                          shared):
                    continue
                seen.add((what, g.name))
                yield report("node-local-storage", view, ctx, f"{main.path if main else g.pod_path}.volumeMounts",
                             f"{what} is node-local disk in group {g.name}, but the cluster runs workers",
                             severity=severity)


POLICIES = (Policy("node-local-storage", check_node_local_storage, ("RayService",)),)
