"""The exit-code contract of every command, in process: 0 clean, 1 findings, 2 failure, 130 interrupted;
an unexpected exception is "internal error" (exit 2) without a traceback or the exception's message.

    tools/test tests/unit/test_exit_codes.py
"""
from __future__ import annotations

import pytest

from raygitops import cli
from raygitops.errors import EXIT_FAILURE, EXIT_INTERRUPTED, UserError

NAMES = [command.__name__.rsplit(".", 1)[-1] for command in cli.COMMANDS if not command.__name__.endswith(".test")]


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_option_is_a_usage_error(name, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main([name, "--no-such-option"])
    assert exited.value.code == EXIT_FAILURE
    err = capsys.readouterr().err
    # One usage line that names the command; commands with a required argument name that first.
    assert f"tools/{name}: error:" in err and "Traceback" not in err


@pytest.mark.parametrize("name", NAMES)
def test_a_prefix_of_an_option_is_not_that_option(name, capsys):
    """allow_abbrev=False: `--strict` must never silently mean `--strict-warnings`."""
    parser = cli.build_parser()
    options = [o for action in parser._subparsers._group_actions[0].choices[name]._actions
               for o in action.option_strings if o.startswith("--") and len(o) > 4]
    for option in options:
        with pytest.raises(SystemExit) as exited:
            cli.build_parser().parse_args([name, option[:-1]])
        assert exited.value.code == EXIT_FAILURE, option


def _failing_with(error: BaseException):
    def run(args):
        raise error
    return run


@pytest.mark.parametrize("error, code, words", [
    (UserError("bad input", file="raygitops.yaml", line=3, fix="fix it"), EXIT_FAILURE,
     "error: raygitops.yaml:3: bad input — fix it"),
    (KeyboardInterrupt(), EXIT_INTERRUPTED, "interrupted"),
    (RuntimeError("password=hunter2"), EXIT_FAILURE, "internal error: RuntimeError at raygitops/"),
    (IsADirectoryError(21, "Is a directory", "/tmp"), EXIT_FAILURE, "error: /tmp: Is a directory"),
])
def test_every_failure_becomes_one_line_and_its_exit_code(monkeypatch, capsys, error, code, words):
    monkeypatch.setattr(cli.regen, "run", _failing_with(error))
    monkeypatch.delenv("RAYGITOPS_DEBUG", raising=False)
    assert cli.main(["regen"]) == code
    err = capsys.readouterr().err
    assert words in err
    assert "Traceback" not in err and "hunter2" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    monkeypatch.setattr(cli.render, "run", _failing_with(BrokenPipeError()))
    code = cli.main(["render"])
    assert code in (0, 1) and capsys.readouterr().err == ""
