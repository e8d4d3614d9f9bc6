"""bench/regen: tools/regen --check against a bare `serve build` of the same apps, same run.

    bench/regen            # this repository, then a synthetic 20 apps × 10 environments
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from _common import REPO, VENV_BIN, median_seconds, print_ratio

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


def regen_vs_serve_build(root: Path, label: str, target: float) -> None:
    config = yaml.safe_load((root / "raygitops.yaml").read_text())
    import_paths = [app["import_path"] for app in config["applications"]]
    env = {"RAYGITOPS_ROOT": str(root)}
    median_seconds([sys.executable, "-m", "raygitops", "regen"], cwd=root, env=env, repeat=1)
    ours = median_seconds([sys.executable, "-m", "raygitops", "regen", "--check"], cwd=root, env=env)
    with tempfile.TemporaryDirectory() as tmp:
        bare = median_seconds([str(VENV_BIN / "serve"), "build", *import_paths, "--app-dir", str(root),
                               "--output-path", f"{tmp}/serve.yaml"], cwd=root)
    print_ratio(f"{label}: tools/regen --check", ours, f"serve build of {len(import_paths)} apps", bare, target)


def synthetic_repo(root: Path, apps: int, environments: int) -> None:
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(".venv", ".git", "build", ".run", "__pycache__",
                                                               "overlays", "apps", "tests", "bench"))
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
    regen_vs_serve_build(REPO, "this repository", 1.3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        synthetic_repo(root, apps=20, environments=10)
        regen_vs_serve_build(root, "20 apps × 10 environments", 1.5)


if __name__ == "__main__":
    main()
