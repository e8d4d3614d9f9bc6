"""Write every environment's serve config and the kustomize glue.

    tools/regen            # write what is stale
    tools/regen --check    # write nothing; exit 1 and show a diff when stale
"""
from __future__ import annotations

import argparse
import sys

from raygitops.cli.common import add_command, repo_root


def register(subparsers) -> None:
    parser = add_command(subparsers, "regen", __doc__, run)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 and show a diff when stale")


def run(args: argparse.Namespace) -> int:
    from raygitops.generate.regen import check, regenerate
    root = repo_root()
    if args.check:
        ok, report = check(root)
        print(report, file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    changed, zip_path, plan = regenerate(root)
    if not plan.files:
        print(f"generated files are up to date, by their seals; working_dir package: {zip_path.relative_to(root)}")
        return 0
    for rel in changed:
        print(f"wrote {rel}")
    print(f"working_dir package: {zip_path.relative_to(root)} → {plan.package.url(plan.config.working_dir_url)}")
    print(f"{len(plan.files)} generated files for {len(plan.config.environments())} environments, "
          f"{len(changed)} changed")
    return 0
