"""The CI workflow and the pre-commit hooks: parsed, and every command they call exists and takes its flags.

    .venv/bin/pytest tests/repo/test_ci_files.py -q
    invocations("tools/diff HEAD^1 --format markdown > diff.md")  # [("diff", ["HEAD^1", "--format", "markdown"])]
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest
import yaml

from conftest import REPO
from raygitops.cli import build_parser

WORKFLOW = REPO / ".github/workflows/pr.yaml"
PRE_COMMIT = REPO / ".pre-commit-config.yaml"
_COMMAND = re.compile(r"(?:^|[\s;&|(])((?:tools|bench)/[\w-]+|\.ci/run)\b")
_SHELL = re.compile(r"[$()|<>;&`]")   # a token from here on is shell, not an argument


def invocations(script: str) -> list[tuple[str, list[str]]]:
    """(path, literal arguments) of every tools/, bench/ or .ci/ command a shell script runs."""
    found = []
    for line in script.splitlines():
        for match in _COMMAND.finditer(line):
            tokens = shlex.split(re.sub(r"\$\{\{.*?\}\}", "X", line[match.start(1):]), comments=True)
            args = []
            for token in tokens[1:]:
                if _SHELL.search(token):
                    break
                args.append(token)
            found.append((match.group(1), args))
    return found


def check_invocation(path: str, args: list[str]) -> None:
    """The file is an executable in the repository and, for tools/<command>, argparse accepts the arguments."""
    assert (REPO / path).is_file() and os.access(REPO / path, os.X_OK), f"{path} is not an executable in the repo"
    if path.startswith("tools/"):
        command = path.removeprefix("tools/")
        try:
            build_parser().parse_args([command, *args])
        except SystemExit as exit_:
            pytest.fail(f"`{path} {' '.join(args)}` is rejected by its parser (exit {exit_.code})")


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps() -> list[dict]:
    return [step for job in workflow()["jobs"].values() for step in job["steps"]]


def test_workflow_runs_on_pull_requests_with_history_and_python_3_11():
    data = workflow()
    assert "pull_request" in data.get("on", data.get(True))   # PyYAML reads the key `on` as True
    [checkout] = [s for s in steps() if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["fetch-depth"] == 0
    [python] = [s for s in steps() if s.get("uses", "").startswith("actions/setup-python@")]
    assert str(python["with"]["python-version"]) == "3.11"
    assert data["permissions"]["pull-requests"] == "write"
    for step in steps():
        if "uses" in step:
            assert re.search(r"@(v\d+|[0-9a-f]{40})$", step["uses"]), f"{step['uses']} is not pinned to a version"


def test_workflow_runs_the_three_checks_and_comments_once():
    called = {(path, " ".join(args)) for step in steps() for path, args in invocations(step.get("run", ""))}
    assert ("tools/regen", "--check") in called
    assert ("tools/validate", "--output github") in called
    assert any(path == "tools/diff" and "--format markdown" in args for path, args in called)
    comments = [s for s in steps() if s.get("uses", "").startswith("marocchino/sticky-pull-request-comment@")]
    assert comments and {s["with"]["header"] for s in comments} == {"raygitops-diff"}
    assert any(s["with"].get("path", "").endswith("/diff.md") for s in comments)
    fetch = next(s["run"] for s in steps() if "RAYGITOPS_SHARED=" in s.get("run", ""))
    assert "ray-project/kuberay" in fetch and "crd/bases" in fetch   # the CRDs tools/validate needs


def test_every_command_in_the_workflow_exists_and_takes_its_flags():
    runs = [step["run"] for step in steps() if "run" in step]
    calls = [call for script in runs for call in invocations(script)]
    assert len(calls) >= 4
    for path, args in calls:
        check_invocation(path, args)
    for script in runs:   # GitHub runs each script with bash
        syntax = subprocess.run(["bash", "-n"], input=re.sub(r"\$\{\{.*?\}\}", "X", script), text=True,
                                capture_output=True)
        assert syntax.returncode == 0, syntax.stderr


def pre_commit_hooks() -> dict[str, dict]:
    data = yaml.safe_load(PRE_COMMIT.read_text())
    [local] = [repo for repo in data["repos"] if repo["repo"] == "local"]
    return {hook["id"]: hook for hook in local["hooks"]}


def test_pre_commit_hooks_call_existing_commands_on_the_right_files():
    hooks = pre_commit_hooks()
    assert set(hooks) == {"raygitops-regen", "raygitops-validate"}
    for hook in hooks.values():
        assert hook["language"] == "unsupported"
        calls = invocations(hook["entry"])
        assert calls
        for path, args in calls:
            check_invocation(path, args)
        matches = re.compile(hook["files"]).search
        for path in ("overlays/dev/serve.yaml", "base/rayservice.yaml", "apps/main.py", "raygitops.yaml"):
            assert matches(path), (hook["id"], path)
        for path in ("README.md", "tests/test_diff.py", "argocd/project.yaml"):
            assert not matches(path), (hook["id"], path)
    assert ("tools/regen", ["--check"]) in invocations(hooks["raygitops-regen"]["entry"])
    assert hooks["raygitops-validate"]["pass_filenames"] is True


@pytest.mark.parametrize("files, expected", [
    (["overlays/prod/serve.yaml", "overlays/dev/generated/serve-config.yaml", "overlays/prod/kustomization.yaml"],
     "overlays/dev overlays/prod"),
    (["overlays/dev/serve.yaml", "base/rayservice.yaml"], ""),   # base/ can change every overlay: validate all
])
def test_pre_commit_validates_the_overlays_of_the_changed_files(tmp_path, files, expected):
    """The hook's own shell, run as pre-commit runs it, with tools/validate printing its arguments."""
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools/validate").write_text('#!/bin/sh\necho "$@"\n')
    (tmp_path / "tools/validate").chmod(0o755)
    command = shlex.split(pre_commit_hooks()["raygitops-validate"]["entry"]) + files
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == expected
