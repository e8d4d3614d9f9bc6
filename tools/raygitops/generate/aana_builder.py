"""The process behind generate/aana_build.py: Aana's dependencies imported once, then one fork per build.

    python -c "$(cat aana_builder.py)" < jobs.json   # [{"cwd", "env", "app", "log", "imports"}]; exit 0 once all ran
    # each job: `aana build <app>` in its own child, in its cwd, with exactly its env; its output in "log",
    # and the files under its cwd that the build imported in "imports" (a JSON list), once it succeeded

Why forks: Aana reads its settings from the environment when `aana.configs.settings` is first
imported, so every environment's build needs a process of its own. Most of a build's time is
importing Ray, FastAPI and SQLAlchemy (about 3.5 s of 4.4 s on 2 cores), which read no Aana
setting: imported once here, they are shared by every child. Nothing from aana is imported
before the fork. Run with `-c`, like the one-process build before it: sys.path[0] is '' (the
current directory), so the app's module is found in the job's cwd, as in a fresh interpreter.
This file imports nothing of raygitops: its Python may not have raygitops on its path.
"""
import importlib
import json
import os
import sys

# Aana 0.2.4's heavy dependencies; none of them reads an Aana setting when imported. A variable
# that Ray reads when imported (RAY_*) is the builder's, not the job's: the jobs differ in Aana's.
SHARED_IMPORTS = ("ray", "ray.serve", "fastapi", "sqlalchemy", "alembic", "httpx", "pydantic_settings",
                  "uvicorn", "requests", "jsonschema")
AANA_CLI_BUILD = "aana.cli"


def build(job: dict) -> None:
    """In the child: the job's directory, environment and log, then Aana's CLI; never returns."""
    code = 70
    try:
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.argv = ["aana", "build", job["app"]]
        try:
            cli = importlib.import_module(AANA_CLI_BUILD).cli
            cli(["build", job["app"]], prog_name="aana")
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        except BaseException:   # noqa: BLE001 - shown as the interpreter shows it, for the caller to parse
            import traceback
            traceback.print_exc()
            code = 1
        if code == 0:
            record_imports(job["imports"])   # if this fails, the caller keys the build on all of apps/
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def record_imports(target: str) -> None:
    """The source files under the cwd of every module imported now: what the build's output can depend on
    (aana_build.py reuses the build while these files are unchanged). Nothing under the cwd was imported
    before the fork."""
    here = os.path.realpath(os.getcwd()) + os.sep
    files = sorted({os.path.realpath(module.__file__) for module in list(sys.modules.values())
                    if isinstance(getattr(module, "__file__", None), str)})
    with open(target, "w", encoding="utf-8") as out:
        json.dump([path[len(here):] for path in files if path.startswith(here)], out)


def main() -> int:
    jobs = json.load(sys.stdin)
    for name in SHARED_IMPORTS:
        try:
            importlib.import_module(name)
        except Exception:   # noqa: BLE001 - a missing extra only costs its import in each child
            pass
    running: dict[int, dict] = {}
    limit = max(1, os.cpu_count() or 1)
    pending = list(jobs)
    codes = {}
    while pending or running:
        while pending and len(running) < limit:
            job = pending.pop(0)
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                build(job)
            running[pid] = job
        pid, status = os.wait()
        job = running.pop(pid, None)
        if job is not None:
            codes[job["log"]] = os.waitstatus_to_exitcode(status)
    json.dump(codes, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
