"""Scale a Serve deployment or a worker group of one environment, keeping the files' comments.

    tools/scale prod main/Gateway 6            # or: tools/scale prod text_stats --min 2 --max 10
    tools/scale staging --group cpu-workers --replicas 3 --max 6
"""
from __future__ import annotations

import argparse
import sys

from raygitops.cli.common import add_command, repo_root


def register(subparsers) -> None:
    parser = add_command(subparsers, "scale", __doc__, run)
    parser.add_argument("environment", metavar="ENV")
    parser.add_argument("target", nargs="?", metavar="APP[/DEPLOYMENT]",
                        help="the Serve deployment (edits overlays/ENV/serve.yaml)")
    parser.add_argument("replicas", nargs="?", type=int, metavar="N", help="fixed num_replicas")
    parser.add_argument("--min", type=int, dest="minimum", help="autoscaling minimum (with --group: minReplicas)")
    parser.add_argument("--max", type=int, dest="maximum", help="autoscaling maximum (with --group: maxReplicas)")
    parser.add_argument("--group", metavar="NAME", help="a worker group instead (edits the RayService patch)")
    parser.add_argument("--replicas", type=int, dest="group_replicas", help="with --group: replicas")
    parser.add_argument("--dry-run", action="store_true", help="regenerate, validate and diff; write nothing")


def run(args: argparse.Namespace) -> int:
    from raygitops.edit.scale import scale_deployment, scale_group
    from raygitops.edit.transaction import apply_edit

    root = repo_root()
    if args.group:
        if args.target or args.replicas is not None:
            args.parser.error("with --group, give --replicas/--min/--max, not APP or N")
        edit = scale_group(root, args.environment, args.group, replicas=args.group_replicas,
                           minimum=args.minimum, maximum=args.maximum)
    else:
        if not args.target or args.group_replicas is not None:
            args.parser.error("give APP[/DEPLOYMENT] and N (or --min/--max), or --group NAME --replicas N")
        edit = scale_deployment(root, args.environment, args.target, replicas=args.replicas,
                                minimum=args.minimum, maximum=args.maximum)
    outcome = apply_edit(root, edit, dry_run=args.dry_run)
    sys.stdout.write(outcome.text)
    return 0
