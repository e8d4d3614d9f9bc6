"""Promotion, in a git copy of the repository: a change to apps/ or an image build moves dev → staging → prod,
one environment per pull request, and each step's diff names only that environment.

    .venv/bin/pytest tests/e2e/test_promote.py -q

The commands run in process (one Ray import for all of them); each still regenerates, validates and diffs
in a scratch copy as the CLI does. test_edit_commands.py runs the CLI itself.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import change_the_code, copy_repository, run_tool
from raygitops.diff.compare import UNCHANGED, DiffOptions, compare
from raygitops.diff.rollout import APP_RESTART, NEW_CLUSTER
from raygitops.edit.promote import promote
from raygitops.edit.setpin import set_code, set_image
from raygitops.edit.transaction import apply_edit
from raygitops.errors import UserError
from raygitops.generate.regen import regenerate
from raygitops.generate.workingdir import forget_apps_modules

ENVIRONMENTS = ("dev", "prod", "staging")
# One xdist worker runs them all: the template and the builds of conftest's CODE_CHANGE are then
# made once per session; on two workers at once, both would make them.
pytestmark = pytest.mark.xdist_group("promote")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit(root: Path, message: str = "change") -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def template(tmp_path_factory, warm_caches) -> Path:
    """The repository in git, with staging and prod pinned to its first commit (their first promotions)."""
    root = copy_repository(tmp_path_factory.mktemp("promote") / "repo", warm_caches)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@example.com")
    assert run_tool(root, "regen").returncode == 0
    commit(root, "base")
    apply_edit(root, promote(root, "dev", "staging"))
    commit(root, "promote dev → staging")
    apply_edit(root, promote(root, "staging", "prod"))
    commit(root, "promote staging → prod")
    return root


@pytest.fixture
def repo(template, tmp_path) -> Path:
    root = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", "--shared", str(template), str(root)], check=True)   # template objects
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@example.com")
    if (template / "build").is_dir():   # the pinned-code cache, as a developer's checkout keeps it
        shutil.copytree(template / "build", root / "build")
    return root


def verdicts(report) -> dict[str, str | None]:
    """Each environment's verdict (tools/diff's setup sections, argocd/ and the operator, left out). A cluster
    layer (prod/eu-west, on prod's other cluster) is promoted with its environment: checked, then left out."""
    found = {env.name: (env.verdict if env.status != UNCHANGED else UNCHANGED) for env in report.environments
             if not env.name.endswith("/")}
    layers = {name: verdict for name, verdict in found.items() if "/" in name}
    assert layers and all(verdict == found[name.split("/")[0]] for name, verdict in layers.items()), found
    return {name: verdict for name, verdict in found.items() if name not in layers}


def generated_changes(root: Path) -> list[str]:
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all"],
                            check=True, capture_output=True, text=True).stdout
    return sorted(line[3:] for line in status.splitlines())


def test_a_code_change_reaches_dev_then_staging_then_prod(repo):
    change_the_code(repo)
    forget_apps_modules()
    regenerate(repo)
    forget_apps_modules()
    assert {p.split("/")[1] for p in generated_changes(repo) if p.startswith("overlays/")} == {"dev"}
    report = compare(repo, DiffOptions(base="HEAD"))
    assert verdicts(report) == {"dev": APP_RESTART, "prod": UNCHANGED, "staging": UNCHANGED}
    commit(repo, "code")

    outcome = apply_edit(repo, promote(repo, "dev", "staging"))
    assert verdicts(outcome.diff) == {"dev": UNCHANGED, "prod": UNCHANGED, "staging": APP_RESTART}
    assert all(p.startswith("overlays/staging/") for p in generated_changes(repo)), generated_changes(repo)
    assert "overlays/staging/generated/serve-config.yaml" in generated_changes(repo)
    assert git(repo, "rev-parse", "HEAD") in (repo / "overlays/staging/pins.yaml").read_text()
    commit(repo, "promote dev → staging")

    outcome = apply_edit(repo, promote(repo, "staging", "prod"))
    assert verdicts(outcome.diff) == {"dev": UNCHANGED, "prod": APP_RESTART, "staging": UNCHANGED}
    assert all(p.startswith("overlays/prod/") for p in generated_changes(repo))
    commit(repo, "promote staging → prod")
    assert run_tool(repo, "regen", "--check").returncode == 0


def test_an_image_build_goes_through_three_diffs_each_a_new_cluster_for_one_environment(repo):
    outcome = apply_edit(repo, set_image(repo, "dev", "ray-image", "2.46.0-py311-build2"))
    assert verdicts(outcome.diff) == {"dev": NEW_CLUSTER, "prod": UNCHANGED, "staging": UNCHANGED}
    assert "rayproject/ray:2.46.0-py311-build2" in run_tool(repo, "render", "overlays/dev").stdout
    commit(repo, "dev: image build 2")
    for source, target in (("dev", "staging"), ("staging", "prod")):
        dry = apply_edit(repo, promote(repo, source, target), dry_run=True)
        assert dry.written == [] and generated_changes(repo) == []
        outcome = apply_edit(repo, promote(repo, source, target))
        assert verdicts(outcome.diff) == {env: NEW_CLUSTER if env == target else UNCHANGED for env in ENVIRONMENTS}
        assert {p.split("/")[1] for p in generated_changes(repo)} == {target}
        commit(repo, f"promote {source} → {target}")


def test_promotions_that_are_refused(repo):
    with pytest.raises(UserError, match="would skip staging"):
        promote(repo, "dev", "prod")
    with pytest.raises(UserError, match="comes before"):
        promote(repo, "prod", "staging")
    assert promote(repo, "dev", "prod", force=True).files   # --force allows it
    # A source whose generated files are stale is not what it runs.
    serve = repo / "overlays/dev/serve.yaml"
    original = serve.read_text()
    serve.write_text(original.replace("num_replicas: 1", "num_replicas: 2"))
    with pytest.raises(UserError, match="dev's generated files are stale"):
        promote(repo, "dev", "staging")
    # dev follows the working tree: promote pins HEAD, so the tree must be clean.
    serve.write_text(original)
    (repo / "NOTES.md").write_text("work in progress\n")
    with pytest.raises(UserError, match="uncommitted changes: NOTES.md"):
        promote(repo, "dev", "staging")
    (repo / "NOTES.md").unlink()
    # A pin to a commit that does not exist, or holds no apps/.
    with pytest.raises(UserError, match="no commit of this repository"):
        set_code(repo, "staging", "0" * 40)
    empty_tree = git(repo, "hash-object", "-t", "tree", "/dev/null")
    no_apps = subprocess.run(["git", "-C", str(repo), "commit-tree", empty_tree, "-m", "empty"], check=True,
                             capture_output=True, text=True).stdout.strip()
    with pytest.raises(UserError, match="has no apps/"):
        set_code(repo, "staging", no_apps)
    pins = repo / "overlays/staging/pins.yaml"
    pins.write_text(re.sub(r"(?m)^code: \w+", "code: " + "deadbeef" * 5, pins.read_text()))
    with pytest.raises(UserError, match="no commit of this repository"):
        promote(repo, "staging", "prod")


def test_promote_dry_run_from_the_command_line_writes_nothing(repo):
    change_the_code(repo)
    assert run_tool(repo, "regen").returncode == 0
    commit(repo, "code")
    result = run_tool(repo, "promote", "dev", "staging", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "staging: app restart" in result.stdout and "dry run: nothing was written" in result.stdout
    assert generated_changes(repo) == []
    refused = run_tool(repo, "promote", "dev", "prod")
    assert refused.returncode == 2 and "would skip staging" in refused.stderr and "Traceback" not in refused.stderr


def test_regen_check_fails_on_a_hand_edited_pin_and_on_a_pinned_commit_that_is_gone(repo):
    assert run_tool(repo, "regen", "--check").returncode == 0
    pins = repo / "overlays/staging/pins.yaml"
    pinned = re.search(r"(?m)^code: (\w+)", pins.read_text()).group(1)
    # A hand edit to another commit (one that exists and holds apps/): the generated files name the old one.
    other = git(repo, "rev-parse", "HEAD~1")
    assert other != pinned
    pins.write_text(pins.read_text().replace(f"code: {pinned}", f"code: {other}"))
    stale = run_tool(repo, "regen", "--check")
    assert stale.returncode == 1, stale.stderr
    assert "stale: overlays/staging/generated/kustomization.yaml" in stale.stderr
    assert f"+# Code: {other}" in stale.stderr and "run tools/regen and commit the result" in stale.stderr
    assert "Traceback" not in stale.stderr
    git(repo, "checkout", "--", "overlays/staging/pins.yaml")
    assert run_tool(repo, "regen", "--check").returncode == 0
    # History rewritten under the pin (a force-push): the files still agree, but the commit is gone.
    shutil.rmtree(repo / ".git")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@example.com")
    commit(repo, "rewritten")
    gone = run_tool(repo, "regen", "--check")
    assert gone.returncode == 2, gone.stderr   # bad input (errors.py): the pin names nothing to check against
    # prod and staging are both pinned there; the first one checked is named, with its file and the fix.
    assert re.match(rf"error: overlays/(prod|staging)/pins.yaml: pinned code '{pinned}' is no commit of this "
                    r"repository — pin a commit or tag that exists", gone.stderr), gone.stderr
    assert "Traceback" not in gone.stderr
