"""One writer of generated files at a time: a file lock in .run/, held while files are written or recovered.

    with regen_lock(root):     # waits up to RAYGITOPS_LOCK_TIMEOUT seconds (default 60), then refuses
        write_generated(root, files, stamp=stamp)
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from raygitops.errors import UserError
from raygitops.safepath import writable_path

LOCK_FILE = ".run/regen.lock"
DEFAULT_TIMEOUT = 60.0     # a write takes well under a second; a regen stuck longer than this is someone's to look at
_POLL = 0.05
_held: dict[Path, list] = {}   # root → [fd, depth]: a process that holds the lock may take it again


def _timeout() -> float:
    try:
        return max(0.0, float(os.environ.get("RAYGITOPS_LOCK_TIMEOUT", DEFAULT_TIMEOUT)))
    except ValueError:
        return DEFAULT_TIMEOUT


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


@contextmanager
def regen_lock(root: Path) -> Iterator[None]:
    """Hold .run/regen.lock (flock: the kernel drops it when its holder dies, so a killed regen never
    leaves it taken). Another holder makes this wait, then refuse with its pid."""
    key = root.resolve()
    if key in _held:
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    path = writable_path(root, LOCK_FILE)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as error:
        raise UserError(f"cannot create the lock file: {error.strerror}", file=LOCK_FILE,
                        fix="make .run/ a writable directory") from None
    try:
        deadline = time.monotonic() + _timeout()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UserError(f"another tools/regen is running (pid {_holder(fd)})",
                                    fix="wait for it to finish, then run the command again") from None
                time.sleep(_POLL)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[key] = [fd, 1]
        try:
            yield
        finally:
            del _held[key]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
