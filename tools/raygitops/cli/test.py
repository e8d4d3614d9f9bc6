"""Run the test suite; every option goes to pytest (`tools/test -m unit` is the fast tier).

    tools/test
    tools/test -m unit -x
"""
from __future__ import annotations

import os
from pathlib import Path

from raygitops.cli.common import repo_root

# pytest's temporary folders go to memory when the machine has a tmpfs with room: a run of the suite
# makes about 54,000 files (repository copies, git repositories, PostgreSQL and Ray data). On the CI
# machine's /tmp (ext4), creating 30 repository copies with their git repositories took 2.8-6.2 s and
# deleting them 1.0 s; on its tmpfs 1.7-1.9 s and 0.26 s. On tmpfs a passed test's folder is also deleted
# when the test ends (it holds memory), and pytest no longer spends 12-14 s at exit deleting an old run.
TMPFS = Path("/dev/shm")
TMPFS_MIN_FREE = 4 * 2**30   # a run holds about 0.5 GB there at most
TEMP_ROOT_VARIABLE = "PYTEST_DEBUG_TEMPROOT"   # pytest's own setting for where its folders go


def register(subparsers) -> None:
    # Listed for --help only: main() hands `test` its arguments untouched, before argparse.
    subparsers.add_parser("test", prog="tools/test", help=__doc__.splitlines()[0])


def run_tests(pytest_args: list[str]) -> int:
    import pytest
    os.chdir(repo_root())
    in_memory = _temp_in_memory(pytest_args)
    if in_memory:
        os.environ[TEMP_ROOT_VARIABLE] = str(TMPFS)   # the xdist workers inherit it
    return pytest.main(["-q", *_parallel(pytest_args), *in_memory, *pytest_args])


def _temp_in_memory(pytest_args: list[str], tmpfs: Path = TMPFS) -> list[str]:
    """pytest's options for temporary folders in `tmpfs`, or [] where it is missing, not writable or short
    of room, or where the caller chose a place (--basetemp, PYTEST_DEBUG_TEMPROOT)."""
    if TEMP_ROOT_VARIABLE in os.environ or any(a.startswith("--basetemp") for a in pytest_args):
        return []
    try:
        room = os.statvfs(tmpfs)
    except OSError:
        return []
    if not os.access(tmpfs, os.W_OK) or room.f_bavail * room.f_frsize < TMPFS_MIN_FREE:
        return []
    return ["-o", "tmp_path_retention_policy=failed"]


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
