"""Where a local run keeps its state: .run/<env>/, its state file, and the tag on its processes.

    run = RunDir.of(root, "staging"); write_state(run, {...}); read_state(run)
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from raygitops.errors import UserError
from raygitops.local.db import reachable_by_other_users
from raygitops.model.environment import Environment, environment_of as environment_at

RUN_DIR = ".run"
STATE_FILE = "state.json"
# Every process tools/up starts (Ray's, Postgres') inherits this variable: `down` and the tests
# find exactly ours by it, whatever the process renamed itself to (ray::ServeReplica:…).
TAG = "RAYGITOPS_RUN_DIR"
# Ray's plasma socket is <temp>/session_<date>_<time>_<usec>_<pid>/sockets/plasma_store and a
# unix socket path must fit in 107 bytes, which leaves about 45 for the temp dir.
RAY_TEMP_DIR_MAX = 45
LOCAL_HOST = "127.0.0.1"
RAY_START_TIMEOUT_S = 120
REUSED_RAY_TIMEOUT_S = 15


# --- where a run keeps its state ----------------------------------------------------------------

@dataclass(frozen=True)
class RunDir:
    """<repo>/.run/<env>/: state.json, the local secret, the SQLite file, logs. Ray's temp dir and
    Postgres' data go there too unless the path is too long for unix sockets (or, as root, not
    reachable by the postgres user); then under a short /tmp directory named by its hash."""
    root: Path
    env: str

    @property
    def path(self) -> Path:
        return self.root / RUN_DIR / self.env

    @property
    def label(self) -> str:
        return f"{RUN_DIR}/{self.env}"

    @property
    def overlay_label(self) -> str:
        return Environment(self.root, self.env).rel

    @property
    def tag_env(self) -> dict[str, str]:
        return {TAG: str(self.path)}

    def scratch(self) -> Path:
        digest = sha256(str(self.path).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"raygitops-{digest}"

    def ray_temp_dir(self) -> Path:
        inside = self.path / "ray"
        return inside if len(str(inside)) <= RAY_TEMP_DIR_MAX else self.scratch() / "ray"

    def pg_dir(self) -> Path:
        inside = self.path / "postgres"
        socket_path = inside / "data" / ".s.PGSQL.65535"
        usable = len(str(socket_path)) <= 100 and (os.geteuid() != 0 or reachable_by_other_users(self.root))
        return inside if usable else self.scratch() / "postgres"

    def ensure(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if self.ray_temp_dir().parent == self.scratch() or self.pg_dir().parent == self.scratch():
            self.scratch().mkdir(mode=0o755, exist_ok=True)
            self.scratch().chmod(0o755)  # the postgres user must traverse it when we are root


def read_state(run: RunDir) -> dict | None:
    try:
        return json.loads((run.path / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def write_state(run: RunDir, state: dict) -> None:
    run.path.mkdir(parents=True, exist_ok=True)
    tmp = run.path / f"{STATE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    tmp.replace(run.path / STATE_FILE)


def remove_state(run: RunDir) -> None:
    (run.path / STATE_FILE).unlink(missing_ok=True)


def environment_of(root: Path, overlay: Path) -> str:
    """`overlays/<env>` → env; anything else is a UserError."""
    candidates = [overlay if overlay.is_absolute() else Path.cwd() / overlay, root / overlay]
    for candidate in candidates:
        env = environment_at(candidate, root)
        if env is not None and candidate.is_dir() and candidate.resolve() == env.overlay.resolve():
            return env.name
    raise UserError(f"not an environment overlay: {overlay}", fix="give overlays/<env>, e.g. tools/up overlays/dev")
