"""Add an environment as a copy of another, or carry out step 1 of removing one (README "Add/Remove an environment").

    edit = add_environment(root, "qa", source="staging")   # overlay, namespace, DB host, operator lists
    edit = remove_environment(root, "qa")                  # step 1; edit.notes says step 2
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from raygitops.config import CONFIG_FILE
from raygitops.edit.overlay import existing_environment
from raygitops.edit.roundtrip import delete_entry, ensure_list, load_for_edit, parse_for_edit
from raygitops.edit.transaction import Edit
from raygitops.errors import UserError
from raygitops.model.environment import CLUSTERS, GENERATED, OVERLAYS, discover

OPERATOR_VALUES = "base/kuberay-operator/values.yaml"
OPERATOR_NAMESPACES = "base/kuberay-operator/namespace.yaml"
APPSET = "argocd/environments.yaml"
PROTECTED_APPSET = "argocd/protected-environments.yaml"
PROJECT = "argocd/project.yaml"
# The ApplicationSets deploy overlays/<env> into aana-<env> (argocd/environments.yaml), so the name is fixed.
NAMESPACE_PREFIX = "aana-"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# raygitops.yaml's per-environment policy lists: a copy is listed where its source is.
_POLICY_LISTS = (("policies", "dev_environments"), ("policies", "require_digest"), ("policies", "gcs_ft_required"))
# Every raygitops.yaml setting that lists environments by name (applications[].environments aside):
# a removed environment leaves them all.
_ENVIRONMENT_LISTS = (*_POLICY_LISTS, ("promotion", "order"))


def namespace_of(env: str) -> str:
    return f"{NAMESPACE_PREFIX}{env}"


def application_of(env: str) -> str:
    """The Argo CD Application of an environment (the ApplicationSets' template: aana-{{.path.basename}})."""
    return f"aana-{env}"


def protected_environments(root: Path) -> list[str]:
    """Environments the ApplicationSet aana-protected lists (argocd/README.md, "Deletion protection")."""
    doc = load_for_edit(root / PROTECTED_APPSET, root)
    return [str(item["path"]).split("/", 1)[1] for item in _directories(doc.data)
            if str(item.get("path", "")).startswith(f"{OVERLAYS}/") and not item.get("exclude")]


def _directories(appset) -> list:
    return appset["spec"]["generators"][0]["git"]["directories"]


# --- add --------------------------------------------------------------------------------------------

def add_environment(root: Path, name: str, *, source: str, protect: bool = False) -> Edit:
    if not _NAME.match(name) or len(namespace_of(name)) > 63:
        raise UserError(f"'{name}' cannot name an environment", fix="use lower-case letters, digits and '-' "
                        f"(the namespace {namespace_of(name)} must be a DNS label of at most 63 characters)")
    if (root / OVERLAYS / name).exists():
        raise UserError(f"{OVERLAYS}/{name} exists already", file=f"{OVERLAYS}/{name}", fix="choose another name")
    src = existing_environment(root, source)
    old_ns, new_ns = src.namespace or namespace_of(source), namespace_of(name)
    edit = Edit()
    for path in sorted(p for p in src.overlay.rglob("*") if p.is_file()):
        rel = path.relative_to(src.overlay)
        if rel.parts[0] == GENERATED:
            continue   # tools/regen writes the new environment's own
        text = path.read_text(encoding="utf-8")
        edit.files[f"{OVERLAYS}/{name}/{rel.as_posix()}"] = _retarget(text, source, name, old_ns, new_ns)
    kustomization = f"{OVERLAYS}/{name}/{src.kustomization.name}"
    doc = parse_for_edit(edit.files[kustomization], kustomization)
    doc.data["namespace"] = new_ns
    edit.files[kustomization] = doc.dumps()
    leftovers = [rel for rel, text in edit.files.items() if re.search(rf"(?<![\w-]){re.escape(old_ns)}(?![\w-])", text)]
    assert not leftovers, leftovers   # _retarget replaced them all
    edit.files[OPERATOR_VALUES] = with_watched_namespace(root, new_ns)
    edit.files[OPERATOR_NAMESPACES] = with_namespace_document(root, old_ns, new_ns)
    config = _config_with_copied_settings(root, source, name)
    if config is not None:
        edit.files[CONFIG_FILE] = config
    edit.notes.append(f"{name} is a copy of {source}: namespace {new_ns}, and every '{old_ns}' in its files "
                      f"(the DB_CONFIG host too) now says '{new_ns}'")
    if source in protected_environments(root):
        if protect:
            edit.files.update(_protection_files(root, name, add=True))
            edit.notes.append(f"{name} is protected from deletion like {source} ({PROTECTED_APPSET})")
        else:
            edit.notes.append(f"{source} is protected from deletion and {name} is not; to protect it, run "
                              f"`raygitops env add` with --protected, or follow README step 4")
    elif protect:
        edit.files.update(_protection_files(root, name, add=True))
        edit.notes.append(f"{name} is protected from deletion ({PROTECTED_APPSET})")
    if application_of(source) in _manual_sync_applications(root):
        edit.notes.append(f"aana-{source} syncs only by hand ({PROJECT} syncWindows) and aana-{name} syncs on merge; "
                          f"add aana-{name} there to hold it too")
    return edit


def _retarget(text: str, source: str, name: str, old_ns: str, new_ns: str) -> str:
    """Every mention of the source's namespace (its DB host, say) → the new one; a leading
    `# <source>:` / `# <source>'s` comment names the new environment."""
    text = re.sub(rf"(?<![\w-]){re.escape(old_ns)}(?![\w-])", new_ns, text)
    return re.sub(rf"^# {re.escape(source)}(?=:|'s )", f"# {name}", text, flags=re.M)


def with_watched_namespace(root: Path, namespace: str) -> str:
    """base/kuberay-operator/values.yaml with `namespace` in watchNamespace (in its sorted place), comments kept."""
    doc = load_for_edit(root / OPERATOR_VALUES, root)
    watched = ensure_list(doc.data, "watchNamespace")
    if namespace not in watched:
        _insert_sorted(watched, namespace)
    return doc.dumps()


def _insert_sorted(items: list, value) -> None:
    """Into its sorted place when the list is sorted, else at the end."""
    keys = [str(v) for v in items]
    position = next((i for i, k in enumerate(keys) if k > str(value)), len(keys)) if keys == sorted(keys) else len(keys)
    items.insert(position, value)


def _namespace_documents(doc) -> list[tuple[int, str]]:
    return [(i, d["metadata"]["name"]) for i, d in enumerate(doc.documents)
            if isinstance(d, dict) and d.get("kind") == "Namespace" and isinstance(d.get("metadata"), dict)]


def with_namespace_document(root: Path, template_ns: str, namespace: str) -> str:
    """base/kuberay-operator/namespace.yaml with a Namespace document for `namespace`, a copy of template_ns's
    (else of the last environment's); unchanged when it is there already."""
    doc = load_for_edit(root / OPERATOR_NAMESPACES, root)
    found = _namespace_documents(doc)
    if any(n == namespace for _, n in found):
        return doc.original
    environments = [(i, n) for i, n in found if n.startswith(NAMESPACE_PREFIX)] or found
    template = next((i for i, n in environments if n == template_ns), environments[-1][0])
    new = copy.deepcopy(doc.documents[template])
    new["metadata"]["name"] = namespace
    names = [n for _, n in environments]
    later = [i for i, n in environments if n > namespace]
    position = later[0] if later and names == sorted(names) else environments[-1][0] + 1
    doc.documents.insert(position, new)
    return doc.dumps()


def _config_with_copied_settings(root: Path, source: str, name: str) -> str | None:
    """raygitops.yaml with the source's per-environment settings given to the copy too (policy lists,
    severities, the apps that list their environments); a promotion order gets nothing, since where a
    new environment goes is a decision."""
    doc = load_for_edit(root / CONFIG_FILE, root)
    changed = False
    for values in [*(_setting(doc.data, section, key) for section, key in _POLICY_LISTS), *_app_lists(doc.data)]:
        if isinstance(values, list) and source in values and name not in values:
            values.append(name)
            changed = True
    severity = (doc.data.get("policies") or {}).get("severity")
    if isinstance(severity, dict) and source in severity and name not in severity:
        severity[name] = copy.deepcopy(severity[source])
        changed = True
    return doc.dumps() if changed else None


def _setting(data, section: str, key: str):
    holder = data.get(section)
    return holder.get(key) if isinstance(holder, dict) else None


def _app_lists(data) -> list:
    """applications[].environments: an app that lists them runs only there (config_schema.py)."""
    apps = data.get("applications") if isinstance(data.get("applications"), list) else []
    return [app["environments"] for app in apps if isinstance(app, dict) and isinstance(app.get("environments"), list)]


def _manual_sync_applications(root: Path) -> set[str]:
    data = load_for_edit(root / PROJECT, root).data
    return {str(app) for window in (data.get("spec") or {}).get("syncWindows") or []
            for app in window.get("applications") or []}


def _protection_files(root: Path, name: str, *, add: bool) -> dict[str, str]:
    """aana-protected lists the overlay, and aana excludes it (a test checks the two agree)."""
    path = f"{OVERLAYS}/{name}"
    out = {}
    for rel, item in ((PROTECTED_APPSET, CommentedMap([("path", path)])),
                      (APPSET, CommentedMap([("path", path), ("exclude", True)]))):
        doc = load_for_edit(root / rel, root)
        directories = _directories(doc.data)
        existing = [i for i, d in enumerate(directories) if d.get("path") == path]
        if add and not existing:
            directories.append(item)
        for i in reversed(existing if not add else []):
            delete_entry(directories, i)
        out[rel] = doc.dumps()
    return out


# --- remove ----------------------------------------------------------------------------------------

def remove_environment(root: Path, name: str, *, unprotect: bool = False) -> Edit:
    env = existing_environment(root, name)
    namespace = env.namespace or namespace_of(name)
    if len(discover(root)) == 1:
        raise UserError(f"{name} is the only environment", file=env.rel, fix="add another one first")
    protected = name in protected_environments(root)
    if protected and not unprotect:
        raise UserError(f"{name} is protected from deletion: removing {env.rel} deletes nothing in the cluster "
                        f"({PROTECTED_APPSET})", file=env.rel,
                        fix=f"to remove it on purpose, run `raygitops env remove {name} --unprotect`: it deletes the "
                            f"overlay and lifts the protection; then `argocd app delete aana-{name} --cascade` deletes it")
    # Its cluster layers build on the overlay: left behind, they would not render, and aana-clusters would
    # still make their Applications. They go with it (README "Deploy to several clusters").
    layers = [f"{CLUSTERS}/{name}/{layer.name}" for layer in env.cluster_layers]
    edit = Edit(remove_trees=[env.rel] + ([f"{CLUSTERS}/{name}"] if layers else []))
    config = _config_without(root, name)
    if config is not None:
        edit.files[CONFIG_FILE] = config
    project = _project_without_sync_window(root, application_of(name))
    if project is not None:
        edit.files[PROJECT] = project
    deleted = ", ".join([env.rel, *layers])
    # aana-clusters (applicationsSync: create-update) never deletes an Application: a layer's goes by hand.
    cluster_deletes = [f"`argocd app delete aana-{name}-{layer.rsplit('/', 1)[1]} --cascade`" for layer in layers]
    step = 2
    if protected:
        edit.files.update(_protection_files(root, name, add=False))
        edit.notes.append(f"step 1 done: {deleted} deleted and {name} no longer protected ({PROTECTED_APPSET}, "
                          f"{APPSET}, {PROJECT}). Merge it: the Application aana-{name} stays and syncs nothing")
        deletes = " and ".join([f"`argocd app delete aana-{name} --cascade`", *cluster_deletes])
        edit.notes.append(f"step 2, after the merge: {deletes} (the RayService goes first)")
        step = 3
    else:
        edit.notes.append(f"step 1 done: {deleted} deleted. Merge it: Argo CD deletes the Application aana-{name} "
                          f"and the RayService; the operator, still watching {namespace}, clears its finalizer")
        if layers:
            edit.notes.append(f"step 2, after the merge: {' and '.join(cluster_deletes)} (ApplicationSet aana-clusters "
                              f"creates and updates its Applications, and never deletes one)")
            step = 3
    edit.notes.append(f"step {step}, in a second pull request once `kubectl get rayservice -n {namespace}` shows "
                      f"nothing: remove {namespace} from watchNamespace in {OPERATOR_VALUES} and from "
                      f"{OPERATOR_NAMESPACES} (the namespace itself is kept: Delete=false)")
    return edit


def _config_without(root: Path, name: str) -> str | None:
    doc = load_for_edit(root / CONFIG_FILE, root)
    changed = False
    for values in [*(_setting(doc.data, section, key) for section, key in _ENVIRONMENT_LISTS), *_app_lists(doc.data)]:
        if isinstance(values, list) and name in values:
            delete_entry(values, values.index(name))
            changed = True
    severity = (doc.data.get("policies") or {}).get("severity")
    if isinstance(severity, dict) and name in severity:
        delete_entry(severity, name)
        changed = True
    return doc.dumps() if changed else None


def _project_without_sync_window(root: Path, application: str) -> str | None:
    doc = load_for_edit(root / PROJECT, root)
    changed = False
    for window in (doc.data.get("spec") or {}).get("syncWindows") or []:
        apps = window.get("applications")
        if isinstance(apps, list) and application in apps:
            delete_entry(apps, apps.index(application))
            changed = True
    return doc.dumps() if changed else None

