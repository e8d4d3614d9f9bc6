"""Git for tools/diff: resolve revisions, the default merge-base, and a temporary worktree of one.

    base = resolve_commit(repo, "main")                  # full sha, or a UserError naming the ref
    with worktree(repo, base) as tree: render(tree / "overlays/dev")   # removed afterwards, even on Ctrl-C
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from raygitops.errors import UserError

# Where the merge-base comes from when no BASE is given: the local branch, else the remote
# one (a CI checkout of a pull request has only origin/main).
DEFAULT_BRANCHES = ("main", "origin/main")


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        process = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise UserError("git is not on PATH", fix="install git") from None
    if check and process.returncode != 0:
        message = (process.stderr.strip().splitlines() or [f"exit code {process.returncode}"])[-1]
        raise UserError(f"git {' '.join(args[:2])} failed: {message}", fix="check the repository and the revisions")
    return process


def toplevel(path: Path) -> Path:
    process = git(path, "rev-parse", "--show-toplevel", check=False)
    if process.returncode != 0:
        raise UserError(f"{path} is not inside a git repository", fix="run tools/diff in a clone of the repository")
    return Path(process.stdout.strip()).resolve()


def resolve_commit(repo: Path, ref: str) -> str:
    process = git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    if process.returncode != 0 or not process.stdout.strip():
        raise UserError(f"unknown revision '{ref}'", fix="give a branch, tag or commit that exists "
                                                        "(in CI, check out with fetch-depth: 0)")
    return process.stdout.strip()


def default_base(repo: Path) -> tuple[str, str]:
    """(label, commit) of `git merge-base main HEAD`."""
    for branch in DEFAULT_BRANCHES:
        if git(repo, "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}", check=False).returncode == 0:
            process = git(repo, "merge-base", branch, "HEAD", check=False)
            if process.returncode != 0:
                raise UserError(f"HEAD has no common ancestor with {branch}", fix="give BASE explicitly")
            return f"merge-base of {branch}", process.stdout.strip()
    raise UserError("no branch 'main' or 'origin/main' to diff against", fix="give BASE explicitly: tools/diff <ref>")


def uncommitted_files(repo: Path, under: str = ".") -> list[str]:
    """Modified, staged and untracked (not ignored) files below `under`, as git prints them."""
    process = git(repo, "status", "--porcelain", "--untracked-files=all", "--", under)
    return sorted(line[3:] for line in process.stdout.splitlines() if line.strip())


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A CI cancel sends SIGTERM; turn it into KeyboardInterrupt so `finally` blocks clean up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def worktree(repo: Path, commit: str) -> Iterator[Path]:
    """`git worktree add --detach` of `commit` in a temporary directory, always removed."""
    holder = Path(tempfile.mkdtemp(prefix="raygitops-diff-"))
    tree = holder / "tree"
    with _sigterm_as_interrupt():
        try:
            git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commit)
            yield tree
        finally:
            removed = git(repo, "worktree", "remove", "--force", str(tree), check=False).returncode == 0
            shutil.rmtree(holder, ignore_errors=True)
            if not removed:
                git(repo, "worktree", "prune", check=False)  # forget the entry whose directory is gone
