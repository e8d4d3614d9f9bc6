"""bench/regen: `tools/regen --check` and a real rebuild by `tools/regen`, against bare `serve build`.

    bench/regen            # a copy of this repository, then a synthetic 20 apps × 10 environments
    bench/regen --repeat 5 # more runs per figure (medians)

Everything runs in temporary copies: `tools/regen` writes files, never into this checkout.
Targets (issue 9): `regen --check` on unchanged inputs ≤ 0.5 s and without importing Ray;
a real rebuild ≤ 1.3× a bare `serve build` of the same apps, timed in the same run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from _common import REPO, VENV_BIN, median_seconds, print_ratio

CHECK_TARGET_SECONDS = 0.5
REBUILD_TARGET_RATIO = 1.3
# A generated file whose loss breaks its environment's seal: the next `tools/regen` rebuilds for real.
SEALED_FILE = "overlays/{env}/generated/kustomization.yaml"
_IGNORED = (".venv", ".git", "build", ".run", "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info",
            "tests", "bench")

APP_TEMPLATE = '''"""Synthetic app {i} for bench/regen."""
from ray import serve


@serve.deployment(ray_actor_options={{"num_cpus": 0.1}}, user_config={{"factor": {i}}})
class Scaler{i}:
    def reconfigure(self, config):
        self.factor = config["factor"]

    async def __call__(self, request):
        return {{"factor": self.factor}}


app = Scaler{i}.bind()
'''


def regen(*flags: str) -> list[str]:
    return [sys.executable, "-m", "raygitops", "regen", *flags]


def imports_ray(root: Path) -> bool:
    """Whether `tools/regen --check` imports Ray, from `python -X importtime` (one line per module)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "raygitops", "regen", "--check"],
                            cwd=root, env=dict(os.environ, RAYGITOPS_ROOT=str(root)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit(f"tools/regen --check failed ({result.returncode}): {result.stderr[-2000:]}")
    modules = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
               if line.startswith("import time:")}
    return "ray" in modules


def bench_repo(root: Path, label: str, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as cache:
        _bench_repo(root, label, repeat, Path(cache))


def _bench_repo(root: Path, label: str, repeat: int, cache: Path) -> None:
    config = yaml.safe_load((root / "raygitops.yaml").read_text())
    # `aana:` entries are built by `aana build` (per environment, cached), not by `serve build`.
    import_paths = [app["import_path"] for app in config["applications"] if "import_path" in app]
    environments = sorted(p.name for p in (root / "overlays").iterdir() if (p / "kustomization.yaml").exists())
    # A user cache of this bench's own: a real rebuild empties its serve-build and serve-schema folders.
    env = {"RAYGITOPS_ROOT": str(root), "XDG_CACHE_HOME": str(cache)}
    median_seconds(regen(), cwd=root, env=env, repeat=1)   # the copy's zip, the Aana builds' cache

    check = median_seconds(regen("--check"), cwd=root, env=env, repeat=repeat)
    ray = imports_ray(root)
    verdict = "met" if check <= CHECK_TARGET_SECONDS and not ray else "MISSED"
    print(f"{label}: tools/regen --check (unchanged): {check:.2f} s, Ray imported: {'yes' if ray else 'no'} "
          f"(target ≤ {CHECK_TARGET_SECONDS:.2f} s without Ray: {verdict})")

    sealed = root / SEALED_FILE.format(env=environments[0])

    def rebuild(cold: bool) -> float:
        sealed.unlink()
        if cold:   # nothing of Ray's kept: neither the build nor what its schema said
            for kind in ("serve-build", "serve-schema"):
                shutil.rmtree(cache / "raygitops" / kind, ignore_errors=True)
        return median_seconds(regen(), cwd=root, env=env, repeat=1)
    ours = statistics.median([rebuild(cold=True) for _ in range(repeat)])
    cached = statistics.median([rebuild(cold=False) for _ in range(repeat)])
    with tempfile.TemporaryDirectory() as tmp:
        bare = median_seconds([str(VENV_BIN / "serve"), "build", *import_paths, "--app-dir", str(root),
                               "--output-path", f"{tmp}/serve.yaml"], cwd=root, repeat=repeat)
    print_ratio(f"{label}: tools/regen (real rebuild, {len(environments)} environments)", ours,
                f"serve build of {len(import_paths)} apps", bare, REBUILD_TARGET_RATIO)
    print(f"{label}: tools/regen (apps/ unchanged, serve build from the user cache): {cached:.2f} s")


def copy_of_this_repo(root: Path) -> None:
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(*_IGNORED))


def synthetic_repo(root: Path, apps: int, environments: int) -> None:
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(*_IGNORED, "overlays", "apps"))
    (root / "apps").mkdir()
    (root / "apps" / "__init__.py").write_text("")
    for i in range(apps):
        (root / "apps" / f"scaler{i:02d}.py").write_text(APP_TEMPLATE.format(i=i))
    config = yaml.safe_load((root / "raygitops.yaml").read_text())
    config["applications"] = [{"name": f"scaler{i:02d}", "import_path": f"apps.scaler{i:02d}:app",
                               "route_prefix": "/" if i == 0 else f"/scaler{i:02d}"} for i in range(apps)]
    (root / "raygitops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    for e in range(environments):
        overlay = root / "overlays" / f"env{e:02d}"
        overlay.mkdir(parents=True)
        (overlay / "kustomization.yaml").write_text(
            "resources: [../../base]\ncomponents: [generated]\ntransformers: [generated/images.yaml]\n")
        overrides = {"env_vars": {"DB_CONFIG": {"datastore_type": "sqlite", "datastore_config": {"path": f"/tmp/{e}.db"}}},
                     "applications": [{"name": f"scaler{i:02d}",
                                       "deployments": [{"name": f"Scaler{i}", "num_replicas": 1 + (i + e) % 3,
                                                        "user_config": {"factor": e}}]} for i in range(apps)]}
        (overlay / "serve.yaml").write_text(yaml.safe_dump(overrides, sort_keys=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-regen-") as tmp:
        root = Path(tmp) / "repo"
        copy_of_this_repo(root)
        bench_repo(root, "this repository", args.repeat)
    with tempfile.TemporaryDirectory(prefix="bench-regen-") as tmp:
        root = Path(tmp) / "synthetic"
        synthetic_repo(root, apps=20, environments=10)
        bench_repo(root, "20 apps × 10 environments", args.repeat)


if __name__ == "__main__":
    main()
