"""Add an environment as a copy of another, or remove one (step 1 of the two-step removal).

    tools/env add qa --from staging     # overlay, namespace, DB host, operator watchNamespace; regen + validate
    tools/env remove qa                 # deletes overlays/qa; prints step 2
"""
from __future__ import annotations

import argparse
import sys

from raygitops.cli.common import add_command, repo_root


def register(subparsers) -> None:
    parser = add_command(subparsers, "env", __doc__, run)
    actions = parser.add_subparsers(dest="action", required=True, metavar="{add,remove}")
    add = actions.add_parser("add", help="copy an environment (README: Add an environment)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--from", dest="source", required=True, metavar="ENV", help="the environment to copy")
    add.add_argument("--protected", action="store_true", help="protect it from deletion like prod")
    remove = actions.add_parser("remove", help="step 1 of removing an environment (README: Remove an environment)")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--unprotect", action="store_true",
                        help="a protected environment (prod): also lift its deletion protection")
    for sub in (add, remove):
        sub.add_argument("--dry-run", action="store_true", help="regenerate, validate and diff; write nothing")
        sub.set_defaults(parser=sub)


def run(args: argparse.Namespace) -> int:
    from raygitops.edit.environments import add_environment, remove_environment
    from raygitops.edit.transaction import apply_edit

    root = repo_root()
    if args.action == "add":
        edit = add_environment(root, args.name, source=args.source, protect=args.protected)
    else:
        edit = remove_environment(root, args.name, unprotect=args.unprotect)
    outcome = apply_edit(root, edit, dry_run=args.dry_run)
    sys.stdout.write(outcome.text)
    return 0
