"""argocd/ against real kustomize, the real Argo CD schemas and the real KubeRay CRDs.

    .venv/bin/pytest tests/repo/test_argocd.py -q

Argo CD itself is not run: where the tests need its behaviour (the Git directory generator,
AppProject destination and sync-window matching) the helpers below do what Argo CD's code does,
and say which code. The health scripts run in real Lua in tests/unit/test_health_lua.py.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import load_crd_file, overlays_with_component, run_tool
from raygitops.config import load_config
from raygitops.render import kustomize_command
from raygitops.generate.workingdir import build_package

IN_CLUSTER = "https://kubernetes.default.svc"
KUBERAY_REPOS = ("https://ray-project.github.io/kuberay-helm/", "https://github.com/ray-project/kuberay")
ANNOTATION_LIMIT = 262_144  # bytes, all annotations of one object together (apimachinery)
HEALTH_KEY = "resource.customizations.health.{group}_{kind}"
WAVE = "argocd.argoproj.io/sync-wave"
HOOK = "argocd.argoproj.io/hook"
PLACEHOLDERS = ("set-by-argocd-settings", "v0.0.0")
ENVIRONMENTS = "overlays"
NEW_ENV = "zz-temp-env"   # a name no real environment has
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
COMPARE_OPTIONS = "argocd.argoproj.io/compare-options"
APPSETS = ("aana", "aana-protected")
PROTECTED = "aana-protected"


# --- rendering -----------------------------------------------------------------------------------


def kustomize(path: Path) -> list[dict]:
    result = subprocess.run([*kustomize_command(), str(path)], capture_output=True, text=True)
    assert result.returncode == 0, f"kustomize {path}: {result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="module")
def rendered(repo: Path) -> dict[str, list[dict]]:
    """argocd/, argocd/root and every overlay, rendered in parallel."""
    targets = {"argocd": repo / "argocd", "root": repo / "argocd" / "root",
               **{env: repo / ENVIRONMENTS / env for env in load_config(repo).environments()}}
    with ThreadPoolExecutor() as pool:
        results = dict(zip(targets, pool.map(kustomize, targets.values())))
    return results


@pytest.fixture(scope="module")
def argocd(rendered) -> list[dict]:
    return rendered["argocd"]


@pytest.fixture(scope="module")
def settings(repo: Path) -> dict:
    return yaml.safe_load((repo / "argocd/settings/settings.yaml").read_text())["data"]


@pytest.fixture(scope="module")
def environments(repo: Path) -> list[str]:
    envs = load_config(repo).environments()
    assert envs, "no overlays/<env>"
    return envs


def one(resources: list[dict], kind: str, name: str | None = None) -> dict:
    found = [r for r in resources if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def wave(resource: dict) -> int:
    return int((resource["metadata"].get("annotations") or {}).get(WAVE, "0"))


def sources(app: dict) -> list[dict]:
    spec = app["spec"]
    return spec.get("sources") or [spec["source"]]


# --- Argo CD's behaviour, re-implemented -------------------------------------------------------------


def go_path_match(pattern: str, name: str) -> bool:
    """Go's path.Match, which the Git directory generator uses: `*` stops at '/'."""
    parts, names = pattern.split("/"), name.split("/")
    return len(parts) == len(names) and all(fnmatch.fnmatchcase(n, p) for p, n in zip(parts, names))


def repo_directories(root: Path) -> list[str]:
    """Every directory that holds a file Git would commit: what the generator lists."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=root, capture_output=True, text=True)
    if listed.returncode == 0:
        files = listed.stdout.split()
    else:  # not a Git checkout: every file below overlays/
        files = [p.relative_to(root).as_posix() for p in (root / ENVIRONMENTS).rglob("*") if p.is_file()]
    dirs = set()
    for file in files:
        parent = Path(file).parent
        while parent != Path("."):
            dirs.add(parent.as_posix())
            parent = parent.parent
    return sorted(dirs)


def render_go_template(value, params: dict[str, str]):
    """The ApplicationSet template with goTemplate: only {{.path.<key>}} is used here."""
    if isinstance(value, dict):
        return {k: render_go_template(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [render_go_template(v, params) for v in value]
    if isinstance(value, str):
        out = re.sub(r"\{\{\s*\.path\.(\w+)\s*\}\}", lambda m: params[m.group(1)], value)
        assert "{{" not in out, f"template action this helper does not know: {value}"
        return out
    return value


def generate_applications(appset: dict, directories: list[str]) -> list[dict]:
    """ApplicationSet git directory generator (applicationset/generators/git.go filterApps):
    a directory is generated when an include pattern matches it and no exclude pattern does.
    The controller then adds the resources-finalizer when the template has no finalizers and
    preserveResourcesOnDeletion is false (applicationset/utils/utils.go RenderTemplateParams,
    argo-cd v3.5.1 L293-301), and makes the ApplicationSet the owner (createOrUpdateInCluster)."""
    [generator] = appset["spec"]["generators"]
    items = generator["git"]["directories"]
    preserve = (appset["spec"].get("syncPolicy") or {}).get("preserveResourcesOnDeletion", False)
    apps = []
    for directory in directories:
        matches = [item for item in items if go_path_match(item["path"], directory)]
        if matches and not any(item.get("exclude") for item in matches):
            base = directory.rsplit("/", 1)[-1]
            params = {"path": directory, "basename": base,
                      "basenameNormalized": re.sub(r"[^a-zA-Z0-9-]", "-", base).lower()}
            app = render_go_template(appset["spec"]["template"], params)
            metadata = app["metadata"]
            if not metadata.get("finalizers") and not preserve:
                metadata["finalizers"] = [RESOURCES_FINALIZER]
            metadata["ownerReferences"] = [{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
                                            "name": appset["metadata"]["name"], "controller": True}]
            apps.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **app})
    return apps


def options(resource: dict, annotation: str) -> set[str]:
    """A comma-separated Argo CD option annotation (sync-options, compare-options) as a set."""
    value = (resource["metadata"].get("annotations") or {}).get(annotation, "")
    return {option.strip() for option in value.split(",") if option.strip()}


def glob_match(pattern: str, value: str) -> bool:
    """util/glob.Match (gobwas/glob without separators): `*` matches anything, `!` negates."""
    if pattern.startswith("!"):
        return not fnmatch.fnmatchcase(value, pattern[1:])
    return pattern == "*" or fnmatch.fnmatchcase(value, pattern)


def destination_permitted(project: dict, server: str, namespace: str, name: str = "") -> bool:
    """AppProject.isDestinationMatched (argo-cd v3.5.1 pkg/apis/application/v1alpha1/app_project_types.go
    L507-527): some entry matches the server or the cluster name, and the namespace; no deny ("!")
    entry excludes them."""
    permitted = False
    for item in project["spec"].get("destinations") or []:
        server_ok = bool(server) and glob_match(item.get("server", ""), server)
        name_ok = bool(name) and glob_match(item.get("name", ""), name)
        namespace_ok = glob_match(item.get("namespace", ""), namespace)
        if (server_ok or name_ok) and namespace_ok:
            permitted = True
        elif (not server_ok and item.get("server", "").startswith("!")) or \
                (not namespace_ok and item.get("namespace", "").startswith("!")):
            return False
    return permitted


def cluster_kind_permitted(project: dict, group: str, kind: str) -> bool:
    """AppProject.IsGroupKindPermitted for a cluster-scoped kind: whitelisted, not blacklisted."""
    def listed(entries):
        return any(glob_match(e["group"], group) and glob_match(e["kind"], kind) for e in entries or [])
    spec = project["spec"]
    return listed(spec.get("clusterResourceWhitelist")) and not listed(spec.get("clusterResourceBlacklist"))


def source_permitted(project: dict, repo_url: str) -> bool:
    return any(glob_match(pattern, repo_url) for pattern in project["spec"].get("sourceRepos") or [])


def go_duration_seconds(text: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.fullmatch(r"((\d+(\.\d+)?)(h|m|s))+", text)
    assert parts, f"not a Go duration: {text}"
    return sum(float(n) * units[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(h|m|s)", text))


def always_open_windows(project: dict, app_name: str) -> list[dict]:
    """Sync windows that match the Application by name and are open at every moment: they start
    every minute and last at least a minute."""
    return [w for w in project["spec"].get("syncWindows") or []
            if any(glob_match(p, app_name) for p in w.get("applications") or [])
            and w["schedule"].split() == ["*"] * 5 and go_duration_seconds(w["duration"]) >= 60]


@pytest.fixture(scope="module")
def health_scripts(argocd) -> dict[str, str]:
    return one(argocd, "ConfigMap", "argocd-cm")["data"]


# === 1. argocd/ renders and validates ================================================================


def test_argocd_renders_and_validates_against_the_argo_cd_schemas(rendered, shared):
    """The datreeio catalog schemas (additionalProperties: false below the root) for every
    argoproj.io resource of argocd/ and argocd/root."""
    checked = 0
    for target in ("argocd", "root"):
        for resource in rendered[target]:
            group, _, version = resource["apiVersion"].rpartition("/")
            if group != "argoproj.io":
                continue
            schema = json.loads((shared / f"schemas/argoproj.io/{resource['kind'].lower()}_{version}.json").read_text())
            errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(resource), key=lambda e: e.path)
            assert not errors, f"{resource['kind']} {resource['metadata']['name']}: " + "; ".join(
                f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)
            checked += 1
    kinds = sorted({r["kind"] for r in rendered["argocd"] + rendered["root"]})
    assert kinds == ["AppProject", "Application", "ApplicationSet", "ConfigMap"]
    assert checked == 7  # project, kuberay-crds, kuberay-operator, the three ApplicationSets, the root


def test_the_catalog_schema_rejects_a_typo(shared, argocd):
    """The check above is real: the same schema fails an unknown field."""
    schema = json.loads((shared / "schemas/argoproj.io/application_v1alpha1.json").read_text())
    app = json.loads(json.dumps(one(argocd, "Application", "kuberay-operator")))
    app["spec"]["syncPolicy"]["automatic"] = {}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(app))


def test_tools_validate_accepts_argocd_and_the_operator_setup(repo):
    result = run_tool(repo, "validate", "argocd", "argocd/root", "base/kuberay-operator")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_placeholder_survives_rendering(rendered):
    text = yaml.safe_dump_all(rendered["argocd"] + rendered["root"])
    for placeholder in PLACEHOLDERS:
        assert placeholder not in text


# === 2. one setting each: repoURL, targetRevision, the KubeRay version ================================


def this_repo_sources(resources: list[dict]) -> list[dict]:
    out = []
    for resource in resources:
        if resource["kind"] == "Application":
            out += [s for s in sources(resource) if s["repoURL"] not in KUBERAY_REPOS]
        if resource["kind"] == "ApplicationSet":
            generator = resource["spec"]["generators"][0]
            git = (generator["matrix"]["generators"][0] if "matrix" in generator else generator)["git"]
            out += [{"repoURL": git["repoURL"], "targetRevision": git["revision"]},
                    resource["spec"]["template"]["spec"]["source"]]
    return out


def test_repo_url_and_target_revision_come_from_the_settings(rendered, settings):
    found = this_repo_sources(rendered["argocd"] + rendered["root"])
    # the operator's $values source, each ApplicationSet's generator and template, the root Application
    assert len(found) == 8
    for source in found:
        assert (source["repoURL"], source["targetRevision"]) == (settings["repoURL"], settings["targetRevision"])
    assert settings["repoURL"] in one(rendered["argocd"], "AppProject")["spec"]["sourceRepos"]


def test_no_other_file_in_argocd_spells_out_a_setting(repo, settings):
    """The settings file is the only place to edit: no other manifest under argocd/ holds the values.
    Comments are not checked: they cite KubeRay's source at fixed tags (v1.1.1, v1.7.0)."""
    for path in sorted((repo / "argocd").rglob("*")):
        if path.suffix in (".yaml", ".yml", ".lua") and path.name != "settings.yaml":
            text = path.read_text()
            if path.suffix == ".lua":
                text = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
            else:
                text = yaml.safe_dump_all(list(yaml.safe_load_all(text)))
            for key in ("repoURL", "kuberayVersion"):
                assert settings[key] not in text, f"{path.relative_to(repo)} repeats {key} {settings[key]}"


def test_changing_the_settings_changes_every_use(repo, tmp_path):
    """Edit only settings.yaml in a copy of argocd/ and render both roots again."""
    copy = tmp_path / "argocd"
    shutil.copytree(repo / "argocd", copy)
    path = copy / "settings/settings.yaml"
    text = path.read_text()
    for old, new in (("https://github.com/example-org/raygitops.git", "https://git.example.com/fork.git"),
                     ("targetRevision: main", "targetRevision: release-7"),
                     ('kuberayVersion: "1.7.0"', 'kuberayVersion: "1.8.2"')):
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    resources = kustomize(copy) + kustomize(copy / "root")
    for source in this_repo_sources(resources):
        assert (source["repoURL"], source["targetRevision"]) == ("https://git.example.com/fork.git", "release-7")
    assert sources(one(resources, "Application", "kuberay-operator"))[0]["targetRevision"] == "1.8.2"
    assert one(resources, "Application", "kuberay-crds")["spec"]["source"]["targetRevision"] == "v1.8.2"


def test_kuberay_is_pinned_to_the_single_version_pin(repo, argocd, settings):
    pin = load_config(repo).versions.kuberay
    assert settings["kuberayVersion"] == pin
    chart = sources(one(argocd, "Application", "kuberay-operator"))[0]
    assert (chart["repoURL"], chart["chart"], chart["targetRevision"]) == (KUBERAY_REPOS[0], "kuberay-operator", pin)
    crds = one(argocd, "Application", "kuberay-crds")["spec"]["source"]
    assert (crds["repoURL"], crds["path"], crds["targetRevision"]) == (
        KUBERAY_REPOS[1], "helm-chart/kuberay-operator/crds", f"v{pin}")
    values = yaml.safe_load((repo / "base/kuberay-operator/values.yaml").read_text())
    tag = (values.get("image") or {}).get("tag")
    assert tag in (None, f"v{pin}"), f"operator image tag {tag} but versions.kuberay is {pin}"


# === 3. the KubeRay Applications ========================================================================


def last_applied_size(obj: dict) -> int:
    """Bytes of kubectl.kubernetes.io/last-applied-configuration: the object as compact JSON,
    with Go's json.Marshal escaping of <, > and &."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return len(text.encode())


@pytest.mark.parametrize("crd", ["ray.io_rayclusters.yaml", "ray.io_rayservices.yaml", "ray.io_rayjobs.yaml"])
def test_kuberay_crds_are_too_big_for_client_side_apply(repo, shared, argocd, crd):
    pin = load_config(repo).versions.kuberay
    obj = load_crd_file(shared / f"crds/kuberay/v{pin}/{crd}")
    size = last_applied_size(obj)
    print(f"{crd} v{pin}: last-applied-configuration would be {size:,} bytes (limit {ANNOTATION_LIMIT:,})")
    assert size > ANNOTATION_LIMIT
    options = one(argocd, "Application", "kuberay-crds")["spec"]["syncPolicy"]["syncOptions"]
    assert "ServerSideApply=true" in options or "Replace=true" in options


def test_the_operator_chart_skips_its_crds_and_takes_values_from_this_repo(argocd, repo, settings):
    chart, values = sources(one(argocd, "Application", "kuberay-operator"))
    assert chart["helm"]["skipCrds"] is True
    assert chart["helm"]["valueFiles"] == ["$values/base/kuberay-operator/values.yaml"]
    assert values["ref"] == "values" and values["repoURL"] == settings["repoURL"]
    assert (repo / values["path"] / "values.yaml").is_file()
    assert (repo / values["path"] / "kustomization.yaml").is_file()  # its path is deployed too


def test_the_operator_watches_every_environment(repo, rendered, environments, argocd):
    """The namespace-scoped operator only reconciles the namespaces it lists; its Roles there
    need the namespaces first. A new overlay must be added to both lists."""
    namespaces = sorted(one(rendered[env], "RayService")["metadata"]["namespace"] for env in environments)
    values = yaml.safe_load((repo / "base/kuberay-operator/values.yaml").read_text())
    assert values["singleNamespaceInstall"] is True and values.get("crNamespacedRbacEnable", True) is True
    # A superset: a removed environment stays listed until its RayService is gone (README, "Remove an environment").
    assert set(values["watchNamespace"]) >= set(namespaces), "base/kuberay-operator/values.yaml watchNamespace"
    created = kustomize(repo / "base/kuberay-operator")
    operator_namespace = one(argocd, "Application", "kuberay-operator")["spec"]["destination"]["namespace"]
    assert sorted(r["metadata"]["name"] for r in created if r["kind"] == "Namespace") == \
        sorted({*values["watchNamespace"], operator_namespace}), "base/kuberay-operator/namespace.yaml"
    for namespace in created:
        assert "Delete=false" in namespace["metadata"]["annotations"]["argocd.argoproj.io/sync-options"]


# === 4. one Application per environment ==================================================================


@pytest.fixture(scope="module")
def appsets(argocd) -> list[dict]:
    return [one(argocd, "ApplicationSet", name) for name in APPSETS]


@pytest.fixture(scope="module")
def env_apps(appsets, repo) -> list[dict]:
    """Every environment's Application, from both ApplicationSets."""
    return [app for appset in appsets for app in generate_applications(appset, repo_directories(repo))]


def test_every_overlay_has_exactly_one_application(env_apps, environments, repo):
    paths = [app["spec"]["source"]["path"] for app in env_apps]
    assert sorted(paths) == [f"{ENVIRONMENTS}/{env}" for env in environments]
    names = [app["metadata"]["name"] for app in env_apps]
    assert len(set(names)) == len(names)
    for path in paths:
        assert (repo / path / "kustomization.yaml").is_file(), f"{path} is not an overlay"


def test_each_application_deploys_to_its_overlays_namespace(env_apps, rendered):
    for app in env_apps:
        env = app["spec"]["source"]["path"].rsplit("/", 1)[-1]
        assert app["metadata"]["name"] == f"aana-{env}"
        namespaces = {r["metadata"].get("namespace") for r in rendered[env]}
        assert namespaces == {app["spec"]["destination"]["namespace"]} == {f"aana-{env}"}
        assert app["spec"]["destination"]["server"] == IN_CLUSTER


def test_a_new_overlay_gets_an_application_without_editing_argocd(argocd, appsets, repo):
    assert not (repo / ENVIRONMENTS / NEW_ENV).exists()
    directories = repo_directories(repo) + [f"{ENVIRONMENTS}/{NEW_ENV}", f"{ENVIRONMENTS}/{NEW_ENV}/generated"]
    apps = [app for appset in appsets for app in generate_applications(appset, directories)]
    [new] = [a for a in apps if a["metadata"]["name"] == f"aana-{NEW_ENV}"]
    assert new["spec"]["source"]["path"] == f"{ENVIRONMENTS}/{NEW_ENV}"
    assert new["spec"]["destination"]["namespace"] == f"aana-{NEW_ENV}"
    # Unprotected, as every environment is until listed in protected-environments.yaml.
    assert new["metadata"]["ownerReferences"][0]["name"] == "aana"
    assert new["metadata"]["finalizers"] == [RESOURCES_FINALIZER]
    assert destination_permitted(one(argocd, "AppProject"), IN_CLUSTER, f"aana-{NEW_ENV}")


def test_environment_sync_policy(env_apps):
    for app in env_apps:
        policy = app["spec"]["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}
        assert {"CreateNamespace=true", "ServerSideApply=true", "SkipDryRunOnMissingResource=true"} <= set(
            policy["syncOptions"])
        assert "ignoreDifferences" not in app["spec"]  # see the comment in argocd/environments.yaml


def test_every_environment_uses_server_side_diff(env_apps, environments):
    """With ServerSideApply=true and no ServerSideDiff, Argo CD diffs with its structured-merge
    diff, discontinued and troubled by CRDs with defaults (docs/user-guide/diff-strategies.md);
    Server-Side Diff is stable since Argo CD 3.1."""
    assert len(env_apps) == len(environments)
    for app in env_apps:
        assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
        assert "ServerSideDiff=true" in options(app, COMPARE_OPTIONS), app["metadata"]["name"]
        assert "ServerSideDiff=false" not in options(app, COMPARE_OPTIONS)


def test_prod_is_manual_through_the_one_sync_window(argocd, env_apps):
    """argocd/project.yaml syncWindows: an always-open deny window with manualSync blocks
    automated sync and self-heal of the Applications it names and still allows a person's sync."""
    project = one(argocd, "AppProject")
    manual = {}
    for app in env_apps:
        windows = always_open_windows(project, app["metadata"]["name"])
        denied = [w for w in windows if w["kind"] == "deny"]
        if denied:
            assert all(w.get("manualSync") is True for w in denied), "a person could not sync it either"
        manual[app["metadata"]["name"]] = bool(denied)
    assert manual.get("aana-prod") is True, "prod syncs automatically"
    assert [name for name, is_manual in manual.items() if is_manual] == ["aana-prod"], "only prod is manual"
    names = {a["metadata"]["name"] for a in env_apps} | {a["metadata"]["name"] for a in two_cluster_apps(argocd)}
    for window in project["spec"]["syncWindows"]:
        for pattern in window["applications"]:
            assert any(glob_match(pattern, n) for n in names), f"sync window names no Application: {pattern}"


# === 5. the AppProject ========================================================================================


def test_every_application_is_inside_the_project(argocd, env_apps):
    project = one(argocd, "AppProject")
    apps = env_apps + [r for r in argocd if r["kind"] == "Application"]
    assert len(apps) >= 5
    for app in apps:
        assert app["spec"]["project"] == project["metadata"]["name"]
        destination = app["spec"]["destination"]
        assert destination_permitted(project, destination.get("server", ""), destination["namespace"],
                                     destination.get("name", "")), app["metadata"]
        for source in sources(app):
            assert source_permitted(project, source["repoURL"]), source["repoURL"]


@pytest.mark.parametrize("server, namespace", [
    (IN_CLUSTER, "kube-system"),
    (IN_CLUSTER, "default"),
    (IN_CLUSTER, "argocd"),
    (IN_CLUSTER, "ana-prod"),
    ("https://prod-cluster.example.com:6443", "aana-prod"),
    ("https://prod-cluster.example.com:6443", "kuberay-system"),
])
def test_the_project_denies_a_destination_outside_the_list(argocd, server, namespace):
    assert not destination_permitted(one(argocd, "AppProject"), server, namespace)


def test_the_project_allows_only_crds_and_namespaces_cluster_wide(argocd, shared, repo):
    project = one(argocd, "AppProject")
    pin = load_config(repo).versions.kuberay
    for crd in sorted((shared / f"crds/kuberay/v{pin}").glob("*.yaml")):
        head = crd.read_text()[:2000]
        assert "kind: CustomResourceDefinition" in head and "apiextensions.k8s.io" in head
    assert cluster_kind_permitted(project, "apiextensions.k8s.io", "CustomResourceDefinition")
    assert cluster_kind_permitted(project, "", "Namespace")
    for group, kind in [("rbac.authorization.k8s.io", "ClusterRole"),
                        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
                        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
                        ("storage.k8s.io", "StorageClass")]:
        assert not cluster_kind_permitted(project, group, kind), kind
    assert len(project["spec"]["clusterResourceWhitelist"]) == 2


def test_the_project_denies_other_source_repositories(argocd):
    project = one(argocd, "AppProject")
    assert len(project["spec"]["sourceRepos"]) == 3
    for url in ("https://github.com/someone/else.git", "https://charts.example.com/"):
        assert not source_permitted(project, url)


# === 6. sync waves, finalizers, deletion order ==================================================================


def test_sync_waves_put_crds_before_the_operator_before_the_rayservices(argocd, rendered, environments):
    project, health = one(argocd, "AppProject"), one(argocd, "ConfigMap", "argocd-cm")
    crds, operator = one(argocd, "Application", "kuberay-crds"), one(argocd, "Application", "kuberay-operator")
    assert wave(project) < wave(crds) and wave(health) < wave(crds)
    for name in APPSETS:
        assert wave(crds) < wave(operator) < wave(one(argocd, "ApplicationSet", name))
    # Inside each environment the RayService comes last, after the migration hook.
    for env in environments:
        service = one(rendered[env], "RayService")
        others = [r for r in rendered[env] if r is not service]
        assert others and all(wave(r) < wave(service) for r in others), env


def test_waves_wait_for_application_health(health_scripts):
    """Argo CD only waits between waves for resources it can assess: Application health must be
    configured, or the operator and the RayServices would start before the CRDs are in."""
    assert HEALTH_KEY.format(group="argoproj.io", kind="Application") in health_scripts


def test_finalizers_delete_the_rayservices_before_the_operator(argocd, rendered, env_apps):
    """Deleting an unprotected environment's Application deletes its resources (the RayService
    first: the highest wave) while the operator, in its own Application, still runs to clear the
    RayService finalizer. A cascade delete of the root runs waves in reverse: the ApplicationSet
    (and every unprotected environment) before the operator. Argo CD never cascade-deletes CRDs."""
    operator = one(argocd, "Application", "kuberay-operator")
    appset = one(argocd, "ApplicationSet", "aana")
    assert RESOURCES_FINALIZER in operator["metadata"]["finalizers"]
    unprotected = [app for app in env_apps if app["metadata"]["ownerReferences"][0]["name"] == "aana"]
    assert unprotected and all(app["metadata"]["finalizers"] == [RESOURCES_FINALIZER] for app in unprotected)
    assert wave(appset) > wave(operator)
    assert "finalizers" not in one(argocd, "Application", "kuberay-crds")["metadata"]
    assert "finalizers" not in one(rendered["root"], "Application", "raygitops")["metadata"]
    cm = one(argocd, "ConfigMap", "argocd-cm")
    assert "Delete=false" in cm["metadata"]["annotations"]["argocd.argoproj.io/sync-options"]
    assert one(argocd, "Application", "kuberay-crds")["spec"]["syncPolicy"]["automated"]["prune"] is False


def test_the_root_application_syncs_argocd(rendered, repo):
    root = one(rendered["root"], "Application", "raygitops")
    assert root["spec"]["source"]["path"] == "argocd" and (repo / "argocd/kustomization.yaml").is_file()
    assert root["spec"]["destination"] == {"server": IN_CLUSTER, "namespace": "argocd"}
    assert "ServerSideApply=true" in root["spec"]["syncPolicy"]["syncOptions"]


# === 6b. deletion protection for the protected environments (prod) ================================
# Argo CD's deletion behaviour, re-implemented from argo-cd v3.5.1:
#   - an ApplicationSet deletes the Applications it no longer generates when its policy allows
#     deletes (applicationset_controller.go Reconcile → deleteInCluster; utils/policy.go
#     DefaultPolicy: spec.syncPolicy.applicationsSync, as the controller runs without --policy);
#   - a deleted ApplicationSet takes its Applications with it through their owner references,
#     unless it has the resources-finalizer, its policy forbids deletes, and the deletion is
#     background: the controller then removes the owner references first (Reconcile L149-176).
#     Foreground deletion gives "no guarantee" (Controlling-Resource-Modification.md), so it counts
#     as deleting them;
#   - the root Application prunes and cascade-deletes with foreground propagation
#     (sync-options.md, app_deletion.md) unless the resource says Prune=false / Delete=false;
#   - a deleted Application deletes its resources only with the resources-finalizer
#     (app_deletion.md; `argocd app delete --cascade` adds it on purpose).
FOREGROUND, BACKGROUND = "foreground", "background"


def allows_delete(appset: dict) -> bool:
    """ApplicationsSyncPolicy.AllowDelete: sync (the default) and create-delete."""
    policy = (appset["spec"].get("syncPolicy") or {}).get("applicationsSync") or "sync"
    return policy in ("sync", "create-delete")


def argo_cd_deletes(appsets: list[dict], directories: list[str], removed: tuple[str, ...] = (),
                    deleted_appsets: dict[str, str] | None = None,
                    deleted_apps: tuple[str, ...] = ()) -> tuple[set[str], set[str]]:
    """(Applications deleted, Applications whose resources are deleted) when the overlays under
    `removed` leave Git, the ApplicationSets in `deleted_appsets` are deleted (name → propagation),
    and a person deletes `deleted_apps` with kubectl."""
    remaining = [d for d in directories if not any(d == r or d.startswith(r + "/") for r in removed)]
    apps, deleted = {}, set(deleted_apps)
    for appset in appsets:
        before = {app["metadata"]["name"]: app for app in generate_applications(appset, directories)}
        apps.update(before)
        name = appset["metadata"]["name"]
        if name in (deleted_appsets or {}):
            keeps = (deleted_appsets[name] == BACKGROUND and not allows_delete(appset)
                     and RESOURCES_FINALIZER in (appset["metadata"].get("finalizers") or []))
            if not keeps:
                deleted |= set(before)
        elif allows_delete(appset):
            after = {app["metadata"]["name"] for app in generate_applications(appset, remaining)}
            deleted |= set(before) - after
    return deleted, {n for n in deleted if RESOURCES_FINALIZER in (apps[n]["metadata"].get("finalizers") or [])}


def by_the_root(appsets: list[dict], option: str) -> dict[str, str]:
    """The ApplicationSets a root prune (option Prune) or cascade delete (Delete) removes."""
    return {appset["metadata"]["name"]: FOREGROUND for appset in appsets
            if f"{option}=false" not in options(appset, SYNC_OPTIONS)}


ACCIDENTS = {
    "overlays/prod deleted": lambda appsets: {"removed": (f"{ENVIRONMENTS}/prod",)},
    "overlays/ deleted": lambda appsets: {"removed": (ENVIRONMENTS,)},
    "the ApplicationSets leave argocd/ or are renamed: the root prunes them":
        lambda appsets: {"deleted_appsets": by_the_root(appsets, "Prune")},
    "argocd app delete raygitops --cascade": lambda appsets: {"deleted_appsets": by_the_root(appsets, "Delete")},
    "kubectl delete applicationset --all": lambda appsets: {"deleted_appsets": dict.fromkeys(APPSETS, BACKGROUND)},
}


@pytest.mark.parametrize("accident", ACCIDENTS)
def test_no_accident_deletes_prod(accident, appsets, repo):
    """Prod keeps its RayService and stays managed by its Application aana-prod."""
    apps, resources = argo_cd_deletes(appsets, repo_directories(repo), **ACCIDENTS[accident](appsets))
    assert "aana-prod" not in apps and "aana-prod" not in resources


def test_deleting_prods_application_by_hand_keeps_its_resources(appsets, repo):
    """kubectl delete application aana-prod (or Kubernetes' garbage collector): no finalizer."""
    apps, resources = argo_cd_deletes(appsets, repo_directories(repo), deleted_apps=("aana-prod",))
    assert apps == {"aana-prod"} and not resources


def test_an_unprotected_environment_is_still_removed_with_its_overlay(appsets, repo, environments):
    """README "Remove an environment", step 1, and the root's full teardown."""
    others = [env for env in environments if env != "prod"]
    assert others
    for env in others:
        apps, resources = argo_cd_deletes(appsets, repo_directories(repo), removed=(f"{ENVIRONMENTS}/{env}",))
        assert apps == resources == {f"aana-{env}"}
    teardown = ACCIDENTS["argocd app delete raygitops --cascade"](appsets)
    _, resources = argo_cd_deletes(appsets, repo_directories(repo), **teardown)
    assert resources == {f"aana-{env}" for env in others}


def test_removing_prod_on_purpose_works(appsets, repo):
    """README "Remove an environment" for a protected one: once its overlay is gone no
    ApplicationSet makes aana-prod again, so `argocd app delete aana-prod --cascade` sticks."""
    remaining = [d for d in repo_directories(repo) if not d.startswith(f"{ENVIRONMENTS}/prod")]
    assert not [app for appset in appsets for app in generate_applications(appset, remaining)
                if app["metadata"]["name"] == "aana-prod"]


def weaken(appset: dict, layer: str) -> dict:
    appset = json.loads(json.dumps(appset))
    if layer == "preserveResourcesOnDeletion":
        del appset["spec"]["syncPolicy"]["preserveResourcesOnDeletion"]
    elif layer == "applicationsSync":
        del appset["spec"]["syncPolicy"]["applicationsSync"]
    elif layer == "finalizer":
        del appset["metadata"]["finalizers"]
    else:
        del appset["metadata"]["annotations"][SYNC_OPTIONS]
    return appset


@pytest.mark.parametrize("layer", ["preserveResourcesOnDeletion", "applicationsSync", "finalizer", "sync-options"])
def test_each_protection_layer_matters(layer, appsets, repo):
    """The tests above are real: without any one layer, some accident loses prod."""
    weakened = [weaken(a, layer) if a["metadata"]["name"] == PROTECTED else a for a in appsets]
    directories = repo_directories(repo)
    lost = [name for name, accident in ACCIDENTS.items()
            if "aana-prod" in argo_cd_deletes(weakened, directories, **accident(weakened))[0]]
    _, by_hand = argo_cd_deletes(weakened, directories, deleted_apps=("aana-prod",))
    assert lost or by_hand, layer


def test_the_protected_application_set(argocd, appsets, repo, environments):
    aana, protected = appsets
    assert protected["spec"]["template"] == aana["spec"]["template"]   # kustomization.yaml copies it
    assert "finalizers" not in aana["spec"]["template"]["metadata"]
    assert protected["spec"]["syncPolicy"] == {"preserveResourcesOnDeletion": True, "applicationsSync": "create-update"}
    assert RESOURCES_FINALIZER in protected["metadata"]["finalizers"]
    assert {"Prune=false", "Delete=false"} <= options(protected, SYNC_OPTIONS)
    # Every protected path is an overlay, excluded from aana by the same path; prod among them.
    protected_paths = [d["path"] for d in protected["spec"]["generators"][0]["git"]["directories"]]
    excluded = [d["path"] for d in aana["spec"]["generators"][0]["git"]["directories"] if d.get("exclude")]
    assert f"{ENVIRONMENTS}/prod" in protected_paths and sorted(protected_paths) == sorted(excluded)
    for path in protected_paths:
        assert "*" not in path and path.split("/", 1)[1] in environments, path


# === 7. health checks (run in real Lua by tests/unit/test_health_lua.py) ========================


def test_argocd_cm_pins_annotation_tracking(argocd):
    """KubeRay copies the RayService's labels onto its RayClusters: see argocd/kustomization.yaml."""
    assert one(argocd, "ConfigMap", "argocd-cm")["data"]["application.resourceTrackingMethod"] == "annotation"


def test_argocd_cm_carries_the_lua_files(health_scripts, repo):
    for group, kind, file in (("ray.io", "RayService", "rayservice.lua"), ("ray.io", "RayCluster", "raycluster.lua"),
                              ("argoproj.io", "Application", "application.lua")):
        assert health_scripts[HEALTH_KEY.format(group=group, kind=kind)] == (repo / "argocd/health" / file).read_text()


# === 8. the database migration hook ==============================================================================


POSTGRES_ENVIRONMENTS = overlays_with_component("postgres")   # overlays listing base/components/postgres


def postgres_environments(rendered, environments) -> list[str]:
    return [env for env in environments if any(r["kind"] == "ExternalSecret" for r in rendered[env])]


def test_staging_and_prod_are_the_postgres_environments(rendered, environments):
    """Every overlay with base/components/postgres (staging and prod among them) renders the
    ExternalSecret and the migration Job; no other overlay does (dev uses SQLite)."""
    assert {"staging", "prod"} <= set(POSTGRES_ENVIRONMENTS) and "dev" not in POSTGRES_ENVIRONMENTS
    assert postgres_environments(rendered, environments) == POSTGRES_ENVIRONMENTS
    for env in environments:
        jobs = [r["metadata"]["name"] for r in rendered[env] if r["kind"] == "Job"]
        assert jobs == (["aana-db-migrate"] if env in POSTGRES_ENVIRONMENTS else []), env


def test_every_environment_with_an_aana_app_migrates_aanas_tables(repo, rendered, environments):
    """Aana 0.2.4 makes its tables only in AanaSDK.migrate: an environment serving an Aana app either runs
    the Job aana-db-migrate with the app in AANA_APPS (PostgreSQL), or keeps the database in SQLite, which
    the app's replicas migrate themselves (apps/echo_aana/app.py RecordEndpoint.initialize)."""
    config = load_config(repo)
    checked = []
    for env in environments:
        apps = [app for app in config.applications_in(env) if app.aana]
        if not apps:
            continue
        resources = rendered[env]
        serve = yaml.safe_load(one(resources, "RayService")["spec"]["serveConfigV2"])
        by_name = {a["name"]: a for a in serve["applications"]}
        jobs = [r for r in resources if r["kind"] == "Job" and r["metadata"]["name"] == "aana-db-migrate"]
        for app in apps:
            db = json.loads(by_name[app.name]["runtime_env"]["env_vars"]["DB_CONFIG"])
            if db["datastore_type"] == "sqlite":
                checked.append((env, "sqlite"))
                continue
            assert jobs, f"{env} serves the Aana app {app.name} on {db['datastore_type']} but runs no aana-db-migrate"
            [container] = jobs[0]["spec"]["template"]["spec"]["containers"]
            env_map = one(resources, "ConfigMap", container["envFrom"][0]["configMapRef"]["name"])
            assert app.import_path in env_map["data"]["AANA_APPS"].split(), env
            checked.append((env, "job"))
    assert ("dev", "sqlite") in checked and ("staging", "job") in checked and ("prod", "job") in checked


def password_refs(service: dict) -> list[dict]:
    config = service["spec"]["rayClusterConfig"]
    templates = [config["headGroupSpec"]["template"]] + [g["template"] for g in config["workerGroupSpecs"]]
    return [env["valueFrom"]["secretKeyRef"] for t in templates for c in t["spec"]["containers"]
            for env in c.get("env") or [] if env["name"] == "DB_CONFIG__DATASTORE_CONFIG__PASSWORD"]


@pytest.mark.parametrize("env", POSTGRES_ENVIRONMENTS)
def test_the_migration_job_runs_before_the_rayservice_with_its_settings(rendered, env):
    resources = rendered[env]
    job, service = one(resources, "Job", "aana-db-migrate"), one(resources, "RayService")
    notes = job["metadata"]["annotations"]
    assert notes[HOOK] == "Sync"  # not PreSync: see migration-job.yaml
    assert notes["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    # Wave 0 (the ConfigMaps, the ExternalSecret) < the Job < the RayService.
    assert 0 < wave(job) < wave(service)
    assert all(wave(r) < wave(job) for r in resources if r not in (job, service))

    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == service["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"][
        "containers"][0]["image"]
    # The same Secret as the RayService.
    [job_secret] = [e["valueFrom"]["secretKeyRef"] for e in container["env"]
                    if e["name"] == "DB_CONFIG__DATASTORE_CONFIG__PASSWORD"]
    assert password_refs(service) and all(ref == job_secret for ref in password_refs(service))
    assert job_secret == {"name": "aana-db", "key": "password"}
    assert one(resources, "ExternalSecret", "aana-db")["spec"]["target"]["name"] == "aana-db"
    # raygitops-env, by the hashed name kustomize gave it in this render.
    [env_from] = container["envFrom"]
    name = env_from["configMapRef"]["name"]
    assert name.startswith("raygitops-env-") and name != "raygitops-env"
    config_map = one(resources, "ConfigMap", name)
    assert {"DB_CONFIG", "WORKING_DIR_URL"} <= set(config_map["data"])
    assert json.loads(config_map["data"]["DB_CONFIG"])["datastore_type"] == "postgresql"
    # The script, from its own file, also by hashed name.
    [script] = [v["configMap"]["name"] for v in job["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    assert script.startswith("raygitops-migrate-")
    assert "migrate.py" in one(resources, "ConfigMap", script)["data"]


def write_working_dir(repo: Path, tmp_path: Path) -> str:
    """The real working_dir zip of apps/, as tools/regen builds it, behind a file:// URL."""
    package = build_package(repo)
    path = tmp_path / package.filename
    path.write_bytes(package.content)
    with zipfile.ZipFile(path) as archive:
        assert "working_dir/apps/db.py" in archive.namelist()
    return path.as_uri()


def run_migrate(script: Path, workdir: Path, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_CONFIG", "WORKING_DIR_URL"))}
    workdir.mkdir()
    return subprocess.run([sys.executable, str(script), str(workdir)], env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def migrate_script(rendered, tmp_path) -> Path:
    """migrate.py exactly as the staging render ships it in the ConfigMap."""
    job = one(rendered["staging"], "Job", "aana-db-migrate")
    [name] = [v["configMap"]["name"] for v in job["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    path = tmp_path / "migrate.py"
    path.write_text(one(rendered["staging"], "ConfigMap", name)["data"]["migrate.py"])
    return path


def test_the_migration_script_migrates_with_the_working_dir_zip(repo, tmp_path, migrate_script, rendered):
    """The hook's code path for real: fetch the zip, unpack it, run `python -m apps.db migrate` and
    Aana's own `aana migrate` for the Aana apps the ConfigMap lists, from it. SQLite stands in for
    Postgres; the tables are the demo apps' notes table and Aana's (tasks, Alembic's version)."""
    job = one(rendered["staging"], "Job", "aana-db-migrate")
    env_map = one(rendered["staging"], "ConfigMap", job["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]
                  ["configMapRef"]["name"])
    database = tmp_path / "db" / "aana.sqlite"
    db_config = json.dumps({"datastore_type": "sqlite", "datastore_config": {"path": str(database)}})
    result = run_migrate(migrate_script, tmp_path / "work",
                         {"WORKING_DIR_URL": write_working_dir(repo, tmp_path), "DB_CONFIG": db_config,
                          "AANA_APPS": env_map["data"]["AANA_APPS"], "TMP_DATA_DIR": "/nonexistent/aana-data"})
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("select name from sqlite_master where type='table'")}
    assert {"notes", "tasks", "alembic_version"} <= tables
    assert "aana migrate apps.echo_aana.app:aana_app" in result.stdout
    # Aana's data directory went into the Job's work directory, not to the replicas' volume path.
    assert (tmp_path / "work/aana_data").is_dir() and not Path("/nonexistent").exists()
    # It ran the unpacked code, not the checkout's.
    assert (tmp_path / "work/working_dir/apps/db.py").is_file()


def test_the_migration_script_fails_clearly(tmp_path, migrate_script):
    result = run_migrate(migrate_script, tmp_path / "a", {})
    assert result.returncode == 2 and "WORKING_DIR_URL is not set" in result.stderr
    missing = (tmp_path / "nowhere.zip").as_uri()
    result = run_migrate(migrate_script, tmp_path / "b", {"WORKING_DIR_URL": missing})
    assert result.returncode == 1 and "cannot fetch" in result.stderr
    not_ours = tmp_path / "other.zip"
    with zipfile.ZipFile(not_ours, "w") as archive:
        archive.writestr("something/else.txt", "x")
    result = run_migrate(migrate_script, tmp_path / "c", {"WORKING_DIR_URL": not_ours.as_uri()})
    assert result.returncode == 1 and "no working_dir/apps/" in result.stderr


def test_the_migration_script_refuses_an_image_without_aana_before_migrating(tmp_path, migrate_script):
    """The Job runs in images.ray-image; plain rayproject/ray has no Aana. The system Python, which has none
    either, stands in for it: the script says so before fetching or migrating anything."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_CONFIG", "WORKING_DIR_URL", "PYTHON"))}
    result = subprocess.run(["/usr/bin/python3", "-S", str(migrate_script), str(tmp_path)], capture_output=True,
                            text=True, timeout=60, env={**clean, "AANA_APPS": "apps.echo_aana.app:aana_app",
                                                        "WORKING_DIR_URL": (tmp_path / "never.zip").as_uri()})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "this image has no Aana, so it cannot run `aana migrate` for apps.echo_aana.app:aana_app" in result.stderr
    assert "images.ray-image in raygitops.yaml" in result.stderr and os.listdir(tmp_path) == ["migrate.py"]


# === multi-cluster: ApplicationSet aana-clusters over clusters/<env>/<cluster> and labelled cluster Secrets ====

CLUSTER_APPSET = "aana-clusters"
# Every parameter the template may use, as Argo CD's docs name them (argo-cd v3.5.1
# docs/operator-manual/applicationset/Generators-Git.md L70-73, directories; Generators-Cluster.md L9-14).
DOCUMENTED = {
    r"\.path\.path": "git", r"index \.path\.segments \d+": "git", r"\.path\.basename": "git",
    r"\.path\.basenameNormalized": "git",
    r"\.name": "clusters", r"\.nameNormalized": "clusters", r"\.server": "clusters",
    r"\.metadata\.labels\.[\w./-]+": "clusters", r"\.metadata\.annotations\.[\w./-]+": "clusters",
}
# Two clusters registered in Argo CD for prod: their cluster Secrets (declarative-setup.md, Clusters).
TWO_CLUSTERS = [
    {"name": "gke-eu-west", "server": "https://eu-west.example.com:6443",
     "labels": {"argocd.argoproj.io/secret-type": "cluster", "raygitops/environment": "prod",
                "raygitops/cluster": "eu-west"}},
    {"name": "eks-us-east", "server": "https://us-east.example.com:6443",
     "labels": {"argocd.argoproj.io/secret-type": "cluster", "raygitops/environment": "prod",
                "raygitops/cluster": "us-east"}},
    # Registered, but for no environment: never a target.
    {"name": "sandbox", "server": "https://sandbox.example.com:6443",
     "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
]


def _actions(value) -> list[str]:
    if isinstance(value, dict):
        return [a for v in value.values() for a in _actions(v)]
    if isinstance(value, list):
        return [a for v in value for a in _actions(v)]
    return re.findall(r"\{\{-?\s*(.*?)\s*-?\}\}", value) if isinstance(value, str) else []


def render_documented(value, params: dict):
    """Go-template actions of the documented parameters only; anything else fails the test."""
    if isinstance(value, dict):
        return {k: render_documented(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [render_documented(v, params) for v in value]
    if not isinstance(value, str):
        return value

    def action(m):
        text = m.group(1).strip()
        index = re.fullmatch(r"index \.path\.segments (\d+)", text)
        if index:
            return params["path"]["segments"][int(index.group(1))]
        node = params
        for key in text.lstrip(".").split(".", 2 if text.startswith(".metadata.") else -1):
            node = node[key]
        return node
    return re.sub(r"\{\{\s*(.*?)\s*\}\}", action, value)


def cluster_applications(appset: dict, directories: list[str], clusters: list[dict]) -> list[dict]:
    """The matrix generator: each directory the Git generator lists, then each cluster Secret whose
    labels match the selector rendered with that directory's parameters (Generators-Matrix.md)."""
    [matrix] = appset["spec"]["generators"]
    git, cluster_gen = matrix["matrix"]["generators"]
    apps = []
    for directory in directories:
        if not any(go_path_match(item["path"], directory) for item in git["git"]["directories"]):
            continue
        base = directory.rsplit("/", 1)[-1]
        path = {"path": directory, "segments": directory.split("/"), "basename": base,
                "basenameNormalized": re.sub(r"[^a-zA-Z0-9-]", "-", base).lower()}
        wanted = render_documented(cluster_gen["clusters"]["selector"]["matchLabels"], {"path": path})
        for cluster in clusters:
            if all(cluster["labels"].get(k) == v for k, v in wanted.items()):
                params = {"path": path, "name": cluster["name"], "nameNormalized": cluster["name"],
                          "server": cluster["server"], "metadata": {"labels": cluster["labels"], "annotations": {}}}
                app = render_documented(appset["spec"]["template"], params)
                apps.append({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **app})
    return apps


def two_cluster_apps(argocd) -> list[dict]:
    """The example of README.md "Deploy to several clusters": prod's layers eu-west (in this
    repository) and us-east (a second one, as a team would add it), and TWO_CLUSTERS registered."""
    return cluster_applications(one(argocd, "ApplicationSet", CLUSTER_APPSET),
                                ["clusters", "clusters/prod", "clusters/prod/eu-west", "clusters/prod/us-east",
                                 "overlays", "overlays/prod"], TWO_CLUSTERS)


def test_the_cluster_appset_uses_only_parameters_argo_cd_documents(argocd):
    appset = one(argocd, "ApplicationSet", CLUSTER_APPSET)
    [matrix] = appset["spec"]["generators"]
    git, clusters = matrix["matrix"]["generators"]
    assert list(git) == ["git"] and list(clusters) == ["clusters"]   # the consumer comes second
    used = _actions(appset["spec"]["template"]) + _actions(clusters)
    assert used and _actions(git) == []
    for action in used:
        assert any(re.fullmatch(pattern, action) for pattern in DOCUMENTED), f"undocumented parameter: {action}"
    assert appset["spec"]["goTemplate"] is True and "missingkey=error" in appset["spec"]["goTemplateOptions"]


def test_two_clusters_get_one_application_each_and_single_cluster_names_stay(argocd, env_apps, repo):
    apps = two_cluster_apps(argocd)
    assert [(a["metadata"]["name"], a["spec"]["destination"], a["spec"]["source"]["path"]) for a in apps] == [
        ("aana-prod-eu-west", {"name": "gke-eu-west", "namespace": "aana-prod"}, "clusters/prod/eu-west"),
        ("aana-prod-us-east", {"name": "eks-us-east", "namespace": "aana-prod"}, "clusters/prod/us-east")]
    template = one(argocd, "ApplicationSet", "aana")["spec"]["template"]
    for app in apps:
        assert app["spec"]["syncPolicy"] == template["spec"]["syncPolicy"]
        assert app["metadata"]["annotations"] == template["metadata"]["annotations"]
        assert app["metadata"]["labels"]["raygitops/environment"] == "prod"
    # Nothing registered: no Application, and aana-<env> stays what it was, on Argo CD's own cluster.
    appset = one(argocd, "ApplicationSet", CLUSTER_APPSET)
    assert cluster_applications(appset, repo_directories(repo), []) == []
    environments = load_config(repo).environments()
    assert sorted(a["metadata"]["name"] for a in env_apps) == [f"aana-{env}" for env in environments]
    # The layer in this repository, on the first cluster: what README.md shows.
    [eu] = cluster_applications(appset, repo_directories(repo), TWO_CLUSTERS)
    assert eu["metadata"]["name"] == "aana-prod-eu-west" and (repo / eu["spec"]["source"]["path"]).is_dir()


def test_the_cluster_appset_is_protected_and_its_applications_are_allowed_and_manual_in_prod(argocd):
    appset = one(argocd, "ApplicationSet", CLUSTER_APPSET)
    assert appset["spec"]["syncPolicy"] == {"preserveResourcesOnDeletion": True, "applicationsSync": "create-update"}
    assert options(appset, SYNC_OPTIONS) >= {"Prune=false", "Delete=false"}
    project = one(argocd, "AppProject")
    for app in two_cluster_apps(argocd):
        destination = app["spec"]["destination"]
        assert destination_permitted(project, "", destination["namespace"], destination["name"])
        assert not destination_permitted(project, "", "kube-system", destination["name"])
        assert [w["kind"] for w in always_open_windows(project, app["metadata"]["name"])] == ["deny"]
