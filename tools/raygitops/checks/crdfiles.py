"""CRD files: which CRDs a file holds (group and kind), found without building the large documents.

    docs = scan_crd_file(str(path), path.stat().st_mtime_ns)   # -> (CrdDoc, ...), cached by path and mtime
    versions = crd_doc_versions(docs[0])                       # {"v1": {"schema": ..., "deprecation": ...}}
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from raygitops.errors import UserError
from raygitops.parsedcache import load_yaml
from raygitops.yamlio import LOADER

__all__ = ["CrdDoc", "scan_crd_file", "crd_doc_versions"]


class _SafeLoader(LOADER):  # type: ignore[misc]
    """Safe loading that also reads a plain `=` (PyYAML resolves it to a tag it can't construct)."""


_SafeLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))



def _document_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each YAML document in a multi-document file: split at `---` / `...` lines."""
    cuts: list[tuple[int, int]] = []  # (separator line start, content start)
    for marker in ("---", "..."):
        pos = 0 if text.startswith(marker) else text.find("\n" + marker)
        while pos != -1:
            line_start = pos if pos == 0 and text.startswith(marker) else pos + 1
            after = line_start + 3
            if after >= len(text) or text[after] in " \t\r\n":
                cuts.append((line_start, after))
            pos = text.find("\n" + marker, after)
    cuts.sort()
    spans, start = [], 0
    for line_start, after in cuts:
        spans.append((start, line_start))
        start = after
    spans.append((start, len(text)))
    return spans


@dataclass(frozen=True)
class CrdDoc:
    """One CRD of a file: where its YAML document lies, and the group and kind it defines."""
    path: str
    mtime_ns: int
    start: int          # character offsets of the YAML document in the file
    end: int
    first_line: int     # 1-based line of the document's first character
    item: int | None    # index in a List document's `items`
    group: str
    kind: str


def _yaml_error(path: str, first_line: int, err: yaml.YAMLError) -> UserError:
    mark = getattr(err, "problem_mark", None)
    line = first_line + mark.line if mark is not None else None
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return UserError(f"invalid YAML in CRD file: {problem}", file=path, line=line,
                     fix="fix the file or remove it from the CRD directory")


def _quick_header(text: str) -> dict[str, str] | None:
    """kind, spec.group and spec.names.kind of one YAML document, reading only as far as needed.

    Returns None when the document is not a mapping. Values missing from the document are absent.
    """
    wanted = {("kind",), ("spec", "group"), ("spec", "names", "kind")}
    found: dict[tuple, str] = {}
    stack: list[list] = []  # frames: [is_mapping, path, key_or_None]
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if stack:
                frame = stack[-1]
                path = (*frame[1], frame[2]) if frame[0] else (*frame[1], None)
                frame[2] = None
            elif isinstance(event, yaml.SequenceStartEvent):
                return None
            else:
                path = ()
            stack.append([isinstance(event, yaml.MappingStartEvent), path, None])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            stack.pop()
            if not stack:
                break
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            if not stack:
                return None
            frame = stack[-1]
            if not frame[0]:
                continue
            if frame[2] is None:
                frame[2] = event.value if isinstance(event, yaml.ScalarEvent) else "*"
            else:
                full = (*frame[1], frame[2])
                if full in wanted and isinstance(event, yaml.ScalarEvent):
                    found[full] = event.value
                    if len(found) == len(wanted):
                        break
                    if full == ("kind",) and event.value != "CustomResourceDefinition" \
                            and not event.value.endswith("List"):
                        break  # not a CRD: no need to read further
                frame[2] = None
    return {"/".join(k): v for k, v in found.items()}


@lru_cache(maxsize=256)
def scan_crd_file(path: str, mtime_ns: int) -> tuple[CrdDoc, ...]:
    """The CRDs in one file, found without building the (large) documents."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read CRD file: {err}", file=path) from None
    docs: list[CrdDoc] = []
    for start, end in _document_spans(text):
        chunk = text[start:end]
        if not chunk.strip():
            continue
        first_line = text.count("\n", 0, start) + 1
        try:
            header = _quick_header(chunk)
        except yaml.YAMLError as err:
            raise _yaml_error(path, first_line, err) from None
        if header is None:
            continue
        kind = header.get("kind")
        if kind == "CustomResourceDefinition":
            if header.get("spec/group") is not None and header.get("spec/names/kind"):
                docs.append(CrdDoc(path, mtime_ns, start, end, first_line, None,
                                    header["spec/group"], header["spec/names/kind"]))
        elif kind and kind.endswith("List"):
            doc = _load_crd_chunk(path, mtime_ns, start, end, first_line)
            for i, item in enumerate(doc.get("items") or []):
                if isinstance(item, dict) and item.get("kind") == "CustomResourceDefinition":
                    spec = item.get("spec") or {}
                    names = spec.get("names") or {}
                    if spec.get("group") is not None and names.get("kind"):
                        docs.append(CrdDoc(path, mtime_ns, start, end, first_line, i,
                                            str(spec["group"]), str(names["kind"])))
    return tuple(docs)


def load_crd_text(text: str) -> object:
    """One document of a CRD file (a CrdDoc's span), parsed as the checks read it: once per content, in
    the user's cache (parsedcache.py), which tests that read the same file share."""
    return load_yaml(text, _SafeLoader)


@lru_cache(maxsize=8)
def _load_crd_chunk(path: str, mtime_ns: int, start: int, end: int, first_line: int) -> dict:
    text = Path(path).read_text(encoding="utf-8")[start:end]
    try:
        doc = load_crd_text(text)
    except yaml.YAMLError as err:
        raise _yaml_error(path, first_line, err) from None
    return doc if isinstance(doc, dict) else {}


def _crd_versions(crd: dict) -> dict[str, dict]:
    """Served versions of a CRD: name -> {'schema': openAPIV3Schema, 'deprecation': str | None}."""
    spec = crd.get("spec") or {}
    legacy = ((spec.get("validation") or {}).get("openAPIV3Schema"))
    out: dict[str, dict] = {}
    versions = spec.get("versions") or []
    if not versions and spec.get("version"):
        versions = [{"name": spec["version"]}]
    for v in versions:
        if not isinstance(v, dict) or not v.get("name") or v.get("served", True) is False:
            continue
        schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or legacy
        if schema is None:
            continue
        deprecation = None
        if v.get("deprecated"):
            deprecation = v.get("deprecationWarning") or (
                f"{spec.get('group')}/{v['name']} {(spec.get('names') or {}).get('kind')} is deprecated")
        out[str(v["name"])] = {"schema": schema, "deprecation": deprecation}
    return out


def crd_doc_versions(doc: CrdDoc) -> dict[str, dict]:
    crd = _load_crd_chunk(doc.path, doc.mtime_ns, doc.start, doc.end, doc.first_line)
    if doc.item is not None:
        crd = (crd.get("items") or [])[doc.item]
    return _crd_versions(crd)


