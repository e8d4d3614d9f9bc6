"""Run the test suite; every option goes to pytest (`tools/test -m unit` is the fast tier).

    tools/test
    tools/test -m unit -x
"""
from __future__ import annotations

import os

from raygitops.cli.common import repo_root


def register(subparsers) -> None:
    # Listed for --help only: main() hands `test` its arguments untouched, before argparse.
    subparsers.add_parser("test", prog="tools/test", help=__doc__.splitlines()[0])


def run_tests(pytest_args: list[str]) -> int:
    import pytest
    os.chdir(repo_root())
    return pytest.main(["-q", *pytest_args])
