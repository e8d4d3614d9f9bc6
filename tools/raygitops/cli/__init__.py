"""The `raygitops` command: one module per subcommand, each with `register(subparsers)`.

    python -m raygitops validate overlays/dev      # what every tools/<command> shim runs
    main(["regen", "--check"])                     # → an exit code

Every command keeps one exit-code contract: 0 clean, 1 findings (validate findings,
`diff --exit-code` with changes, an `up --check` that did not answer), 2 a usage or tool
failure (an unexpected exception too: "internal error", never a traceback), 130 interrupted.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from raygitops.cli import diff, down, regen, render, schemas, test, up, validate
from raygitops.cli.common import command_name
from raygitops.errors import EXIT_FAILURE, EXIT_INTERRUPTED, UserError

COMMANDS = (regen, render, validate, diff, up, down, schemas, test)


def build_parser() -> argparse.ArgumentParser:
    prog = command_name("").strip().rstrip("/")
    parser = argparse.ArgumentParser(prog=prog, description=f"raygitops: {command_name('<command>')} --help",
                                     allow_abbrev=False)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["test"]:
            return test.run_tests(argv[1:])
        argv, paths = _paths_after_dashes(argv)
        args, unknown = build_parser().parse_known_args(argv)
        if unknown:  # reported by the command's own parser, so the usage names tools/<command>
            args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        if paths is not None:
            args.paths = paths
        return args.func(args)
    except BrokenPipeError:  # the reader went away (`| head`): end quietly, as git does
        try:   # and keep Python's own flush at exit from complaining about the closed pipe
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except UserError as error:
        print(f"error: {_safe(str(error))}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as error:  # a path that is a directory, a dangling link, unreadable…
        print(f"error: {_safe(_os_error_message(error))}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:  # noqa: BLE001 - the contract: exit 2 and no traceback, ever
        print(f"internal error: {_where(error)} — this is a bug in raygitops; please report it "
              "(RAYGITOPS_DEBUG=1 shows the traceback)", file=sys.stderr)
        if os.environ.get("RAYGITOPS_DEBUG"):
            traceback.print_exc()
        return EXIT_FAILURE


def _paths_after_dashes(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """`diff BASE -- overlays/prod`: git's `--` before paths, for the commands that take them.
    (argparse would only drop the `--` and fill BASE and HEAD from the paths.)"""
    command = next((c for c in COMMANDS if c.__name__.rsplit(".", 1)[-1] == (argv[:1] or [""])[0]), None)
    if command is None or not getattr(command, "TAKES_PATHS_AFTER_DASHES", False) or "--" not in argv:
        return argv, None
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1:]


def _safe(message: str) -> str:
    """A message as every printer shows one: secret-like values hidden, control characters escaped."""
    from raygitops.masking import mask_text, printable
    return printable(mask_text(message))


def _os_error_message(error: OSError) -> str:
    from raygitops.cli.common import repo_root_quietly
    from raygitops.yamlio import relpath
    root = repo_root_quietly()
    where = f"{relpath(Path(error.filename), root) if root else error.filename}: " if error.filename else ""
    return (f"{where}{error.strerror or error} — check that this path is a readable file where one is expected")


def _where(error: BaseException) -> str:
    """The exception's type and the innermost raygitops frame. Never its message: a message
    can carry a value from the input, and the input can hold a secret."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "raygitops" in f.filename]
    if not frames:
        return type(error).__name__
    frame = frames[-1]
    return f"{type(error).__name__} at raygitops/{frame.filename.rsplit('raygitops/', 1)[-1]}:{frame.lineno}"


def main_exit() -> None:
    """The `raygitops` console script."""
    raise SystemExit(main())
