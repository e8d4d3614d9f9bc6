"""Fetch the CRDs and schemas raygitops.yaml pins into the cache, and check them against schemas.lock.

    tools/schemas              # fetch what is missing; every file must match schemas.lock
    tools/schemas --update     # after a version bump: fetch the pinned versions again and rewrite schemas.lock
"""
from __future__ import annotations

import argparse

from raygitops.cli.common import add_command, repo_root


def register(subparsers) -> None:
    parser = add_command(subparsers, "schemas", __doc__, run)
    parser.add_argument("--update", action="store_true",
                        help="fetch every pinned source again and rewrite schemas.lock (commit it)")


def run(args: argparse.Namespace) -> int:
    from raygitops.checks.schema_sources import builtin_kubernetes_versions
    from raygitops.config import load_config
    from raygitops.schemastore import LOCK_FILE, SchemaStore
    from raygitops.generate.writes import write_generated

    root = repo_root()
    config = load_config(root)
    store = SchemaStore(config)
    if args.update:
        text, changed = store.update()
        write_generated(root, {LOCK_FILE: text.encode()})
        print(f"wrote {LOCK_FILE}: " + (f"{len(changed)} file{'s' * (len(changed) != 1)} changed: {', '.join(changed)}"
                                         if changed else "no file changed"))
    files = store.ensure()
    for source in store.sources:
        paths = files.get(source.key, [])
        print(f"{source.title}: {len(paths)} file{'s' * (len(paths) != 1)} in {store.cache / source.directory}")
    shipped = builtin_kubernetes_versions()
    print(f"Kubernetes {config.versions.kubernetes} built-in kinds: kubernetes-validate's schemas "
          f"(it ships {shipped[0]} to {shipped[-1]}; the newest is {shipped[-1]})")
    print(f"every file matches {LOCK_FILE}")
    return 0
