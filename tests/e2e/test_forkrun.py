"""run_tool's fork (tests/forkrun.py) runs a command as a new `python -m raygitops` process runs it.

    .venv/bin/pytest tests/e2e/test_forkrun.py -q
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from conftest import run_tool
from raygitops.render_inputs import kustomize_command, read_kustomization


@pytest.mark.parametrize("args", [
    ("validate", "overlays/dev"),                   # findings: warnings, exit 0
    ("regen", "--check"),
    ("render", "overlays/nowhere"),                 # a user error: exit 2, one line
    ("validate", "--no-such-option"),               # argparse's usage, exit 2
    ("--help",),
    ("validate", "-", "--output", "json"),          # manifests on stdin
])
def test_a_fork_prints_and_exits_as_a_new_process_does(repo_copy: Path, args):
    stdin = (repo_copy / "base/rayservice.yaml").read_text() if "-" in args else None
    forked = run_tool(repo_copy, *args, stdin=stdin)
    started = run_tool(repo_copy, *args, process=True, stdin=stdin)
    if stdin is not None:   # the fork read what it was given
        assert '"file": "<stdin>"' in forked.stdout and '"resource": "RayService//aana"' in forked.stdout
    assert (forked.returncode, forked.stdout, forked.stderr) == (started.returncode, started.stdout, started.stderr)


def test_a_fork_forgets_what_this_process_read(repo_copy: Path):
    """read_kustomization is cached by path: the command must read the file as it is now."""
    kustomization = repo_copy / "overlays/dev/kustomization.yaml"
    assert "namespace: aana-dev" in kustomization.read_text()
    assert read_kustomization(kustomization)["namespace"] == "aana-dev"   # now in this process's cache
    kustomization.write_text(kustomization.read_text().replace("namespace: aana-dev", "namespace: aana-elsewhere"))
    rendered = run_tool(repo_copy, "render", "overlays/dev")
    assert rendered.returncode == 0, rendered.stderr
    assert "namespace: aana-elsewhere" in rendered.stdout and "namespace: aana-dev\n" not in rendered.stdout


def test_a_fork_that_outlives_its_timeout_is_stopped_with_what_it_started(cold_repo_copy: Path, tmp_path: Path):
    """A kustomize that hangs (cold caches: render must run it): the fork and its kustomize are stopped.
    The parent found kubectl earlier (render_inputs.kustomize_command is cached): the fork looks again."""
    assert kustomize_command() == ("kubectl", "kustomize")   # found, and remembered, in this process
    slow = tmp_path / "bin"
    slow.mkdir()
    (slow / "kustomize").write_text("#!/bin/sh\nexec sleep 61\n")
    (slow / "kustomize").chmod(0o755)
    with pytest.raises(subprocess.TimeoutExpired):
        run_tool(cold_repo_copy, "render", "overlays/dev", timeout=5, env={"PATH": f"{slow}:{os.environ['PATH']}"})
    time.sleep(0.2)
    sleepers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "61"]]
    assert not sleepers, "the fork's kustomize outlived it"


def test_a_fork_imports_the_apps_of_the_copy_it_was_given(repo_copy: Path):
    """This process may hold this repository's `apps` (tests/repo/test_apps.py imports it when collected);
    `serve build` in the fork imports the copy's, as a new process would."""
    import importlib
    importlib.import_module("apps.embedding")
    module = repo_copy / "apps/embedding.py"
    module.write_text(module.read_text() + "\nimport numpyy\n")
    result = run_tool(repo_copy, "regen")
    assert result.returncode == 2 and "cannot import the Serve apps" in result.stderr, result.stdout + result.stderr
