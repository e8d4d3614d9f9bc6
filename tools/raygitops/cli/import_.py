"""Adopt a hand-written RayService (serveConfigV2 pasted in) as a new environment, and prove the round trip.

    tools/import rayservice.yaml --env aana-sdk      # overlay, serve.yaml, apps, pins; regen, validate, render = input
    tools/import rayservice.yaml --env aana-sdk --dry-run
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from raygitops.cli.common import add_command, repo_root


def register(subparsers) -> None:
    parser = add_command(subparsers, "import", __doc__, run)
    parser.add_argument("file", metavar="FILE", help="a YAML file with one RayService")
    parser.add_argument("--env", required=True, metavar="NAME", help="the new environment (overlays/NAME, namespace aana-NAME)")
    parser.add_argument("--dry-run", action="store_true", help="regenerate, validate, diff and check; write nothing")


def run(args: argparse.Namespace) -> int:
    from raygitops.edit.adopt import adopt
    from raygitops.edit.adoptcheck import round_trip
    from raygitops.edit.transaction import apply_edit

    root = repo_root()
    adoption = adopt(root, Path(args.file), args.env)
    adoption.edit.notes += adoption.report
    outcome = apply_edit(root, adoption.edit, dry_run=args.dry_run, check=lambda tree: round_trip(tree, adoption))
    sys.stdout.write(outcome.text)
    return 0
