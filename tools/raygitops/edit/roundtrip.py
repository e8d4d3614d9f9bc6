"""Human-edited YAML loaded for editing and written back with its comments, order, quotes and layout.

    doc = load_for_edit(root / "overlays/dev/serve.yaml", root)   # doc.data: ruamel CommentedMap
    doc.data["env_vars"]["TMP_DATA_DIR"] = "/mnt"; new_text = doc.dumps()   # only that line differs

Settings: ruamel's round-trip mode with `indent(mapping=2, sequence=4, offset=2)` (the repository's
style: a list's dash two columns in from its key) and a line width no file reaches, so nothing is
re-wrapped. A file whose lists sit at their key's column (`- ` under `key:`, as KubeRay's samples
and a top-level list are written) is dumped with `sequence=2, offset=0` instead: the style is read
from the file itself. tests/unit/test_roundtrip.py checks every human-edited YAML file of the
repository round-trips byte for byte.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from raygitops.errors import UserError
from raygitops.yamlio import relpath

WIDTH = 4096   # wider than any line: ruamel would otherwise fold long scalars and flow mappings


@dataclass(frozen=True)
class Style:
    sequence: int = 4   # columns from a list's key to its items' content
    offset: int = 2     # columns from a list's key to its dash


REPOSITORY_STYLE = Style()
FLUSH_STYLE = Style(sequence=2, offset=0)   # `key:` then `- item` in the same column

_DASH = re.compile(r"^( *)- ")
_KEY_OPENS_BLOCK = re.compile(r"^( *)(?:- )?[^#\s][^#]*:\s*(?:#.*)?$")


def detect_style(text: str) -> Style:
    """The list style of the file's first block list: how far its dash sits from its key."""
    previous: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped == "---":
            continue
        dash = _DASH.match(line)
        if dash:
            if previous is None:
                return FLUSH_STYLE   # a top-level list
            opener = _KEY_OPENS_BLOCK.match(previous)
            if opener:
                key_column = len(opener.group(1)) + (2 if previous.lstrip().startswith("- ") else 0)
                return FLUSH_STYLE if len(dash.group(1)) == key_column else REPOSITORY_STYLE
        previous = line
    return REPOSITORY_STYLE


def yaml_for(style: Style = REPOSITORY_STYLE) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=style.sequence, offset=style.offset)
    yaml.width = WIDTH
    return yaml


@dataclass
class EditableYaml:
    """One file's documents as ruamel round-trip objects, and the style they go back in."""
    rel: str
    documents: list[Any]
    style: Style = REPOSITORY_STYLE
    original: str = ""
    explicit_start: bool = field(default=False)

    @property
    def data(self) -> Any:
        return self.documents[0] if self.documents else None

    @data.setter
    def data(self, value: Any) -> None:
        if self.documents:
            self.documents[0] = value
        else:
            self.documents.append(value)

    def dumps(self) -> str:
        return dumps(self.documents, self.style, explicit_start=self.explicit_start)

    @property
    def changed(self) -> bool:
        return self.dumps() != self.original


def parse_for_edit(text: str, rel: str) -> EditableYaml:
    style = detect_style(text)
    try:
        documents = list(yaml_for(style).load_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise UserError(f"invalid YAML: {exc.problem or exc.context}", file=rel,
                        line=mark.line + 1 if mark else None, fix="fix the YAML syntax") from None
    except YAMLError as exc:
        raise UserError(f"invalid YAML: {str(exc).splitlines()[0]}", file=rel, fix="fix the YAML syntax") from None
    explicit = text.lstrip().startswith("---") or bool(re.match(r"(?:#[^\n]*\n|\s*\n)*---", text))
    return EditableYaml(rel, documents, style, text, explicit_start=explicit)


def load_for_edit(path: Path, root: Path) -> EditableYaml:
    rel = relpath(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", file=rel, fix="create it or fix the path") from None
    return parse_for_edit(text, rel)


def dumps(documents: list[Any], style: Style = REPOSITORY_STYLE, *, explicit_start: bool = False) -> str:
    yaml = yaml_for(style)
    if explicit_start:
        yaml.explicit_start = True
    out = io.StringIO()
    if len(documents) == 1:
        yaml.dump(documents[0], out)
    else:
        yaml.dump_all(documents, out)
    return out.getvalue()


# --- small edits on round-trip data -----------------------------------------------------------

def named_item(items: CommentedSeq, name: str, key: str = "name") -> CommentedMap | None:
    """The list item whose `key` is `name` (an app, a deployment, a worker group)."""
    return next((item for item in items if isinstance(item, dict) and item.get(key) == name), None)


def _ensure(parent: CommentedMap, key: str, kind: type) -> Any:
    value = parent.get(key)
    if not isinstance(value, kind):
        value = kind()
        parent[key] = value
    return value


def ensure_mapping(parent: CommentedMap, key: str) -> CommentedMap:
    """parent[key] as a block mapping, created (at the end) when absent."""
    return _ensure(parent, key, CommentedMap)


def ensure_list(parent: CommentedMap, key: str) -> CommentedSeq:
    """parent[key] as a block list, created (at the end) when absent."""
    return _ensure(parent, key, CommentedSeq)


def flow_mapping(values: dict) -> CommentedMap:
    """`{a: 1, b: 2}` on one line, as the repository writes small mappings."""
    mapping = CommentedMap(values)
    mapping.fa.set_flow_style()
    return mapping


def flow_sequence(values: list) -> CommentedSeq:
    """`[a, b]` on one line, as the repository writes short lists (a new list each call: ruamel writes
    one list placed twice as an anchor and an alias)."""
    sequence = CommentedSeq(values)
    sequence.fa.set_flow_style()
    return sequence


def _end_slot(container: Any, key: Any) -> tuple[Any, Any, int]:
    """Where ruamel keeps the comment lines that follow the item container[key]: after its last scalar."""
    value = container[key]
    if isinstance(value, dict) and value:
        return _end_slot(value, list(value)[-1])
    if isinstance(value, list) and value:
        return _end_slot(value, len(value) - 1)
    return container, key, 2 if isinstance(container, dict) else 0


def delete_entry(container: CommentedMap | CommentedSeq, key: Any) -> None:
    """del container[key] (a list index or a mapping key), keeping the comment lines that follow the entry in
    the file: ruamel files them under the entry, so a plain del would drop, say, the comment that
    introduces the next key."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken
    keys = list(range(len(container))) if isinstance(container, list) else list(container)
    position_of = keys.index(key)
    holder, last, position = _end_slot(container, key)
    slot = holder.ca.items.get(last) or []
    token = slot[position] if len(slot) > position else None
    following = token.value[token.value.index("\n"):] if token is not None and "\n" in token.value else ""
    del container[key]
    if "#" not in following or position_of == 0:
        return
    holder, last, position = _end_slot(container, keys[position_of - 1])
    slot = holder.ca.items.setdefault(last, [None, None, None, None])
    before = slot[position]
    if before is not None:
        before.value = before.value.rstrip("\n") + following
    else:
        slot[position] = CommentToken(following, CommentMark(0), None)
