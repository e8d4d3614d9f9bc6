"""What every command shares: its parser entry, and the repository it works on.

    parser = add_command(subparsers, "validate", __doc__, run)
    root = repo_root()
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable


def add_command(subparsers, name: str, doc: str | None, run: Callable[[argparse.Namespace], int]
                ) -> argparse.ArgumentParser:
    """A subcommand whose help is its module docstring's first line. Prefix matching is off, so
    `--strict` can never silently mean `--strict-warnings`."""
    summary = (doc or name).strip().splitlines()[0]
    parser = subparsers.add_parser(name, prog=command_name(name), help=summary, description=summary,
                                   allow_abbrev=False)
    parser.set_defaults(func=run, parser=parser)
    return parser


def command_name(name: str) -> str:
    """How the user called the command, for usage lines: the installed `raygitops validate`, or the
    shim `tools/validate` (which runs `python -m raygitops`)."""
    return f"raygitops {name}" if os.path.basename(sys.argv[0]) == "raygitops" else f"tools/{name}"


def repo_root() -> Path:
    """The repository: the nearest directory holding raygitops.yaml from the current directory up,
    as git finds .git ($RAYGITOPS_ROOT overrides it, for tests). Any generated-file write that a killed
    tools/regen left half done is finished first (or dropped, when it was made for another commit or
    other inputs): every command must see one generation of them."""
    from raygitops.config import find_repo_root
    from raygitops.generate.writes import interrupted_write_pending, recover_interrupted_write
    start = os.environ.get("RAYGITOPS_ROOT")
    root = find_repo_root(Path(start) if start else None)
    if interrupted_write_pending(root):
        from raygitops.generate.regen import inputs_stamp
        note = recover_interrupted_write(root, lambda: inputs_stamp(root))
        if note:
            print(f"note: {note}", file=sys.stderr)
    return root


def repo_root_quietly() -> Path | None:
    try:
        return repo_root()
    except Exception:  # noqa: BLE001 - only for shortening a path in a message
        return None
