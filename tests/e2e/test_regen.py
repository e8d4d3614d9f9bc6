"""tools/regen: real `serve build`, real kustomize, real files."""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import overlays, overlays_with_component, run_tool
from raygitops.config import load_config
from raygitops.generate.aana_apps import serve_apps
from raygitops.generate.serve_schema import serve_build_entry

TOOLS = str(Path(__file__).resolve().parents[2] / "tools")

ENVIRONMENTS = overlays()                                # every overlays/<env>
POSTGRES_ENVIRONMENTS = overlays_with_component("postgres")   # those listing base/components/postgres


def kustomize(path: Path) -> list[dict]:
    out = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def rayservice(resources: list[dict]) -> dict:
    [service] = [r for r in resources if r["kind"] == "RayService"]
    return service


def serve_config(service: dict) -> dict:
    return yaml.safe_load(service["spec"]["serveConfigV2"])


def generated_files(root: Path) -> dict[str, bytes]:
    """The generated files, without the temporary files a killed run may leave (the next run sweeps them)."""
    paths = list(root.glob("overlays/*/generated/*")) + list(root.glob("base/generated/*"))
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(paths) if not p.name.endswith(".regen-tmp")}


def test_committed_files_are_up_to_date(repo):
    result = run_tool(repo, "regen", "--check")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_overlay_renders_a_consistent_rayservice(repo, env):
    pin = yaml.safe_load((repo / "raygitops.yaml").read_text())["versions"]["ray"]
    service = rayservice(kustomize(repo / "overlays" / env))
    cluster = service["spec"]["rayClusterConfig"]
    assert service["metadata"]["namespace"] == f"aana-{env}"
    assert cluster["rayVersion"] == pin
    images = [c["image"] for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
              for c in group["template"]["spec"]["containers"]]
    assert images and all(image.startswith(f"rayproject/ray:{pin}-") for image in images)

    config = serve_config(service)
    from ray.serve.schema import ServeDeploySchema   # here, not at the top: collecting the unit tier imports no Ray
    ServeDeploySchema.parse_obj(config)  # raises on anything Ray would reject
    names = [app["name"] for app in config["applications"]]
    # echo_aana's apps (Aana's names: its deployments, then the app itself) stand where raygitops.yaml lists it.
    assert names[:4] == ["text_stats", "language", "embedding", "notes"] and names[-2:] == ["echo_aana", "main"]
    assert "echo_deployment" in names
    routes = [app["route_prefix"] for app in config["applications"]]
    assert len(set(routes)) == len(routes)
    assert {"/text_stats", "/language", "/embedding", "/notes", "/echo_aana", "/echo_deployment", "/"} <= set(routes)
    db = json.loads(config["applications"][0]["runtime_env"]["env_vars"]["DB_CONFIG"])
    assert db["datastore_type"] == ("postgresql" if env in POSTGRES_ENVIRONMENTS else "sqlite")
    assert "password" not in db["datastore_config"]


def test_dev_uses_sqlite_and_staging_and_prod_postgres():
    assert "dev" in ENVIRONMENTS and "dev" not in POSTGRES_ENVIRONMENTS
    assert {"staging", "prod"} <= set(POSTGRES_ENVIRONMENTS)


@pytest.mark.parametrize("env", POSTGRES_ENVIRONMENTS)
def test_postgres_password_comes_from_the_external_secret(repo, env):
    resources = kustomize(repo / "overlays" / env)
    assert not [r for r in resources if r["kind"] == "Secret"]
    # aana-db; staging and prod also have aana-redis (base/components/gcs-ft, GCS fault tolerance)
    [external] = [r for r in resources if r["kind"] == "ExternalSecret" and r["metadata"]["name"] == "aana-db"]
    secret_name = external["spec"]["target"]["name"]
    cluster = rayservice(resources)["spec"]["rayClusterConfig"]
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        env_vars = {e["name"]: e for e in group["template"]["spec"]["containers"][0].get("env", [])}
        ref = env_vars["DB_CONFIG__DATASTORE_CONFIG__PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret_name


def test_no_password_literal_anywhere_in_the_repository(repo):
    tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True).stdout.split()
    for rel in tracked:
        if not rel.endswith((".yaml", ".yml", ".json", ".toml", ".md")):
            continue
        text = (repo / rel).read_text(errors="replace")
        assert '"password":"' not in text.replace(" ", ""), rel
        for line in text.splitlines():
            stripped = line.strip().lower()
            if stripped.startswith("password:") and not rel.startswith("tests/"):
                assert stripped in ("password:",), f"{rel}: {line}"


def test_prod_has_gpu_group_last_and_shared_volume(repo):
    resources = kustomize(repo / "overlays" / "prod")
    cluster = rayservice(resources)["spec"]["rayClusterConfig"]
    assert [g["groupName"] for g in cluster["workerGroupSpecs"]] == ["cpu-workers", "gpu-workers"]
    gpu = cluster["workerGroupSpecs"][1]["template"]["spec"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu["containers"][0]["image"].endswith("-gpu")
    assert any(t.get("key") == "nvidia.com/gpu" for t in gpu["tolerations"])
    [pvc] = [r for r in resources if r["kind"] == "PersistentVolumeClaim"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        mounts = group["template"]["spec"]["containers"][0]["volumeMounts"]
        assert {"name": "aana-data", "mountPath": "/mnt/aana-data"} in mounts
    env_vars = serve_config(rayservice(resources))["applications"][0]["runtime_env"]["env_vars"]
    assert env_vars["TMP_DATA_DIR"] == "/mnt/aana-data"


def test_override_change_reaches_the_rendered_string_and_check_catches_staleness(repo_copy):
    serve_yaml = repo_copy / "overlays" / "dev" / "serve.yaml"
    serve_yaml.write_text(serve_yaml.read_text().replace("num_replicas: 1", "num_replicas: 3"))
    stale = run_tool(repo_copy, "regen", "--check")
    assert stale.returncode == 1
    assert "stale: overlays/dev/generated/serve-config.yaml" in stale.stderr
    assert "+    num_replicas: 3" in stale.stderr  # a unified diff of what would change
    assert "Traceback" not in stale.stderr

    assert run_tool(repo_copy, "regen").returncode == 0
    config = serve_config(rayservice(kustomize(repo_copy / "overlays" / "dev")))
    [main] = [a for a in config["applications"] if a["name"] == "main"]
    assert main["deployments"][0]["num_replicas"] == 3
    assert run_tool(repo_copy, "regen", "--check").returncode == 0


def test_check_catches_hand_edited_generated_file_and_code_change(repo_copy):
    generated = repo_copy / "overlays" / "staging" / "generated" / "serve-config.yaml"
    generated.write_text(generated.read_text().replace("num_replicas: 2", "num_replicas: 7", 1))
    result = run_tool(repo_copy, "regen", "--check")
    assert result.returncode == 1 and "overlays/staging/generated/serve-config.yaml" in result.stderr

    run_tool(repo_copy, "regen")
    (repo_copy / "apps" / "text_stats.py").write_text((repo_copy / "apps" / "text_stats.py").read_text() + "\n# changed\n")
    result = run_tool(repo_copy, "regen", "--check")
    assert result.returncode == 1 and "working_dir" in result.stderr  # the zip hash moved


def test_check_reports_a_version_pin_mismatch(repo_copy):
    pyproject = repo_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("ray[serve]==2.46.0", "ray[serve]==2.45.0"))
    result = run_tool(repo_copy, "regen", "--check")
    assert result.returncode == 1
    assert "pyproject.toml pins ray[serve]==2.45.0 but raygitops.yaml versions.ray is 2.46.0" in result.stderr


def test_output_is_byte_identical_across_runs_and_hash_seeds(repo_copy, tmp_path):
    first = run_tool(repo_copy, "regen", env={"PYTHONHASHSEED": "1"})
    assert first.returncode == 0, first.stderr
    before = generated_files(repo_copy)
    zip_before = sorted((repo_copy / "build" / "working_dir").glob("*.zip"))
    for path in repo_copy.glob("overlays/*/generated/*"):
        path.unlink()
    (repo_copy / "base" / "generated" / "kustomize-schema.yaml").unlink()
    second = run_tool(repo_copy, "regen", env={"PYTHONHASHSEED": "4242"})
    assert second.returncode == 0, second.stderr
    assert generated_files(repo_copy) == before
    assert sorted((repo_copy / "build" / "working_dir").glob("*.zip")) == zip_before
    for content in before.values():
        text = content.decode()
        assert str(repo_copy) not in text and str(Path.home()) not in text
        assert text.startswith("# Generated by tools/regen")


def test_committed_output_matches_a_fresh_copy(repo, repo_copy):
    """The repository's generated files are exactly what regen writes elsewhere: no paths, no clock."""
    run_tool(repo_copy, "regen")
    assert generated_files(repo_copy) == generated_files(repo)


# --- kill safety --------------------------------------------------------------------------

# Six environments of four files each, written by the killed writers below.
GENERATED_NAMES = [f"overlays/env{i}/generated/file{j}.yaml" for i in range(6) for j in range(4)]

_WRITER = """
import sys
sys.path.insert(0, {tools!r})
from pathlib import Path
from raygitops.generate.writes import write_generated
root = Path({root!r})
names = {names!r}
print("ready", flush=True)
round = 0
while True:
    round += 1
    tag = b"A" if round % 2 else b"B"
    write_generated(root, {{n: tag * 200_000 + n.encode() for n in names}})
"""


def _file_states(root: Path) -> set[bytes]:
    return {p.read_bytes()[:1] if p.read_bytes()[1:200_000] == p.read_bytes()[:1] * 199_999 else b"partial"
            for p in root.glob("overlays/*/generated/*.yaml")}


def test_killed_writes_never_leave_a_partial_or_mixed_set(tmp_path):
    """SIGKILL the writer at random moments: every file is whole, and after recovery the
    set is entirely one generation. The moments that matter most are pinned below."""
    from raygitops.generate.writes import recover_interrupted_write, write_generated
    rng = random.Random(7)
    (tmp_path / "base").mkdir()
    # A first generation exists before any kill, as the repository's committed files do.
    write_generated(tmp_path, {n: b"B" * 200_000 + n.encode() for n in GENERATED_NAMES})
    for attempt in range(25):
        writer = _WRITER.format(tools=TOOLS, root=str(tmp_path), names=GENERATED_NAMES)
        process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
        process.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.4))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert b"partial" not in _file_states(tmp_path)
        recover_interrupted_write(tmp_path)
        assert len(_file_states(tmp_path)) == 1, f"attempt {attempt}: mixed generations after recovery"
        assert not list(tmp_path.rglob("*.regen-tmp"))


# The second write of _WRITER (generation B over A) is 24 temp files, the journal (a temp file and its
# rename), 24 renames.
# The writer stops after `step` of those file operations; SIGKILL then lands exactly there.
_PAUSING_WRITER = """
import os, sys, time
sys.path.insert(0, {tools!r})
from pathlib import Path
from raygitops.generate import writes
root = Path({root!r})
names = {names!r}
writes.write_generated(root, {{n: b"A" * 200_000 + n.encode() for n in names}})
steps = 0
def counted(operation):
    def run(*args):
        global steps
        if steps == {step}:
            print("paused", flush=True)
            time.sleep(60)
        steps += 1
        return operation(*args)
    return run
writes._fsync_write = counted(writes._fsync_write)
writes.os.replace = counted(os.replace)
writes.write_generated(root, {{n: b"B" * 200_000 + n.encode() for n in names}})
print("paused", flush=True)
"""


@pytest.mark.parametrize("step, mixed_before, after", [
    (5, False, b"A"),    # among the temp files: the old set stands
    (24, False, b"A"),   # temp files done, journal not written
    (25, False, b"A"),   # journal written to its temp file, not in place
    (26, False, b"B"),   # journal in place, no rename yet: recovery rolls forward
    (27, True, b"B"),    # one file renamed
    (41, True, b"B"),
    (49, True, b"B"),    # one rename to go
    (50, False, b"B"),   # the write finished
])
def test_kill_at_each_stage_of_a_write_recovers_one_generation(tmp_path, step, mixed_before, after):
    from raygitops.generate.writes import recover_interrupted_write
    (tmp_path / "base").mkdir()
    writer = _PAUSING_WRITER.format(tools=TOOLS, root=str(tmp_path), names=GENERATED_NAMES, step=step)
    process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
    assert process.stdout.readline() == b"paused\n"
    process.send_signal(signal.SIGKILL)
    process.wait()
    states = _file_states(tmp_path)
    assert b"partial" not in states
    assert (len(states) > 1) == mixed_before, states
    recover_interrupted_write(tmp_path)
    assert _file_states(tmp_path) == {after}
    assert not list(tmp_path.rglob("*.regen-tmp"))


def test_killed_regen_leaves_old_or_new_files(repo_copy):
    old = generated_files(repo_copy)
    serve_yaml = repo_copy / "overlays" / "dev" / "serve.yaml"
    serve_yaml.write_text(serve_yaml.read_text().replace("num_replicas: 1", "num_replicas: 2"))
    env = dict(os.environ, RAYGITOPS_ROOT=str(repo_copy))
    snapshots = []
    for delay in (0.2, 0.6, 0.9, 1.1, 1.3, 1.6):
        process = subprocess.Popen([sys.executable, "-m", "raygitops", "regen"], cwd=repo_copy, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.kill()
        process.wait()
        snapshots.append(generated_files(repo_copy))
    result = run_tool(repo_copy, "regen")
    assert result.returncode == 0
    assert not list(repo_copy.rglob("*.regen-tmp"))
    new = generated_files(repo_copy)
    assert new["overlays/dev/generated/serve-config.yaml"] != old["overlays/dev/generated/serve-config.yaml"]
    for snapshot in snapshots:
        assert set(snapshot) == set(old)
        for rel, content in snapshot.items():
            assert content in (old[rel], new[rel]), rel
    assert run_tool(repo_copy, "regen", "--check").returncode == 0


def test_validate_reports_generated_files_older_than_their_inputs(repo_copy):
    """Kustomize renders the committed generated files, so a serve.yaml edit without regen
    would otherwise validate clean."""
    serve_yaml = repo_copy / "overlays" / "staging" / "serve.yaml"
    serve_yaml.write_text(serve_yaml.read_text().replace("num_replicas: 2", "num_replicas: 5", 1))
    result = run_tool(repo_copy, "validate")
    assert result.returncode == 1
    assert "overlays/staging: error regen-stale:" in result.stdout
    assert "overlays/dev: error regen-stale" not in result.stdout
    assert run_tool(repo_copy, "regen").returncode == 0
    assert run_tool(repo_copy, "validate").returncode == 0


def test_every_command_finishes_an_interrupted_write_before_reading(repo_copy):
    """A regen killed between its renames leaves a journal; render (like validate, up and diff)
    completes that write first instead of rendering a mix of two generations."""
    from raygitops.generate.regen import inputs_stamp
    from raygitops.generate.writes import JOURNAL
    rel = "overlays/dev/generated/serve-config.yaml"
    text = (repo_copy / rel).read_text()
    assert "num_replicas: 1" in text
    new = text.replace("num_replicas: 1", "num_replicas: 7", 1).encode()
    (repo_copy / (rel + ".regen-tmp")).write_bytes(new)
    stamp = inputs_stamp(repo_copy)   # the journal of a regen killed in this very checkout
    (repo_copy / JOURNAL).write_text(json.dumps({"commit": stamp.commit, "inputs": stamp.inputs, "remove": [],
                                                 "write": {rel: hashlib.sha256(new).hexdigest()}}))
    result = run_tool(repo_copy, "render", "overlays/dev")
    assert result.returncode == 0, result.stderr
    assert "note: finished the generated-file write of an interrupted tools/regen" in result.stderr
    assert "num_replicas: 7" in result.stdout
    assert not (repo_copy / JOURNAL).exists() and not list(repo_copy.rglob("*.regen-tmp"))



def test_serve_build_comes_from_the_user_cache(repo_copy, tmp_path, monkeypatch):
    """regen keeps `serve build`'s output in the user cache under the hash of its inputs, and uses it:
    a value planted in the entry reaches the generated config (tests/unit/test_serve_build_key.py: what moves the key)."""
    cache = tmp_path / "cache"
    shutil.copytree(os.environ["XDG_CACHE_HOME"], cache)   # the session's schemas and builds, then our own
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    env = {"XDG_CACHE_HOME": str(cache)}
    sealed = repo_copy / "overlays" / "dev" / "generated" / "kustomization.yaml"
    sealed.unlink()
    assert run_tool(repo_copy, "regen", env=env).returncode == 0
    config = load_config(repo_copy)
    entry = serve_build_entry(repo_copy, serve_apps(config), config.external_imports)
    built = json.loads(entry.read_text())
    [main] = [a for a in built["applications"] if a["name"] == "main"]
    main["deployments"][0]["max_ongoing_requests"] = 77   # what serve build would never say
    entry.write_text(json.dumps(built))

    sealed.unlink()
    assert run_tool(repo_copy, "regen", env=env).returncode == 0
    assert "max_ongoing_requests: 77" in (repo_copy / "overlays/dev/generated/serve-config.yaml").read_text()
