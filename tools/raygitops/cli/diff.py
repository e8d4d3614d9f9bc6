"""Show what a change does to each environment: a semantic diff and its rollout impact under KubeRay.

    tools/diff                                  # merge-base with main → working tree (uncommitted changes included)
    tools/diff origin/main HEAD --format markdown --exit-code
    tools/diff main --stat -- overlays/prod     # like git: a summary, for the environments under the paths
    tools/diff "$base" --fail-on rejected,suspend          # exit 1 when a change is rejected or suspends a service
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from raygitops.cli.common import add_command, repo_root

# `tools/diff BASE -- overlays/prod`: what follows `--` is paths, as with git (cli.main splits it off).
TAKES_PATHS_AFTER_DASHES = True


def register(subparsers) -> None:
    parser = add_command(subparsers, "diff", __doc__, run)
    parser.usage = "%(prog)s [options] [BASE [HEAD]] [-- PATH ...]"
    parser.epilog = ("PATH after --: only the environments under these paths (overlays/<env>, a file in one, "
                     "or an environment's name), as git diff limits itself to paths")
    parser.add_argument("base", nargs="?", metavar="BASE",
                        help="revision to compare from (default: git merge-base main HEAD, else origin/main)")
    parser.add_argument("head", nargs="?", metavar="HEAD",
                        help="revision to compare to (default: the working tree, uncommitted changes included)")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                        help="markdown: a PR comment, empty when nothing changed")
    summary = parser.add_mutually_exclusive_group()
    summary.add_argument("--stat", action="store_true",
                         help="one line per changed environment (resources, changes, verdict), as git diff --stat")
    summary.add_argument("--name-only", action="store_true",
                         help="only the changed environments' overlay paths, one a line, as git diff --name-only")
    parser.add_argument("--exit-code", action="store_true", help="exit 1 when there are differences, like git diff")
    parser.add_argument("--fail-on", metavar="VERDICT,…",
                        help="exit 1 when any change has one of these verdicts (rejected, outage or its alias "
                             "suspend, unknown-field, validation-failed, new-cluster, …)")
    parser.add_argument("--kuberay-version", metavar="X.Y.Z",
                        help="judge the rollout for this KubeRay (default: versions.kuberay in HEAD's raygitops.yaml)")
    parser.add_argument("--require-clean", action="store_true",
                        help="fail when HEAD is the working tree and it has uncommitted changes (for CI)")
    parser.add_argument("--jobs", "-j", type=int, help="parallel renders (default: all cores)")
    parser.set_defaults(paths=[])


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
    output = "stat" if args.stat else "name-only" if args.name_only else args.format
    if output != args.format and args.format != "text":
        raise UserError(f"--{output} and --format {args.format} are two outputs", fix="choose one")
    root = repo_root()
    options = DiffOptions(base=args.base, head=args.head, kuberay=args.kuberay_version,
                          require_clean=args.require_clean, jobs=args.jobs,
                          environments=environments_of(args.paths, root) if args.paths else None)
    try:
        report = compare(root, options)
    except UserError as error:
        ref = next((r for r in (args.base, args.head) if r and f"'{r}'" in error.message), None)
        if ref is not None and error.message.startswith("unknown revision") and os.path.exists(ref):
            raise UserError(error.message, fix=f"paths go after --, as with git: tools/diff [BASE] -- {ref}") from None
        raise
    sys.stdout.write(format_report(report, output))
    failed = (args.exit_code and report.has_differences) or report.has_verdict(fail_on)
    return 1 if failed else 0


def environments_of(paths: list[str], root: Path) -> tuple[str, ...]:
    """The environment names a pathspec names: overlays/<env> or anything under it (relative to the
    current directory; its cluster layers come with it), clusters/<env>/<cluster> or anything under it
    (that layer alone), `overlays` for all, or a bare environment name."""
    from raygitops.errors import UserError
    from raygitops.model.environment import CLUSTERS, OVERLAYS

    overlays, clusters = (root / OVERLAYS).resolve(), (root / CLUSTERS).resolve()
    names: list[str] = []
    for raw in paths:
        path = Path(os.path.abspath(raw))
        if path == overlays:
            return ()
        if path.is_relative_to(overlays):
            names.append(path.relative_to(overlays).parts[0])
        elif path.is_relative_to(clusters) and len(path.relative_to(clusters).parts) >= 2:
            names.append("/".join(path.relative_to(clusters).parts[:2]))   # a cluster layer: <env>/<cluster>
        elif "/" not in raw and not path.exists():   # not a path here: an environment's name
            names.append(raw)
        else:
            raise UserError(f"{raw} is not in an environment", fix="give overlays/<env>, clusters/<env>/<cluster>, "
                                                                    "a file in one, or the environment's name")
    return tuple(dict.fromkeys(names))
