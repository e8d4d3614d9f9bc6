"""A Serve replica's log, for the tail tools/up prints when a deployment fails: from the files of a Ray
that tools/up started, or through the dashboard of one it was given (--address).

    logs = ReplicaLogs(temp_dir) if temp_dir else DashboardReplicaLogs(dashboard)
    where = logs.show_tail(console, apps, "text_stats", "TextStats")   # printed to stderr; None: no log found
"""
from __future__ import annotations

from pathlib import Path

from raygitops.local.servestatus import ANSI, Console, Dashboard

TAIL_LINES = 15


class ReplicaLogs:
    """Serve's log files of a local Ray: <temp>/session_latest/logs/serve/."""

    def __init__(self, temp_dir: Path | None):
        self.dir = temp_dir / "session_latest" / "logs" if temp_dir else None

    def find(self, apps: dict, app: str, deployment: str | None) -> Path | None:
        if self.dir is None:
            return None
        for replica in _replicas(apps, app, deployment):
            path = self.dir / str(replica.get("log_file_path", "")).lstrip("/")
            if replica.get("log_file_path") and path.is_file():
                return path
        # Replicas that died in __init__ are no longer listed; their files remain.
        pattern = f"replica_{app}_{deployment}_*.log" if deployment else f"*{app}*.log"
        candidates = sorted((self.dir / "serve").glob(pattern), key=lambda p: p.stat().st_mtime)
        candidates = candidates or sorted((self.dir / "serve").glob("controller_*.log"),
                                          key=lambda p: p.stat().st_mtime)
        return candidates[-1] if candidates else None

    def show_tail(self, console: Console, apps: dict, app: str, deployment: str | None,
                  lines: int = TAIL_LINES) -> str | None:
        """Print the last lines of the replica's log; returns the log's path for the message."""
        path = self.find(apps, app, deployment)
        if path is None:
            return None
        _print_tail(console, str(path), path.read_text(errors="replace").splitlines()[-lines:])
        return str(path)


class DashboardReplicaLogs:
    """The same files through the dashboard's State API, for a Ray that tools/up did not start: its
    files may be on other machines. GET /api/v0/logs?node_id=…&glob=… lists a node's files and
    /api/v0/logs/file?node_id=…&filename=…&lines=N returns a tail (ray 2.46.0,
    python/ray/dashboard/modules/state/state_head.py list_logs and get_logs)."""

    def __init__(self, dashboard: Dashboard):
        self.dashboard = dashboard

    def find(self, apps: dict, app: str, deployment: str | None) -> tuple[str, str] | None:
        """(node id, file name relative to that node's log directory)."""
        for replica in _replicas(apps, app, deployment):
            if replica.get("log_file_path") and replica.get("node_id"):
                return replica["node_id"], str(replica["log_file_path"]).lstrip("/")
        # Replicas that died in __init__ are no longer listed: ask each node for their files.
        pattern = f"serve/replica_{app}_{deployment}_*" if deployment else f"serve/*{app}*"
        for node_id in self._alive_nodes():
            listed = self._get("/api/v0/logs", node_id=node_id, glob=pattern)
            names = sorted(name for group in (listed or {}).values() for name in group)
            if names:
                return node_id, names[-1]
        return None

    def show_tail(self, console: Console, apps: dict, app: str, deployment: str | None,
                  lines: int = TAIL_LINES) -> str | None:
        import requests
        found = self.find(apps, app, deployment)
        if found is None:
            return None
        node_id, name = found
        try:
            response = self.dashboard.http.get(f"{self.dashboard.url}/api/v0/logs/file", timeout=30,
                                               params={"node_id": node_id, "filename": name, "lines": lines})
        except requests.RequestException:
            return None
        if response.status_code != 200:
            return None
        where = f"{name} on node {node_id[:8]} of the Ray at {self.dashboard.url}"
        _print_tail(console, where, response.text.splitlines()[-lines:])
        return where

    def _alive_nodes(self) -> list[str]:
        nodes = self._get("/api/v0/nodes") or {}
        return [node["node_id"] for node in nodes.get("result") or [] if node.get("state") == "ALIVE"]

    def _get(self, path: str, **params) -> dict | None:
        """The State API's data.result, or None when it did not answer with one."""
        import requests
        try:
            reply = self.dashboard.http.get(f"{self.dashboard.url}{path}", params=params, timeout=30).json()
        except (requests.RequestException, ValueError):
            return None
        if not isinstance(reply, dict) or not reply.get("result"):
            return None
        result = (reply.get("data") or {}).get("result")
        return result if isinstance(result, dict) else None


# Either kind: what wait_until_running and the smoke step are given.
AnyReplicaLogs = ReplicaLogs | DashboardReplicaLogs


def _replicas(apps: dict, app: str, deployment: str | None) -> list[dict]:
    details = ((apps.get(app) or {}).get("deployments") or {}).get(deployment or "", {})
    return details.get("replicas") or []


def _print_tail(console: Console, where: str, tail: list[str]) -> None:
    console.err(f"last lines of {where}:")
    for line in tail:
        console.err(f"  | {ANSI.sub('', line)[:300]}")
