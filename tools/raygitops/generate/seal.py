"""Seals on generated files: what they were made from (Inputs) and what they hold (Outputs), so that
`tools/regen --check` can tell "up to date" from hashes alone, without importing Ray or running `serve build`.

    text = header + inputs_line(digest) + outputs_line(seal_of(others, body)) + body
    is_sealed(text_bytes, digest, others)   # True: made from these inputs, and nothing was edited since

The Outputs seal covers the sealed file's own body and every other file it vouches for (by name and
content), so a hand edit, a removed file or an extra file breaks it. Only a mismatch costs a real
rebuild, which then shows the diff.
"""
from __future__ import annotations

import hashlib

# What regen writes for the same inputs: bump it when the generated output changes shape, so that
# every seal breaks and `tools/regen --check` asks for a regeneration.
GENERATOR_VERSION = "2"
INPUTS_LINE = "# Inputs: {digest}\n"
OUTPUTS_LINE = "# Outputs: {digest}\n"


def digest_of(*parts: bytes) -> str:
    digest = hashlib.sha256(GENERATOR_VERSION.encode())
    for part in parts:
        digest.update(b"\0" + hashlib.sha256(part).digest())
    return "sha256:" + digest.hexdigest()[:16]


def seal_of(others: dict[str, bytes], body: bytes) -> str:
    return digest_of(body, *(name.encode() + b"\0" + content for name, content in sorted(others.items())))


def seal_lines(inputs_digest: str, others: dict[str, bytes], body: str) -> str:
    """The two lines that go right after the generated-file header."""
    return (INPUTS_LINE.format(digest=inputs_digest)
            + OUTPUTS_LINE.format(digest=seal_of(others, body.encode())))


def is_sealed(text: bytes, inputs_digest: str, others: dict[str, bytes]) -> bool:
    """The file's second and third lines hold these inputs and the seal of its body and the others."""
    lines = text.split(b"\n", 3)
    if len(lines) < 4:
        return False
    inputs, outputs, body = lines[1] + b"\n", lines[2] + b"\n", lines[3]
    return (inputs == INPUTS_LINE.format(digest=inputs_digest).encode()
            and outputs == OUTPUTS_LINE.format(digest=seal_of(others, body)).encode())
