"""Output formats for findings and for diffs."""


def plural(count: int, word: str) -> str:
    """"1 change", "2 changes": the count and its noun, as every report writes them."""
    return f"{count} {word}{'' if count == 1 else 's'}"
