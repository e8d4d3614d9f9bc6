"""bench/suite's scaling of a run's wall time to the fastest speed the host showed while it ran.

    tools/test tests/unit/test_bench_suite.py
"""
from __future__ import annotations

import importlib.util
import sys

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def host_speed():
    sys.path.insert(0, str(REPO / "bench"))   # suite.py imports bench/_common as a script does
    try:
        spec = importlib.util.spec_from_file_location("bench_suite", REPO / "bench" / "suite.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "bench"))
    return module.HostSpeed


def test_a_host_at_one_speed_is_not_scaled(host_speed):
    speed = host_speed()
    speed.samples = [(0.0, 0.010), (2.0, 0.010), (4.0, 0.010)]
    assert speed.scaled_to_fastest(0.0, 5.0) == pytest.approx(5.0)


def test_time_at_half_speed_counts_half(host_speed):
    speed = host_speed()
    speed.samples = [(0.0, 0.010), (2.0, 0.020)]   # full speed for 2 s, then half speed until the end
    assert speed.scaled_to_fastest(0.0, 6.0) == pytest.approx(2.0 + 4.0 / 2)


def test_only_the_run_between_start_and_end_counts(host_speed):
    speed = host_speed()
    speed.samples = [(0.0, 0.020), (2.0, 0.010), (4.0, 0.020), (10.0, 0.010)]
    # from 1 to 5: 1 s at half speed, 2 s at full speed, 1 s at half speed
    assert speed.scaled_to_fastest(1.0, 5.0) == pytest.approx(0.5 + 2.0 + 0.5)
