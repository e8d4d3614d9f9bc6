"""Output formats for findings and for diffs."""
