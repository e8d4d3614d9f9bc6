"""Run Aana's own `aana build` for one Aana app and one environment's settings: in a subprocess, on a copy.

    built = aana_build(package, "apps.echo_aana.app:aana_app", {"NUM_WORKERS": "3"})  # its config.yaml, parsed
    # cached by the hash of its inputs in ~/.cache/raygitops/aana-build/; never writes into apps/, never deploys

Why a subprocess: Aana reads its settings (NUM_WORKERS, TASK_QUEUE__ENABLED, ...) from the environment once,
when `aana.configs.settings` is first imported (aana 0.2.4, aana/configs/settings.py: `settings = Settings()`),
so each environment's build needs a fresh process. Why a copy: `aana build` writes app_config.py and
config.yaml beside the app module (aana 0.2.4, aana/sdk.py AanaSDK.build), and apps/ must stay as Git has it.
The copy is the working_dir zip itself, so the build imports exactly the code the cluster gets.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

import yaml

from raygitops.errors import UserError
from raygitops.generate.workingdir import TOP_DIR, Package
from raygitops.usercache import read_json, user_cache, write_atomically

# Bump when what is cached changes shape.
CACHE_FORMAT = 2
BUILD_TIMEOUT_S = 300
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


def cache_dir() -> Path:
    """user_cache("aana-build"). Shared by every checkout (the key is the inputs' hash): a repository
    copy or tools/diff's worktree of the same code and settings reuses the build."""
    return user_cache("aana-build")


def inputs_hash(package: Package, app_path: str, settings: dict[str, str]) -> str:
    inputs = {"format": CACHE_FORMAT, "code": package.digest, "app": app_path, "settings": sorted(settings.items()),
              "aana": aana_version(), "ray": metadata.version("ray"), "python": platform.python_version()}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:24]


_memo: dict[str, dict] = {}


def aana_build(package: Package, app_path: str, settings: dict[str, str]) -> dict:
    """The serve config that `aana build <app_path>` writes (config.yaml), with these settings in its environment."""
    settings = {name: value for name, value in settings.items() if not is_scratch_setting(name)}
    key = inputs_hash(package, app_path, settings)
    if key in _memo:
        return _memo[key]
    cached = cache_dir() / f"{key}.json"
    built = read_json(cached)
    if built is None:
        built = _run_build(package, app_path, settings)
        write_atomically(cached, json.dumps(built))   # key order is kept: it is the serve config's order
    _memo[key] = built
    return built


def _run_build(package: Package, app_path: str, settings: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="raygitops-aana-") as tmp:
        with zipfile.ZipFile(io.BytesIO(package.content)) as archive:
            archive.extractall(tmp)
        code = Path(tmp) / TOP_DIR
        scratch = Path(tmp) / "scratch"
        env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
        env.update(settings)
        scratch_db = {"datastore_type": "sqlite", "datastore_config": {"path": str(scratch / "db")}}
        env.update(TMP_DATA_DIR=str(scratch / "aana_data"), RAY_USAGE_STATS_ENABLED="0",
                   DB_CONFIG=json.dumps(scratch_db))
        try:
            result = subprocess.run([sys.executable, "-c", AANA_CLI, "build", app_path], cwd=code, env=env,
                                    capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, start_new_session=True)
        except subprocess.TimeoutExpired:
            raise UserError(f"aana build {app_path} took longer than {BUILD_TIMEOUT_S} s", file="raygitops.yaml",
                            fix="does the app do slow work at import time? `aana build` imports it") from None
        output = _module_dir(code, app_path) / "config.yaml"
        if result.returncode != 0 or not output.exists():
            raise _build_error(result.stderr or result.stdout, code, app_path)
        return yaml.safe_load(output.read_text())


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
