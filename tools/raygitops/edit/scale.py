"""Scale a Serve deployment (overlays/<env>/serve.yaml) or a worker group (the environment's RayService patch).

    edit = scale_deployment(root, "prod", "main/Gateway", replicas=6)          # or minimum=2, maximum=8
    edit = scale_group(root, "staging", "cpu-workers", replicas=3, maximum=6)  # lists every base group
"""
from __future__ import annotations

from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from raygitops.edit.overlay import base_rayservice, base_worker_groups, existing_environment, \
    generated_serve_config, rayservice_patch
from raygitops.edit.roundtrip import EditableYaml, delete_entry, ensure_list, ensure_mapping, flow_mapping, load_for_edit, \
    named_item, parse_for_edit
from raygitops.edit.transaction import Edit
from raygitops.errors import UserError

PATCH_FILE = "rayservice-patch.yaml"


# --- Serve deployments ----------------------------------------------------------------------

def resolve_deployment(serve_config: dict, target: str, file: str) -> tuple[str, str]:
    """APP[/DEPLOYMENT] → (app, deployment); the deployment may be left out when the app has one."""
    app_name, _, deployment = target.partition("/")
    apps = {a.get("name"): a for a in serve_config.get("applications") or [] if isinstance(a, dict)}
    if app_name not in apps:
        raise UserError(f"no application '{app_name}'", file=file, fix=f"use one of: {', '.join(sorted(apps))}")
    names = [d.get("name") for d in apps[app_name].get("deployments") or [] if isinstance(d, dict)]
    if not deployment:
        if len(names) != 1:
            raise UserError(f"application '{app_name}' has {len(names)} deployments", file=file,
                            fix=f"name one: {', '.join(f'{app_name}/{n}' for n in names)}")
        deployment = names[0]
    if deployment not in names:
        raise UserError(f"no deployment '{deployment}' in application '{app_name}'", file=file,
                        fix=f"use one of: {', '.join(names) or '(none)'}")
    return app_name, deployment


def _override_entry(doc: EditableYaml, app: str, deployment: str) -> CommentedMap:
    """serve.yaml's entry for the deployment, added (app and deployment) when it has none."""
    if doc.data is None:
        doc.data = CommentedMap()
    apps = ensure_list(doc.data, "applications")
    app_entry = named_item(apps, app)
    if app_entry is None:
        app_entry = CommentedMap([("name", app)])
        apps.append(app_entry)
    deployments = ensure_list(app_entry, "deployments")
    entry = named_item(deployments, deployment)
    if entry is None:
        entry = CommentedMap([("name", deployment)])
        deployments.append(entry)
    return entry


def scale_deployment(root: Path, env_name: str, target: str, *, replicas: int | None = None,
                     minimum: int | None = None, maximum: int | None = None) -> Edit:
    env = existing_environment(root, env_name)
    _check_counts(replicas, minimum, maximum, "replicas")
    if replicas is not None and (minimum is not None or maximum is not None):
        raise UserError("give N or --min/--max, not both", fix="N fixes the replicas; --min/--max autoscale")
    rel = f"{env.rel}/serve.yaml"
    app, deployment = resolve_deployment(generated_serve_config(root, env), target, rel)
    doc = load_for_edit(root / rel, root)
    entry = _override_entry(doc, app, deployment)
    if replicas is not None:
        entry["num_replicas"] = replicas
        if "autoscaling_config" in entry:
            delete_entry(entry, "autoscaling_config")
        what = f"{app}/{deployment}: num_replicas {replicas}"
    else:
        if minimum is None and maximum is None:
            raise UserError("nothing to change", fix="give N, or --min and/or --max")
        config = entry.get("autoscaling_config")
        if not isinstance(config, dict):
            if minimum is None or maximum is None:
                raise UserError(f"{app}/{deployment} does not autoscale in {env.name} yet", file=rel,
                                fix="give both --min and --max")
            config = flow_mapping({})
            entry["autoscaling_config"] = config
        for key, value in (("min_replicas", minimum), ("max_replicas", maximum)):
            if value is not None:
                config[key] = value
        if isinstance(config.get("min_replicas"), int) and isinstance(config.get("max_replicas"), int) \
                and config["min_replicas"] > config["max_replicas"]:
            raise UserError(f"min_replicas {config['min_replicas']} > max_replicas {config['max_replicas']}",
                            file=rel, fix="give --min at most --max")
        if "num_replicas" in entry:
            delete_entry(entry, "num_replicas")
        what = f"{app}/{deployment}: autoscaling {config.get('min_replicas', '?')}..{config.get('max_replicas', '?')}"
    return Edit({rel: doc.dumps()}, notes=[f"{env.name} {what} (a Serve update in place: no pod restarts)"])


# --- worker groups ----------------------------------------------------------------------------

def with_base_groups(groups: CommentedSeq, base_names: list[str], file: str) -> CommentedSeq:
    """The patch's worker groups with every base group listed, in base order, before the overlay's
    own groups: a strategic-merge patch moves the groups it names to the front otherwise
    (DEVELOPERS.md, "Traps we design around"). Missing base groups are inserted by groupName only."""
    present = [g.get("groupName") for g in groups if isinstance(g, dict)]
    listed_base = [name for name in present if name in base_names]
    if listed_base != [name for name in base_names if name in listed_base]:
        raise UserError(f"the patch lists base worker groups out of base order ({', '.join(listed_base)})",
                        file=file, fix=f"list them as the base does: {', '.join(base_names)}")
    own = [i for i, name in enumerate(present) if name not in base_names]
    if own and own[0] < len(listed_base):
        raise UserError("the patch lists its own worker groups before the base groups", file=file,
                        fix="move new groups to the end, after every base group")
    for position, name in enumerate(base_names):
        if name not in present:
            groups.insert(position, CommentedMap([("groupName", name)]))
    return groups


def _patch_document(root: Path, env, base: dict) -> tuple[str, EditableYaml, CommentedMap, bool]:
    rel = rayservice_patch(root, env)
    if rel is not None:
        doc = load_for_edit(root / rel, root)
        index = next(i for i, d in enumerate(doc.documents) if isinstance(d, dict) and d.get("kind") == "RayService")
        return rel, doc, doc.documents[index], False
    rel = f"{env.rel}/{PATCH_FILE}"
    if (root / rel).exists():
        raise UserError(f"{PATCH_FILE} exists but the kustomization does not use it", file=rel,
                        fix=f"add `- path: {PATCH_FILE}` to patches: in {env.rel}/kustomization.yaml")
    patch = CommentedMap([("apiVersion", base.get("apiVersion", "ray.io/v1")), ("kind", "RayService"),
                          ("metadata", CommentedMap([("name", (base.get("metadata") or {}).get("name"))]))])
    return rel, parse_for_edit("", rel), patch, True


def scale_group(root: Path, env_name: str, group: str, *, replicas: int | None = None,
                minimum: int | None = None, maximum: int | None = None) -> Edit:
    env = existing_environment(root, env_name)
    _check_counts(replicas, minimum, maximum, "--replicas")
    if replicas is None and minimum is None and maximum is None:
        raise UserError("nothing to change", fix="give --replicas, --min and/or --max")
    base = base_rayservice(root)
    base_groups = {g["groupName"]: g for g in base_worker_groups(root)}
    rel, doc, patch, created = _patch_document(root, env, base)
    spec = ensure_mapping(ensure_mapping(patch, "spec"), "rayClusterConfig")
    groups = with_base_groups(ensure_list(spec, "workerGroupSpecs"), list(base_groups), rel)
    entry = named_item(groups, group, key="groupName")
    if entry is None:
        known = list(dict.fromkeys([*base_groups, *(g.get("groupName") for g in groups if isinstance(g, dict))]))
        raise UserError(f"no worker group '{group}' in {env.name}", file=rel, fix=f"use one of: {', '.join(known)}")
    for key, value in (("replicas", replicas), ("minReplicas", minimum), ("maxReplicas", maximum)):
        if value is not None:
            entry[key] = value
    effective = {**{k: v for k, v in base_groups.get(group, {}).items() if k in ("replicas", "minReplicas", "maxReplicas")},
                 **{k: v for k, v in entry.items() if k in ("replicas", "minReplicas", "maxReplicas")}}
    low, high, count = effective.get("minReplicas", 0), effective.get("maxReplicas"), effective.get("replicas")
    if high is not None and low > high:
        raise UserError(f"worker group {group}: minReplicas {low} > maxReplicas {high}", file=rel,
                        fix="give --min at most --max")
    if count is not None and (count < low or (high is not None and count > high)):
        raise UserError(f"worker group {group}: replicas {count} outside minReplicas..maxReplicas ({low}..{high}); "
                        "KubeRay would clamp it silently", file=rel, fix="change --min/--max with it")
    files = {rel: doc.dumps() if not created else _new_patch_text(env.name, patch)}
    notes = [f"{env.name} worker group {group}: " + ", ".join(f"{k} {v}" for k, v in effective.items())]
    if created:
        files[f"{env.rel}/kustomization.yaml"] = _with_patch_entry(root, env)
        notes.append(f"created {rel} and listed it under patches: in {env.rel}/kustomization.yaml")
    return Edit(files, notes=notes)


def _new_patch_text(env_name: str, patch: CommentedMap) -> str:
    from raygitops.edit.roundtrip import dumps
    return f"# {env_name}: the RayService's differences from base/ (written by raygitops scale).\n" + dumps([patch])


def _with_patch_entry(root: Path, env) -> str:
    doc = load_for_edit(env.kustomization, root)
    ensure_list(doc.data, "patches").append(CommentedMap([("path", PATCH_FILE)]))
    return doc.dumps()


def _check_counts(replicas, minimum, maximum, what: str) -> None:
    for name, value in ((what, replicas), ("--min", minimum), ("--max", maximum)):
        if value is not None and value < 0:
            raise UserError(f"{name} must not be negative", fix=f"give a count of 0 or more for {name}")
