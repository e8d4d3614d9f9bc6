"""The runtime_env.working_dir package: a deterministic zip of apps/ named by its hash.

    package = build_package(root)            # package.digest, package.content (bytes)
    url = package.url(config.working_dir_url)  # https://…/apps-<digest>.zip
"""
from __future__ import annotations

import hashlib
import io
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from raygitops.errors import UserError
from raygitops.generate.writes import write_file
from raygitops.safepath import escaping_link

# Ray unpacks a remote working_dir zip and uses its single top-level directory as the
# working directory, so apps/ sits one level down to stay importable as `apps`.
TOP_DIR = "working_dir"
APPS_PACKAGE = "apps"   # the one package the cluster gets; import paths start with it
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_PARTS = {"__pycache__", ".pytest_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".regen-tmp")
DIGEST_LENGTH = 16


def forget_apps_modules() -> None:
    """`serve build` imports apps/ in this process; another tree's apps/ must not come from the module cache."""
    for name in [n for n in sys.modules if n == APPS_PACKAGE or n.startswith(APPS_PACKAGE + ".")]:
        del sys.modules[name]


@dataclass(frozen=True)
class Package:
    content: bytes
    digest: str

    def url(self, template: str) -> str:
        return template.replace("{hash}", self.digest)

    @property
    def filename(self) -> str:
        return f"apps-{self.digest}.zip"


def package_path(root: Path, digest: str) -> Path:
    """build/working_dir/apps-<digest>.zip: where write_package puts the package of that digest."""
    return root / "build" / "working_dir" / f"apps-{digest}.zip"


def package_files(root: Path) -> list[Path]:
    """The files the zip holds: regular files in apps/, and links that resolve to one inside apps/.
    Any other link (to a directory, out of apps/, dangling) or special file is refused by name: a link
    to /proc/self/environ would put this process's environment, CI secrets included, into an artefact."""
    apps = root / APPS_PACKAGE
    link = escaping_link(apps, root)
    if link is not None:
        raise _refusal(root, link, "outside the repository")
    found = []
    for directory, dirnames, filenames in os.walk(apps):   # never into a linked directory
        here = Path(directory)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_PARTS)
        for name in dirnames:
            if (here / name).is_symlink():
                raise _refusal(root, here / name, "to a directory; the zip holds files only")
        for name in filenames:
            path = here / name
            if name.endswith(_SKIP_SUFFIXES):
                continue
            if path.is_symlink() and escaping_link(path, apps) is not None:
                raise _refusal(root, path, f"outside {APPS_PACKAGE}/")
            if not path.is_file():
                what = "dangling" if path.is_symlink() else "not a regular file"
                raise _refusal(root, path, what)
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _refusal(root: Path, path: Path, what: str) -> UserError:
    kind = f"a symbolic link to {os.path.realpath(path)}, {what}" if path.is_symlink() else what
    return UserError(f"{kind}: the working_dir zip packs only regular files inside {APPS_PACKAGE}/",
                     file=path.relative_to(root).as_posix(), fix="replace the link with the file itself, or delete it")


def build_package(root: Path) -> Package:
    """Stored (uncompressed) entries with fixed times and modes: the bytes depend only on
    the files' paths and contents, not on the zlib version or the clock."""
    from raygitops.generate.aana_apps import serve_module_files
    entries = {path.relative_to(root).as_posix(): path.read_bytes() for path in package_files(root)}
    entries.update(serve_module_files(root))   # the Serve import targets of Aana apps (aana_apps.py)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for rel in sorted(entries):
            info = zipfile.ZipInfo(f"{TOP_DIR}/{rel}", date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, entries[rel])
    content = buffer.getvalue()
    return Package(content=content, digest=hashlib.sha256(content).hexdigest()[:DIGEST_LENGTH])


def write_package(root: Path, package: Package) -> Path:
    """build/working_dir/apps-<hash>.zip; uploading it to working_dir.url is CI's job."""
    target = package_path(root, package.digest)
    if package_problem(root, package) is not None:
        write_file(root, target.relative_to(root).as_posix(), package.content)
    return target


def package_problem(root: Path, package: Package) -> str | None:
    """Why build/working_dir/apps-<hash>.zip is not this package (cheap: one read, one compare), or None.
    Missing is no problem for `tools/regen --check`: apps/ rebuilds it byte for byte (CI's fresh clone)."""
    path = package_path(root, package.digest)
    if not os.path.lexists(path):
        return "missing"
    if path.is_symlink() or not path.is_file():
        return "not a regular file"
    try:
        return None if path.read_bytes() == package.content else "its bytes are not the package its name says"
    except OSError as error:
        return f"unreadable: {error.strerror}"
