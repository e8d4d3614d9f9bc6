"""Render kustomizations with `kustomize build` (or `kubectl kustomize`), in parallel, cached.

    rendered = render([Path("overlays/dev"), ...], root=root)   # {path: Rendered | UserError}, in parallel
    resources = render_overlay(Path("overlays/dev")).resources   # one: render() of it, a UserError raised
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from raygitops.config import KUSTOMIZATION_NAMES
from raygitops.errors import UserError
from raygitops.model.dbconfig import parse_db_config
from raygitops.render_inputs import InputMemo, input_digest, kustomization_file, kustomize_command, read_kustomization
from raygitops.safepath import writable_path
from raygitops.yamlio import load_documents, relpath

CACHE_DIR = ".run/render-cache"


@dataclass(frozen=True)
class Rendered:
    path: Path
    text: str
    resources: tuple[dict, ...]
    digest: str
    cached: bool = False


def is_kustomization(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in KUSTOMIZATION_NAMES)


def is_component(path: Path) -> bool:
    """A kustomize Component cannot be built alone; it is checked through the overlays using it."""
    file = kustomization_file(path)
    data = read_kustomization(file) if file is not None else None
    return data is not None and data.get("kind") == "Component"


def parse_manifests(text: str, source: str) -> tuple[dict, ...]:
    _, documents = load_documents(text, source)   # within the bounds of raygitops.yamlio
    out = []
    for document in documents:
        if document is None:
            continue
        if isinstance(document, dict) and str(document.get("kind", "")).endswith("List") and "items" in document:
            out.extend(item for item in document["items"] or [])
        else:
            out.append(document)
    return tuple(out)


# kubectl logs kustomize's error through klog: E1126 01:23:55.8 19580 run.go:72] "command failed" err="…"
# (or err=<⏎\t…⏎ > when it spans lines); standalone kustomize prints "Error: …".
_KLOG = re.compile(r'^[IWEF]\d{4} [\d:.]+\s+\d+ \S+\] "command failed" err=(?:"(?P<quoted>.*)"|<(?P<block>.*)>)$', re.S)


def kustomize_error(stderr: str, root: Path | None = None) -> str:
    """kustomize's own message on one line: no log prefix or timestamp, paths relative to `root`."""
    text = stderr.strip()
    match = _KLOG.match(text)
    if match:
        text = match["quoted"].replace('\\"', '"') if match["quoted"] is not None else match["block"]
    text = text.removeprefix("Error: ")
    if root is not None:
        text = text.replace(str(root.resolve()) + os.sep, "")
    text = " ".join(text.split())
    return text if len(text) <= 600 else text[:599] + "…"


def render(paths: list[Path], *, root: Path | None = None, jobs: int | None = None, memo: InputMemo | None = None,
           use_cache: bool = True) -> dict[Path, Rendered | UserError]:
    """THE renderer: every kustomization, in `jobs` (default: one per core) contiguous chunks rendered
    side by side, each chunk one kustomize process for its cache misses (`_render_batch`: a process per
    kustomization would cost its start-up each time). kustomize is a process, so threads suffice.
    `memo` shares input walks and digests with a caller that computed them already."""
    paths = list(dict.fromkeys(paths))
    memo = memo if memo is not None else InputMemo()
    chunks = _split_evenly(paths, jobs or os.cpu_count() or 1) if paths else []
    results: dict[Path, Rendered | UserError] = {}
    if len(chunks) == 1:
        results.update(_render_batch(chunks[0], root=root, use_cache=use_cache, memo=memo))
    elif chunks:
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            for batch in pool.map(lambda chunk: _render_batch(chunk, root=root, use_cache=use_cache, memo=memo),
                                  chunks):
                results.update(batch)
    return {path: results[path] for path in paths}


def render_overlay(path: Path, *, root: Path | None = None, use_cache: bool = True) -> Rendered:
    """`render` of one kustomization; its failure (a UserError with kustomize's own message) raised."""
    result = render([path], root=root, use_cache=use_cache)[path]
    if isinstance(result, UserError):
        raise result
    return result


def _build_alone(path: Path, *, root: Path | None = None, use_cache: bool = True) -> Rendered:
    """Build one kustomization; a kustomize failure becomes a UserError with its own message."""
    label = _label(path, root)
    if not is_kustomization(path):
        raise UserError("not a kustomization directory", file=label, fix="point at a directory with kustomization.yaml")
    digest = input_digest(path)
    cache_file = (root / CACHE_DIR / f"{digest}.yaml") if (root and use_cache) else None
    if cache_file is not None and cache_file.exists():
        text = cache_file.read_text()
        return Rendered(path, text, parse_manifests(text, label), digest, cached=True)
    process = subprocess.run([*kustomize_command(), str(path)], capture_output=True, text=True)
    if process.returncode != 0:
        message = kustomize_error(process.stderr, root) or f"exit code {process.returncode}"
        raise UserError(f"kustomize build failed: {message}", file=label,
                        fix="fix the kustomization (run `kubectl kustomize " + label + "` to see it)")
    if cache_file is not None:
        _store(root, cache_file, process.stdout)
    return Rendered(path, process.stdout, parse_manifests(process.stdout, label), digest)


def _store(root: Path, cache_file: Path, text: str) -> None:
    """All or nothing, and inside .run/ only; threads of one process may store the same digest at once."""
    writable_path(root, cache_file)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_text(text)
    tmp.replace(cache_file)


# One kustomize process renders many kustomizations: its start-up is most of a small build's time.
_BATCH_KEY = "internal.raygitops/batch"
_BATCH_LINE = re.compile(rf"^    {re.escape(_BATCH_KEY)}: b(\d+)\n", re.M)
_DOCUMENT_START = re.compile(r"^---\n", re.M)


def _batch_texts(paths: list[Path]) -> list[str] | None:
    """Each kustomization's text as a build of it alone prints it, from one kustomize process; None
    when the batch does not build (a broken kustomization, or two that make the same resource).

    Each kustomization is wrapped in one that only annotates its resources' metadata with its
    index; the annotation line is taken out of the output again. kustomize sorts the whole batch
    with the order it sorts each build, so every kustomization's documents keep their order."""
    with tempfile.TemporaryDirectory(prefix="raygitops-batch-") as tmp:
        top = Path(tmp)
        for i, path in enumerate(paths):
            wrapper = top / f"b{i}"
            wrapper.mkdir()
            # kustomize accepts only relative paths to other kustomizations
            (wrapper / "kustomization.yaml").write_text(
                f"resources:\n- {os.path.relpath(path.resolve(), wrapper)}\ntransformers:\n- mark.yaml\n")
            (wrapper / "mark.yaml").write_text(
                "apiVersion: builtin\nkind: AnnotationsTransformer\nmetadata:\n  name: raygitops-batch\n"
                f"annotations:\n  {_BATCH_KEY}: b{i}\nfieldSpecs:\n- path: metadata/annotations\n  create: true\n")
        (top / "kustomization.yaml").write_text("resources:\n" + "".join(f"- b{i}\n" for i in range(len(paths))))
        process = subprocess.run([*kustomize_command(), str(top)], capture_output=True, text=True)
    if process.returncode != 0:
        return None
    documents: list[list[str]] = [[] for _ in paths]
    for document in _DOCUMENT_START.split(process.stdout):
        mark = _BATCH_LINE.search(document)
        if mark is None or int(mark[1]) >= len(paths):
            return None
        before, after = document[:mark.start()], document[mark.end():]
        if before.endswith("\n  annotations:\n") and not after.startswith("    "):
            before = before[:-len("  annotations:\n")]   # the mark was its only annotation
        documents[int(mark[1])].append(before + after)
    return ["---\n".join(docs) for docs in documents]


def _split_evenly(items: list, count: int) -> list[list]:
    """`count` contiguous, nearly equal chunks (none empty): one _render_batch per core."""
    count = max(1, min(count, len(items)))
    size, extra = divmod(len(items), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


def is_cached(path: Path, root: Path, memo: InputMemo) -> bool:
    """Whether a render of this kustomization is in the cache (its inputs unchanged since)."""
    return (root / CACHE_DIR / f"{memo.digest(path)}.yaml").exists()


def _render_batch(paths: list[Path], *, root: Path | None, use_cache: bool,
                  memo: InputMemo) -> dict[Path, Rendered | UserError]:
    """`_build_alone` of every path, with one kustomize process for all cache misses. A batch that
    does not build is split in halves until the broken kustomization builds alone and reports its
    own error. The texts are exactly those of separate builds (tests/e2e/test_validate.py checks)."""
    results: dict[Path, Rendered | UserError] = {}
    misses: list[tuple[Path, str]] = []
    for path in paths:
        if not is_kustomization(path):
            results[path] = UserError("not a kustomization directory", file=_label(path, root),
                                      fix="point at a directory with kustomization.yaml")
            continue
        digest = memo.digest(path)
        cache_file = (root / CACHE_DIR / f"{digest}.yaml") if (root and use_cache) else None
        if cache_file is not None and cache_file.exists():
            text = cache_file.read_text()
            results[path] = Rendered(path, text, parse_manifests(text, _label(path, root)), digest, cached=True)
        else:
            misses.append((path, digest))

    def build(group: list[tuple[Path, str]]) -> None:
        if len(group) == 1:
            try:
                results[group[0][0]] = _build_alone(group[0][0], root=root, use_cache=use_cache)
            except UserError as error:
                results[group[0][0]] = error
            return
        texts = _batch_texts([path for path, _ in group])
        if texts is None:
            build(group[:len(group) // 2])
            build(group[len(group) // 2:])
            return
        for (path, digest), text in zip(group, texts):
            try:
                results[path] = Rendered(path, text, parse_manifests(text, _label(path, root)), digest)
            except UserError as error:
                results[path] = error
                continue
            if root and use_cache:
                _store(root, root / CACHE_DIR / f"{digest}.yaml", text)

    groups: dict[tuple, list[tuple[Path, str]]] = {}
    for path, digest in misses:
        key = memo.batch_key(path)
        groups.setdefault(("alone", str(path)) if key is None else key, []).append((path, digest))
    for group in groups.values():
        build(group)
    return {path: results[path] for path in paths}


def _label(path: Path, root: Path | None) -> str:
    return relpath(path, root) if root is not None else str(path)


def _datastore_type(app: dict) -> str | None:
    """The datastore_type written in an app's DB_CONFIG (not Aana's sqlite default), if any."""
    value = ((app.get("runtime_env") or {}).get("env_vars") or {}).get("DB_CONFIG")
    data = parse_db_config(value).data if isinstance(value, str) else None
    return str(data["datastore_type"]) if data and "datastore_type" in data else None


def summary(rendered: Rendered, root: Path) -> str:
    """`tools/render --summary`: resource counts, and per RayService its Ray version, apps,
    replicas, worker groups and database type."""
    from raygitops.generate.serveconfig import serve_config_of
    kinds: dict[str, int] = {}
    details = []
    for resource in rendered.resources:
        kinds[resource.get("kind", "?")] = kinds.get(resource.get("kind", "?"), 0) + 1
        if resource.get("kind") == "RayService":
            cluster = resource.get("spec", {}).get("rayClusterConfig", {})
            apps = (serve_config_of(resource) or {}).get("applications", [])
            replicas = sum(d.get("num_replicas", 1) if isinstance(d.get("num_replicas", 1), int) else 1
                           for a in apps for d in a.get("deployments", []))
            groups = ", ".join(f"{g.get('groupName')}×{g.get('replicas', 0)}" for g in cluster.get("workerGroupSpecs", []))
            db_type = next((_datastore_type(a) for a in apps if _datastore_type(a)), "none")
            details.append(f"RayService {resource['metadata'].get('namespace', '')}/{resource['metadata']['name']}: "
                           f"ray {cluster.get('rayVersion')}, {len(apps)} apps, {replicas} replicas, "
                           f"workers [{groups}], db {db_type}")
    counts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return f"{_label(rendered.path, root)}: {counts}" + "".join(f"\n  {d}" for d in details)
