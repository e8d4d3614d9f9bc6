"""Check rendered overlays and manifests: schemas, the serve config and RayService policies.

    tools/validate                       # every overlay and argocd/
    tools/validate overlays/prod - --output github
    tools/validate --list-checks --output json   # every check: id, severity, pack, description, remediation
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from raygitops.cli.common import add_command, repo_root


# output/findings.FORMATS' names, written out: importing the formatters (masking's patterns) would
# cost a replayed run a fifth of its time. tests/unit/test_replay.py keeps the two equal.
FORMATS = ("text", "json", "junit", "github", "tap")


def register(subparsers) -> None:
    parser = add_command(subparsers, "validate", __doc__, run)
    parser.add_argument("paths", nargs="*", help="overlay/kustomization dirs, YAML files or dirs, - for stdin "
                                                 "(default: every overlay and argocd/)")
    # kubeconform's spellings (Go flags take one dash or two) are aliases: see README "Validate and review".
    parser.add_argument("--output", "-o", "-output", choices=(*FORMATS, "markdown"), default="text", metavar="FORMAT",
                        help=f"{', '.join(FORMATS)} (default: text); markdown only with --list-checks")
    parser.add_argument("--list-checks", action="store_true",
                        help="print every check (id, severity, pack, description, remediation) and exit")
    parser.add_argument("--kubernetes-version", "-kubernetes-version",
                        help="schemas of this Kubernetes version (default: versions.kubernetes in raygitops.yaml)")
    parser.add_argument("--crd-dir", action="append", default=[], help="more CRD YAML directories")
    parser.add_argument("--schema-location", "-schema-location", action="append", default=[],
                        help="kubeconform-style template, e.g. dir/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json")
    parser.add_argument("--skip", "-skip", action="append", default=[], metavar="KIND,...",
                        help="kinds to skip (Kind or group/Kind; a comma-separated list, or the flag again)")
    parser.add_argument("--ignore-missing-schemas", "-ignore-missing-schemas", action="store_true",
                        help="skip a resource that has no schema instead of failing")
    parser.add_argument("--strict-warnings", action="store_true", help="warnings fail too")
    parser.add_argument("--strict", "-strict", action="store_true",
                        help="kubeconform's -strict: always on here (unknown fields and duplicate keys are errors)")
    parser.add_argument("--summary", "-summary", action="store_true",
                        help="kubeconform's -summary: the summary is always printed")
    parser.add_argument("--jobs", "-j", "-n", type=int, help="parallel renders (default: all cores)")
    parser.add_argument("--no-cache", action="store_true", help="re-render even when inputs are unchanged")


def run(args: argparse.Namespace) -> int:
    if args.list_checks:
        return list_checks(args)
    if args.output == "markdown":
        args.parser.error(f"--output markdown is for --list-checks; a report is {', '.join(FORMATS)}")
    root = repo_root()
    paths = [p if p == "-" else Path(p) for p in args.paths]
    output, exit_code = _replayed_or_run(root, args, paths)
    try:
        print(output, flush=True)
    except BrokenPipeError:  # the reader went away (`| head`): not a failure worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return exit_code


def _replayed_or_run(root: Path, args: argparse.Namespace, paths: list) -> tuple[str, int]:
    """The last run's report when nothing it could read has changed (checks/replay.py), else a real run,
    recorded for the next time. stdin, --no-cache and paths outside the repository always run.
    A replay imports none of the checks: a warm run of 50 environments stays under 0.8 s (issue 9)."""
    from raygitops.checks.replay import ReplayEntry, fingerprint, options_key

    # Paths are as the shell gave them, relative to the current directory.
    inside = all(p != "-" and Path(p).resolve().is_relative_to(root.resolve()) for p in paths)
    key = options_key({k: v for k, v in vars(args).items() if k not in ("func", "parser")}) \
        if not args.no_cache and inside else None
    entry = ReplayEntry.find(root, key) if key else None
    if entry is not None and entry.still_valid(root):
        return entry.output, entry.exit_code
    before = fingerprint(root, []) if key else ""

    from raygitops.checks.validate import ValidateOptions, validate
    from raygitops.output.findings import format_report
    skip = tuple(kind.strip() for value in args.skip for kind in value.split(",") if kind.strip())
    options = ValidateOptions(kubernetes_version=args.kubernetes_version, crd_dirs=tuple(args.crd_dir),
                              schema_locations=tuple(args.schema_location), skip_kinds=skip,
                              ignore_missing_schemas=args.ignore_missing_schemas, jobs=args.jobs,
                              use_cache=not args.no_cache)
    report = validate(root, paths or None, options)
    output, exit_code = format_report(report, args.output, root), report.exit_code(args.strict_warnings)
    if key:
        after = fingerprint(root, report.outside_roots)
        # Recorded only when the repository did not change while it ran: the entry must describe one state.
        # Without roots outside it (the usual case), `after` is the same walk `before` was.
        repository_after = after if not report.outside_roots else fingerprint(root, [])
        if repository_after == before:
            ReplayEntry(report.outside_roots, after, output, exit_code).store(root, key)
    return output, exit_code


def list_checks(args: argparse.Namespace) -> int:
    """The registry, not this repository's choice of packs: the same list everywhere."""
    from raygitops.checks.registry import CHECKS
    from raygitops.output.checklist import FORMATS, format_checks

    if args.paths:
        args.parser.error("--list-checks takes no paths")
    if args.output not in FORMATS:
        args.parser.error(f"--list-checks prints {', '.join(FORMATS)}, not {args.output}")
    print(format_checks(CHECKS, args.output), flush=True)
    return 0
