"""What YAML input may be, and the refusal past it: size, nesting, aliases, documents, file type, encoding.

    text = read_input(Path("x.yaml"), "x.yaml")     # or read_stdin(); InputRefused past the bounds
    check_bounds(text, "x.yaml")                     # before anything composes or walks the text

Every YAML text from a user (files, stdin, rendered overlays, a serveConfigV2 string) is read
within these bounds, and refused past them with exit 2 and one line naming the limit:

| Bound | Default | Raise it with |
|---|---|---|
| size of a file or of stdin | 16 MiB | RAYGITOPS_YAML_MAX_BYTES |
| nesting depth (mappings and lists) | 100 levels | RAYGITOPS_YAML_MAX_DEPTH |
| documents in one stream | 10,000 | RAYGITOPS_YAML_MAX_DOCUMENTS |
| aliases (`*name`) | refused | (write the value out) |

The depth is estimated from the text before libyaml sees it, then counted exactly on libyaml's
event stream (which is not recursive) before anything composes a tree or walks one: PyYAML's C
composer recurses once per level and crashes the process at about 50,000 levels, and the walks
after it (line indexing, jsonschema) raise RecursionError at about 1,000. An alias refers to a
node already built, so a few hundred bytes of aliases can stand for a tree of billions of nodes.
Only regular files and stdin are read (a FIFO would block, /dev/zero never ends), as UTF-8.
"""
from __future__ import annotations

import errno
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from raygitops.errors import UserError

# libyaml's safe loader when PyYAML was built with it: about 20× faster than the pure-Python one,
# which matters for rendered overlays and every serveConfigV2 string. Same documents, same data.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Limit:
    variable: str       # the environment variable that raises it
    default: int

    @property
    def value(self) -> int:
        """Read at each use, so that a raised limit applies to the very next input."""
        raw = os.environ.get(self.variable, "")
        return int(raw) if raw.strip().isdigit() and int(raw) > 0 else self.default


MAX_BYTES = Limit("RAYGITOPS_YAML_MAX_BYTES", 16 * 1024 * 1024)
MAX_DEPTH = Limit("RAYGITOPS_YAML_MAX_DEPTH", 100)
MAX_DOCUMENTS = Limit("RAYGITOPS_YAML_MAX_DOCUMENTS", 10_000)
ALIAS_FIX = "write the value out (aliases are refused: a few of them can stand for billions of nodes)"


class InputRefused(UserError):
    """Input past the bounds, or not readable as YAML text at all: every command stops (exit 2),
    where a syntax error in one of many files is only a finding."""


def _too_deep(label: str, line: int | None, limit: int) -> InputRefused:
    return InputRefused(f"YAML nested deeper than {limit} levels", file=label, line=line,
                        fix=f"flatten it, or raise the limit: {MAX_DEPTH.variable}=<levels>")


def decode_text(data: bytes, label: str) -> str:
    """UTF-8 text (a UTF-8 byte-order mark is dropped); anything else refused by line, not content."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputRefused("not UTF-8 text", file=label, line=line,
                           fix="save it as UTF-8 (YAML input is read as UTF-8)") from None


def _too_large(label: str) -> InputRefused:
    return InputRefused(f"larger than the limit of {MAX_BYTES.value} bytes", file=label,
                        fix=f"split it, or raise the limit: {MAX_BYTES.variable}=<bytes>")


def _bounded_read(handle, label: str) -> bytes:
    data = handle.read(MAX_BYTES.value + 1)
    if len(data) > MAX_BYTES.value:
        raise _too_large(label)
    return data


def read_input(path: Path, label: str) -> str:
    """The text of a regular file, within MAX_BYTES. A FIFO, a device or a directory is refused
    before it is opened (opening a FIFO alone can block)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        what = "is a symbolic link to nothing" if path.is_symlink() else "file not found"
        raise InputRefused(what, file=label, fix="create it or fix the path") from None
    except OSError as exc:   # ELOOP (a link to itself), EACCES, ENAMETOOLONG…
        fix = ("replace the looping symbolic link with the file" if exc.errno == errno.ELOOP
               else "check the path and its permissions")
        raise InputRefused(f"cannot read: {exc.strerror or type(exc).__name__}", file=label, fix=fix) from None
    if not stat.S_ISREG(info.st_mode):
        what = "Is a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a FIFO, socket or device)"
        raise InputRefused(what, file=label, fix="check that this path is a readable file where one is expected")
    if info.st_size > MAX_BYTES.value:
        raise _too_large(label)
    try:
        with open(path, "rb") as handle:
            return decode_text(_bounded_read(handle, label), label)
    except OSError as exc:
        raise InputRefused(f"cannot read: {exc.strerror or type(exc).__name__}", file=label,
                           fix="check the path and its permissions") from None


def read_stdin(label: str = "<stdin>") -> str:
    """stdin as UTF-8 text, within MAX_BYTES. A terminal is refused: nobody types manifests."""
    stream = sys.stdin
    fix = "pipe YAML into it, e.g. kubectl get rayservice -o yaml | tools/validate -"
    if stream is None or stream.isatty():
        raise InputRefused("stdin is a terminal" if stream else "no stdin", file=label, fix=fix)
    return decode_text(_bounded_read(getattr(stream, "buffer", stream), label), label)


# A character that can open or close a flow collection or a quoted scalar, or start a comment.
_SIGNIFICANT = re.compile(r"""[\[\]{}"'#]""")
_BLOCK_SCALAR = re.compile(r"(?:^|[\s:?-])[|>][-+0-9]*\s*(?:#.*)?$")
_LEADING = re.compile(r"^[ ?:-]*", re.M)     # indentation and block indicators at the start of a line
_INDICATORS = re.compile(r"(?:[-?:](?: +|$))")


def _surely_shallow(text: str, limit: int) -> bool:
    """At C speed, a bound that holds for any YAML: each open block level sits at its own column
    left of a line's content, and each flow level needs its own opening bracket."""
    leading = max(map(len, _LEADING.findall(text)), default=0)
    return leading + 1 + text.count("[") + text.count("{") <= limit


def _token_start(line: str, index: int, flow: int) -> bool:
    """Whether a quote or bracket at `index` begins a node (it is part of a plain scalar otherwise)."""
    if index and line[index - 1] not in " \t[{,:":
        return False
    before = line[:index].rstrip()
    return not before or before[-1] in "[{,:-?" or (flow > 0 and before[-1] not in "\"'")


def estimate_depth(text: str, limit: int) -> tuple[int, int] | None:
    """(estimated depth, line) at the first line nested deeper than `limit`, or None. Pure Python,
    before libyaml sees the text: block nesting from the indentation (each `- ` a level of its own),
    flow nesting from brackets outside quotes and comments; block scalars' contents are skipped.
    An estimate: one level high at a plain scalar's continuation line, low by one for each list
    written at its key's own indentation (so at worst half the depth); check_bounds then counts exactly."""
    if _surely_shallow(text, limit):
        return None
    stack: list[int] = []      # indentation columns of the open block levels
    flow, quote, block_indent = 0, "", -1
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if block_indent >= 0:
            if not stripped.strip() or indent > block_indent:
                continue       # the content of a | or > block scalar: text, not structure
            block_indent = -1
        start = 0
        if not flow and not quote:
            if not stripped or stripped.startswith("#"):
                continue
            if indent == 0 and stripped.startswith(("---", "...")):
                stack.clear()
                continue
            while stack and stack[-1] >= indent:
                stack.pop()
            stack.append(indent)
            column = indent
            marker = _INDICATORS.match(line, column)
            while marker:      # "- - - x": a list in a list in a list, each a level
                column = marker.end()
                stack.append(column)
                marker = _INDICATORS.match(line, column) if len(stack) <= limit else None
            start = column
            if len(stack) > limit:
                return len(stack), number
        for match in _SIGNIFICANT.finditer(line, start):
            char, index = match.group(), match.start()
            if quote:
                if char == quote and (quote == "'" or (len(line[:index]) - len(line[:index].rstrip("\\"))) % 2 == 0):
                    quote = ""
                continue
            if char == "#":
                if index == 0 or line[index - 1] in " \t":
                    break
            elif char in "\"'":
                if _token_start(line, index, flow):
                    quote = char
            elif char in "[{":
                if flow or _token_start(line, index, flow):
                    flow += 1
                    if len(stack) + flow > limit:
                        return len(stack) + flow, number
            elif flow:
                flow -= 1
        if not flow and not quote and _BLOCK_SCALAR.search(stripped):
            block_indent = indent
    return None


def check_bounds(text: str, label: str) -> None:
    """Refuse `text` past the bounds (see the module docstring), promptly and before anything
    composes it; a syntax error found on the way is a plain UserError."""
    depth_limit, documents_limit = MAX_DEPTH.value, MAX_DOCUMENTS.value
    estimate = estimate_depth(text, depth_limit)
    if estimate is not None:
        raise _too_deep(label, estimate[1], depth_limit)
    depth = documents = 0
    try:
        for event in yaml.parse(text, Loader=LOADER):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > depth_limit:
                    raise _too_deep(label, event.start_mark.line + 1, depth_limit)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                raise InputRefused("YAML aliases (*name) are not supported here", file=label,
                                   line=event.start_mark.line + 1, fix=ALIAS_FIX)
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > documents_limit:
                    raise InputRefused(f"more than {documents_limit} YAML documents", file=label,
                                       line=event.start_mark.line + 1,
                                       fix=f"split the input, or raise the limit: {MAX_DOCUMENTS.variable}=<count>")
    except yaml.YAMLError as exc:
        raise syntax_error(exc, label) from None


def syntax_error(exc: yaml.YAMLError, label: str) -> UserError:
    """PyYAML's problem ("found character that cannot start any token") and line, never its snippet."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc).splitlines()[0]
    return UserError(f"invalid YAML: {problem}", file=label, line=mark.line + 1 if mark else None,
                     fix="fix the YAML syntax")
