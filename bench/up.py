"""bench/up: `tools/up --check overlays/dev` until every smoke request is answered, against a bare
`ray start --head` + `serve deploy` of the same rendered, locally substituted config + polling until
RUNNING, in the same run.

    bench/up                 # 2 rounds, alternating; medians and the ratio (target ≤ 1.25)
    bench/up --rounds 3
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from _common import REPO, VENV_BIN, print_ratio

sys.path.insert(0, str(REPO / "tools"))
from raygitops.config import load_config  # noqa: E402
from raygitops.local.inputs import rendered_serve_config  # noqa: E402
from raygitops.local.localize import localize  # noqa: E402
from raygitops.local.processes import become_subreaper, free_ports, reap_children  # noqa: E402
from raygitops.local.rayhead import stop_ray  # noqa: E402
from raygitops.local.rundir import RunDir  # noqa: E402
from raygitops.local.servestatus import Dashboard  # noqa: E402

OVERLAY = "overlays/dev"
DONE_LINE = "smoke: "     # tools/up prints it once every smoke request has been answered
TARGET = 1.25


def time_tools_up() -> float:
    """Seconds from launching tools/up to its 'smoke: N of N requests answered' line."""
    (port,) = free_ports(1)
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "raygitops", "up", "--check", OVERLAY, "--port", str(port)],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answered = None
    for line in process.stdout:
        if line.startswith(DONE_LINE) and answered is None:
            answered = time.perf_counter() - start
    stderr = process.stderr.read()
    if process.wait() != 0 or answered is None:
        raise SystemExit(f"tools/up --check {OVERLAY} failed ({process.returncode}): {stderr[-2000:]}")
    return answered


def baseline_config(port: int) -> dict:
    """The config tools/up deploys: the rendered serveConfigV2 with the same local substitutions."""
    config = load_config(REPO)
    run = RunDir(REPO, "bench-baseline")
    run.path.mkdir(parents=True, exist_ok=True)
    local = localize(rendered_serve_config(REPO, OVERLAY), root=REPO, run=run, working_dir_url=config.working_dir_url,
                     serve_port=port, pg_port=0, ray_is_ours=True, secret=lambda: "")
    return local.config


def time_bare_ray(config_file: Path) -> float:
    """ray start --head (the same options tools/up passes) + serve deploy + poll until RUNNING."""
    gcs, dashboard, client, agent = free_ports(4)
    temp_dir = Path(tempfile.mkdtemp(prefix="rgo-bench-", dir="/tmp"))
    address = f"http://127.0.0.1:{dashboard}"
    names = [app["name"] for app in yaml.safe_load(config_file.read_text())["applications"]]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    since = time.time()
    start = time.perf_counter()
    ray = subprocess.Popen([str(VENV_BIN / "ray"), "start", "--head", f"--temp-dir={temp_dir}",
                            f"--port={gcs}", "--dashboard-host=127.0.0.1",
                            f"--dashboard-port={dashboard}", f"--ray-client-server-port={client}",
                            f"--dashboard-agent-listen-port={agent}", "--num-cpus=4", "--disable-usage-stats"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                           start_new_session=True)
    try:
        if ray.wait() != 0:
            raise SystemExit(f"ray start failed: {ray.stderr.read()[-2000:]}")
        subprocess.run([str(VENV_BIN / "serve"), "deploy", str(config_file), "--address", address],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        api = Dashboard(address)
        while True:
            apps = api.status().get("applications") or {}
            if all((apps.get(n) or {}).get("status") == "RUNNING" for n in names):
                return time.perf_counter() - start
            time.sleep(0.5)
    finally:
        # Not `ray stop`: that stops every Ray on the machine, other people's included.
        stop_ray(ray.pid, since)
        reap_children()
        shutil.rmtree(temp_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    become_subreaper()
    with tempfile.TemporaryDirectory() as tmp:
        (port,) = free_ports(1)
        config_file = Path(tmp) / "serve-config.yaml"
        config_file.write_text(yaml.safe_dump(baseline_config(port), sort_keys=False))
        ours, bare = [], []
        for round_ in range(args.rounds):
            # Alternating, so that a neighbour's load hits both sides alike.
            bare.append(time_bare_ray(config_file))
            ours.append(time_tools_up())
            print(f"round {round_ + 1}: tools/up {ours[-1]:.2f} s, bare {bare[-1]:.2f} s", flush=True)
    shutil.rmtree(REPO / ".run" / "bench-baseline", ignore_errors=True)
    print_ratio(f"tools/up --check {OVERLAY} (to all smoke requests answered)", statistics.median(ours),
                "ray start + serve deploy + poll until RUNNING", statistics.median(bare), TARGET)


if __name__ == "__main__":
    main()
