"""Argument parsing for every tools/<command>; each command only calls the library.

    python -m raygitops regen --check
    python -m raygitops render overlays/dev
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from raygitops.errors import UserError
from raygitops.yamlio import relpath


def _root() -> Path:
    """The repository, with any generated-file write that a killed tools/regen left half done
    finished first: every command reads those files, and must see one generation of them."""
    from raygitops.config import find_repo_root
    from raygitops.yamlio import interrupted_write_pending, recover_interrupted_write
    root = find_repo_root(Path(__file__).resolve().parents[2]
                          if os.environ.get("RAYGITOPS_ROOT") is None else Path(os.environ["RAYGITOPS_ROOT"]))
    if interrupted_write_pending(root):
        recover_interrupted_write(root)
        print("note: finished the generated-file write of an interrupted tools/regen", file=sys.stderr)
    return root


def cmd_regen(args: argparse.Namespace) -> int:
    from raygitops.regen import check, regenerate
    root = _root()
    if args.check:
        ok, report = check(root)
        print(report, file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    changed, zip_path, plan = regenerate(root)
    for rel in changed:
        print(f"wrote {rel}")
    print(f"working_dir package: {zip_path.relative_to(root)} → {plan.package.url(plan.config.working_dir_url)}")
    print(f"{len(plan.files)} generated files for {len(plan.config.environments())} environments, "
          f"{len(changed)} changed")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from raygitops.render import render_many, summary
    root = _root()
    paths = [Path(p) for p in args.paths] or [root / "overlays" / env for env in _environments(root)]
    results = render_many(paths, root=root)
    failed = 0
    for path, result in results.items():
        if isinstance(result, UserError):
            print(f"error: {result}", file=sys.stderr)
            failed += 1
        elif args.summary:
            print(summary(result, root))
        else:
            print(f"# Source: {relpath(path, root)}\n---\n{result.text}", end="")
    return 2 if failed else 0


def _root_quietly() -> Path | None:
    try:
        return _root()
    except Exception:  # noqa: BLE001 - only for shortening a path in a message
        return None


def _environments(root: Path) -> list[str]:
    from raygitops.config import load_config
    return load_config(root).environments()


def run_tests(pytest_args: list[str]) -> int:
    """`tools/test [pytest options]`: every argument goes to pytest untouched."""
    import pytest
    os.chdir(_root())
    return pytest.main(["-q", *pytest_args])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tools", description="raygitops tools: tools/<command> --help")
    sub = parser.add_subparsers(dest="command", required=True)

    regen = sub.add_parser("regen", prog="tools/regen",
                           help="write every environment's serve config and the kustomize glue")
    regen.add_argument("--check", action="store_true", help="write nothing; exit 1 and show a diff when stale")
    regen.set_defaults(func=cmd_regen, parser=regen)

    render = sub.add_parser("render", prog="tools/render", help="kustomize build overlays (all by default)")
    render.add_argument("paths", nargs="*", help="kustomization directories")
    render.add_argument("--summary", action="store_true", help="one summary per overlay instead of the YAML")
    render.set_defaults(func=cmd_render, parser=render)

    sub.add_parser("test", prog="tools/test", help="run the test suite (options go to pytest)")

    for name in ("validate", "up", "down", "diff"):
        _register_optional(sub, name)
    return parser


def _register_optional(sub, name: str) -> None:
    """Commands with many options keep their parser in raygitops/cli_<name>.py
    (`add_arguments(parser)` and `run(args)`)."""
    import importlib
    try:
        library = importlib.import_module(f"raygitops.cli_{name}")
    except ModuleNotFoundError as error:
        if error.name != f"raygitops.cli_{name}":
            raise  # a missing dependency, not a command that is not there
        return
    command = sub.add_parser(name, prog=f"tools/{name}", help=library.__doc__.splitlines()[0] if library.__doc__ else name)
    library.add_arguments(command)
    command.set_defaults(func=library.run, parser=command)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["test"]:
            return run_tests(argv[1:])
        args, unknown = build_parser().parse_known_args(argv)
        if unknown:  # reported by the command's own parser, so the usage names tools/<command>
            args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return args.func(args)
    except BrokenPipeError:  # the reader went away (`| head`): not worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # a path that is a directory, a dangling link, unreadable…
        root = _root_quietly()
        where = f"{relpath(Path(error.filename), root) if root else error.filename}: " if error.filename else ""
        print(f"error: {where}{error.strerror or error} — check that this path is a readable file where one is "
              "expected", file=sys.stderr)
        return 2
