"""Timing helpers shared by the benchmarks: run a command a few times, keep the median.

    seconds = median_seconds([sys.executable, "-m", "raygitops", "regen", "--check"], cwd=root)
    print_ratio("tools/regen --check", seconds, "serve build", baseline)
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def median_seconds(command: list[str], *, cwd: Path, env: dict | None = None, repeat: int = 3,
                   expect: tuple[int, ...] = (0,)) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(command, cwd=cwd, env=dict(os.environ, **(env or {})),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - start)
        if result.returncode not in expect:
            raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return statistics.median(times)


def print_ratio(label: str, seconds: float, baseline_label: str, baseline: float, target: float | None = None) -> float:
    ratio = seconds / baseline
    verdict = "" if target is None else (" (target ≤ %.2f: %s)" % (target, "met" if ratio <= target else "MISSED"))
    print(f"{label}: {seconds:.2f} s   {baseline_label}: {baseline:.2f} s   ratio {ratio:.2f}{verdict}")
    return ratio
