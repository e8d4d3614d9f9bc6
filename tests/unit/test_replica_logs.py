"""local/replicalogs.py on a local Ray's log directory: which file's tail tools/up prints when a deployment fails.

    .venv/bin/pytest tests/unit/test_replica_logs.py -q
The same through a Ray's dashboard (--address): tests/e2e/test_up.py, the detached dev Ray.
"""
from __future__ import annotations

import os
from pathlib import Path

from raygitops.local.replicalogs import ReplicaLogs
from raygitops.local.servestatus import Console


def log(temp: Path, name: str, text: str, age: int) -> Path:
    path = temp / "session_latest" / "logs" / "serve" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (1_000_000 - age, 1_000_000 - age))
    return path


def status(log_file_path: str | None) -> dict:
    replicas = [{"log_file_path": log_file_path}] if log_file_path else []
    return {"text_stats": {"deployments": {"TextStats": {"replicas": replicas}}}}


def test_a_listed_replica_names_its_own_file(tmp_path):
    log(tmp_path, "replica_text_stats_TextStats_newer.log", "", age=1)
    listed = log(tmp_path, "replica_text_stats_TextStats_listed.log", "", age=9)
    found = ReplicaLogs(tmp_path).find(status("/serve/replica_text_stats_TextStats_listed.log"), "text_stats", "TextStats")
    assert found == listed


def test_a_replica_that_died_in_init_is_found_by_its_newest_file(tmp_path):
    log(tmp_path, "replica_text_stats_TextStats_first.log", "", age=9)
    newest = log(tmp_path, "replica_text_stats_TextStats_third.log", "", age=1)
    log(tmp_path, "replica_language_LanguageGuesser_x.log", "", age=0)
    assert ReplicaLogs(tmp_path).find(status(None), "text_stats", "TextStats") == newest


def test_without_a_replica_file_the_controller_log_speaks(tmp_path):
    controller = log(tmp_path, "controller_123.log", "", age=5)
    assert ReplicaLogs(tmp_path).find(status(None), "text_stats", "TextStats") == controller
    assert ReplicaLogs(None).find(status(None), "text_stats", "TextStats") is None   # a Ray it did not start


def test_the_tail_is_printed_to_stderr_without_colour(tmp_path, capsys):
    lines = [f"line {n}" for n in range(40)] + ["\x1b[31mRuntimeError: broken on purpose\x1b[0m"]
    path = log(tmp_path, "replica_text_stats_TextStats_a.log", "\n".join(lines) + "\n", age=1)
    where = ReplicaLogs(tmp_path).show_tail(Console(), status(None), "text_stats", "TextStats", lines=3)
    err = capsys.readouterr().err.splitlines()
    assert where == str(path)
    assert err == [f"last lines of {path}:", "  | line 38", "  | line 39", "  | RuntimeError: broken on purpose"]


def test_an_app_level_failure_looks_for_the_app_name(tmp_path):
    found = log(tmp_path, "replica_text_stats_TextStats_a.log", "", age=1)
    assert ReplicaLogs(tmp_path).find({}, "text_stats", None) == found
