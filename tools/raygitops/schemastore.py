"""The schema store: the CRDs and catalog schemas raygitops.yaml pins, fetched once into a cache, each
file checked against its sha256 in schemas.lock on every use.

    store = SchemaStore(config)            # fetches what is missing (from RAYGITOPS_SCHEMA_MIRROR or upstream)
    store.crd_files(), store.catalog_files(), store.crd("ray.io/RayService", "v1")

Sources, as `raygitops.yaml` pins them:
- `versions.kuberay`: ray-project/kuberay `ray-operator/config/crd/bases/` at tag `v<version>`;
- `versions.argocd`: argoproj/argo-cd `manifests/crds/` at tag `v<version>` (its kustomization.yaml left out);
- `schemas.catalog` at `schemas.catalog_commit`: files of datreeio/CRDs-catalog.

The cache (`$XDG_CACHE_HOME/raygitops`, default `~/.cache/raygitops`) and a mirror share one layout:
`crds/kuberay/v<version>/`, `crds/argo-cd/`, `schemas/<group>/<kind>_<version>.json`. Where the path does
not name the version, a `TAG` file in the source's directory does (as in `../shared`): a cached file
of another version is fetched again, while a file of the pinned version that fails its hash is refused.
Fetching from a mirror and from upstream is the same code (urllib) with another base URL.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import yaml

from raygitops.config import RepoConfig
from raygitops.errors import UserError
from raygitops.usercache import cache_root
from raygitops.yamlio import LOADER

LOCK_FILE = "schemas.lock"
MIRROR_ENV = "RAYGITOPS_SCHEMA_MIRROR"
STAMP = "TAG"                  # the ref a directory's files were fetched at
FETCH_TIMEOUT_SECONDS = 30.0
_UPDATE_FIX = f"run `raygitops schemas --update` (tools/schemas --update) and commit {LOCK_FILE}"


@dataclass(frozen=True)
class Source:
    """One pinned set of files: where upstream keeps them, and where the cache keeps them."""
    key: str                   # its entry in schemas.lock
    title: str                 # for messages: "KubeRay v1.7.0 CRDs"
    ref: str                   # the tag or commit
    directory: str             # in the cache/mirror layout: "crds/kuberay/v1.7.0"
    upstream: str              # raw file base URL, ends with "/"
    browse: str                # the same place for a person, for the "fetch it yourself" message
    listing: str | None        # GitHub contents API URL that lists the directory (None: names are pinned)
    pattern: str = "*.yaml"
    excluded: tuple[str, ...] = ("kustomization.yaml",)
    pinned: tuple[str, ...] = ()

    def wants(self, name: str) -> bool:
        return fnmatch.fnmatch(name, self.pattern) and name not in self.excluded


def _github(owner_repo: str, ref: str, path: str) -> dict:
    inside = f"{path}/" if path else ""
    return {"upstream": f"https://raw.githubusercontent.com/{owner_repo}/{ref}/{inside}",
            "browse": f"https://github.com/{owner_repo}/tree/{ref}/{inside}".rstrip("/"),
            "listing": f"https://api.github.com/repos/{owner_repo}/contents/{path}?ref={ref}"}


def sources_of(config: RepoConfig) -> list[Source]:
    """What raygitops.yaml pins, in lock order."""
    kuberay = f"v{config.versions.kuberay}"
    found = [Source("kuberay", f"KubeRay {kuberay} CRDs", kuberay, f"crds/kuberay/{kuberay}",
                    **_github("ray-project/kuberay", kuberay, "ray-operator/config/crd/bases"))]
    if config.versions.argocd:
        argocd = f"v{config.versions.argocd}"
        found.append(Source("argo-cd", f"Argo CD {argocd} CRDs", argocd, "crds/argo-cd",
                            **_github("argoproj/argo-cd", argocd, "manifests/crds")))
    if config.schemas.catalog:
        commit = config.schemas.catalog_commit or ""
        github = _github("datreeio/CRDs-catalog", commit, "")
        found.append(Source("catalog", f"CRDs-catalog schemas at {commit[:12]}", commit, "schemas",
                            github["upstream"], github["browse"], None, pattern="*.json",
                            pinned=tuple(config.schemas.catalog)))
    return found


def mirror_url() -> str | None:
    """RAYGITOPS_SCHEMA_MIRROR as a base URL ending in "/", or None when unset."""
    raw = os.environ.get(MIRROR_ENV, "").strip()
    if not raw:
        return None
    if raw.startswith("file://"):
        path = Path(urllib.request.url2pathname(raw[len("file://"):]))
    elif "://" in raw:
        raise UserError(f"{MIRROR_ENV}={raw} is not a directory or a file:// URL",
                        fix="point it at a local copy laid out as crds/kuberay/v<version>/, crds/argo-cd/, schemas/")
    else:
        path = Path(raw)
    if not path.is_dir():
        raise UserError(f"{MIRROR_ENV} names {path}, which is not a directory",
                        fix="point it at a local copy of the schemas, or unset it to fetch from upstream")
    return path.resolve().as_uri().rstrip("/") + "/"


def _mirror_dir(mirror: str) -> Path:
    return Path(urllib.request.url2pathname(mirror[len("file://"):]))


def mirror_dir() -> Path | None:
    """The RAYGITOPS_SCHEMA_MIRROR directory, or None when unset."""
    mirror = mirror_url()
    return _mirror_dir(mirror) if mirror else None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_url(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310 (file/https)
        return response.read()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --- the lock ----------------------------------------------------------------------------------

def read_lock(root: Path) -> dict[str, dict]:
    """schemas.lock's sources: key → {"ref", "from", "files": {cache path: sha256}}."""
    path = root / LOCK_FILE
    if not path.exists():
        raise UserError("not found", file=LOCK_FILE, fix=_UPDATE_FIX)
    try:
        sources = json.loads(path.read_text())["sources"]
        assert all(isinstance(s["ref"], str) and isinstance(s["files"], dict) for s in sources.values())
    except (ValueError, KeyError, TypeError, AttributeError, AssertionError):
        raise UserError(f"{LOCK_FILE} is not a lock file written by raygitops", file=LOCK_FILE,
                        fix=_UPDATE_FIX) from None
    return sources


def render_lock(entries: dict[str, dict]) -> str:
    return json.dumps({"comment": "Written by `raygitops schemas --update` from the pins in raygitops.yaml; "
                                  "every command checks each schema file against its sha256 here.",
                       "sources": entries}, indent=2, sort_keys=True) + "\n"


# --- the store ---------------------------------------------------------------------------------

def _announce(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class SchemaStore:
    """The verified schema files of one repository (see the module docstring)."""

    def __init__(self, config: RepoConfig, *, cache: Path | None = None,
                 announce: Callable[[str], None] = _announce):
        self.config = config
        self.cache = cache or cache_root()
        self.sources = sources_of(config)
        self.announce = announce
        self._files: dict[str, list[Path]] | None = None

    # --- where files come from ---------------------------------------------------------------

    def _origin(self) -> tuple[str | None, str]:
        mirror = mirror_url()
        return mirror, f"the mirror {_mirror_dir(mirror)}" if mirror else "upstream"

    def _url(self, source: Source, rel: str, mirror: str | None) -> str:
        """rel is the file's path in the cache layout."""
        inside = rel[len(source.directory) + 1:]
        return mirror + rel if mirror else source.upstream + inside

    def _cannot_fetch(self, source: Source, url: str, error: BaseException, mirror: str | None) -> UserError:
        if mirror:
            return UserError(f"cannot read {url}: {getattr(error, 'reason', error)}",
                             fix=f"the mirror needs {source.title} in {source.directory}/ ({source.browse})")
        if isinstance(error, urllib.error.HTTPError):
            return UserError(f"{url}: HTTP {error.code}",
                             fix=f"check the pin of {source.title} in raygitops.yaml ({source.browse})")
        places = "; ".join(f"{s.title} from {s.browse} into {s.directory}/"
                           + (f" ({', '.join(s.pinned)})" if s.pinned else "") for s in self.sources)
        return UserError(f"cannot download the schemas ({getattr(error, 'reason', error)}), and {MIRROR_ENV} "
                         "is not set",
                         fix=f"put {places} under {self.cache}/ (or under a directory laid out the same way and set "
                             f"{MIRROR_ENV} to it), then run the command again")

    def _check_mirror_tag(self, source: Source, mirror: str | None) -> None:
        """A mirror's directory without the version in its path names it in TAG (../shared/crds/argo-cd/TAG)."""
        if not mirror:
            return
        tag = _mirror_dir(mirror) / source.directory / STAMP
        if tag.is_file() and tag.read_text().strip() != source.ref:
            raise UserError(f"the mirror holds {tag.read_text().strip()} in {source.directory}/, "
                            f"but raygitops.yaml pins {source.title}", file=str(tag),
                            fix="bring the mirror to the pinned version, or change the pin")

    # --- verify and fetch --------------------------------------------------------------------

    def ensure(self) -> dict[str, list[Path]]:
        """Every pinned file in the cache and matching schemas.lock: source key → paths. Fetches what is missing."""
        if self._files is not None:
            return self._files
        lock = read_lock(self.config.root)
        missing: list[tuple[Source, str, str]] = []
        files: dict[str, list[Path]] = {}
        for source in self.sources:
            entry = self._lock_entry(lock, source)
            for rel, digest in sorted(entry["files"].items()):
                path = self.cache / rel
                actual = sha256(path.read_bytes()) if path.is_file() else None
                if actual != digest:
                    if actual is not None and self._stamp(source) == source.ref:
                        raise UserError(f"the cached file does not match its sha256 in {LOCK_FILE}: refused",
                                        file=str(path),
                                        fix=f"delete it to fetch it again; if {source.title} changed on purpose, "
                                            + _UPDATE_FIX)
                    missing.append((source, rel, digest))   # absent, or left by another version
                files.setdefault(source.key, []).append(path)
        if missing:
            self._fetch(missing)
        self._files = files
        return files

    def _lock_entry(self, lock: dict[str, dict], source: Source) -> dict:
        entry = lock.get(source.key)
        if entry is None or entry["ref"] != source.ref:
            had = f"{source.key} {entry['ref']}" if entry else f"no {source.key} entry"
            raise UserError(f"{LOCK_FILE} has {had}, but raygitops.yaml pins {source.title}",
                            file=LOCK_FILE, fix=_UPDATE_FIX)
        if source.pinned and sorted(entry["files"]) != sorted(f"{source.directory}/{n}" for n in source.pinned):
            raise UserError(f"{LOCK_FILE} lists other catalog schemas than schemas.catalog in raygitops.yaml",
                            file=LOCK_FILE, fix=_UPDATE_FIX)
        return entry

    def _stamp(self, source: Source) -> str | None:
        stamp = self.cache / source.directory / STAMP
        return stamp.read_text().strip() if stamp.is_file() else None

    def _download(self, source: Source, rel: str, mirror: str | None) -> tuple[str, bytes]:
        self._check_mirror_tag(source, mirror)
        url = self._url(source, rel, mirror)
        try:
            return url, _read_url(url)
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise self._cannot_fetch(source, url, error, mirror) from None

    def _store(self, files: dict[str, bytes], sources: list[Source]) -> None:
        """Written only once everything arrived (and matched): a failed fetch leaves the cache as it was."""
        for rel, data in files.items():
            _write_atomically(self.cache / rel, data)
        for source in sources:
            _write_atomically(self.cache / source.directory / STAMP, (source.ref + "\n").encode())

    def _fetch(self, wanted: list[tuple[Source, str, str]]) -> None:
        mirror, origin = self._origin()
        titles = ", ".join(dict.fromkeys(source.title for source, _, _ in wanted))
        self.announce(f"raygitops: fetching {len(wanted)} schema file{'s' * (len(wanted) != 1)} ({titles}) "
                      f"from {origin} into {self.cache}")
        fetched: dict[str, bytes] = {}
        for source, rel, digest in wanted:
            url, data = self._download(source, rel, mirror)
            if sha256(data) != digest:
                raise UserError(f"{url} does not match its sha256 in {LOCK_FILE}: refused", file=LOCK_FILE,
                                fix=f"if you changed the pin of {source.title}, {_UPDATE_FIX}; otherwise the "
                                    "source changed under the same pin: find out why before you trust it")
            fetched[rel] = data
        self._store(fetched, list(dict.fromkeys(source for source, _, _ in wanted)))

    def update(self) -> tuple[str, list[str]]:
        """Fetch every pinned source whole into the cache; return the new lock's text and the paths whose hash changed."""
        mirror, origin = self._origin()
        try:
            old = {rel: digest for entry in read_lock(self.config.root).values() for rel, digest in entry["files"].items()}
        except UserError:
            old = {}   # no lock yet, or an unreadable one: this writes it
        self.announce(f"raygitops: fetching {', '.join(s.title for s in self.sources)} from {origin} into {self.cache}")
        fetched: dict[str, bytes] = {}
        entries: dict[str, dict] = {}
        for source in self.sources:
            self._check_mirror_tag(source, mirror)
            files = {}
            for name in source.pinned or self._list(source, mirror):
                rel = f"{source.directory}/{name}"
                fetched[rel] = self._download(source, rel, mirror)[1]
                files[rel] = sha256(fetched[rel])
            entries[source.key] = {"ref": source.ref, "from": source.browse, "files": files}
        self._store(fetched, self.sources)
        new = {rel: sha256(data) for rel, data in fetched.items()}
        self._files = None
        return render_lock(entries), sorted(rel for rel in set(old) | set(new) if old.get(rel) != new.get(rel))

    def _list(self, source: Source, mirror: str | None) -> list[str]:
        """The file names of a source's directory: the mirror's listing, or GitHub's contents API."""
        if mirror:
            directory = _mirror_dir(mirror) / source.directory
            names = sorted(p.name for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []
        else:
            try:
                names = sorted(item["name"] for item in json.loads(_read_url(source.listing))
                               if item.get("type") == "file")
            except (urllib.error.URLError, OSError, ValueError, TypeError, KeyError) as error:
                raise self._cannot_fetch(source, source.listing or "", error, mirror) from None
        names = [name for name in names if source.wants(name)]
        if not names:
            raise UserError(f"no {source.pattern} files for {source.title} at {source.browse}",
                            fix="check the version in raygitops.yaml")
        return names

    # --- what others read --------------------------------------------------------------------

    def crd_files(self, source: str | None = None) -> list[Path]:
        """The verified CRD files (of one source: "kuberay" or "argo-cd")."""
        files = self.ensure()
        return [path for key, paths in files.items() if key != "catalog" and source in (None, key) for path in paths]

    def catalog_files(self) -> dict[str, Path]:
        """The verified catalog schemas by their catalog path: {"external-secrets.io/externalsecret_v1.json": path}."""
        return {path.relative_to(self.cache / "schemas").as_posix(): path for path in self.ensure().get("catalog", [])}

    def crd(self, group_kind: str, version: str | None = None) -> dict:
        """The CustomResourceDefinition of "group/Kind" (e.g. "ray.io/RayService"); with `version`,
        it must serve that version."""
        group, _, kind = group_kind.rpartition("/")
        for path in self.crd_files():
            header = _crd_header(str(path))
            if header == (group, kind):
                crd = _load_crd(str(path))
                served = [v.get("name") for v in crd["spec"].get("versions") or [] if v.get("served", True)]
                if version is not None and version not in served:
                    raise UserError(f"the {group_kind} CRD ({path.name}) does not serve {version}",
                                    fix=f"use one of: {', '.join(map(str, served))}")
                return crd
        raise UserError(f"no CRD for {group_kind} among the pinned CRDs",
                        fix="pin the operator that defines it in raygitops.yaml, or check the spelling")


_GROUP = re.compile(r"^  group: ['\"]?([^'\"\s]+)", re.MULTILINE)
_KIND = re.compile(r"^    kind: ['\"]?([^'\"\s]+)", re.MULTILINE)


@lru_cache(maxsize=64)
def _crd_header(path: str) -> tuple[str, str] | None:
    """(group, kind) of a one-CRD file as controller-gen and Argo CD write it, without parsing a megabyte."""
    text = Path(path).read_text(encoding="utf-8")
    group, kind = _GROUP.search(text), _KIND.search(text)
    if group and kind:
        return group.group(1), kind.group(1)
    crd = _load_crd(path)
    spec = crd.get("spec") or {}
    return spec.get("group"), (spec.get("names") or {}).get("kind")


@lru_cache(maxsize=8)
def _load_crd(path: str) -> dict:
    try:
        from raygitops.parsedcache import load_yaml   # parsedcache needs cache_dir from here
        crd = load_yaml(Path(path).read_text(encoding="utf-8"), LOADER)
    except yaml.YAMLError as error:
        raise UserError(f"invalid YAML in CRD file: {error}", file=path, fix="delete it to fetch it again") from None
    return crd if isinstance(crd, dict) else {}
