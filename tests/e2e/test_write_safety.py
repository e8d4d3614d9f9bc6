"""Writes never leave the repository, code outside apps/ never runs, renders are never stale, and
generations never mix (issue 12). Each test breaks a scratch copy of the repository on purpose.

    tools/test tests/e2e/test_write_safety.py
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import change_the_code, run_tool

TOOLS = str(Path(__file__).resolve().parents[2] / "tools")
DEV_SERVE = "overlays/dev/serve.yaml"


def generated(root: Path) -> dict[str, bytes]:
    paths = sorted(root.glob("overlays/*/generated/*")) + sorted(root.glob("base/generated/*"))
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in paths if not p.name.endswith(".regen-tmp")}


def leftovers(root: Path) -> list[Path]:
    """Temporary files and the journal: a failed or refused command leaves neither."""
    return list(root.rglob("*.regen-tmp")) + list(root.glob(".regen-journal.json"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def one_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert " — " in line, line   # every error carries its fix
    return line


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def git_init(root: Path) -> str:
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return git(root, "rev-parse", "HEAD")


# --- 1. writes that escape the repository -----------------------------------------------------------

@pytest.fixture
def linked_generated(repo_copy, tmp_path) -> Path:
    """overlays/dev/generated as a committed link to a directory elsewhere, which also holds an id_rsa."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(repo_copy / "overlays/dev/generated", elsewhere)
    (elsewhere / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    shutil.rmtree(repo_copy / "overlays/dev/generated")
    (repo_copy / "overlays/dev/generated").symlink_to(elsewhere)
    return elsewhere


def test_regen_refuses_a_generated_dir_that_links_out_and_touches_nothing(repo_copy, linked_generated):
    before, outside = generated(repo_copy), {p.name: p.read_bytes() for p in linked_generated.iterdir()}
    edit(repo_copy / DEV_SERVE, "num_replicas: 1", "num_replicas: 2")   # so there is something to write
    line = one_error(run_tool(repo_copy, "regen"))
    assert line.startswith(f"error: overlays/dev/generated: a symbolic link to {linked_generated}, outside the "
                           "repository")
    assert {p.name: p.read_bytes() for p in linked_generated.iterdir()} == outside   # id_rsa and the rest survive
    assert generated(repo_copy) == before and not leftovers(repo_copy)
    assert not (repo_copy / "build").exists()   # refused before the zip, too


def test_recovery_of_a_journal_never_follows_a_link_out(repo_copy, linked_generated):
    """A journal (say, committed by a pull request) naming a file behind the link: every command refuses."""
    (linked_generated / "serve-config.yaml.regen-tmp").write_text("replaced\n")
    outside = {p.name: p.read_bytes() for p in linked_generated.iterdir()}
    (repo_copy / ".regen-journal.json").write_text(json.dumps({
        "commit": "", "inputs": "", "remove": ["overlays/dev/generated/id_rsa"],
        "write": {"overlays/dev/generated/serve-config.yaml": hashlib.sha256(b"replaced\n").hexdigest()}}))
    line = one_error(run_tool(repo_copy, "render", "overlays/staging"))
    assert line.startswith("error: overlays/dev/generated: a symbolic link to ")
    assert {p.name: p.read_bytes() for p in linked_generated.iterdir()} == outside


def test_the_render_cache_is_not_written_through_a_link_out_of_run(cold_repo_copy, tmp_path):
    (cold_repo_copy / ".run").mkdir()
    (cold_repo_copy / ".run/render-cache").symlink_to(tmp_path, target_is_directory=True)
    line = one_error(run_tool(cold_repo_copy, "render", "overlays/dev"))
    assert line.startswith(f"error: .run/render-cache: a symbolic link to {tmp_path}, outside .run/")
    assert not list(tmp_path.glob("*.yaml"))


# --- 2. code and files from outside apps/ -------------------------------------------------------------

def _evil_module(repo_copy: Path, marker: Path) -> None:
    (repo_copy / "lib").mkdir()
    (repo_copy / "lib/evil.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
                                             "app = None\n")


@pytest.mark.parametrize("how", ["module outside apps", "link in apps"])
def test_an_import_path_outside_apps_is_refused_before_anything_is_imported(repo_copy, tmp_path, how):
    marker = tmp_path / "imported"
    _evil_module(repo_copy, marker)
    line_of_app = (repo_copy / "raygitops.yaml").read_text().splitlines().index("  - name: language") + 1
    if how == "module outside apps":
        import_path, named = "lib.evil:app", (f"error: raygitops.yaml:{line_of_app}: import_path 'lib.evil:app': "
                                              "module lib.evil is not in apps/")
    else:   # refused when apps/ is packed, which comes first
        (repo_copy / "apps/evil.py").symlink_to("../lib/evil.py")
        import_path, named = "apps.evil:app", "error: apps/evil.py: a symbolic link to"
    edit(repo_copy / "raygitops.yaml", "import_path: apps.language:app", f"import_path: {import_path}")
    before = generated(repo_copy)
    line = one_error(run_tool(repo_copy, "regen"))
    assert line.startswith(named), line
    assert not marker.exists(), "regen ran code from outside apps/"
    assert generated(repo_copy) == before


def test_a_link_in_apps_to_a_file_outside_is_refused_by_name_and_never_packed(repo_copy, tmp_path):
    secret = tmp_path / "environ"
    secret.write_text("AWS_SECRET_ACCESS_KEY=do-not-ship-me\n")
    (repo_copy / "apps/config.txt").symlink_to(secret)
    for command in ("regen", "validate"):   # validate packs apps/ too, for its staleness check
        result = run_tool(repo_copy, command)
        line = one_error(result)
        assert line.startswith(f"error: apps/config.txt: a symbolic link to {secret}, outside apps/"), line
        assert "do-not-ship-me" not in result.stdout + result.stderr
    assert not list(repo_copy.glob("build/working_dir/*.zip"))


# --- 3. renders that are stale --------------------------------------------------------------------

PATCH_TRANSFORMER = """apiVersion: builtin
kind: PatchTransformer
metadata:
  name: max-replicas
path: max-replicas.yaml
target:
  kind: RayService
"""
MAX_REPLICAS_PATCH = "- op: replace\n  path: /spec/rayClusterConfig/workerGroupSpecs/0/maxReplicas\n  value: {value}\n"


def test_a_patch_transformer_path_change_is_seen_by_render_validate_and_diff(repo_copy):
    """maxReplicas 1 → 0 through the file a PatchTransformer names: a key made of the kustomization's
    own file list would miss it, and all three commands would use the old render."""
    overlay = repo_copy / "overlays/dev"
    edit(overlay / "kustomization.yaml", "  - generated/images.yaml",
         "  - generated/images.yaml\n  - max-replicas-transformer.yaml")
    (overlay / "max-replicas-transformer.yaml").write_text(PATCH_TRANSFORMER)
    (overlay / "max-replicas.yaml").write_text(MAX_REPLICAS_PATCH.format(value=1))
    git_init(repo_copy)
    first = run_tool(repo_copy, "render", "overlays/dev")
    assert first.returncode == 0 and "maxReplicas: 1\n" in first.stdout, first.stderr
    assert run_tool(repo_copy, "validate").returncode == 0   # both renders are cached now

    (overlay / "max-replicas.yaml").write_text(MAX_REPLICAS_PATCH.format(value=0))
    render = run_tool(repo_copy, "render", "overlays/dev")
    assert "maxReplicas: 0\n" in render.stdout and "maxReplicas: 1\n" not in render.stdout
    validate = run_tool(repo_copy, "validate")
    assert validate.returncode == 1, validate.stdout
    assert "overlays/dev: RayService aana: error capacity:" in validate.stdout, validate.stdout
    diff = run_tool(repo_copy, "diff", "--format", "json")
    assert diff.returncode == 0, diff.stderr
    environments = {env["name"]: env for env in json.loads(diff.stdout)["environments"]}
    assert environments["dev"]["status"] == "changed"
    assert any(str(change.get("path")).endswith("workerGroupSpecs[cpu-workers].maxReplicas")
               for change in environments["dev"]["changes"]), environments["dev"]
    # The other overlays' closures do not hold overlays/dev: not rendered at all.
    assert {env["status"] for name, env in environments.items() if name != "dev"} == {"unchanged"}


# --- 4. generations that mix ----------------------------------------------------------------------

_LOOPING_WRITER = """
import sys
sys.path.insert(0, {tools!r})
from pathlib import Path
from raygitops.generate.writes import write_generated
names = [f"overlays/env{{i}}/generated/file{{j}}.yaml" for i in range(4) for j in range(4)]
for _ in range({rounds}):
    write_generated(Path({root!r}), {{n: {tag!r} * 20_000 + n.encode() for n in names}})
"""


def test_two_writers_at_once_never_fail_or_mix(tmp_path):
    """Without the lock, one writer's recovery sweeps or renames the other's temporary files (ENOENT)
    and a set ends up mixed; with it, each write waits for the other."""
    (tmp_path / "base").mkdir()
    writers = [subprocess.Popen([sys.executable, "-c", _LOOPING_WRITER.format(tools=TOOLS, root=str(tmp_path),
                                                                               rounds=40, tag=tag)],
                                stderr=subprocess.PIPE, text=True) for tag in (b"A", b"B")]
    for writer in writers:
        _, stderr = writer.communicate(timeout=300)
        assert writer.returncode == 0, stderr
    states = {p.read_bytes()[:1] for p in tmp_path.glob("overlays/*/generated/*.yaml")}
    assert len(states) == 1 and not leftovers(tmp_path)


def test_two_concurrent_regens_three_times(repo_copy):
    """Of an unchanged repository (fast once regen skips unchanged inputs), with build/ removed each
    time so both write the zip at once: both finish, nothing is left behind, the files stay one
    generation. Two writers of different generations at once: test_two_writers_at_once_never_fail_or_mix.
    Three pairs, not more: the lock makes the outcome the same every time, and each pair costs 4 s of CPU."""
    expected = generated(repo_copy)
    env = dict(os.environ, RAYGITOPS_ROOT=str(repo_copy))
    for pair in range(3):
        shutil.rmtree(repo_copy / "build", ignore_errors=True)
        processes = [subprocess.Popen([sys.executable, "-m", "raygitops", "regen"], cwd=repo_copy, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        errors = [p.communicate(timeout=600)[1] for p in processes]
        assert [p.returncode for p in processes] == [0, 0], f"pair {pair}: {errors}"
        assert generated(repo_copy) == expected and not leftovers(repo_copy)
        assert len(list(repo_copy.glob("build/working_dir/*"))) == 1


_PAUSED_REGEN = """
import os, sys, time
sys.path.insert(0, {tools!r})
from raygitops.generate import writes
rename = os.replace
def replace(source, target, *args, **kwargs):
    if "/generated/" in str(target):   # the journal is in place, no generated file renamed yet
        print("paused", flush=True)
        time.sleep(600)
    return rename(source, target, *args, **kwargs)
writes.os.replace = replace
from raygitops.cli import main
raise SystemExit(main(["regen"]))
"""


def _kill_regen_after_its_journal(root: Path) -> None:
    env = dict(os.environ, RAYGITOPS_ROOT=str(root))
    process = subprocess.Popen([sys.executable, "-c", _PAUSED_REGEN.format(tools=TOOLS)], cwd=root, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    process.kill()
    assert line == "paused\n", process.communicate()[1]
    process.wait()
    assert (root / ".regen-journal.json").exists() and list(root.rglob("*.regen-tmp"))


def test_a_write_killed_on_one_branch_is_not_applied_on_another(repo_copy):
    """Killed on main, then `git switch other`: the next command drops the journal with a note, and
    other's generated files stay exactly as committed."""
    git_init(repo_copy)
    git(repo_copy, "switch", "-q", "-c", "other")
    edit(repo_copy / "overlays/dev/generated/serve-config.yaml", "num_replicas: 1", "num_replicas: 3")
    git(repo_copy, "commit", "-q", "-am", "other's generated files")
    git(repo_copy, "switch", "-q", "main")
    edit(repo_copy / DEV_SERVE, "num_replicas: 1", "num_replicas: 2")
    git(repo_copy, "commit", "-q", "-am", "dev: 2 replicas (regen pending)")
    killed_on = git(repo_copy, "rev-parse", "HEAD")
    _kill_regen_after_its_journal(repo_copy)

    git(repo_copy, "switch", "-q", "other")
    result = run_tool(repo_copy, "render", "overlays/dev")
    assert result.returncode == 0, result.stderr
    assert (f"note: discarded the unfinished write of an interrupted tools/regen: it was made for commit "
            f"{killed_on[:12]}") in result.stderr
    assert "num_replicas: 3" in result.stdout and "num_replicas: 2" not in result.stdout
    assert git(repo_copy, "status", "--porcelain") == "" and not leftovers(repo_copy)


def test_a_write_killed_before_an_edit_of_its_inputs_is_not_applied(repo_copy):
    _kill_regen_after_its_journal_cheaply(repo_copy)
    before = generated(repo_copy)
    edit(repo_copy / DEV_SERVE, "num_replicas: 1", "num_replicas: 4")
    result = run_tool(repo_copy, "render", "overlays/dev")
    assert result.returncode == 0, result.stderr
    assert "its inputs (raygitops.yaml, apps/ or a serve.yaml) have changed since" in result.stderr
    assert generated(repo_copy) == before and not leftovers(repo_copy)


_PAUSED_WRITER = """
import os, sys, time
sys.path.insert(0, {tools!r})
from pathlib import Path
from raygitops.generate import writes
from raygitops.generate.regen import inputs_stamp
root = Path({root!r})
rename = os.replace
def replace(source, target, *args, **kwargs):
    if "/generated/" in str(target):
        print("paused", flush=True)
        time.sleep(600)
    return rename(source, target, *args, **kwargs)
writes.os.replace = replace
rel = "overlays/dev/generated/serve-config.yaml"
writes.write_generated(root, {{rel: b"# another generation\\n"}}, stamp=inputs_stamp(root))
"""


def _kill_regen_after_its_journal_cheaply(root: Path) -> None:
    """What a regen killed after its journal leaves, made without Ray: the library's own write, paused."""
    process = subprocess.Popen([sys.executable, "-c", _PAUSED_WRITER.format(tools=TOOLS, root=str(root))],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    process.kill()
    assert line == "paused\n", process.communicate()[1]
    process.wait()


def test_a_second_writer_waits_a_bounded_time_then_names_the_first(repo_copy):
    from raygitops.generate.lock import regen_lock
    _kill_regen_after_its_journal_cheaply(repo_copy)
    with regen_lock(repo_copy):   # this test process is "the other tools/regen"
        line = one_error(run_tool(repo_copy, "render", "overlays/dev", env={"RAYGITOPS_LOCK_TIMEOUT": "1"}))
    assert line.startswith(f"error: another tools/regen is running (pid {os.getpid()})"), line
    assert run_tool(repo_copy, "render", "overlays/dev").returncode == 0   # and then it goes ahead


def test_an_unwritable_build_dir_stops_regen_before_any_generated_file(repo_copy):
    """build/ is not writable. Tests run as root here, and root writes through chmod 0555, so the
    write is made to fail another way that stops root too: a plain file where build/working_dir must
    be a directory. The zip comes first, so the generated files (which name it) are not touched."""
    before = generated(repo_copy)
    change_the_code(repo_copy)
    (repo_copy / "build").mkdir()
    (repo_copy / "build/working_dir").write_text("not a directory\n")
    line = one_error(run_tool(repo_copy, "regen"))
    assert line.startswith("error: build/working_dir: a file stands where a directory is needed (nothing was "
                           "changed) — move or delete that file"), line
    assert generated(repo_copy) == before and not leftovers(repo_copy)
    check = run_tool(repo_copy, "regen", "--check")
    assert check.returncode == 1 and "stale: overlays/dev/generated/serve-config.yaml" in check.stderr

    (repo_copy / "build/working_dir").unlink()
    assert run_tool(repo_copy, "regen").returncode == 0
    [package] = repo_copy.glob("build/working_dir/*.zip")
    assert f"{package.relative_to(repo_copy)}: built" in run_tool(repo_copy, "regen", "--check").stdout
    package.write_bytes(package.read_bytes()[:-1])   # the zip the generated files name, damaged
    check = run_tool(repo_copy, "regen", "--check")
    assert check.returncode == 1 and f"{package.relative_to(repo_copy)}: its bytes are not the package" in check.stderr


def test_a_full_disk_names_the_file_and_leaves_no_temporary_file(repo_copy):
    build = repo_copy / "build"
    build.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(build)], capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs (a real full disk)")
    try:
        line = one_error(run_tool(repo_copy, "regen"))
        assert line.startswith("error: build/working_dir/apps-"), line
        assert ".zip: no space left on the device (nothing was changed) — free disk space" in line, line
        assert not leftovers(repo_copy)
    finally:
        subprocess.run(["umount", str(build)], check=True)


def test_an_immutable_generated_file_rolls_the_write_back_and_is_named(repo_copy):
    """Every environment's files change (new apps/ code); the rename onto dev's immutable serve config
    fails after dev's kustomization.yaml was replaced, which is put back."""
    target = repo_copy / "overlays/dev/generated/serve-config.yaml"
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode:
        pytest.skip("needs root and a file system with the immutable flag (chattr +i)")
    try:
        before = generated(repo_copy)
        change_the_code(repo_copy)
        line = one_error(run_tool(repo_copy, "regen"))
        assert line.startswith("error: overlays/dev/generated/serve-config.yaml: operation not permitted (nothing "
                               "was changed) — make it writable; an immutable file"), line
        assert "chattr -i" in line and "readable file" not in line
        assert generated(repo_copy) == before and not leftovers(repo_copy)
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)


def test_ctrl_c_during_serve_build_exits_130_interrupted(repo_copy, tmp_path):
    marker = tmp_path / "importing"
    app = repo_copy / "apps/text_stats.py"
    app.write_text(app.read_text() + f"\nimport pathlib, time\npathlib.Path({str(marker)!r}).write_text('x')\n"
                                      "time.sleep(120)\n")
    before = generated(repo_copy)
    env = dict(os.environ, RAYGITOPS_ROOT=str(repo_copy))
    process = subprocess.Popen([sys.executable, "-m", "raygitops", "regen"], cwd=repo_copy, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert (process.returncode, stderr.strip()) == (130, "interrupted"), stderr
    assert generated(repo_copy) == before and not leftovers(repo_copy)
