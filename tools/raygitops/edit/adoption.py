"""What `raygitops import` makes of one RayService: the edit, the report, and the changes it makes on purpose.

    adoption = Adoption("search", source); adoption.intend("rayVersion$", "versions.ray pins it")
    classify(changes, adoption.intended)   # edit/adoptcheck.py: every other difference is a bug
"""
from __future__ import annotations

from dataclasses import dataclass, field

from raygitops.edit.transaction import Edit


@dataclass
class Adoption:
    env: str
    source: dict                  # the input RayService, as read
    edit: Edit = field(default_factory=Edit)
    intended: list[tuple[str, str, tuple]] = field(default_factory=list)   # (regex on a diff path, why, kinds)
    report: list[str] = field(default_factory=list)

    def intend(self, pattern: str, reason: str, kinds: tuple = ()) -> None:
        """A change the import makes on purpose; `kinds` limits it (e.g. to "added"), empty means any."""
        self.intended.append((pattern, reason, kinds))
