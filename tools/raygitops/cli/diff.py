"""Show what a change does to each environment: a semantic diff and its rollout impact under KubeRay.

    tools/diff                                  # merge-base with main → working tree (uncommitted changes included)
    tools/diff origin/main HEAD --format markdown --exit-code
"""
from __future__ import annotations

import argparse
import sys

from raygitops.cli.common import add_command, repo_root


def register(subparsers) -> None:
    parser = add_command(subparsers, "diff", __doc__, run)
    parser.add_argument("base", nargs="?", metavar="BASE",
                        help="revision to compare from (default: git merge-base main HEAD, else origin/main)")
    parser.add_argument("head", nargs="?", metavar="HEAD",
                        help="revision to compare to (default: the working tree, uncommitted changes included)")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                        help="markdown: a PR comment, empty when nothing changed")
    parser.add_argument("--exit-code", action="store_true", help="exit 1 when there are differences, like git diff")
    parser.add_argument("--kuberay-version", metavar="X.Y.Z",
                        help="judge the rollout for this KubeRay (default: versions.kuberay in HEAD's raygitops.yaml)")
    parser.add_argument("--require-clean", action="store_true",
                        help="fail when HEAD is the working tree and it has uncommitted changes (for CI)")
    parser.add_argument("--jobs", "-j", type=int, help="parallel renders (default: all cores)")


def run(args: argparse.Namespace) -> int:
    from raygitops.diff.compare import DiffOptions, compare
    from raygitops.config import VERSION_PATTERN
    from raygitops.output.diffreport import format_report
    from raygitops.errors import UserError

    if args.kuberay_version and not VERSION_PATTERN.match(args.kuberay_version):
        raise UserError(f"--kuberay-version '{args.kuberay_version}' is not a version like 1.7.0",
                        fix="write MAJOR.MINOR.PATCH")
    options = DiffOptions(base=args.base, head=args.head, kuberay=args.kuberay_version,
                          require_clean=args.require_clean, jobs=args.jobs)
    report = compare(repo_root(), options)
    sys.stdout.write(format_report(report, args.format))
    return 1 if args.exit_code and report.has_differences else 0
