"""Promote one environment's code and images to the next: a PR that changes only the target's pins and generated files.

    tools/promote dev staging              # dev's commit (HEAD when dev follows the working tree) and image pins
    tools/promote staging prod --dry-run   # the diff of what prod will do; nothing written
"""
from __future__ import annotations

import argparse
import sys

from raygitops.cli.common import add_command, repo_root


def register(subparsers) -> None:
    parser = add_command(subparsers, "promote", __doc__, run)
    parser.add_argument("source", metavar="SRC")
    parser.add_argument("target", metavar="DST")
    parser.add_argument("--dry-run", action="store_true", help="print the diff; write nothing")
    parser.add_argument("--force", action="store_true", help="allow skipping environments of promotion.order")


def run(args: argparse.Namespace) -> int:
    from raygitops.edit.promote import promote
    from raygitops.edit.transaction import apply_edit

    root = repo_root()
    outcome = apply_edit(root, promote(root, args.source, args.target, force=args.force), dry_run=args.dry_run)
    sys.stdout.write(outcome.text)
    return 0
