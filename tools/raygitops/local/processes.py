"""The processes of a local run: found by their tag, terminated as a group, ports, signals.

    terminate(tagged_processes(run.path)); port = free_ports(1)[0]
"""
from __future__ import annotations

import os
import signal
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from raygitops.errors import UserError
from raygitops.local.rundir import LOCAL_HOST, TAG

# --- processes ------------------------------------------------------------------------------------

def tagged_processes(run_path: Path) -> list:
    """Live processes started by tools/up for this run dir: those carrying TAG in their environment,
    and a redis-server working inside the run dir: it overwrites its environment when it renames
    itself (its setproctitle reuses that memory), so it is known by the `dir` it changed into."""
    import psutil
    found = []
    inside = os.path.realpath(run_path) + os.sep
    for process in psutil.process_iter(["pid"]):
        try:
            if process.pid == os.getpid() or process.status() == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get(TAG) == str(run_path) or (
                    process.name().startswith("redis-server")
                    and (os.path.realpath(process.cwd()) + os.sep).startswith(inside)):
                found.append(process)
        except psutil.Error:
            continue
    return found


def group_members(pgid: int, since: float) -> list:
    """Live members of a process group created no earlier than `since` (pgids get reused)."""
    import psutil
    members = []
    for process in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(process.pid) == pgid and process.create_time() >= since - 1 \
                    and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (psutil.Error, OSError):
            continue
    return members


def terminate(processes: list, grace: float = 3.0) -> int:
    """SIGTERM, then SIGKILL what is left after `grace` seconds; returns how many there were.
    Ray's gcs_server takes more than 10 s over a SIGTERM, and a local run has nothing to save."""
    import psutil
    for process in processes:
        try:
            process.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(processes, timeout=grace)
    kill(alive, wait=5)
    return len(processes)


def kill(processes: list, wait: float = 10) -> int:
    """SIGKILL them all at once (as a crashed Pod goes), and wait up to `wait` seconds; returns how many."""
    import psutil
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(processes, timeout=wait)
    return len(processes)


def log_tail(log: Path, lines: int = 3) -> str:
    """The last lines of a server's log on one line, for an error message."""
    try:
        tail = log.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return "no log"
    return " | ".join(tail) or "empty log"


def is_alive(pid: int | None) -> bool:
    import psutil
    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# --- ports ------------------------------------------------------------------------------------

def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now; bound together so that they differ."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((LOCAL_HOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_in_use(port: int) -> str | None:
    """Why `port` cannot be bound on 127.0.0.1, or None when it is free."""
    with socket.socket() as s:
        # SO_REUSEADDR as uvicorn sets it: a TIME_WAIT leftover is no conflict, a listener is.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOCAL_HOST, port))
        except OSError as err:
            return err.strerror or str(err)
    return None


def require_free_port(port: int, what: str, fix: str) -> None:
    reason = port_in_use(port)
    if reason:
        raise UserError(f"port {port} ({what}) is already in use: {reason}", fix=fix)


def become_subreaper() -> None:
    """Adopt the daemons that `ray start` and `pg_ctl` leave behind (Linux), so that teardown
    reaps them instead of leaving zombies for init. Elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass


def reap_children() -> None:
    """Collect the exit status of every adopted child that has ended."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


@contextmanager
def signals_ignored() -> Iterator[None]:
    """Teardown runs to the end even when Ctrl-C is pressed again."""
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP stop `up` the way Ctrl-C does: through the teardown."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    saved = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def is_tools_up(pid: int) -> bool:
    import psutil
    try:
        command = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
    return "raygitops" in command and " up" in command
