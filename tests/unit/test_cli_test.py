"""tools/test's xdist workers: one per core, one more for the whole suite, none when the caller says.

    tools/test tests/unit/test_cli_test.py
"""
from __future__ import annotations

import os

from raygitops.cli.test import _parallel

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
