"""The one kind of error a user sees: what is wrong, where, and how to fix it.

    raise UserError("unknown deployment 'Sumarizer'", file="overlays/dev/serve.yaml", line=7,
                    fix="use one of: Summarizer, Gateway")
"""
from __future__ import annotations

# The exit-code contract of every command (raygitops.cli).
EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_FAILURE = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Bad input or a failing external tool, reported as one line and a non-zero exit."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 fix: str | None = None, exit_code: int = EXIT_FAILURE):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.fix = fix
        self.exit_code = exit_code

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        fix = f" — {self.fix}" if self.fix else ""
        return f"{where}{self.message}{fix}"
