"""Stop what `tools/up` started (its Ray, its PostgreSQL) and nothing else.

    tools/down                      # every environment that is up
    tools/down --purge overlays/staging   # also delete its local database, secret and logs
"""
from __future__ import annotations

import argparse
from pathlib import Path

from raygitops.cli.common import add_command, repo_root


def register(subparsers) -> None:
    parser = add_command(subparsers, "down", __doc__, run)
    parser.add_argument("overlays", nargs="*", help="overlay directories (default: every environment that is up)")
    parser.add_argument("--purge", action="store_true",
                        help="also delete the local database, the local secret and the logs in .run/<env>/")


def run(args: argparse.Namespace) -> int:
    from raygitops.local.run import down

    return down(repo_root(), [Path(p) for p in args.overlays], purge=args.purge)
