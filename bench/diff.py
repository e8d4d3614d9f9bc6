"""bench/diff: tools/diff on 50 environments against one kustomize render and against tools/validate, same run.

    bench/diff             # one environment changed, then all 50 changed; render caches cleared before each run
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import REPO, median_seconds, print_ratio

ENVIRONMENTS = 50
SHARED = os.environ.get("RAYGITOPS_SHARED") or str(REPO.parent / "shared")


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def synthetic_repo(root: Path) -> None:
    """The repository with overlays/dev copied 50 times (own namespace each), committed on main."""
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(".venv", ".git", "build", ".run", "__pycache__",
                                                               ".pytest_cache", ".hypothesis", "*.egg-info",
                                                               "overlays", "tests", "bench"))
    for e in range(ENVIRONMENTS):
        overlay = root / "overlays" / f"env{e:02d}"
        shutil.copytree(REPO / "overlays" / "dev", overlay)
        kustomization = overlay / "kustomization.yaml"
        kustomization.write_text(kustomization.read_text().replace("namespace: aana-dev", f"namespace: aana-env{e:02d}"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "change")


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def cold(command: list[str]) -> list[str]:
    """The command after emptying the render cache, so every run renders for real."""
    return ["sh", "-c", 'rm -rf .run/render-cache && exec "$@"', "--", *command]


def raygitops(*args: str) -> list[str]:
    return cold([sys.executable, "-m", "raygitops", *args])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as tmp:
        root = Path(tmp) / "repo"
        synthetic_repo(root)
        env = {"RAYGITOPS_ROOT": str(root), "RAYGITOPS_SHARED": SHARED}

        nothing = median_seconds(raygitops("diff"), cwd=root, env=env)
        replace(root / "overlays/env07/rayservice-patch.yaml", "memory: 4Gi", "memory: 6Gi")
        one = median_seconds(raygitops("diff"), cwd=root, env=env)
        render = median_seconds(["kubectl", "kustomize", "overlays/env07"], cwd=root)
        print(f"{ENVIRONMENTS} environments, 1 changed (the constant: tools/diff with nothing changed "
              f"= {nothing:.2f} s: Python, git worktree, input digests)")
        print_ratio("  tools/diff", one - nothing, "one kubectl kustomize", render, target=3.0)
        print(f"  tools/diff absolute: {one:.2f} s = {nothing:.2f} s constant + {one - nothing:.2f} s")

        replace(root / "base/rayservice.yaml", 'dashboard-host: "0.0.0.0"', 'dashboard-host: "0.0.0.0"\n'
                                                                           '        metrics-export-port: "8080"')
        every = median_seconds(raygitops("diff"), cwd=root, env=env)
        validate = median_seconds(raygitops("validate"), cwd=root, env=env, expect=(0, 1))
        print(f"{ENVIRONMENTS} environments, all changed")
        print_ratio("  tools/diff", every, "tools/validate", validate, target=2.2)


if __name__ == "__main__":
    main()
