"""Serve one environment's exact serve config on a local Ray, with a local PostgreSQL if it uses one.

    tools/up overlays/dev                  # regen if stale, validate, start, deploy, smoke; Ctrl-C stops it
    tools/up --check overlays/staging      # the same without a terminal, then tear down (CI)
"""
from __future__ import annotations

import argparse
from pathlib import Path

from raygitops.cli.common import add_command, repo_root


def register(subparsers) -> None:
    parser = add_command(subparsers, "up", __doc__, run)
    parser.add_argument("overlay", help="the environment's overlay directory, e.g. overlays/dev")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="exit 0 only when every app is healthy and every smoke request succeeded; then tear down")
    mode.add_argument("--detach", action="store_true", help="return and leave it running (stop with tools/down)")
    parser.add_argument("--no-regen", action="store_true", help="fail instead of regenerating stale files")
    parser.add_argument("--port", type=int, help="Serve HTTP port (default: the config's http_options.port)")
    parser.add_argument("--address", metavar="URL",
                        help="deploy to the running Ray whose dashboard is at URL instead of starting one "
                             "(tools/down leaves that Ray running)")
    parser.add_argument("--num-cpus", type=int, default=4,
                        help="logical CPUs of the local Ray head, so that the replicas fit (default: 4)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for every app to be RUNNING (default: 120)")
    parser.add_argument("--ray-start-arg", action="append", default=[], metavar="ARG",
                        help="an extra option for `ray start`, e.g. --ray-start-arg=--object-store-memory=2000000000")


def run(args: argparse.Namespace) -> int:
    from raygitops.local.run import UpOptions, up

    options = UpOptions(overlay=Path(args.overlay), check=args.check, detach=args.detach, regen=not args.no_regen,
                        port=args.port, address=args.address, num_cpus=args.num_cpus, timeout=args.timeout,
                        ray_start_args=list(args.ray_start_arg))
    return up(repo_root(), options)
