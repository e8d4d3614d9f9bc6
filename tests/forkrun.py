"""Run a command as `python -m raygitops` would, in a fork of the test process: a fresh process, minus the imports.

    result = run_forked(["validate"], cwd=root, env=env, timeout=300)   # a subprocess.CompletedProcess
    result = run_forked(["validate", "-"], cwd=root, env=env, timeout=300, stdin="kind: ...")
    preload()   # once per test process: what the commands import lazily (Ray's serve schema, jsonschema, CEL)

Why: an e2e test runs a command a handful of times, and each run used to pay Python's imports again
(Ray's serve schema, FastAPI and jsonschema take 2-4 s on 2 cores, more than most commands' own work).
A fork gets its own process, pid, working directory, environment, file descriptors and exit code, as a
subprocess does; only the modules are inherited, already imported. What a module remembers between
calls (functools caches keyed by path) is forgotten in the child, so every run starts as a new
process starts. What a test changed in this process (monkeypatch) does reach the command: patch
the command's environment (run_tool's env) instead. Tests of what only a real process shows (the shims, the entry point, signals, pipes)
start one: see tests/e2e/test_fresh_clone.py and tests/unit/test_exit_codes.py.
"""
from __future__ import annotations

import functools
import importlib
import io
import os
import pkgutil
import select
import signal
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import raygitops
from raygitops.generate.workingdir import forget_apps_modules

# Imported by the commands only when they need them (checks/, generate/serve_schema.py); the
# parent imports them once, so that no child pays for them.
_LAZY_IMPORTS = ("ray.serve.schema", "ray.serve.config", "fastapi", "jsonschema", "cel", "ruamel.yaml")


@functools.lru_cache(maxsize=1)
def preload() -> None:
    for name in _LAZY_IMPORTS:
        importlib.import_module(name)
    for module in pkgutil.walk_packages(raygitops.__path__, "raygitops."):
        if not module.name.endswith(".__main__"):   # that one runs a command
            importlib.import_module(module.name)


def run_forked(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float,
               stdin: str | None = None) -> subprocess.CompletedProcess:
    """`stdin`: the text the command reads from its standard input (else it reads /dev/null)."""
    preload()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as given:
        given.write((stdin or "").encode("utf-8"))
        given.seek(0)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:   # the child: never returns into pytest
            code = 70
            try:
                code = _child(args, cwd, env, given.fileno() if stdin is not None else None, out.fileno(),
                              err.fileno())
            finally:
                os._exit(code)
        code = _wait(pid, timeout, args)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess([sys.executable, "-m", "raygitops", *args], code,
                                           out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


def _child(args: list[str], cwd: Path, env: dict[str, str], in_fd: int | None, out_fd: int, err_fd: int) -> int:
    signal.alarm(0)   # pytest-timeout's alarm is the parent's
    for number in (signal.SIGALRM, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.setpgid(0, 0)   # its own group, so that a timeout stops what it started (kubectl, git) too
    os.dup2(os.open(os.devnull, os.O_RDONLY) if in_fd is None else in_fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [str(Path(raygitops.__file__).parent / "__main__.py"), *args]
    _forget_remembered_values()
    try:
        from raygitops.cli import main
        code = main(list(args))
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    except BaseException:   # as the interpreter would: the traceback, exit 1
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass
    return code


def _forget_remembered_values() -> None:
    """Every functools cache of the package, cleared: a new process remembers nothing (a cache keyed
    by a path would otherwise hold a file as the parent last read it). Nor has it imported a
    repository's `apps` (tests/repo/test_apps.py imports this one's when it is collected): `serve build`
    in the child would take that module instead of the copy's apps/ it was given."""
    forget_apps_modules()
    for name, module in list(sys.modules.items()):
        if name == "raygitops" or name.startswith("raygitops."):
            for value in list(vars(module).values()):
                members = vars(value).values() if isinstance(value, type) else ()
                for cached in (value, *members):
                    if callable(getattr(cached, "cache_clear", None)) and hasattr(cached, "cache_info"):
                        cached.cache_clear()
            for memo in ("_memo", "_serve_cache", "_held"):
                if isinstance(getattr(module, memo, None), dict):
                    getattr(module, memo).clear()


def _wait(pid: int, timeout: float, args: list[str]) -> int:
    fd = os.pidfd_open(pid)
    try:
        if not select.select([fd], [], [], timeout)[0]:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired([sys.executable, "-m", "raygitops", *args], timeout)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
