"""Run the test suite; every option goes to pytest (`tools/test -m unit` is the fast tier).

    tools/test
    tools/test -m unit -x
"""
from __future__ import annotations

import os

from raygitops.cli.common import repo_root


def register(subparsers) -> None:
    # Listed for --help only: main() hands `test` its arguments untouched, before argparse.
    subparsers.add_parser("test", prog="tools/test", help=__doc__.splitlines()[0])


def run_tests(pytest_args: list[str]) -> int:
    import pytest
    os.chdir(repo_root())
    return pytest.main(["-q", *_parallel(pytest_args), *pytest_args])


def _parallel(pytest_args: list[str]) -> list[str]:
    """One pytest-xdist worker per core: most tests wait on a kustomize, git or Python subprocess,
    so the suite's time halves on 2 cores. The Ray tests share one worker (tests/conftest.py's
    xdist group), since two local Ray clusters at once would fight for the cores and the ports.
    That worker mostly waits while Ray's own processes work, so a run that selects no marker (the
    whole suite, with the Ray tests) gets one worker more: on 2 cores, 3 workers ran the suite in
    220 s where 2 took 231 s, with the same CPU time. A tier (`-m unit`) is all CPU and keeps one
    per core (17-27 s with 2 workers, 30 s with 3).
    An explicit -n (or -n 0), or -p no:xdist, is left to the caller."""
    if any(a == "-n" or a.startswith(("-n", "--numprocesses")) or a == "no:xdist" for a in pytest_args):
        return []
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    selects_marker = any(a.startswith("-m") for a in pytest_args)
    return ["-n", str(cores if selects_marker else cores + 1), "--dist", "loadgroup"]
