"""tools/test's xdist workers (one per core, one more for the whole suite, none when the caller says), and its
temporary folders in memory where the machine has room there.

    tools/test tests/unit/test_cli_test.py
"""
from __future__ import annotations

import os

from raygitops.cli.test import TEMP_ROOT_VARIABLE, TMPFS_MIN_FREE, _parallel, _temp_in_memory

CORES = len(os.sched_getaffinity(0))


def test_the_whole_suite_gets_one_worker_more_than_cores():
    # The Ray tests' worker mostly waits while Ray's processes work: the extra worker uses those cores.
    assert _parallel([]) == ["-n", str(CORES + 1), "--dist", "loadgroup"]
    assert _parallel(["tests/e2e", "-x"])[:2] == ["-n", str(CORES + 1)]


def test_a_marker_tier_gets_one_worker_per_core():
    assert _parallel(["-m", "unit"]) == ["-n", str(CORES), "--dist", "loadgroup"]
    assert _parallel(["-mnot ray"])[:2] == ["-n", str(CORES)]


def test_an_explicit_worker_count_is_left_to_the_caller():
    for args in (["-n", "0"], ["-n4"], ["--numprocesses=2"], ["-p", "no:xdist"]):
        assert _parallel(args) == [], args


def test_temporary_folders_go_to_a_tmpfs_with_room_unless_the_caller_chose(monkeypatch, tmp_path):
    monkeypatch.delenv(TEMP_ROOT_VARIABLE, raising=False)
    room = os.statvfs(tmp_path)
    expected = ["-o", "tmp_path_retention_policy=failed"] if room.f_bavail * room.f_frsize >= TMPFS_MIN_FREE else []
    assert _temp_in_memory([], tmpfs=tmp_path) == expected
    assert _temp_in_memory(["--basetemp", str(tmp_path)], tmpfs=tmp_path) == []
    assert _temp_in_memory([], tmpfs=tmp_path / "missing") == []
    monkeypatch.setenv(TEMP_ROOT_VARIABLE, str(tmp_path))
    assert _temp_in_memory([], tmpfs=tmp_path) == []
