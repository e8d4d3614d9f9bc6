"""Generated files out: all or nothing, only inside the repository, and a killed write finished or dropped.

    changed = write_generated(root, {"overlays/dev/generated/serve-config.yaml": b"..."}, stamp=stamp)
    note = recover_interrupted_write(root, current_stamp)   # every command, before it reads generated files
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Union

from raygitops.errors import UserError
from raygitops.generate.lock import regen_lock
from raygitops.model.environment import OVERLAYS
from raygitops.safepath import writable_path

JOURNAL = ".regen-journal.json"
TMP_SUFFIX = ".regen-tmp"
_TMP_DIRS = ("base", OVERLAYS, "build")   # where a killed write may leave temporary files

# What a path held before a write, to put back when the write fails half way: nothing, bytes, a link.
Snapshot = Union[None, bytes, "LinkTo"]


@dataclass(frozen=True)
class LinkTo:
    target: str


@dataclass(frozen=True)
class Stamp:
    """What a generation was made for: the checked-out commit ("" outside git) and a hash of its inputs.
    A killed write is finished only for the same stamp, never on another branch or other inputs."""
    commit: str
    inputs: str


def head_commit(root: Path) -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=root,
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


# --- errors a user can act on ----------------------------------------------------------------

_MESSAGES = {
    errno.ENOSPC: ("no space left on the device", "free disk space, then run the command again"),
    errno.EDQUOT: ("disk quota exceeded", "free space within your quota, then run the command again"),
    errno.EROFS: ("read-only file system", "run it in a writable checkout"),
    errno.EACCES: ("permission denied", "make it and its directory writable for this user"),
    errno.EPERM: ("operation not permitted", "make it writable; an immutable file shows an 'i' in `lsattr` "
                                             "and `chattr -i` clears it"),
    errno.EISDIR: ("a directory stands where a file is written", "move or delete that directory"),
    errno.ENOTDIR: ("a file stands where a directory is needed", "move or delete that file"),
    errno.EEXIST: ("a file stands where a directory is needed", "move or delete that file"),
    errno.EFBIG: ("file too large for this process's file-size limit", "raise the limit (ulimit -f)"),
}


def write_error(root: Path, path: Path, error: OSError, *, changed: bool = False) -> UserError:
    """The OSError of writing `path` as one line: which file, what happened, the fix, and whether
    anything was changed."""
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        # Name the file that blocks the directory, not the file that was to be written below it.
        blocker = next((p for p in [path, *path.parents] if os.path.lexists(p) and not p.is_dir()), path)
        path = blocker if blocker != root else path
    message, fix = _MESSAGES.get(error.errno, (f"cannot write: {error.strerror or error}",
                                               "check the path and the disk"))
    try:
        name = path.relative_to(root).as_posix()
    except ValueError:
        name = str(path)
    state = "the files already replaced stay replaced" if changed else "nothing was changed"
    return UserError(f"{message} ({state})", file=name.removesuffix(TMP_SUFFIX), fix=fix)


# --- single files ---------------------------------------------------------------------------

def _fsync_write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)   # a stale temporary file; a link there is removed, never followed
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_file(root: Path, rel: str, content: bytes) -> Path:
    """One file, whole or not at all: temporary file, fsync, rename."""
    with regen_lock(root):
        target = writable_path(root, rel)
        tmp = writable_path(root, rel + TMP_SUFFIX)
        try:
            _fsync_write(tmp, content)
            os.replace(tmp, target)
        except BaseException as error:
            _remove_quietly(tmp)
            if isinstance(error, OSError):
                raise write_error(root, target, error) from None
            raise
    return target


def _snapshot(root: Path, path: Path) -> Snapshot:
    try:
        if path.is_symlink():
            return LinkTo(os.readlink(path))
        return path.read_bytes() if os.path.lexists(path) else None
    except OSError as error:
        raise write_error(root, path, error) from None


def _restore(path: Path, snapshot: Snapshot) -> None:
    if snapshot is None:
        os.unlink(path)
        return
    tmp = path.with_name(path.name + TMP_SUFFIX)
    if isinstance(snapshot, LinkTo):
        _remove_quietly(tmp)
        os.symlink(snapshot.target, tmp)
    else:
        _fsync_write(tmp, snapshot)
    os.replace(tmp, path)


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _file_digest(path: Path) -> str | None:
    """The digest of a regular file (a link is not one), or None."""
    try:
        return _digest(path.read_bytes()) if path.is_file() and not path.is_symlink() else None
    except OSError:
        return None


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Ctrl-C between the renames of one generation waits until they are done (then exits 130)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if pending:
        raise KeyboardInterrupt


# --- all-or-nothing generations -------------------------------------------------------------
#
# Each changed file is written to "<name>.regen-tmp" and fsynced; then a journal naming every pending
# rename and removal (with the new contents' digests and the stamp) replaces .regen-journal.json; then
# the renames happen; then the journal goes. Killed before the journal: the old files stand, the temp
# files are swept. Killed after: the next command finishes the renames, for the same stamp only.
# A rename that fails (an immutable file) puts back the files already replaced.

def write_generated(root: Path, files: dict[str, bytes], *, remove: Iterable[str] = (),
                    stamp: Stamp | None = None) -> list[str]:
    """Write `files` (repo-relative path → bytes) and delete `remove`, all or nothing; the paths changed."""
    stamp = stamp if stamp is not None else Stamp(head_commit(root), "")
    with regen_lock(root):
        recover_interrupted_write(root, lambda: stamp)
        targets = {rel: writable_path(root, rel) for rel in [*files, *remove]}
        for rel in files:
            writable_path(root, rel + TMP_SUFFIX)
        before: dict[str, Snapshot] = {}
        for rel in sorted(files):
            snapshot = _snapshot(root, targets[rel])
            if snapshot != files[rel]:
                before[rel] = snapshot
        changed = sorted(before)
        removed = [rel for rel in sorted(set(remove)) if os.path.lexists(targets[rel])]
        if not changed and not removed:
            return []
        for rel in removed:
            before[rel] = _snapshot(root, targets[rel])
        journal = {"commit": stamp.commit, "inputs": stamp.inputs,
                   "write": {rel: _digest(files[rel]) for rel in changed}, "remove": removed}
        _stage(root, {rel: files[rel] for rel in changed}, journal)
        _commit(root, changed, removed, before)
    return changed + [f"{rel} (removed)" for rel in removed]


def _stage(root: Path, contents: dict[str, bytes], journal: dict) -> None:
    """Temporary files, then the journal; on any failure, no trace of either."""
    written: list[Path] = []
    current = root / JOURNAL
    try:
        for rel, content in contents.items():
            current = root / rel
            written.append(root / (rel + TMP_SUFFIX))
            _fsync_write(written[-1], content)
        current = root / JOURNAL
        written.append(writable_path(root, JOURNAL + TMP_SUFFIX))
        _fsync_write(written[-1], json.dumps(journal, indent=1, sort_keys=True).encode())
        os.replace(written[-1], root / JOURNAL)
    except BaseException as error:
        for path in written:
            _remove_quietly(path)
        if isinstance(error, OSError):
            raise write_error(root, current, error) from None
        raise


def _commit(root: Path, changed: list[str], removed: list[str], before: dict[str, Snapshot]) -> None:
    done: list[str] = []
    current = ""
    with _interrupts_deferred():
        try:
            for rel in changed:
                current = rel
                os.replace(root / (rel + TMP_SUFFIX), root / rel)
                done.append(rel)
            for rel in removed:
                current = rel
                os.unlink(root / rel)
                done.append(rel)
        except OSError as error:
            try:
                for rel in reversed(done):
                    _restore(root / rel, before[rel])
            except OSError:
                # The journal stays: the next command finishes the write once the file can be replaced.
                raise write_error(root, root / current, error, changed=True) from None
            for rel in changed:
                _remove_quietly(root / (rel + TMP_SUFFIX))
            _remove_quietly(root / JOURNAL)
            raise write_error(root, root / current, error) from None
        os.unlink(root / JOURNAL)


def interrupted_write_pending(root: Path) -> bool:
    return os.path.lexists(root / JOURNAL)


def _read_journal(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    valid = (isinstance(data, dict) and isinstance(data.get("commit"), str) and isinstance(data.get("inputs"), str)
             and isinstance(data.get("write"), dict) and isinstance(data.get("remove"), list)
             and all(isinstance(k, str) and isinstance(v, str) for k, v in data["write"].items())
             and all(isinstance(rel, str) for rel in data["remove"]))
    return data if valid else None


def recover_interrupted_write(root: Path, current_stamp: Callable[[], Stamp] | None = None) -> str | None:
    """Finish the write a killed run left half done, when it was made for the stamp of this checkout;
    drop it otherwise. The note to show the user, or None when there was no journal."""
    with regen_lock(root):
        journal = writable_path(root, JOURNAL)
        if not os.path.lexists(journal):
            _sweep_temp_files(root)
            return None
        entry = _read_journal(journal)
        if entry is None:
            return _discard(root, "it is not a journal this version of tools/regen writes")
        try:
            for rel in [*entry["write"], *entry["remove"]]:
                writable_path(root, rel)
                writable_path(root, rel + TMP_SUFFIX)
        except UserError as refusal:
            refusal.fix = f"{refusal.fix}, or delete {JOURNAL} to drop the interrupted write"
            raise
        made = Stamp(entry["commit"], entry["inputs"])
        now = current_stamp() if current_stamp is not None else Stamp(head_commit(root), "")
        if made.commit != now.commit:
            return _discard(root, f"it was made for commit {made.commit[:12] or '(none)'}, and "
                                  f"{now.commit[:12] or 'no commit'} is checked out now")
        if made.inputs != now.inputs:
            return _discard(root, "its inputs (raygitops.yaml, apps/ or a serve.yaml) have changed since")
        pending = []
        for rel, digest in sorted(entry["write"].items()):
            if _file_digest(root / (rel + TMP_SUFFIX)) == digest:
                pending.append(rel)
            elif _file_digest(root / rel) != digest:
                return _discard(root, f"its new {rel} is gone or changed")
        current = root / JOURNAL
        try:
            with _interrupts_deferred():
                for rel in pending:
                    current = root / rel
                    os.replace(root / (rel + TMP_SUFFIX), current)
                for rel in entry["remove"]:
                    current = root / rel
                    if os.path.lexists(current):
                        os.unlink(current)
                os.unlink(journal)
        except OSError as error:
            raise write_error(root, current, error, changed=True) from None
        _sweep_temp_files(root)
        return "finished the generated-file write of an interrupted tools/regen"


def _discard(root: Path, why: str) -> str:
    _remove_quietly(root / JOURNAL)
    _sweep_temp_files(root)
    return (f"discarded the unfinished write of an interrupted tools/regen: {why}; nothing of it was applied "
            "(tools/regen --check says whether the generated files need a tools/regen)")


def _sweep_temp_files(root: Path) -> bool:
    found = False
    candidates = [root / (JOURNAL + TMP_SUFFIX)]
    for top in _TMP_DIRS:
        if os.path.lexists(root / top):
            writable_path(root, top)
            for directory, _, names in os.walk(root / top):
                candidates += [Path(directory) / name for name in names if name.endswith(TMP_SUFFIX)]
    for path in candidates:
        if os.path.lexists(path):
            os.unlink(writable_path(root, path))
            found = True
    return found
