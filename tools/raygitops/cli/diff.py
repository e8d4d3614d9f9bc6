"""Show what a change does to each environment: a semantic diff and its rollout impact under KubeRay.

    tools/diff                                  # merge-base with main → working tree (uncommitted changes included)
    tools/diff origin/main HEAD --format markdown --exit-code
    tools/diff "$base" --fail-on rejected,suspend          # exit 1 when a change is rejected or suspends a service
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
    parser.add_argument("--fail-on", metavar="VERDICT,…",
                        help="exit 1 when any change has one of these verdicts (rejected, outage or its alias "
                             "suspend, unknown-field, validation-failed, new-cluster, …)")
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
    from raygitops.diff.verdicts import fail_on_verdicts

    fail_on = fail_on_verdicts(args.fail_on) if args.fail_on is not None else frozenset()
    if args.kuberay_version and not VERSION_PATTERN.match(args.kuberay_version):
        raise UserError(f"--kuberay-version '{args.kuberay_version}' is not a version like 1.7.0",
                        fix="write MAJOR.MINOR.PATCH")
    options = DiffOptions(base=args.base, head=args.head, kuberay=args.kuberay_version,
                          require_clean=args.require_clean, jobs=args.jobs)
    report = compare(repo_root(), options)
    sys.stdout.write(format_report(report, args.format))
    failed = (args.exit_code and report.has_differences) or report.has_verdict(fail_on)
    return 1 if failed else 0
