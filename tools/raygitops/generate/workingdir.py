"""The runtime_env.working_dir package: a deterministic zip of apps/ named by its hash.

    package = build_package(root)            # package.digest, package.content (bytes)
    url = package.url(config.working_dir_url)  # https://…/apps-<digest>.zip
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

# Ray unpacks a remote working_dir zip and uses its single top-level directory as the
# working directory, so apps/ sits one level down to stay importable as `apps`.
TOP_DIR = "working_dir"
APPS_PACKAGE = "apps"   # the one package the cluster gets; import paths start with it
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_PARTS = {"__pycache__", ".pytest_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".regen-tmp")
DIGEST_LENGTH = 16


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
    apps = root / APPS_PACKAGE
    return sorted(
        (p for p in apps.rglob("*")
         if p.is_file() and not _SKIP_PARTS.intersection(p.relative_to(apps).parts)
         and not p.name.endswith(_SKIP_SUFFIXES)),
        key=lambda p: p.relative_to(root).as_posix())


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
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".zip.tmp")
        tmp.write_bytes(package.content)
        tmp.replace(target)
    return target
