"""Run Aana's own `aana build` for an Aana app and an environment's settings: in a process of its own, on a copy.

    built = aana_build(package, "apps.echo_aana.app:aana_app", {"NUM_WORKERS": "3"})  # its config.yaml, parsed
    # kept in ~/.cache/raygitops/aana-build/ while its inputs are unchanged (aana_cache.py); never writes into
    # apps/, never deploys

Why a subprocess: Aana reads its settings (NUM_WORKERS, TASK_QUEUE__ENABLED, ...) from the environment once,
when `aana.configs.settings` is first imported (aana 0.2.4, aana/configs/settings.py: `settings = Settings()`),
so each environment's build needs a fresh process (aana_builder.py forks one per build, after importing
Aana's dependencies once). Why a copy: `aana build` writes app_config.py and
config.yaml beside the app module (aana 0.2.4, aana/sdk.py AanaSDK.build), and apps/ must stay as Git has it.
The copy is the working_dir zip itself, so the build imports exactly the code the cluster gets.
"""
from __future__ import annotations

import io
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

import yaml

from raygitops.errors import UserError
from raygitops.generate.aana_cache import build_entry
from raygitops.generate.workingdir import TOP_DIR, Package
from raygitops.usercache import read_json

BUILD_TIMEOUT_S = 300
# The process that runs the builds: Aana's dependencies imported once, a fork per build.
BUILDER = Path(__file__).with_name("aana_builder.py")
# The aana CLI's `build` command (aana 0.2.4, aana/cli.py); `python -m aana.cli` has no __main__ guard.
AANA_CLI = "from aana.cli import cli; cli(prog_name='aana')"
# Settings that name places (the database, Aana's data directories): the build gets scratch ones,
# so that it neither connects anywhere nor creates /tmp/aana_data or /var/lib/aana_data. Aana bakes
# none of them into its output ("DB_CONFIG leaves no trace").
SCRATCH_SETTINGS = ("DB_CONFIG", "API_SERVICE_DB_CONFIG", "TMP_DATA_DIR", "IMAGE_DIR", "VIDEO_DIR", "AUDIO_DIR",
                    "MODEL_DIR")
# Passed through from the caller's environment; nothing else is, so the shell's variables cannot
# change a build (pydantic-settings would read e.g. a stray NUM_WORKERS).
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
_TRACE_FILE = re.compile(r'^\s*File "([^"]+)", line (\d+)', re.M)


def is_scratch_setting(name: str) -> bool:
    """DB_CONFIG and DB_CONFIG__A__B alike (pydantic-settings' nested delimiter is `__`)."""
    upper = name.upper()
    return any(upper == s or upper.startswith(s + "__") for s in SCRATCH_SETTINGS)


def aana_version() -> str:
    try:
        return metadata.version("aana")
    except metadata.PackageNotFoundError:
        raise UserError("raygitops.yaml lists an Aana app (`aana:`), but Aana is not installed in this Python",
                        file="raygitops.yaml",
                        fix="run the tools through their shims (tools/_run installs requirements-aana.txt), or "
                            "`pip install --no-deps -r requirements-aana.txt` into the environment you use") from None


def versions() -> dict[str, str]:
    """What else the build imports: Aana, Ray (and, through them, FastAPI and the rest) and Python."""
    return {"aana": aana_version(), "ray": metadata.version("ray"), "python": platform.python_version()}


_memo: dict[str, dict] = {}
BuildRequest = tuple[Package, str, dict[str, str]]   # the code, the app's import path, its settings


def aana_build(package: Package, app_path: str, settings: dict[str, str]) -> dict:
    """The serve config that `aana build <app_path>` writes (config.yaml), with these settings in its environment."""
    return aana_builds([(package, app_path, settings)])[0]


def aana_builds(requests: list[BuildRequest]) -> list[dict]:
    """aana_build for each request. The ones the cache lacks are built together: one process imports
    Aana's dependencies once and forks a build per request (aana_builder.py), which costs about one
    build's time instead of one per environment."""
    keyed, installed = [], versions()
    for package, app_path, settings in requests:
        settings = {name: value for name, value in settings.items() if not is_scratch_setting(name)}
        keyed.append((build_entry(package, app_path, settings, installed), (package, app_path, settings)))
    missing = {}
    for entry, request in keyed:
        if entry.memo_key not in _memo:
            built = entry.lookup()
            if built is None:
                missing[entry.memo_key] = (entry, request)
            else:
                _memo[entry.memo_key] = built
    if missing:
        for (entry, _), (built, imported) in zip(missing.values(), _run_builds([r for _, r in missing.values()])):
            entry.store(built, imported)   # key order is the serve config's
            _memo[entry.memo_key] = built
    return [_memo[entry.memo_key] for entry, _ in keyed]


def _run_builds(requests: list[BuildRequest]) -> list[tuple[dict, list[str] | None]]:
    """Each request built on its own copy of its package (`aana build` writes beside the app), with
    exactly its settings and scratch places: (its serve config, the package files it imported, or None
    when the builder did not say). The first failure, in request order, is the error."""
    with tempfile.TemporaryDirectory(prefix="raygitops-aana-") as tmp:
        jobs = []
        for index, (package, app_path, settings) in enumerate(requests):
            place = Path(tmp) / str(index)
            with zipfile.ZipFile(io.BytesIO(package.content)) as archive:
                archive.extractall(place)
            scratch = place / "scratch"
            env = {**_passed_through(), **settings}
            scratch_db = {"datastore_type": "sqlite", "datastore_config": {"path": str(scratch / "db")}}
            env.update(TMP_DATA_DIR=str(scratch / "aana_data"), RAY_USAGE_STATS_ENABLED="0",
                       DB_CONFIG=json.dumps(scratch_db))
            jobs.append({"cwd": str(place / TOP_DIR), "env": env, "app": app_path, "log": str(place / "build.log"),
                         "imports": str(place / "imports.json")})
        codes = _run_builder(jobs, tmp)
        built = []
        for job in jobs:
            code, output = Path(job["cwd"]), _module_dir(Path(job["cwd"]), job["app"]) / "config.yaml"
            if codes.get(job["log"]) != 0 or not output.exists():
                log = Path(job["log"])
                raise _build_error(log.read_text(errors="replace") if log.exists() else "", code, job["app"])
            imported = read_json(Path(job["imports"]))
            built.append((yaml.safe_load(output.read_text()), imported if isinstance(imported, list) else None))
        return built


def _run_builder(jobs: list[dict], cwd: str) -> dict[str, int]:
    """aana_builder.py over the jobs, in a session of its own (a timeout stops its forks too): {log: exit code}."""
    env = {**_passed_through(), "RAY_USAGE_STATS_ENABLED": "0"}
    process = subprocess.Popen([sys.executable, "-c", BUILDER.read_text()], cwd=cwd, env=env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        out, err = process.communicate(json.dumps(jobs), timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise UserError(f"aana build {', '.join(sorted({job['app'] for job in jobs}))} took longer than "
                        f"{BUILD_TIMEOUT_S} s", file="raygitops.yaml",
                        fix="does the app do slow work at import time? `aana build` imports it") from None
    except BaseException:   # Ctrl-C: its forks go with it
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    try:
        return json.loads(out)
    except ValueError:
        raise _build_error(err or out, Path(cwd), jobs[0]["app"]) from None


def _passed_through() -> dict[str, str]:
    return {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}


def _module_dir(code: Path, app_path: str) -> Path:
    """Where `aana build` writes: the directory of the app module's file (AanaSDK.build uses find_spec().origin)."""
    module = code.joinpath(*app_path.split(":")[0].split("."))
    return module if module.is_dir() else module.parent


def _build_error(output: str, code: Path, app_path: str) -> UserError:
    """The failing line in apps/ when the traceback has one, and the exception's own line. Aana wraps an
    import failure in "ImportError: Could not import ..." (aana/cli.py load_app): the cause comes first."""
    output = output.split("The above exception was the direct cause")[0]
    file, line = "raygitops.yaml", None
    for match in _TRACE_FILE.finditer(output):
        try:
            rel = Path(match.group(1)).resolve().relative_to(code.resolve())
        except ValueError:
            continue
        file, line = rel.as_posix(), int(match.group(2))
    lines = [text.strip() for text in output.strip().splitlines() if text.strip()]
    reason = lines[-1] if lines else "no output"
    return UserError(f"aana build {app_path} failed: {reason[:300]}", file=file, line=line,
                     fix="fix the app; `aana build` on a copy of apps/ shows the whole traceback")
