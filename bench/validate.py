"""bench/validate: tools/validate on N synthetic overlays against the bare sequential
`kubectl kustomize` of the same overlays, timed in the same run (interleaved, medians).

    bench/validate                 # N = 10, 50, 200
    bench/validate 50 --repeat 5   # one size, more runs

Each overlay is a copy of overlays/dev with its own namespace and a small patch (its worker
group's maxReplicas). "cold" is `tools/validate --no-cache`; "warm" reuses the render cache of an
earlier run; "edit one" re-validates after changing one overlay's patch, which should cost about
one render more than "warm". Targets at N=50 (issue 9): cold at most 0.75x the bare sequential render;
warm at most 0.8 s.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from _common import REPO, print_ratio
from raygitops.render import render

KUBECTL = shutil.which("kubectl") or "kubectl"
TARGET_N, TARGET = 50, 0.75
WARM_TARGET_SECONDS = 0.8


def synthetic_repo(root: Path, n: int) -> list[str]:
    """A copy of the repository with overlays/bench-000 … bench-<n-1>; returns their paths."""
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", ".run", "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info", "tests", "bench"))
    dev = root / "overlays" / "dev"
    names = [f"bench-{i:03d}" for i in range(n)]
    for i, name in enumerate(names):
        overlay = root / "overlays" / name
        shutil.copytree(dev, overlay)
        kustomization = overlay / "kustomization.yaml"
        kustomization.write_text(kustomization.read_text().replace("namespace: aana-dev", f"namespace: aana-{name}"))
        patch = overlay / "rayservice-patch.yaml"
        assert "maxReplicas: 1\n" in patch.read_text()
        patch.write_text(patch.read_text().replace("maxReplicas: 1\n", f"maxReplicas: {1 + i % 3}\n"))
    # They are dev-like environments (SQLite is fine there), so validate passes with warnings.
    config_file = root / "raygitops.yaml"
    config = yaml.safe_load(config_file.read_text())
    config.setdefault("policies", {})["dev_environments"] = ["dev", *names]
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return [f"overlays/{name}" for name in names]


def seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bare_render(root: Path, overlays: list[str]) -> None:
    for overlay in overlays:
        subprocess.run([KUBECTL, "kustomize", overlay], cwd=root, check=True, stdout=subprocess.DEVNULL)


def tools_validate(root: Path, overlays: list[str], *flags: str) -> None:
    # The copy lives in a temp dir: the schemas stay where the repository's ../shared is.
    env = dict(os.environ, RAYGITOPS_ROOT=str(root),
               RAYGITOPS_SHARED=os.environ.get("RAYGITOPS_SHARED") or str(REPO.parent / "shared"))
    result = subprocess.run([sys.executable, "-m", "raygitops", "validate", *flags, *overlays], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0 or f"in {len(overlays)} sources" not in summary:
        raise SystemExit(f"tools/validate failed ({result.returncode}): {summary}\n{result.stderr[-2000:]}")


def bench(n: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        root = Path(tmp) / "repo"
        overlays = synthetic_repo(root, n)
        cache = root / ".run" / "render-cache"
        bare, cold, warm = [], [], []
        for _ in range(repeat):   # interleaved, so load from elsewhere hits all three alike
            bare.append(seconds(lambda: bare_render(root, overlays)))
            cold.append(seconds(lambda: tools_validate(root, overlays, "--no-cache")))
            shutil.rmtree(cache, ignore_errors=True)
            tools_validate(root, overlays)   # fills the cache
            warm.append(seconds(lambda: tools_validate(root, overlays)))
        bare_s, cold_s, warm_s = (statistics.median(t) for t in (bare, cold, warm))
        print(f"N={n} overlays ({os.cpu_count()} cores, median of {repeat}):")
        print_ratio("  tools/validate --no-cache", cold_s, "sequential kubectl kustomize", bare_s,
                    TARGET if n == TARGET_N else None)
        print_ratio("  tools/validate (warm cache)", warm_s, "sequential kubectl kustomize", bare_s)
        if n == TARGET_N:
            print(f"  tools/validate (warm cache, nothing changed): {warm_s:.2f} s "
                  f"(target ≤ {WARM_TARGET_SECONDS:.2f} s: {'met' if warm_s <= WARM_TARGET_SECONDS else 'MISSED'})")

        # Edit one overlay out of n: only it is rendered again. Interleaved with unedited warm runs;
        # the render step alone (in this process) shows the cost without Python's and Ray's start-up.
        edited, unedited, render_edited, render_unedited = [], [], [], []
        paths = [root / overlay for overlay in overlays]
        for k in range(repeat):
            edit_one(root / overlays[k % n], k)
            edited.append(seconds(lambda: tools_validate(root, overlays)))
            unedited.append(seconds(lambda: tools_validate(root, overlays)))
            edit_one(root / overlays[k % n], k + repeat)
            render_edited.append(seconds(lambda: render(paths, root=root)))
            render_unedited.append(seconds(lambda: render(paths, root=root)))
        edit_s, again_s, one = statistics.median(edited), statistics.median(unedited), bare_s / n
        print(f"  edit 1 of {n}, re-validate: {edit_s:.2f} s vs unchanged {again_s:.2f} s: {edit_s - again_s:+.2f} s "
              f"(one bare render: {one:.2f} s); render step: {statistics.median(render_edited):.2f} s "
              f"vs {statistics.median(render_unedited):.2f} s")


def edit_one(overlay: Path, k: int) -> None:
    patch = overlay / "rayservice-patch.yaml"
    patch.write_text(patch.read_text() + f"# edit {k}\n")   # a new input hash for this overlay only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10, 50, 200])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for n in args.sizes:
        bench(n, args.repeat if n <= 50 else max(1, args.repeat - 1))   # 200 bare renders take a while


if __name__ == "__main__":
    main()
