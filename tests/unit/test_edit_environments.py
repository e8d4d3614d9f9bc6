"""raygitops env add/remove, in process: the files they would write (before regen) and what they refuse.

    .venv/bin/pytest tests/unit/test_edit_environments.py -q
"""
from __future__ import annotations

import difflib

import pytest
import yaml

from conftest import REPO
from raygitops.edit.environments import add_environment, protected_environments, remove_environment
from raygitops.errors import UserError


def added_lines(rel: str, new: str) -> list[str]:
    old = (REPO / rel).read_text().splitlines()
    return [line for line in difflib.unified_diff(old, new.splitlines(), n=0, lineterm="")
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_add_copies_the_overlay_and_points_it_at_its_own_namespace_and_database():
    edit = add_environment(REPO, "qa", source="staging")
    overlay = {rel: text for rel, text in edit.files.items() if rel.startswith("overlays/qa/")}
    assert sorted(overlay) == ["overlays/qa/kustomization.yaml", "overlays/qa/rayservice-patch.yaml",
                               "overlays/qa/serve.yaml"]   # no generated/: tools/regen writes it
    assert yaml.safe_load(overlay["overlays/qa/kustomization.yaml"])["namespace"] == "aana-qa"
    serve = yaml.safe_load(overlay["overlays/qa/serve.yaml"])
    assert serve["env_vars"]["DB_CONFIG"]["datastore_config"]["host"] == "postgres.aana-qa.svc"
    assert not any("aana-staging" in text for text in overlay.values())
    # Comments are kept; only the lines that name staging change.
    assert added_lines("overlays/staging/serve.yaml", overlay["overlays/qa/serve.yaml"]) == [
        "-# staging's serve config: merged by tools/regen into the config built from apps/.",
        "+# qa's serve config: merged by tools/regen into the config built from apps/.",
        "-    datastore_config: {host: postgres.aana-staging.svc, port: 5432, user: aana, database: aana}",
        "+    datastore_config: {host: postgres.aana-qa.svc, port: 5432, user: aana, database: aana}"]
    assert added_lines("base/kuberay-operator/values.yaml", edit.files["base/kuberay-operator/values.yaml"]) == [
        "+  - aana-qa"]
    namespaces = [d["metadata"]["name"] for d in yaml.safe_load_all(edit.files["base/kuberay-operator/namespace.yaml"])]
    assert namespaces == ["kuberay-system", "aana-dev", "aana-prod", "aana-qa", "aana-staging"]
    assert "raygitops.yaml" not in edit.files   # staging has no per-environment policy settings


def test_a_copy_of_prod_gets_its_policy_settings_and_is_told_about_protection():
    edit = add_environment(REPO, "prod-eu", source="prod")
    config = yaml.safe_load(edit.files["raygitops.yaml"])
    assert "prod-eu" in config["policies"]["require_digest"]
    assert "prod-eu" in config["policies"]["gcs_ft_required"]   # the copy has prod's GCS FT; the policy holds it
    assert "prod-eu" not in config["promotion"]["order"]        # where it goes is a decision
    assert not any(rel.startswith("clusters/") for rel in edit.files)   # prod's other clusters are prod's
    assert config["policies"]["severity"]["prod-eu"] == config["policies"]["severity"]["prod"]
    assert "argocd/protected-environments.yaml" not in edit.files
    assert any("prod is protected from deletion and prod-eu is not" in note for note in edit.notes)
    assert any("syncs only by hand" in note for note in edit.notes)
    protected = add_environment(REPO, "prod-eu", source="prod", protect=True)
    assert "overlays/prod-eu" in protected.files["argocd/protected-environments.yaml"]
    assert "  - path: overlays/prod-eu\n            exclude: true" in protected.files["argocd/environments.yaml"]


@pytest.mark.parametrize("name, source, message", [
    ("Bad_Name", "staging", "cannot name an environment"),
    ("staging", "dev", "exists already"),
    ("qa", "nope", "no environment 'nope'"),
])
def test_add_refuses(name, source, message):
    with pytest.raises(UserError, match=message):
        add_environment(REPO, name, source=source)


def test_remove_is_step_one_and_names_step_two():
    edit = remove_environment(REPO, "staging")
    assert edit.remove_trees == ["overlays/staging"]
    assert "base/kuberay-operator/values.yaml" not in edit.files   # step 2, once the RayService is gone
    assert any(note.startswith("step 2") and "watchNamespace" in note for note in edit.notes)


def test_a_protected_environment_is_removed_only_on_purpose():
    assert protected_environments(REPO) == ["prod"]
    with pytest.raises(UserError) as error:
        remove_environment(REPO, "prod")
    assert "--unprotect" in error.value.fix and "argocd app delete aana-prod --cascade" in error.value.fix
    edit = remove_environment(REPO, "prod", unprotect=True)
    # Its cluster layers build on overlays/prod: they go too, and their Applications by hand.
    assert edit.remove_trees == ["overlays/prod", "clusters/prod"]
    assert any(note.startswith("step 2") and "`argocd app delete aana-prod --cascade` and "
               "`argocd app delete aana-prod-eu-west --cascade`" in note for note in edit.notes)
    # Only the lines that name prod go; the comments around them stay.
    assert added_lines("argocd/environments.yaml", edit.files["argocd/environments.yaml"]) == [
        "-          - path: overlays/prod", "-            exclude: true"]
    assert sorted(added_lines("raygitops.yaml", edit.files["raygitops.yaml"])) == sorted([
        "-  order: [dev, staging, prod]", "+  order: [dev, staging]", "-  require_digest: [prod]", "-  severity:",
        "-    prod: {image-digest: warning}", "+  require_digest: []", "+  severity: {}",
        "-  gcs_ft_required: [prod]", "+  gcs_ft_required: []"])
    assert "prod" not in yaml.safe_load(edit.files["raygitops.yaml"])["policies"]["gcs_ft_required"]
    assert "overlays/prod" not in edit.files["argocd/protected-environments.yaml"]
    assert "overlays/prod" not in edit.files["argocd/environments.yaml"]
    assert "aana-prod" not in yaml.safe_load(edit.files["argocd/project.yaml"])["spec"]["syncWindows"][0]["applications"]
    assert "prod" not in yaml.safe_load(edit.files["raygitops.yaml"])["policies"]["require_digest"]
    assert any("argocd app delete aana-prod --cascade" in note for note in edit.notes)


def test_apps_that_list_their_environments_follow_an_added_and_a_removed_environment(cold_repo_copy):
    # As `raygitops import` leaves them: the apps that ran before list every environment.
    config = cold_repo_copy / "raygitops.yaml"
    text = config.read_text()
    text = text.replace("    route_prefix: /text_stats\n", "    route_prefix: /text_stats\n    environments: [dev, prod, staging]\n")
    text = text.replace("    route_prefix: /language\n", "    route_prefix: /language\n    environments: [dev]\n")
    config.write_text(text)
    added = yaml.safe_load(add_environment(cold_repo_copy, "qa", source="staging").files["raygitops.yaml"])
    environments = {app["name"]: app.get("environments") for app in added["applications"]}
    assert environments["text_stats"] == ["dev", "prod", "staging", "qa"]
    assert environments["language"] == ["dev"]          # staging does not run it, so neither does qa
    assert environments["main"] is None                 # every environment runs it
    removed = yaml.safe_load(remove_environment(cold_repo_copy, "staging").files["raygitops.yaml"])
    environments = {app["name"]: app.get("environments") for app in removed["applications"]}
    assert environments["text_stats"] == ["dev", "prod"]
    assert environments["language"] == ["dev"]
