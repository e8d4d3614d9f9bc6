"""Print what kustomize renders for overlays (all by default): exactly what Argo CD applies.

    tools/render overlays/prod
    tools/render --summary
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from raygitops.cli.common import add_command, repo_root


def register(subparsers) -> None:
    parser = add_command(subparsers, "render", __doc__, run)
    parser.add_argument("paths", nargs="*", help="kustomization directories")
    parser.add_argument("--summary", action="store_true", help="one summary per overlay instead of the YAML")


def run(args: argparse.Namespace) -> int:
    from raygitops.model.environment import discover
    from raygitops.errors import UserError
    from raygitops.render import render, summary
    from raygitops.yamlio import relpath
    root = repo_root()
    paths = [Path(p) for p in args.paths] or [env.overlay for env in discover(root)]
    results = render(paths, root=root)
    failed = 0
    for path, result in results.items():
        if isinstance(result, UserError):
            print(f"error: {result}", file=sys.stderr)
            failed += 1
        elif args.summary:
            print(summary(result, root))
        else:
            print(f"# Source: {relpath(path, root)}\n---\n{result.text}", end="")
    return 2 if failed else 0
