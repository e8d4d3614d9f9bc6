"""The strategic-merge patch that turns one resource into another, in the form kustomize applies it.

    patch = strategic_diff(base_spec, wanted_spec)   # None when they are equal
    # mappings: changed keys only, `key: null` deletes; named lists: merged by their key, `$patch: delete`

Lists merged by a key (Kubernetes' patchMergeKey, and base/generated/kustomize-schema.yaml's for worker
groups) list every base item first, in base order (unchanged ones by their key only), then the new
ones: a strategic-merge patch moves the items it names to the front otherwise (DEVELOPERS.md, "Traps").
Other lists (tolerations, args) are replaced whole.
"""
from __future__ import annotations

from typing import Any

DELETE = "$patch"
MERGE_KEYS = {
    "workerGroupSpecs": "groupName",
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}


def strategic_diff(base: Any, wanted: Any, key: str | None = None) -> Any:
    """The patch from `base` to `wanted` (None when equal); `key` names the field holding them."""
    if base == wanted:
        return None
    if isinstance(base, dict) and isinstance(wanted, dict):
        patch = {}
        for name, value in wanted.items():
            if name not in base:
                patch[name] = value
            else:
                change = strategic_diff(base[name], value, name)
                if change is not None:
                    patch[name] = change
        for name in base:
            if name not in wanted:
                patch[name] = None   # strategic merge: null deletes the key
        return patch
    merge_key = MERGE_KEYS.get(key or "")
    if merge_key and isinstance(base, list) and isinstance(wanted, list) and _keyed(base, merge_key) \
            and _keyed(wanted, merge_key):
        return _list_diff(base, wanted, merge_key)
    return wanted


def _keyed(items: list, merge_key: str) -> bool:
    return all(isinstance(item, dict) and merge_key in item for item in items)


def _list_diff(base: list, wanted: list, merge_key: str) -> list:
    wanted_by_key = {item[merge_key]: item for item in wanted}
    out = []
    for item in base:
        if item[merge_key] not in wanted_by_key:
            out.append({merge_key: item[merge_key], DELETE: "delete"})
            continue
        change = strategic_diff(item, wanted_by_key[item[merge_key]]) or {}
        out.append({merge_key: item[merge_key], **{k: v for k, v in change.items() if k != merge_key}})
    base_keys = {item[merge_key] for item in base}
    out += [item for item in wanted if item[merge_key] not in base_keys]
    return out
