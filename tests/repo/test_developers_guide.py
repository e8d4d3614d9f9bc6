"""DEVELOPERS.md names every module of the package, so the map a newcomer reads stays the territory.

    tools/test tests/repo/test_developers_guide.py
"""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "tools" / "raygitops"


def test_every_module_is_in_the_developers_guide():
    guide = (REPO / "DEVELOPERS.md").read_text()
    named = set(re.findall(r"`([\w/]+\.py)`", guide))
    named |= {m.replace("policy_*.py", "") for m in named}
    modules = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                     if p.name not in ("__init__.py", "__main__.py") and not p.relative_to(PACKAGE).as_posix().startswith("cli/"))
    missing = [m for m in modules if m not in named and not (m.startswith("checks/policy_") and "checks/policy_*.py" in guide)]
    assert missing == [], f"add these to DEVELOPERS.md's module table: {missing}"
