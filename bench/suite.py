"""bench/suite: the whole test suite (`tools/test`), timed beside the host's CPU speed, sampled while it runs.

    bench/suite                # tools/test in this checkout (target ≤ 240 s on 2 cores)
    bench/suite --clone        # in a fresh `git clone` of HEAD, as .ci/run does (this checkout's .venv)
    bench/suite -- -m unit     # the unit tier (target ≤ 60 s); what follows -- goes to tools/test

Why the host's speed: the target is in seconds, and a cloud host's CPU is not always as fast. On the
machine this bench was written on, the same code took 207 s in one run and 321 s in another, and the
speed changed within runs. So a thread of this process times a fixed pure-Python loop every few seconds
by its own CPU time (the suite's load on the other cores does not slow it down; a slower CPU does).
Beside the wall time the bench prints:
- the loop's times over the run: two runs compare only where the host ran at the same speed;
- how busy the cores were (/proc/stat): the suite keeps 2 cores 98 % busy, so its time follows the CPU's speed;
- the wall time scaled to the fastest speed the host showed during this run (valid for a CPU-bound run,
  which the line above shows). It never scales a run below what the host actually did, and a run on a
  host slow throughout is not scaled at all.
The verdict is on the measured wall time only.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from _common import REPO

sys.path.insert(0, str(REPO / "tools"))
from raygitops.local.processes import become_subreaper, reap_children  # noqa: E402

WHOLE_SUITE_TARGET_S = 240
UNIT_TIER_TARGET_S = 60
SAMPLE_EVERY_S = 2.0
LOOP_ROUNDS = 300_000   # about 10 ms of one core at this host's full speed: 0.5 % of a core


def loop_seconds() -> float:
    """The CPU time of a fixed loop, in this thread: how fast the CPU runs right now."""
    start = time.thread_time()
    total = 0
    for number in range(LOOP_ROUNDS):
        total += number
    return time.thread_time() - start


class HostSpeed(threading.Thread):
    """(monotonic time, loop seconds) every SAMPLE_EVERY_S until stop()."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self._stopped = threading.Event()

    def run(self) -> None:
        while True:
            self.samples.append((time.monotonic(), loop_seconds()))
            if self._stopped.wait(SAMPLE_EVERY_S):
                return

    def stop(self) -> None:
        self._stopped.set()
        self.join()

    def scaled_to_fastest(self, start: float, end: float) -> float:
        """The seconds from start to end, each interval weighted by the speed of its sample relative to
        the fastest sample: the run's time had the host kept its best speed throughout."""
        fastest = min(seconds for _, seconds in self.samples)
        scaled = 0.0
        for (at, seconds), (after, _) in zip(self.samples, self.samples[1:] + [(end, 0.0)]):
            begin, finish = max(at, start), min(after, end)
            if finish > begin:
                scaled += (finish - begin) * fastest / seconds
        return scaled


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, idle) clock ticks of all cores since boot, from /proc/stat (Linux); None elsewhere."""
    try:
        fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]   # idle, iowait
    return sum(fields[:8]) - idle, idle   # user … steal; guest time is counted in user already


def reap_adopted(timeout: float = 30) -> int:
    """Wait for every process this one adopted that is still ending when pytest has, so that its CPU time
    is counted; returns how many still run after `timeout` (a leak of the suite's)."""
    deadline = time.monotonic() + timeout
    while True:
        reap_children()
        alive = psutil.Process().children()
        if not alive or time.monotonic() > deadline:
            return len(alive)
        time.sleep(0.1)


def cloned_head() -> Path:
    """A fresh clone of HEAD, as .ci/run tests one (the working tree's edits are not in it)."""
    target = Path(tempfile.mkdtemp(prefix="raygitops-bench-suite-")) / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clone", action="store_true", help="run in a fresh clone of HEAD (this checkout's .venv)")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to tools/test")
    args = parser.parse_args()
    root = cloned_head() if args.clone else REPO
    # The clone runs its own code with this checkout's venv, whose editable install points here.
    env = dict(os.environ, RAYGITOPS_VENV=str(REPO / ".venv"), PYTHONPATH=str(root / "tools"))
    target = {(): WHOLE_SUITE_TARGET_S, ("-m", "unit"): UNIT_TIER_TARGET_S}.get(tuple(args.pytest_args))
    log = Path(tempfile.mkstemp(prefix="raygitops-bench-suite-", suffix=".log")[1])

    become_subreaper()   # Ray's and PostgreSQL's daemons come back to this process: their CPU is counted
    before = resource.getrusage(resource.RUSAGE_CHILDREN)   # the clone's git
    speed = HostSpeed()
    speed.start()
    ticks_before = cpu_ticks()
    start = time.monotonic()
    with log.open("w") as out:
        result = subprocess.run([str(root / "tools" / "test"), *args.pytest_args], cwd=root, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    end = time.monotonic()
    ticks_after = cpu_ticks()
    speed.stop()
    left_running = reap_adopted()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if args.clone:
        shutil.rmtree(root.parent, ignore_errors=True)

    lines = log.read_text().splitlines()
    summary = next((line for line in reversed(lines) if " in " in line and ("passed" in line or "failed" in line)), "")
    if result.returncode != 0:
        print(f"tools/test failed ({result.returncode}): {summary or 'no summary'} (log: {log})")
        return 1
    wall = end - start
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    loops = [seconds * 1000 for _, seconds in speed.samples]
    verdict = "" if target is None else f" (target ≤ {target} s: {'met' if wall <= target else 'MISSED'})"
    print(f"{' '.join(['tools/test', *args.pytest_args])}: {summary.strip('= ')}")
    print(f"wall time: {wall:.1f} s{verdict}")
    print(f"CPU time of its processes: {cpu:.0f} s, {cpu / wall:.2f} cores on average ({os.cpu_count()} here)")
    if ticks_before and ticks_after:
        busy, idle = (after_n - before_n for after_n, before_n in zip(ticks_after, ticks_before))
        print(f"the cores were busy {100 * busy / max(busy + idle, 1):.0f} % of the run (/proc/stat)")
    if left_running:
        print(f"{left_running} processes of the run were still running 30 s after it ended")
    print(f"host speed: the loop took {min(loops):.1f}–{max(loops):.1f} ms, median {statistics.median(loops):.1f} ms, "
          f"over {len(loops)} samples")
    print(f"at the fastest speed the host showed during the run: ≈ {speed.scaled_to_fastest(start, end):.0f} s")
    log.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
