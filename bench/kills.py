"""bench/kills: SIGKILL a writer of generated files at random moments, 100 times; every kill must leave
whole files, and after the next command's recovery exactly one generation and no temporary file.

    bench/kills            # prints "kill safety: 100/100 ..."
    bench/kills 300        # more kills
"""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO

TOOLS = str(REPO / "tools")
NAMES = [f"overlays/env{i}/generated/file{j}.yaml" for i in range(6) for j in range(4)]
SIZE = 200_000
WRITER = """
import sys
sys.path.insert(0, {tools!r})
from pathlib import Path
from raygitops.generate.writes import write_generated
root, names = Path({root!r}), {names!r}
print("ready", flush=True)
round = 0
while True:
    round += 1
    tag = b"A" if round % 2 else b"B"
    write_generated(root, {{n: tag * {size} + n.encode() for n in names}})
"""


def states(root: Path) -> set[bytes]:
    """Each file's generation (A or B), or b"partial" for a torn file."""
    out = set()
    for path in root.glob("overlays/*/generated/*.yaml"):
        data = path.read_bytes()
        out.add(data[:1] if data[:SIZE] == data[:1] * SIZE and len(data) > SIZE else b"partial")
    return out


def main(kills: int) -> int:
    sys.path.insert(0, TOOLS)
    from raygitops.generate.writes import recover_interrupted_write, write_generated
    rng = random.Random(12)
    good = 0
    with tempfile.TemporaryDirectory(prefix="raygitops-kills-") as tmp:
        root = Path(tmp)
        (root / "base").mkdir()
        write_generated(root, {n: b"B" * SIZE + n.encode() for n in NAMES})
        for attempt in range(kills):
            writer = WRITER.format(tools=TOOLS, root=tmp, names=NAMES, size=SIZE)
            process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
            process.stdout.readline()
            time.sleep(rng.uniform(0.0, 0.4))
            process.send_signal(signal.SIGKILL)
            process.wait()
            torn = b"partial" in states(root)
            recover_interrupted_write(root)
            whole = len(states(root)) == 1 and not list(root.rglob("*.regen-tmp"))
            if whole and not torn:
                good += 1
            else:
                print(f"kill {attempt + 1}: {'a torn file' if torn else 'a mixed set or temp files after recovery'}")
    print(f"kill safety: {good}/{kills} random kills left whole files and, after recovery, one generation")
    return 0 if good == kills else 1


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
