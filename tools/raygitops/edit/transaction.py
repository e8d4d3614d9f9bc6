"""An edit, applied the safe way: in a scratch copy regenerate, validate and diff it; write it back only when valid.

    outcome = apply_edit(root, Edit({"overlays/dev/serve.yaml": text}), dry_run=False)
    outcome.written, outcome.diff.environments[0].verdict, print(outcome.text)

The scratch copy is a git repository whose one commit is the working tree as it was, so
`tools/diff`'s own compare (BASE = that commit, HEAD = the edited copy) says what the edit does to each
environment. It shares the real repository's objects (`git clone --shared`), so pinned commits resolve
there too; the render cache and the pinned-code cache travel in and out with it. Nothing in the
real tree changes before regen and validate passed; the write-back itself keeps every original and
puts them back if a write fails.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from raygitops.errors import EXIT_FINDINGS, UserError
from raygitops.generate.workingdir import forget_apps_modules

_IGNORE = shutil.ignore_patterns(".git", ".venv", "build", ".run", "__pycache__", ".pytest_cache",
                                 ".hypothesis", "*.egg-info", "*.regen-tmp", ".regen-journal.json")
# Content-addressed caches: copied into the scratch copy, and what it adds copied back (never linked:
# the writers refuse paths that lead out of the repository).
CACHES = (".run/render-cache", "build/pinned")
_IDENTITY = ("-c", "user.name=raygitops", "-c", "user.email=raygitops@localhost", "-c", "commit.gpgsign=false")


@dataclass
class Edit:
    """What a command changes: repo-relative path → new text (None deletes the file), and whole trees to remove."""
    files: dict[str, str | None] = field(default_factory=dict)
    remove_trees: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # printed with the result: what was moved, what to do next


@dataclass
class Outcome:
    written: list[str]
    validation: object          # checks.validate.ValidationReport
    diff: object | None         # diff.compare.DiffReport
    text: str                   # what the command prints


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    process = subprocess.run(["git", *_IDENTITY, "-C", str(cwd), *args], capture_output=True, text=True)
    if check and process.returncode != 0:
        message = (process.stderr.strip().splitlines() or [f"exit code {process.returncode}"])[-1]
        raise UserError(f"git {args[0]} failed in the scratch copy: {message}", fix="check that git works here")
    return process


def git_toplevel(root: Path) -> Path | None:
    process = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    return Path(process.stdout.strip()).resolve() if process.returncode == 0 else None


@contextmanager
def scratch_copy(root: Path) -> Iterator[Path]:
    """A copy of the working tree at `root`, committed once, in a temporary directory (always removed)."""
    holder = Path(tempfile.mkdtemp(prefix="raygitops-edit-"))
    try:
        top = git_toplevel(root)
        tree = holder / "tree"
        if top is not None:
            _git(holder, "clone", "--quiet", "--shared", "--no-checkout", str(top), str(tree))
            copy_root = tree / root.resolve().relative_to(top)
        else:
            _git(holder, "init", "--quiet", str(tree))
            copy_root = tree
        shutil.copytree(root, copy_root, ignore=_IGNORE, dirs_exist_ok=True, symlinks=True)
        for rel in CACHES:
            if (root / rel).is_dir():
                shutil.copytree(root / rel, copy_root / rel, dirs_exist_ok=True)
        _git(tree, "add", "-A")
        _git(tree, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", "before the edit")
        yield copy_root
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def _apply(copy_root: Path, edit: Edit) -> None:
    for rel in edit.remove_trees:
        shutil.rmtree(copy_root / rel)
    for rel, text in edit.files.items():
        path = copy_root / rel
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


def _changed_paths(copy_root: Path) -> list[tuple[str, bool]]:
    """(repo-relative path, deleted?) of every file the edit and regen changed in the copy."""
    status = _git(copy_root, "status", "--porcelain", "--untracked-files=all", "--no-renames", "--", ".").stdout
    prefix = _git(copy_root, "rev-parse", "--show-prefix").stdout.strip()
    out = []
    for line in status.splitlines():
        code, rel = line[:2], line[3:].strip('"')
        out.append((rel[len(prefix):] if prefix and rel.startswith(prefix) else rel, "D" in code))
    return sorted(out)


def _original(copy_root: Path, rel: str) -> bytes | None:
    process = subprocess.run(["git", "-C", str(copy_root), "show", f"HEAD:./{rel}"], capture_output=True)
    return process.stdout if process.returncode == 0 else None


def _write_back(root: Path, copy_root: Path, changed: list[tuple[str, bool]]) -> list[str]:
    """Copy the changed files into the real tree. Each file must still be as the copy found it (no one
    edited it meanwhile); a failed write puts every original back."""
    originals: dict[str, bytes | None] = {}
    for rel, _ in changed:
        original = _original(copy_root, rel)
        current = (root / rel).read_bytes() if (root / rel).is_file() else None
        if current != original:
            raise UserError(f"{rel} changed while the edit was being checked", file=rel,
                            fix="run the command again; nothing was written")
        originals[rel] = current
    done: list[str] = []
    try:
        for rel, deleted in changed:
            target = root / rel
            if deleted:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".edit-tmp")
                tmp.write_bytes((copy_root / rel).read_bytes())
                os.replace(tmp, target)
            done.append(rel)
    except BaseException:
        for rel in done:
            if originals[rel] is None:
                (root / rel).unlink(missing_ok=True)
            else:
                (root / rel).write_bytes(originals[rel])
        raise
    for rel, deleted in changed:   # directories the edit emptied (a removed environment)
        parent = (root / rel).parent
        while deleted and parent != root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    _copy_new_entries(root, copy_root)
    return [rel for rel, _ in changed]


def _copy_new_entries(root: Path, copy_root: Path) -> None:
    """What regen and validate added in the copy outside the tree: the working_dir zips (CI uploads them
    from build/working_dir) and the caches. Entries are named by their content, so existing ones stay."""
    for rel in ("build/working_dir", *CACHES):
        source = copy_root / rel
        for entry in sorted(source.iterdir()) if source.is_dir() else ():
            target = root / rel / entry.name
            if target.exists() or entry.name.endswith(".tmp"):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if entry.is_dir():
                shutil.copytree(entry, target)
            else:
                shutil.copyfile(entry, target)


def apply_edit(root: Path, edit: Edit, *, dry_run: bool = False,
               check: Callable[[Path], list[str]] | None = None) -> Outcome:
    """Regen, validate and diff the edit in a scratch copy; then write it (unless dry_run). A UserError
    (exit 1 when validation found errors) means nothing was written. `check` looks at the validated
    copy too (import's round trip): its lines are printed, and its UserError stops the write."""
    from raygitops.checks.validate import ValidateOptions, validate
    from raygitops.diff.compare import DiffOptions, compare
    from raygitops.generate.regen import regenerate
    from raygitops.output.diffreport import format_report as format_diff
    from raygitops.output.findings import format_report as format_findings

    with scratch_copy(root) as copy_root:
        _apply(copy_root, edit)
        forget_apps_modules()
        try:
            regenerate(copy_root)
        finally:
            forget_apps_modules()
        validation = validate(copy_root, None, ValidateOptions())
        if validation.errors:
            errors_only = replace(validation, findings=validation.errors)
            findings = format_findings(errors_only, "text", copy_root).rstrip()
            raise UserError(f"the edit would leave the repository invalid; nothing was written:\n{findings}\n",
                            fix="fix the cause (or the repository) and run the command again",
                            exit_code=EXIT_FINDINGS)
        checked = check(copy_root) if check else []
        diff = compare(copy_root, DiffOptions(base="HEAD"))
        changed = _changed_paths(copy_root)
        written = [] if dry_run else _write_back(root, copy_root, changed)
        lines = [("would write " if dry_run else "wrote ") + rel + (" (deleted)" if deleted else "")
                 for rel, deleted in changed]
        lines.append(f"validate: no errors, {len(validation.warnings)} warnings")
        diff_text = format_diff(diff, "text").rstrip().split("\n", 1)
        # The scratch copy's revisions mean nothing to the reader: name the comparison instead.
        lines.append(f"tools/diff of this change (before → after) · KubeRay {diff.kuberay}")
        lines.append(diff_text[1] if len(diff_text) > 1 else "")
        lines += checked
        lines += [f"note: {note}" for note in edit.notes]
        if dry_run:
            lines.append("dry run: nothing was written")
        return Outcome(written, validation, diff, "\n".join(lines) + "\n")
