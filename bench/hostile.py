"""bench/hostile: how fast hostile input is refused (goal: under 2 s each), against a bare baseline
measured in the same run; and validate's junit output at 2,000 and 20,000 resources (linear: ~10x).

    bench/hostile              # every case, median of 3 runs
    bench/hostile --repeat 5

Each case is `python -m raygitops validate` (or `regen --check`) as a user runs it, so the times
include the interpreter's start; the baseline is the same command on a small valid manifest from
stdin, which imports Ray (about a second) as every real validate does. Nothing here is asserted:
tests/e2e/test_hostile_input.py checks the behaviour, this prints the time.
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
import time
from pathlib import Path

from _common import REPO

TARGET = 2.0
RAYSERVICE = (REPO / "tests/e2e/validate_corpus/valid-rayservice.yaml").read_text()
BOMB = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n"
        "  a: &a [x, x, x, x, x, x, x, x, x]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "  e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n")
SERVE_BOMB = RAYSERVICE.replace("    applications:\n", "    x: &a [1, 1, 1, 1, 1, 1, 1, 1]\n"
                                "    y: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n    z: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
                                "    w: [*c, *c, *c, *c]\n    applications:\n")


def cases(work: Path) -> list[tuple[str, list[str], bytes | None]]:
    """(name, arguments, stdin) for each case; files are written under `work`."""
    fifo = work / "fifo.yaml"
    os.mkfifo(fifo)
    (work / "bomb.yaml").write_text(BOMB)
    return [
        ("baseline: valid RayService on stdin", ["validate", "-"], RAYSERVICE.encode()),
        ("nesting 50,000 levels, flow, stdin", ["validate", "-"], ("a: " + "[" * 50_000 + "]" * 50_000).encode()),
        ("nesting 1,000,000 levels, block, stdin", ["validate", "-"], ("- " * 1_000_000 + "x\n").encode()),
        ("alias bomb of 400 bytes, file", ["validate", str(work / "bomb.yaml")], None),
        ("alias bomb inside serveConfigV2, stdin", ["validate", "-"], SERVE_BOMB.encode()),
        ("20,000 documents, stdin", ["validate", "-"], b"---\na: 1\n" * 20_000),
        ("17 MiB of stdin", ["validate", "-"], b"# padding padding padding\n" * 700_000),
        ("not UTF-8, stdin", ["validate", "-"], b"a: \xff\xfe\n"),
        ("a FIFO", ["validate", str(fifo)], None),
        ("/dev/zero", ["validate", "/dev/zero"], None),
    ]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], stdin: bytes | None) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds, exit code, first line of stderr). The CPU time tells the cost
    apart from waiting for a core on a busy machine."""
    env = dict(os.environ, RAYGITOPS_ROOT=str(REPO), PYTHONPATH=str(REPO / "tools"))
    start, cpu = time.perf_counter(), _cpu()
    result = subprocess.run([sys.executable, "-m", "raygitops", *args], input=stdin or b"", cwd=REPO, env=env,
                            capture_output=True, timeout=300)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    first = (result.stderr.decode(errors="replace").strip().splitlines() or [""])[0]
    return seconds, cpu, result.returncode, first


def junit_seconds(resources: int) -> float:
    """format_junit on one source of `resources` ConfigMaps, each with an error finding."""
    sys.path.insert(0, str(REPO / "tools"))
    from raygitops.checks.validate import Source, ValidationReport
    from raygitops.findings import ERROR, Finding
    from raygitops.output.findings import format_report
    docs = tuple({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": "n"}}
                 for i in range(resources))
    findings = [Finding(id="schema", severity=ERROR, message=f"bad \x01 value {i}", file="big.yaml",
                        resource=f"ConfigMap/n/c{i}", path="data") for i in range(resources)]
    report = ValidationReport(sources=[Source("big.yaml", resources=docs)], findings=findings)
    start = time.perf_counter()
    format_report(report, "junit")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="raygitops-bench-hostile-"))
    try:
        rows = []
        for name, argv, stdin in cases(work):
            runs = [timed(argv, stdin) for _ in range(args.repeat)]
            rows.append((name, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
                         runs[0][2], runs[0][3]))
        baseline = rows[0][1]
        print(f"{'case':42s} exit  wall      CPU      ratio  goal {TARGET:.0f} s  first line of stderr")
        for name, seconds, cpu, code, first in rows:
            verdict = "" if name.startswith("baseline") else ("met" if seconds <= TARGET else "MISSED")
            print(f"{name:42s} {code:4d}  {seconds:5.2f} s  {cpu:5.2f} s  {seconds / baseline:5.2f}  {verdict:9s} "
                  f"{first[:80]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    small, large = junit_seconds(2_000), junit_seconds(20_000)
    print(f"junit, 2,000 resources: {small:.3f} s   20,000 resources: {large:.3f} s   ratio {large / small:.1f} "
          f"(linear: about 10)")


if __name__ == "__main__":
    main()
