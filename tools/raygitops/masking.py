"""What may be printed: one notion of "secret-like" and one masking function for every printer.

    redact({"env": [{"name": "API_TOKEN", "value": "t0k"}]})   # {"env": [{"name": "API_TOKEN", "value": "(hidden)"}]}
    shown(8675309, secret=True)                                 # "an integer of 7 digits"

Secret-like is, in one place for validate, diff, regen and every error message:
- a key or list item whose name says so: *PASSWORD*, *SECRET*, *CREDENTIAL*, *TOKEN*, or *KEY*
  after a qualifier (OPENAI_API_KEY, MASTER_KEY, tls.key; not sort_key, topologyKey or a bare key);
  anything below it too, except a reference to a secret (secretKeyRef, secretName: those stay visible);
- the data and stringData of a Secret;
- the user information of a URL (postgresql://app:<hidden>@db/aana), anywhere in any string;
- in free text (application.properties, args, a YAML or JSON string): `name=value`, `name: value`
  and `--name value` where the name is secret-like.
Where a value must explain an error, a secret shows its type and length, never its content.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from raygitops.errors import UserError
from raygitops.yamlio import load_documents, load_text

HIDDEN = "(hidden)"


# --- paths into a document (tools/diff prints them: spec.containers[ray-head].env[TOKEN]) ----

@dataclass(frozen=True)
class Named:
    """An item of a list matched by its name (or groupName): shown as [name]."""
    name: str


@dataclass(frozen=True)
class Index:
    """An item of a list without names, matched by position: shown as [0]."""
    index: int


class _Embedded:
    """The step from a string into the YAML/JSON document it holds: shown as ':'."""

    def __repr__(self) -> str:
        return "EMBEDDED"


EMBEDDED = _Embedded()


def item_step(item: Any, index: int) -> Named | Index:
    return Named(item["name"]) if isinstance(item, dict) and isinstance(item.get("name"), str) else Index(index)


def named_path(document: Any, path: tuple) -> tuple:
    """A path of keys and list indices (as jsonschema gives it) with list items by name, so that
    env[3].value reads as env[DB_PASSWORD].value."""
    out, node = [], document
    for step in path:
        if isinstance(step, int) and isinstance(node, list):
            item = node[step] if 0 <= step < len(node) else None
            out.append(item_step(item, step))
            node = item
        else:
            out.append(step)
            node = node.get(step) if isinstance(node, dict) else None
    return tuple(out)


# --- names ------------------------------------------------------------------------------------

# Found anywhere in the lowercased name: PGPASSWORD, password_hash, clientSecret, apikey.
_STEMS = ("password", "passwd", "passphrase", "secret", "credential", "apikey", "privatekey", "accesskey",
          "masterkey", "signingkey")
# A word of the name: HF_TOKEN, TOKEN_FILE (not max_tokens, tokenizer).
_ANY_WORDS = {"token"}
# The last word: DB_PASS, PGPWD, SENTRY_DSN, HTTP_AUTHORIZATION (not bypass).
_LAST_WORDS = {"pass", "pwd", "dsn", "authorization", "cookie"}
# KEY (or KEYS) as the last word is secret after any qualifier (MASTER_KEY, JWT_KEY, STRIPE_KEY,
# tls.key) but these, whose keys name things rather than unlock them.
_PLAIN_KEYS = {"sort", "topology", "partition", "primary", "foreign", "routing", "shard", "cache", "group",
               "hash", "label", "match", "lookup", "idempotency", "dedup", "node", "field", "index", "map",
               "dict", "public", "object", "row", "column", "range", "join", "unique", "composite", "dataset"}
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_VERSION_WORD = re.compile(r"v?[0-9]+$")
# Keys that hold a reference to a secret (its name, where to find it), not the secret itself.
_REFERENCE = re.compile(r"(Ref|Name|^valueFrom)$")
_SECRET_KINDS_DATA = {"Secret": ("data", "stringData")}


# Every secret-like name holds one of these: most names are ruled out by one search.
_MAYBE_SECRET = re.compile(r"pass|pwd|secret|credential|token|key|dsn|authorization|cookie|connection", re.I)


@lru_cache(maxsize=4096)
def names_a_secret(label: str) -> bool:
    if not _MAYBE_SECRET.search(label):
        return False
    lowered = label.lower()
    if any(stem in lowered for stem in _STEMS):
        return True
    words = [word.lower() for word in _WORD.findall(label)]
    while words and _VERSION_WORD.match(words[-1]):
        words.pop()  # HF_TOKEN_2, API_KEY_V2
    if not words:
        return False
    if _ANY_WORDS.intersection(words) or words[-1] in _LAST_WORDS or words[-2:] == ["connection", "string"]:
        return True
    return words[-1] in ("key", "keys") and len(words) > 1 and words[-2] not in _PLAIN_KEYS


def _label(segment: Any) -> str:
    return segment.name if isinstance(segment, Named) else segment if isinstance(segment, str) else ""


def is_secret_path(path: tuple, kind: str = "") -> bool:
    """Whether the value at `path` is secret: under a secret-like name and not inside a reference
    to one (valueFrom.secretKeyRef.name stays visible), or any of a Secret's data."""
    if kind in _SECRET_KINDS_DATA and path and path[0] in _SECRET_KINDS_DATA[kind]:
        return True
    if path and path[-1] == "name":
        return False  # an item's identity (env[DB_PASSWORD].name) or a reference's target
    secret = False
    for segment in path:
        label = _label(segment)
        if _REFERENCE.search(label):
            secret = False
        elif names_a_secret(label):
            secret = True
    return secret


# --- text -------------------------------------------------------------------------------------

# scheme://userinfo@ — up to the last @ before the path, so that an unescaped @ in a password
# does not leave its tail visible.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s/?#@\"'<>]*(?:@[^\s/?#@\"'<>]*)*)@")
# A secret-like setting's name and separator: name=value, name: value, "name": "value". Its value is
# what follows: a quoted string, or the rest of the line.
_NAME_SEPARATOR = re.compile(r"""(?<![\w.\-])(["']?)([A-Za-z_][\w.\-]*)\1\s*[:=][ \t]*""")
_VALUE = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|[^\s"'][^\n]*""")
# --name value, --name=value, -name value (a flag and its value).
_FLAG_VALUE = re.compile(r"(?<!\S)(--?)([A-Za-z][\w.\-]*)(\s+|=)(?!-)(\S+)")
_FLAG = re.compile(r"^--?([A-Za-z][\w.\-]*)$")
# ${VAR} or $(VAR): a reference to where the value is, which Ray or Kubernetes expands; no secret itself.
_VARIABLE = re.compile(r"(?:\$\{\w+\}|\$\(\w+\))+")


def is_variable(text: str) -> bool:
    """Whether `text` is only ${VAR} / $(VAR) references: where a value comes from, not the value."""
    return _VARIABLE.fullmatch(text.strip()) is not None


def holds_url_password(text: str) -> bool:
    """Whether `text` holds a URL with a password (scheme://user:password@host); ${VAR} is no password."""
    for match in _URL_USERINFO.finditer(text) if "://" in text else ():
        password = match.group(2).partition(":")[2]
        if password and not is_variable(password):
            return True
    return False


def _hide_userinfo(match: re.Match) -> str:
    user, colon, _ = match.group(2).partition(":")
    return f"{match.group(1)}{user}:{HIDDEN}@" if colon else f"{match.group(1)}{HIDDEN}@"


def _hide_assignments(text: str) -> str:
    """Each secret-like setting's value as (hidden). One pass: a setting inside another's value
    (DB_CONFIG={"password": …}) is found too, and the time stays linear in the text."""
    out, done = [], 0
    for match in _NAME_SEPARATOR.finditer(text):
        name = match.group(2)
        if match.start() < done or not names_a_secret(name) or _REFERENCE.search(name):
            continue
        value = _VALUE.match(text, match.end())
        if value is None or is_variable(value.group().strip("'\"")):
            continue   # the value on the next line (a structure, not text), or a ${VAR} that names it
        quote = value.group()[0] if value.group()[0] in "'\"" else ""
        out += [text[done:value.start()], f"{quote}{HIDDEN}{quote}"]
        done = value.end()
    return "".join(out) + text[done:] if out else text


def _hide_flag_value(match: re.Match) -> str:
    dashes, name, space, _ = match.groups()
    return f"{dashes}{name}{space}{HIDDEN}" if names_a_secret(name) else match.group(0)


def mask_text(text: str) -> str:
    """Free text with URL user information and the values of secret-like settings hidden."""
    if not text:
        return text
    text = _URL_USERINFO.sub(_hide_userinfo, text) if "://" in text else text
    if ":" in text or "=" in text:
        text = _hide_assignments(text)
    return _FLAG_VALUE.sub(_hide_flag_value, text) if "-" in text else text


# --- structures -------------------------------------------------------------------------------

# Keys whose string is always a YAML document: one that no longer parses is not shown, since it
# would otherwise be printed raw, passwords and all.
DOCUMENT_KEYS = {"serveConfigV2"}


def redact(value: Any, path: tuple = (), kind: str = "") -> Any:
    """`value` as it may be printed: secret leaves become (hidden), and so does a string that
    holds a YAML/JSON document with a secret inside; other strings go through mask_text. A list
    of arguments hides the value after a secret-like flag (["--api-key", "…"]). Keys and names stay."""
    if isinstance(value, dict):
        return {key: redact(item, path + (key,), kind) for key, item in value.items()}
    if isinstance(value, list):
        out = []
        for i, item in enumerate(value):
            flag = _FLAG.match(value[i - 1]) if i and isinstance(value[i - 1], str) else None
            if flag and names_a_secret(flag.group(1)) and not isinstance(item, (dict, list)):
                out.append(HIDDEN)
            else:
                out.append(redact(item, path + (item_step(item, i),), kind))
        return out
    if is_secret_path(path, kind):
        return HIDDEN
    if isinstance(value, str):
        always = bool(path) and path[-1] in DOCUMENT_KEYS
        document = parse_embedded(value, always=always)
        if document is None and always and value.strip():
            return f"({len(value.splitlines())} lines, not valid YAML: not shown)"
        if document is not None and redact(document, path + (EMBEDDED,), kind) != document:
            return HIDDEN
        return mask_text(value)
    return value


def parse_embedded(text: str, always: bool = False) -> dict | list | None:
    """The mapping or list a string holds as YAML or JSON, or None for ordinary text. Unless
    `always`, only multi-line strings and {…}/[…] are tried, so a one-line "a: b" stays a string.
    A string past the YAML bounds (raygitops.yamlbounds) is ordinary text too."""
    stripped = text.strip()
    if not (always or "\n" in stripped or stripped[:1] in ("{", "[")):
        return None
    try:
        document = load_text(text, "(embedded)")
    except UserError:
        return None
    return document if isinstance(document, (dict, list)) else None


def mask_yaml_text(text: str, label: str, kind: str = "") -> str:
    """A YAML file's text with every secret scalar replaced in place (comments and layout kept),
    for printing a diff of it. Raises UserError (raygitops.errors) when the text is past the bounds
    or not YAML: then it must not be printed at all."""
    nodes, documents = load_documents(text, label)
    spans: list[tuple[int, int, str]] = []

    def walk(node: Any, path: tuple, kind: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, item in node.value:
                walk(item, path + (key.value if isinstance(key, yaml.ScalarNode) else "?",), kind)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                name = next((v.value for k, v in item.value if k.value == "name" and isinstance(v, yaml.ScalarNode)),
                            None) if isinstance(item, yaml.MappingNode) else None
                walk(item, path + (Named(name) if name is not None else Index(i),), kind)
        elif isinstance(node, yaml.ScalarNode):
            masked = redact(node.value, path, kind)
            if masked != node.value:
                spans.append((node.start_mark.index, node.end_mark.index,
                              HIDDEN if masked == HIDDEN else json.dumps(masked, ensure_ascii=False)))

    for node, document in zip(nodes, documents):
        walk(node, (), document.get("kind", kind) if isinstance(document, dict) else kind)
    out, done = [], 0
    for start, end, replacement in sorted(spans):
        out += [text[done:start], replacement]
        done = end
    return "".join(out) + text[done:]


# --- values in messages -----------------------------------------------------------------------

def describe(value: Any) -> str:
    """A value's type and length, never its content: 'an integer of 7 digits'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return f"an integer of {_count(len(str(abs(value))), 'digit')}"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return f"a string of {_count(len(value), 'character')}"
    if isinstance(value, dict):
        return f"a mapping of {_count(len(value), 'key')}"
    if isinstance(value, list):
        return f"a list of {_count(len(value), 'item')}"
    return f"a {type(value).__name__}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def shown(value: Any, secret: bool = False, limit: int = 60) -> str:
    """A value for a one-line message: its type and length when secret, else a short rendering
    (structures as JSON) with secret-like keys, URL user information and settings hidden."""
    if secret or not isinstance(value, (str, int, float, bool, type(None), dict, list)):
        return describe(value)
    if isinstance(value, str):
        text = mask_text(value)
        return printable(repr(text if len(text) <= limit else text[:limit] + "…"))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (dict, list)):
        try:
            text = json.dumps(json_safe(redact(value)), sort_keys=True, default=str, allow_nan=False)
        except (TypeError, ValueError):
            return describe(value)
        if len(text) > limit:
            text = text[:limit] + "…" + ("}" if isinstance(value, dict) else "]")
        return printable(text)
    return json.dumps(value)


# Control and format characters (terminal escapes, bidi overrides) and lone surrogates.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str, keep_newlines: bool = False) -> str:
    """`text` safe for a terminal, a CI log or XML: control and format characters as \\xNN or \\uNNNN."""
    def escape(match: re.Match) -> str:
        char = match.group()
        if keep_newlines and char == "\n":
            return char
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    return _UNPRINTABLE.sub(escape, text) if _UNPRINTABLE.search(text) else text


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities as the strings YAML writes for them: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value
