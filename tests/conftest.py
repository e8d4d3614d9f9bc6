"""Shared fixtures: the repository, a disposable copy of it, and how to run a command.

    def test_x(repo_copy): run_tool(repo_copy, "regen", "--check")
    tools/test -m unit        # the fast tier: tests/unit/, which may start no subprocess

The tiers are folders: tests/unit (library modules, no subprocess, kustomize or Ray), tests/e2e
(the commands, run as a user runs them), tests/repo (this repository's own content).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from forkrun import run_forked
from raygitops.checks.crdfiles import load_crd_text, scan_crd_file
from raygitops.config import KUSTOMIZATION_NAMES, load_config
from raygitops.render_inputs import read_kustomization

REPO = Path(__file__).resolve().parents[1]
# ../shared: the offline mirror of the pinned schemas (and of older KubeRay CRDs and reference notes).
SHARED = Path(os.environ.get("RAYGITOPS_SCHEMA_MIRROR") or REPO.parent / "shared").resolve()
_COPY_IGNORE = shutil.ignore_patterns(".venv*", ".git", "build", ".run", "__pycache__", ".pytest_cache",
                                      ".hypothesis", ".ruff_cache", "*.egg-info")
# The project's own code, at the top of the repository: 260 of a copy's 380 files, which no command
# reads. A copy leaves them out unless a test runs them (copy_repository's code=True).
PROJECT_CODE = {"tools", "tests", "bench"}


def load_crd_file(path: Path) -> dict:
    """The one CRD of a file of ../shared. PyYAML takes 0.3-0.7 s per KubeRay CRD, and a dozen tests
    and the commands read the same few: parsed as the product parses them (crdfiles.load_crd_text), each
    one is kept in this session's user cache (_schema_store) and parsed once, by whichever process asks
    first. Call it from a test or fixture: at import time that cache is not set up yet."""
    [doc] = scan_crd_file(str(path), path.stat().st_mtime_ns)
    return load_crd_text(path.read_text(encoding="utf-8")[doc.start:doc.end])


def overlays(root: Path = REPO) -> list[str]:
    """Every environment: each overlays/<env> with a kustomization, sorted (as the tools and
    Argo CD's ApplicationSet see them). Tests about "every environment" use this, never a list."""
    return load_config(root).environments()


def overlays_with_component(component: str, root: Path = REPO) -> list[str]:
    """The environments whose kustomization lists base/components/<component>, sorted."""
    target = (root / "base" / "components" / component).resolve()
    found = []
    for env in overlays(root):
        overlay = root / "overlays" / env
        file = next(overlay / n for n in KUSTOMIZATION_NAMES if (overlay / n).exists())
        entries = (read_kustomization(file) or {}).get("components") or []
        if any(isinstance(e, str) and (overlay / e).resolve() == target for e in entries):
            found.append(env)
    return found


TIERS = ("unit", "e2e", "repo")


def pytest_configure(config):
    """Ctrl-C as a terminal delivers it. A shell script started as a background job (`.ci/run &`) runs
    with SIGINT ignored, and so does every process it starts: the tests that press Ctrl-C would find a
    command that cannot hear it. With a handler installed here, the processes started from here get the
    default again (exec resets a handled signal, not an ignored one)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(tryfirst=True)   # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in TIERS:
            item.add_marker(tier)
        if item.get_closest_marker("ray"):
            # One xdist worker runs them all, one after another (tools/test's --dist loadgroup).
            item.add_marker(pytest.mark.xdist_group("ray"))


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """A unit test that starts a process belongs in tests/e2e: fail it instead of letting the fast tier slow down."""
    if request.node.get_closest_marker("unit"):
        def refuse(*args, **kwargs):
            raise AssertionError("a unit test started a subprocess; move it to tests/e2e")
        monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


def shared_dir(tmp_path_factory, name: str) -> Path:
    """A directory of this test session that all its xdist workers share (each worker's base temp
    is a folder of the session's); fill it under made_once."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / name


@contextmanager
def made_once(directory: Path):
    """Yields True to the one caller (of any xdist worker) that must fill `directory`, False to those
    after it, who wait on the lock meanwhile. A failed fill leaves no done mark: the next one tries again."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    done = directory.with_name(directory.name + ".done")
    with open(directory.with_name(directory.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            yield False
            return
        shutil.rmtree(directory, ignore_errors=True)
        yield True
        done.touch()


@pytest.fixture(scope="session", autouse=True)
def _schema_store(tmp_path_factory):
    """Every command (in this process and in the ones run_tool starts) fetches the pinned schemas from
    ../shared as a mirror, into a user cache of this session's own: never the network, never ~/.cache.
    The cache is shared by the session's workers: its entries are content-addressed and written
    atomically (raygitops/usercache.py), as two checkouts of one user share theirs."""
    cache = shared_dir(tmp_path_factory, "xdg-cache")
    cache.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAYGITOPS_SCHEMA_MIRROR", str(SHARED))
        mp.setenv("XDG_CACHE_HOME", str(cache))
        mp.delenv("RAYGITOPS_SHARED", raising=False)
        yield


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"shared data not found at {SHARED}; set RAYGITOPS_SCHEMA_MIRROR")
    return SHARED


# The content-addressed caches a user's checkout keeps between runs (render.CACHE_DIR,
# result_cache.CACHE_DIR): an entry is found only by the digest of its inputs, so a copy seeded with
# them pays only for what its test changed, as a user's repository does after its first validate.
WARM_CACHES = (".run/render-cache", ".run/check-cache")


@pytest.fixture(scope="session")
def warm_caches(tmp_path_factory) -> Path:
    """A copy of the repository after one `validate` (made once per session, shared by its workers)."""
    root = shared_dir(tmp_path_factory, "warm") / "repo"
    with made_once(root.parent) as first:
        if first:
            copy_repository(root)
            result = run_tool(root, "validate")
            assert result.returncode in (0, 1), result.stderr
    return root


# The code change of every test that needs one: the same apps/ content each time, so that its serve
# build, kept in the session's user cache under the hash of that content, is made once per session,
# not once per test. It needs no Aana build: the Aana app does not import text_stats (aana_cache.py).
CODE_CHANGE = "\n# a change to the code\n"


def change_the_code(root: Path) -> None:
    """apps/text_stats.py with CODE_CHANGE appended: new code, the same behaviour."""
    text_stats = root / "apps" / "text_stats.py"
    text_stats.write_text(text_stats.read_text() + CODE_CHANGE)


def copy_repository(target: Path, warm: Path | None = None, *, code: bool = False) -> Path:
    """The repository copied to `target` without .git, .venv or caches, and without PROJECT_CODE
    unless `code`; with `warm` (the warm_caches fixture), seeded with its render and check caches."""
    def ignore(folder: str, names: list[str]) -> set[str]:
        left_out = set(_COPY_IGNORE(folder, names))
        return left_out if code or Path(folder) != REPO else left_out | (PROJECT_CODE & set(names))

    shutil.copytree(REPO, target, ignore=ignore)
    if warm:
        seed_caches(target, warm)
    return target


def seed_caches(target: Path, warm: Path) -> None:
    """`warm`'s render and check caches copied into `target` (git leaves them out of a clone)."""
    for rel in WARM_CACHES:
        if (warm / rel).is_dir():
            # Not a replay entry (checks/replay.py): it describes that one copy's last run.
            shutil.copytree(warm / rel, target / rel, dirs_exist_ok=True, ignore=shutil.ignore_patterns("replay-*"))


@pytest.fixture
def repo_copy(tmp_path: Path, warm_caches: Path) -> Path:
    """A throwaway copy of the repository to break on purpose (caches warm: see WARM_CACHES)."""
    return copy_repository(tmp_path / "repo", warm_caches)


@pytest.fixture
def cold_repo_copy(tmp_path: Path) -> Path:
    """A copy without caches: for tests of what a first run does, and for unit tests, which run no
    command that would read them (and so never wait for warm_caches to be made)."""
    return copy_repository(tmp_path / "repo")


def run_tool(root: Path, *args: str, env: dict | None = None, timeout: float = 300,
             process: bool = False, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`python -m raygitops <args>` against the repository at `root`, as the shims run it (the schema
    store's mirror and cache come from the session's environment: _schema_store). It runs in a fork
    of this process (tests/forkrun.py: a new process without the imports); `process=True` starts
    a real interpreter, for what only that shows."""
    full_env = {**os.environ, "RAYGITOPS_ROOT": str(root), **(env or {})}
    if not process:
        return run_forked(list(args), cwd=root, env=full_env, timeout=timeout, stdin=stdin)
    return subprocess.run([sys.executable, "-m", "raygitops", *args], cwd=root, env=full_env,
                          input=stdin, capture_output=True, text=True, timeout=timeout)


# --- a real PostgreSQL over TCP, for the apps' database code ------------------------------------------

# A password that an f-string URL would mangle: URL.create must escape it.
PG_PASSWORD = "p@ss:w/rd%?#"
# Aana 0.2.4 writes its database URL with an f-string (aana/storage/op.py, create_postgresql_engine),
# so its role has a URL-safe password, as tools/up's generated one is (local/db.py: token_urlsafe).
AANA_PG_PASSWORD = "aana-url_safe.0~"


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A pgserver Postgres restarted on 127.0.0.1 with password (scram) auth: the role raygitops
    with its database notes (what it yields), and the role aana with its database aana (staging's)."""
    import pgserver   # here: most test processes never start PostgreSQL
    from pgserver.utils import find_suitable_port
    pgdata = tmp_path_factory.mktemp("pgdata")
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    escaped = PG_PASSWORD.replace("'", "''")
    server.psql(f"CREATE ROLE raygitops LOGIN PASSWORD '{escaped}'; CREATE DATABASE notes OWNER raygitops; "
                f"CREATE ROLE aana LOGIN PASSWORD '{AANA_PG_PASSWORD}'; CREATE DATABASE aana OWNER aana;")
    # pgserver trusts everyone on a socket; Kubernetes talks TCP with a password.
    (pgdata / "pg_hba.conf").write_text("host all all 127.0.0.1/32 scram-sha-256\n")
    port = find_suitable_port("127.0.0.1")
    pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)
    pgserver.pg_ctl(["-w", "-o", f'-h 127.0.0.1 -p {port} -k ""', "-l", str(pgdata / "log"), "start"],
                    pgdata=pgdata, user=server.system_user, timeout=30)
    try:
        yield {"host": "127.0.0.1", "port": port, "user": "raygitops", "database": "notes"}
    finally:
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=server.system_user)
        server.cleanup()


def postgres_environ(postgres: dict, password: str) -> dict:
    # The password arrives the way the ExternalSecret delivers it: a nested variable.
    return {
        "DB_CONFIG": json.dumps({"datastore_type": "postgresql",
                                 "datastore_config": {**postgres, "password": ""}}),
        "DB_CONFIG__DATASTORE_CONFIG__PASSWORD": password,
    }
