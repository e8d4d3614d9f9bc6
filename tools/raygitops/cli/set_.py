"""Set a per-environment value: pin an environment's images or code (overlays/ENV/pins.yaml).

    tools/set dev image ray-image 2.46.0-py311-build2    # or name:tag@sha256:…; --unpin to follow raygitops.yaml
    tools/set prod code v1.4.0                           # the commit of apps/ prod deploys; --unpin: the working tree
"""
from __future__ import annotations

import argparse
import sys

from raygitops.cli.common import add_command, repo_root


def register(subparsers) -> None:
    parser = add_command(subparsers, "set", __doc__, run)
    parser.add_argument("environment", metavar="ENV")
    parser.add_argument("key", metavar="KEY", help="image or code (ray-version and kuberay-version are global)")
    parser.add_argument("values", nargs="*", metavar="VALUE",
                        help="image: PLACEHOLDER TAG-OR-REFERENCE; code: COMMIT-OR-TAG")
    parser.add_argument("--unpin", action="store_true", help="remove the pin (image: give the PLACEHOLDER)")
    parser.add_argument("--dry-run", action="store_true", help="regenerate, validate and diff; write nothing")


def run(args: argparse.Namespace) -> int:
    from raygitops.edit.setpin import refuse_global, set_code, set_image
    from raygitops.edit.transaction import apply_edit

    root = repo_root()
    wanted = {"image": 1 if args.unpin else 2, "code": 0 if args.unpin else 1}
    if args.key not in wanted:
        refuse_global(args.key)
    if len(args.values) != wanted[args.key]:
        args.parser.error({"image": "give PLACEHOLDER and a tag or image reference (or PLACEHOLDER --unpin)",
                           "code": "give one commit or tag (or --unpin)"}[args.key])
    if args.key == "image":
        edit = set_image(root, args.environment, args.values[0], None if args.unpin else args.values[1])
    else:
        edit = set_code(root, args.environment, None if args.unpin else args.values[0])
    outcome = apply_edit(root, edit, dry_run=args.dry_run)
    sys.stdout.write(outcome.text)
    return 0
