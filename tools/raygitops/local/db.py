"""The database side of tools/up: the replicas' environment, the local secret, a local PostgreSQL.

    pg = LocalPostgres(pg_dir, port, tag_env); pg.initialised() or pg.init(); pg.start()
    migrate(root, env_for_the_app)          # `python -m apps.db migrate`, as the PreSync Job runs it
"""
from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from raygitops.errors import UserError

SECRET_FILE = "secret"
# Postgres refuses to run as root; pgserver's own convention is a system user of this name.
PG_SYSTEM_USER = "pgserver"
PG_SUPERUSER = "postgres"
_UNSET_REF = re.compile(r"\$\{[A-Z0-9_]+\}")
# os.path.expandvars' pattern: $NAME or ${NAME}.
_VAR = re.compile(r"\$(\w+|\{([^}]*)\})")


# --- the replicas' environment and the local secret ------------------------------------------

def expand_like_ray(env_vars: dict[str, str], base: dict[str, str]) -> dict[str, str]:
    """base overlaid with env_vars, each value's $X / ${X} expanded from base: what a Ray worker
    sees (ray._private.utils.update_envs), so the migration gets the replicas' environment."""
    def expand(value: str) -> str:
        value = _VAR.sub(lambda m: base.get(m.group(2) or m.group(1), m.group(0)), value)
        return _UNSET_REF.sub("", value)  # Ray blanks references to unset variables
    return {**base, **{key: expand(value) for key, value in env_vars.items()}}


def local_secret(run_dir: Path, name: str = SECRET_FILE) -> str:
    """The environment's local database password: generated once, kept in <run>/secret (0600),
    the stand-in for the cluster's Secret aana-db (<run>/redis-secret: aana-redis)."""
    path = run_dir / name
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


# --- a local PostgreSQL from pgserver's binaries ----------------------------------------------

def postgres_bin() -> Path:
    """The PostgreSQL binaries inside the pgserver wheel. Found without importing pgserver,
    whose import sets up runtime directories and atexit handlers we do not use."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("pgserver is not installed", fix="run tools/up through its shim, which installs it")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _system_user() -> str | None:
    """None, or the user Postgres must run as because we are root (it refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    import pwd
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
                       check=True, capture_output=True)
    return PG_SYSTEM_USER


def reachable_by_other_users(path: Path) -> bool:
    """Can a non-root user traverse every directory above `path`? (root's pytest dirs are 0700.)"""
    return all(parent.stat().st_mode & 0o001 for parent in path.resolve().parents if parent.exists())


class LocalPostgres:
    """A PostgreSQL listening on 127.0.0.1:<port> only, data in <pg_dir>/data, its process
    lasting as long as `tools/up`. Its unix socket sits in the 0700 data directory, so only
    this user (or root) reaches the passwordless superuser; TCP logins need a password."""

    def __init__(self, pg_dir: Path, port: int, tag_env: dict[str, str]):
        self.pg_dir = pg_dir
        self.data = pg_dir / "data"
        self.log = pg_dir / "postgres.log"
        self.port = port
        self.tag_env = tag_env
        self.user = _system_user()
        self.bin = postgres_bin()

    def _run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        # Own session: a terminal's Ctrl-C reaches tools/up, which stops Postgres in order.
        return subprocess.run([str(self.bin / tool), *args], capture_output=True, text=True, timeout=timeout,
                              user=self.user, env={**os.environ, **self.tag_env}, start_new_session=True)

    def _own(self, path: Path) -> None:
        if self.user is not None:
            shutil.chown(path, self.user, self.user)

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb into a temporary directory renamed at the end: an interrupted init leaves
        nothing that looks like a database."""
        self.pg_dir.mkdir(parents=True, exist_ok=True)
        self.pg_dir.chmod(0o700)
        self._own(self.pg_dir)
        tmp = self.pg_dir / "data.init"
        shutil.rmtree(tmp, ignore_errors=True)
        result = self._run("initdb", "-D", str(tmp), "-U", PG_SUPERUSER, "--auth-local=trust",
                           "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-sync", "--no-instructions")
        if result.returncode != 0:
            raise UserError(f"initdb failed: {_last_line(result.stderr or result.stdout)}", file=str(self.pg_dir),
                            fix="check disk space and permissions there")
        tmp.rename(self.data)

    def start(self) -> int:
        """Start the server; returns the postmaster's pid."""
        self.pg_dir.chmod(0o700)
        # pg_ctl runs postgres through a shell, hence the quoting.
        options = f"-h 127.0.0.1 -p {self.port} -k {shlex.quote(str(self.data))}"
        result = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30",
                           "-o", options, "start", timeout=45)
        if result.returncode != 0:
            raise UserError(f"PostgreSQL did not start: {self.log_tail()}", file=str(self.log),
                            fix="read the log; another server on the same data directory?")
        pid = self.postmaster_pid()
        if pid is None:
            raise UserError("PostgreSQL started but wrote no postmaster.pid", file=str(self.log))
        return pid

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def log_tail(self, lines: int = 3) -> str:
        from raygitops.local.processes import log_tail   # processes needs rundir, which needs this module
        return log_tail(self.log, lines)

    def superuser_connection(self):
        import psycopg
        return psycopg.connect(host=str(self.data), port=self.port, user=PG_SUPERUSER, dbname="postgres",
                               autocommit=True, connect_timeout=10)

    def ensure_role(self, user: str, password: str, database: str, *, set_password: bool) -> None:
        """The application's role and database, as the cluster's DBA made them. The password is
        set only on a fresh database: afterwards the secret must match, as in the cluster."""
        from psycopg import sql
        with self.superuser_connection() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)))
            elif set_password:
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(user)))


def stop_postgres(pg_dir: Path, pid: int | None, tag_env: dict[str, str]) -> None:
    """Fast shutdown through pg_ctl; the postmaster is killed if that fails."""
    data = pg_dir / "data"
    if (data / "postmaster.pid").exists():
        try:
            subprocess.run([str(postgres_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "15", "stop"],
                           capture_output=True, timeout=20, user=_system_user(),
                           env={**os.environ, **tag_env}, start_new_session=True)
        except (subprocess.TimeoutExpired, OSError):
            pass
    if pid is not None and _is_postmaster(pid, data):
        os.kill(pid, signal.SIGKILL)


def _is_postmaster(pid: int, data: Path) -> bool:
    import psutil
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and str(data) in " ".join(process.cmdline())
    except psutil.Error:
        return False


# --- the migration --------------------------------------------------------------------------

def migrate(root: Path, env: dict[str, str], *, user: str, secret_file: str, env_name: str) -> str:
    """Run the environment's migration with the replicas' environment; its output line."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "apps.db", "migrate"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=120, start_new_session=True)
    output = (result.stderr or result.stdout).strip()
    if result.returncode == 0:
        return f"{_last_line(result.stdout)} ({time.perf_counter() - start:.1f} s)"
    if "password authentication failed" in output:
        raise UserError(f"PostgreSQL refused the password for user '{user}': this local secret is not the "
                        "password the local database was created with", file=secret_file,
                        fix=f"restore the secret, or start a fresh local database: tools/down --purge overlays/{env_name}")
    raise UserError(f"the migration failed: {_last_line(output)}", file="apps/db.py",
                    fix="run `python -m apps.db migrate` with the same DB_CONFIG to debug it")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
