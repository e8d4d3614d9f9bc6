"""tools/validate end to end: real kustomize, the KubeRay v1.7.0 and Argo CD CRDs from ../shared,
Ray's own ServeDeploySchema, the policy registry, and every output format.

    .venv/bin/pytest tests/e2e/test_validate.py -q

Broken plain manifests live in tests/e2e/validate_corpus/ (each file says what it breaks and which
findings it must give). Broken overlays are built at test time in a copy of the repository, one
per row of OVERLAY_CASES, and all of them are validated by one `tools/validate` process.
"""
from __future__ import annotations

import copy
import json
import os
import re
import shutil
import stat
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import REPO, SHARED, copy_repository, run_tool
from raygitops.config import load_config
from raygitops.errors import UserError
from raygitops.findings import ERROR, INFO, WARNING, Finding
from raygitops.checks.policies import POLICIES
from raygitops.checks.registry import BY_ID
from raygitops.render import is_kustomization, kustomize_command, render, render_overlay
from raygitops.checks.validate import (Source, ValidateOptions, check_source, policy_settings, ValidationReport,
                                       schema_registry, validate)
from raygitops.output.findings import format_report, summary_line

CORPUS = Path(__file__).resolve().parent / "validate_corpus"
SUMMARY = re.compile(r"^Summary: (\d+) resources found in (\d+) sources - Valid: (\d+), Invalid: (\d+), "
                     r"Errors: (\d+), Skipped: (\d+), Warnings: (\d+)$")
JSON_KEYS = {"id", "severity", "file", "resource", "path", "message"}
ANNOTATION = re.compile(r"^::(error|warning) file=([^,:]+)(?:,line=(\d+))?,title=([a-z0-9-]+)::(.+)$")


# The tests that read overlay_run run on one xdist worker: its validate of every broken overlay
# (8 s of CPU) is then made once per session, not once per worker.
BROKEN_OVERLAYS = pytest.mark.xdist_group("broken-overlays")


def run_validate(root: Path, *args: str, stdin: str | None = None, env: dict | None = None
                 ) -> subprocess.CompletedProcess:
    """`tools/validate` as CI runs it, in a fork (conftest's run_tool)."""
    return run_tool(root, "validate", *args, env=env, stdin=stdin)


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def by_file(findings: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in findings:
        out.setdefault(f["file"], []).append(f)
    return out


def copy_repo(target: Path, warm: Path) -> Path:
    return copy_repository(target, warm)


def edit_config(root: Path, change) -> None:
    path = root / "raygitops.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# --- the repository itself --------------------------------------------------------------------

@pytest.fixture(scope="module")
def repo_report():
    return validate(REPO)


def test_repository_overlays_and_argocd_pass(repo_report):
    config = load_config(REPO)
    expected = [path for env in config.environments()
                for path in (f"overlays/{env}", *(["clusters/prod/eu-west"] if env == "prod" else []))]
    expected += ["base/kuberay-operator", "argocd", "argocd/root"]
    assert [s.label for s in repo_report.sources] == expected
    assert all(s.error is None and s.resources for s in repo_report.sources)
    assert repo_report.errors == [], format_report(repo_report, "text")
    assert repo_report.exit_code() == 0


def test_removing_gcs_fault_tolerance_from_prod_or_one_of_its_clusters_is_an_error(repo_copy):
    """policies.gcs_ft_required lists prod; a cluster layer (clusters/prod/<cluster>) checks as prod."""
    layer = repo_copy / "clusters/prod/eu-west/rayservice-patch.yaml"
    layer.write_text(layer.read_text().replace(
        "      redisAddress: redis.aana-prod.eu-west.example.internal:6379\n", "      $patch: delete\n"))
    result = run_validate(repo_copy, "--output", "json")
    failing = {(f["file"], f["path"]) for f in json.loads(result.stdout)["findings"] if f["id"] == "gcs-ft-required"}
    assert failing == {("clusters/prod/eu-west", "spec.rayClusterConfig")}, result.stdout[-2000:]
    assert result.returncode == 1

    kustomization = repo_copy / "overlays/prod/kustomization.yaml"
    kustomization.write_text("".join(line for line in kustomization.read_text().splitlines(keepends=True)
                                     if "components/gcs-ft" not in line))
    patch = repo_copy / "overlays/prod/rayservice-patch.yaml"
    patch.write_text(re.sub(r"    gcsFaultToleranceOptions:\n.*\n", "", patch.read_text()))
    result = run_validate(repo_copy, "overlays/prod", "--output", "json")
    [finding] = [f for f in json.loads(result.stdout)["findings"] if f["id"] == "gcs-ft-required"]
    assert finding["severity"] == "error" and "prod has no gcsFaultToleranceOptions" in finding["message"]
    assert result.returncode == 1


def test_a_fastapi_pin_that_breaks_serve_ingress_is_reported_with_its_file(repo_copy):
    """Once per repository (an Aana app is configured): fastapi 0.118 is past Ray 2.46's series."""
    pyproject = repo_copy / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"fastapi==0.115.12"', '"fastapi==0.118.0"'))
    line = text[:text.index('"fastapi==')].count("\n") + 1
    result = run_validate(repo_copy)
    no_traceback(result)
    assert result.returncode == 1, result.stdout[-2000:]
    assert (f"pyproject.toml:{line}: error aana-fastapi-pin: pyproject.toml pins fastapi==0.118.0, but Ray 2.46.0's "
            "@serve.ingress works with fastapi 0.115.*") in result.stdout, result.stdout[-2000:]


def test_staging_without_the_webhook_secret_component_is_an_error(repo_copy):
    kustomization = repo_copy / "overlays/staging/kustomization.yaml"
    kustomization.write_text("".join(line for line in kustomization.read_text().splitlines(keepends=True)
                                     if "components/aana-webhook" not in line))
    result = run_validate(repo_copy, "overlays/staging", "--output", "json")
    [finding] = [f for f in json.loads(result.stdout)["findings"] if f["id"] == "aana-secret-default"]
    assert finding["severity"] == "error" and finding["file"] == "overlays/staging"
    assert finding["message"].startswith("Aana app echo_aana: WEBHOOK__HMAC_SECRET is not set (group head, cpu-workers")
    assert finding["path"] == "spec.serveConfigV2:applications[echo_aana].runtime_env.env_vars"
    assert result.returncode == 1


def test_cli_on_the_repository_prints_findings_and_a_kubeconform_summary(repo, repo_report):
    result = run_tool(repo, "validate")
    no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    *lines, summary = result.stdout.strip().splitlines()
    match = SUMMARY.match(summary)
    assert match, summary
    resources, sources, valid, invalid, errors, skipped, warnings = map(int, match.groups())
    assert (resources, sources) == (repo_report.resource_count, len(repo_report.sources))
    assert (valid, invalid, errors, warnings) == (resources, 0, 0, len(repo_report.warnings))
    # one line per finding: "<source>: <Kind> <name>: <severity> <id>: <message> — <fix>"
    assert len(lines) == len(repo_report.findings)
    assert len(set(lines)) == len(lines)   # alike findings (two containers, one image) show their field
    for line, finding in zip(lines, repo_report.findings):
        assert line.startswith(f"{finding.file}: ") and f" {finding.severity} {finding.id}: " in line
        assert finding.message in line and line.endswith(f" — {finding.fix}")


def test_a_directory_of_overlays_renders_each_overlay(repo_report):
    """`tools/validate overlays` renders overlays/<env>, never reads their patches as manifests."""
    report = validate(REPO, [REPO / "overlays"])
    assert [s.label for s in report.sources] == [s.label for s in repo_report.sources if s.label.startswith("overlays/")]
    assert report.errors == []


# --- output formats and exit codes --------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus_json(repo):
    """Every plain manifest of the corpus, validated by one process."""
    result = run_validate(repo, "tests/e2e/validate_corpus", "--output", "json")
    no_traceback(result)
    assert result.returncode == 1, result.stderr
    return json.loads(result.stdout)


@BROKEN_OVERLAYS
def test_json_findings_carry_the_documented_keys(corpus_json, overlay_run):
    findings = corpus_json["findings"] + overlay_run["findings"]
    for finding in findings:
        assert JSON_KEYS <= set(finding), finding
        assert finding["severity"] in (ERROR, WARNING, INFO)
        assert finding["id"] and finding["message"] and finding["file"]
        assert "line" not in finding or isinstance(finding["line"], int)
    # resource is kind/namespace/name; id a registered check (tools/validate --list-checks)
    for finding in findings:
        assert finding["id"] in BY_ID, finding
        if finding["resource"]:
            assert finding["resource"].count("/") == 2 or finding["resource"] == "?", finding
    summary = corpus_json["summary"]
    assert summary["errors"] == sum(f["severity"] == ERROR for f in corpus_json["findings"])
    assert summary["sources"] == len(list(CORPUS.glob("*.yaml")))


def test_github_annotations(repo):
    files = ["tests/e2e/validate_corpus/secret-data.yaml", "tests/e2e/validate_corpus/deprecated-thresholds.yaml",
             "tests/e2e/validate_corpus/multi-document-secret.yaml"]
    result = run_validate(repo, "--output", "github", *files)
    no_traceback(result)
    assert result.returncode == 1
    *lines, summary = result.stdout.strip().splitlines()
    assert SUMMARY.match(summary)
    parsed = [ANNOTATION.match(line) for line in lines]
    assert all(parsed), lines
    found = {(m[1], m[2], m[3], m[4]) for m in parsed}
    # The line of the field itself: data, spec.serviceUnhealthySecondThreshold, the second document's data.
    assert ("error", files[0], "9", "secret-in-git") in found
    assert ("warning", files[1], "9", "deprecated-field") in found
    assert ("error", files[2], "16", "secret-in-git") in found


def test_github_annotations_of_an_overlay_point_at_its_kustomization(overlay_report, overlay_root):
    text = format_report(overlay_report, "github", overlay_root)
    lines = [ANNOTATION.match(line) for line in text.splitlines()[:-1]]
    assert all(lines)
    files = {m[2] for m in lines}
    assert "overlays/capacity/kustomization.yaml" in files
    assert all(not f.startswith("overlays/") or f.endswith("/kustomization.yaml") for f in files)


def test_github_annotations_escape_what_would_end_a_property_or_a_line():
    finding = Finding(id="schema", severity=ERROR, message="100% wrong\nsecond line", file="odd,name:x.yaml",
                      line=3, resource="ConfigMap//x")
    line, _summary = format_report(ValidationReport(sources=[], findings=[finding]), "github").splitlines()
    assert line == "::error file=odd%2Cname%3Ax.yaml,line=3,title=schema::ConfigMap//x schema: 100%25 wrong%0Asecond line"


def test_junit_is_well_formed_and_counts_every_error(repo, corpus_json):
    result = run_validate(repo, "tests/e2e/validate_corpus", "--output", "junit")
    no_traceback(result)
    assert result.returncode == 1
    suites = ET.fromstring(result.stdout)
    assert suites.tag == "testsuites"
    errors = [f for f in corpus_json["findings"] if f["severity"] == ERROR]
    assert int(suites.get("failures")) == len(errors)
    failures = suites.findall("./testsuite/testcase/failure")
    assert len(failures) == len(errors)
    assert sum(int(s.get("failures")) for s in suites.findall("testsuite")) == len(errors)
    assert {s.get("name") for s in suites.findall("testsuite")} == \
        {f"tests/e2e/validate_corpus/{p.name}" for p in CORPUS.glob("*.yaml")}
    assert {f.get("type") for f in failures} == {f["id"] for f in errors}


def test_warnings_fail_only_with_strict_warnings(repo):
    warning_only = "tests/e2e/validate_corpus/deprecated-thresholds.yaml"
    relaxed = run_validate(repo, warning_only)
    strict = run_validate(repo, warning_only, "--strict-warnings")
    assert relaxed.returncode == 0, relaxed.stdout
    assert strict.returncode == 1, strict.stdout
    assert "warning deprecated-field" in relaxed.stdout and "Warnings: 1" in relaxed.stdout


@pytest.mark.parametrize("flag", ["--strict", "-strict"])
def test_strict_is_kubeconforms_always_on_flag_never_strict_warnings(repo, flag):
    """argparse would take --strict as a prefix of --strict-warnings (the opposite meaning): prefix
    matching is off, and --strict is kubeconform's flag, which is always on here."""
    result = run_validate(repo, "tests/e2e/validate_corpus/deprecated-thresholds.yaml", flag)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warnings: 1" in result.stdout
    prefix = run_validate(repo, "tests/e2e/validate_corpus/deprecated-thresholds.yaml", "--strict-warn")
    assert prefix.returncode == 2 and "unrecognized arguments: --strict-warn" in prefix.stderr


def test_kubeconform_spellings_are_aliases(repo):
    files = ["tests/e2e/validate_corpus/unknown-kind.yaml", "tests/e2e/validate_corpus/valid-rayservice.yaml",
             "tests/e2e/validate_corpus/list-of-resources.yaml"]
    strict = run_validate(repo, "-output", "json", *files)
    assert strict.returncode == 1   # the unknown kind and the broken ConfigMap
    result = run_validate(repo, "-strict", "-summary", "-output", "json", "-ignore-missing-schemas", "-skip",
                          "ConfigMap,Secret", "-kubernetes-version", "1.31.0", "-n", "1",
                          "-schema-location", str(SHARED / "schemas"), *files)
    no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert {k: summary[k] for k in ("valid", "invalid", "skipped", "errors")} == \
        {"valid": 1, "invalid": 0, "skipped": 3, "errors": 0}


def test_tap_output_has_one_test_per_resource_and_per_failed_source(repo, corpus_json):
    result = run_validate(repo, "tests/e2e/validate_corpus", "-output", "tap")
    no_traceback(result)
    assert result.returncode == 1
    first, *tests, plan = result.stdout.strip().splitlines()
    tests = [line for line in tests if not line.startswith("# ")]
    assert first == "TAP version 13" and plan == f"1..{len(tests)}"
    assert [int(re.match(r"(?:not )?ok (\d+) - ", line)[1]) for line in tests] == list(range(1, len(tests) + 1))
    errors = [f for f in corpus_json["findings"] if f["severity"] == ERROR]
    failing = {(f["file"], f["resource"]) for f in errors if f["resource"]} | \
        {(f["file"], f["message"]) for f in errors if not f["resource"]}
    assert sum(line.startswith("not ok") for line in tests) == len(failing)
    assert any(re.fullmatch(r"ok \d+ - tests/e2e/validate_corpus/valid-rayservice.yaml "
                            r"\(ray.io/v1/RayService/aana-corpus/corpus\)", line) for line in tests)
    skipped = run_validate(repo, "tests/e2e/validate_corpus/unknown-kind.yaml", "--output", "tap", "--skip", "Widget")
    assert skipped.stdout.splitlines()[1] == "ok 1 - tests/e2e/validate_corpus/unknown-kind.yaml " \
                                              "(example.com/v1/Widget//gadget) # skip"


@pytest.mark.parametrize("args, env, message", [
    (["overlays/nowhere"], {}, "no such file or directory"),
    (["--frobnicate"], {}, "tools/validate: error: unrecognized arguments: --frobnicate"),
    (["--output", "yaml"], {}, "invalid choice"),
    (["--crd-dir", "/nonexistent/crds", "tests/e2e/validate_corpus/valid-rayservice.yaml"], {},
     "CRD directory not found"),
    (["--kubernetes-version", "1.10.0", "tests/e2e/validate_corpus/valid-rayservice.yaml"], {},
     "no built-in schemas for Kubernetes 1.10.0"),
], ids=["bad-path", "unknown-option", "unknown-output", "missing-crd-dir", "old-kubernetes"])
def test_usage_and_tool_failures_exit_2(repo, args, env, message):
    result = run_validate(repo, *args, env=env)
    no_traceback(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Summary:" not in result.stdout


@pytest.fixture(scope="module")
def config_copy(tmp_path_factory, warm_caches) -> Path:
    return copy_repo(tmp_path_factory.mktemp("policies") / "repo", warm_caches)


@pytest.mark.parametrize("old, new, message", [
    ("image-digest: warning", "image-digest: warn",
     "policies.severity.prod.image-digest: level 'warn' is not one of error, warning, off"),
    ("image-digest: warning", "image-digst: warning",
     "policies.severity.prod.image-digst: no such policy — did you mean image-digest?"),
    ("ephemeral_storage_min: 10Gi", "ephemeral_storage_min: lots",
     "policies.ephemeral_storage_min: 'lots' is not a quantity"),
    ("require_digest: [prod]", "require_digest: prod", "policies.require_digest: must be a list"),
    ("dev_environments: [dev]", "dev_environment: [dev]", "policies.dev_environment: unknown setting"),
])
def test_a_typo_in_policy_settings_is_an_error_not_a_weaker_check(config_copy, old, new, message):
    path = config_copy / "raygitops.yaml"
    original = path.read_text()
    assert old in original
    line = original[:original.index(old)].count("\n") + 1
    path.write_text(original.replace(old, new, 1))
    try:
        result = run_validate(config_copy, "tests/e2e/validate_corpus/valid-rayservice.yaml")
    finally:
        path.write_text(original)
    no_traceback(result)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: raygitops.yaml:{line}: {message}"), result.stderr


def test_skipped_kinds_are_not_errors():
    path = CORPUS / "unknown-kind.yaml"
    strict = validate(REPO, [path])
    assert [f.id for f in strict.errors] == ["schema"] and "no schema for example.com/v1 Widget" in strict.errors[0].message
    skipped = validate(REPO, [path], ValidateOptions(skip_kinds=("Widget",)))
    assert skipped.findings == [] and skipped.skipped == 1
    assert "Valid: 0, Invalid: 0, Errors: 0, Skipped: 1" in summary_line(skipped)


# --- real manifests nobody here wrote ------------------------------------------------------------

@pytest.fixture(scope="module")
def setup_examples(shared) -> tuple[str, str]:
    """The two RayService YAML blocks of Aana's cluster-setup guide: a skeleton, then the full file."""
    text = (shared / "reference" / "cluster-setup.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) == 2 and all("kind: RayService" in b for b in blocks)
    return blocks[0], blocks[1]


def test_setup_examples_are_valid_against_the_kuberay_1_7_crd_offline(setup_examples):
    config = load_config(REPO)
    registry = schema_registry(config, ValidateOptions())
    source = registry.lookup("ray.io/v1", "RayService")
    assert source is not None and "kuberay/v1.7.0/ray.io_rayservices.yaml" in source.origin
    for text in setup_examples:
        service = yaml.safe_load(text)
        assert registry.validate(service, file="guide") == []
        # strict: a field KubeRay 1.7.0 does not know is an error at its path
        broken = copy.deepcopy(service)
        broken["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["replica"] = 2
        [finding] = registry.validate(broken, file="guide")
        assert (finding.id, finding.path, finding.message) == \
            ("schema", "spec.rayClusterConfig.workerGroupSpecs[0]", "unknown field 'replica'")


@pytest.fixture(scope="module")
def setup_run(repo, setup_examples, tmp_path_factory):
    """The skeleton and the full example from files, and the full example again on stdin."""
    tmp = tmp_path_factory.mktemp("guide")
    skeleton, full = tmp / "skeleton.yaml", tmp / "full.yaml"
    skeleton.write_text(setup_examples[0])
    full.write_text(setup_examples[1])
    result = run_validate(repo, str(skeleton), str(full), "-", "--output", "json", stdin=setup_examples[1])
    no_traceback(result)
    assert result.returncode == 1
    findings = by_file(json.loads(result.stdout)["findings"])
    return findings[str(skeleton)], findings[str(full)], findings["<stdin>"]


def test_setup_skeleton_findings(setup_run):
    skeleton, _, _ = setup_run
    assert not [f for f in skeleton if f["id"] == "schema"]
    assert {f["id"] for f in skeleton} == {"ray-version-mismatch", "deprecated-field", "serve-yaml"}
    [version] = [f for f in skeleton if f["id"] == "ray-version-mismatch"]
    assert version["message"] == "rayVersion 2.20.0 but versions.ray is 2.46.0"
    # serveConfigV2 is the guide's placeholder "<serve config generated by aana build>"
    [serve] = [f for f in skeleton if f["id"] == "serve-yaml"]
    assert serve["message"] == "serveConfigV2 is not a mapping" and serve["path"] == "spec.serveConfigV2"
    assert {(f["path"], f["severity"]) for f in skeleton if f["id"] == "deprecated-field"} == \
        {("spec.serviceUnhealthySecondThreshold", WARNING), ("spec.deploymentUnhealthySecondThreshold", WARNING)}
    assert all("KubeRay 1.7.0" in f["message"] for f in skeleton if f["id"] == "deprecated-field")


def test_setup_full_example_findings(setup_run):
    _, full, stdin = setup_run
    without_file = [{k: v for k, v in f.items() if k != "file"} for f in full]
    assert without_file == [{k: v for k, v in f.items() if k != "file"} for f in stdin]   # file or stdin: same
    assert not [f for f in full if f["id"] == "schema"]
    ids = {f["id"] for f in full}
    assert ids == {"ray-version-mismatch", "deprecated-field", "serve-import-path", "working-dir-mutable",
                   "db-sqlite-non-dev", "node-local-storage"}

    def where(id_):
        return {f["path"] for f in full if f["id"] == id_}
    assert where("ray-version-mismatch") == {
        "spec.rayClusterConfig.rayVersion",
        "spec.rayClusterConfig.headGroupSpec.template.spec.containers[ray-head].image",
        "spec.rayClusterConfig.workerGroupSpecs[gpu-group].template.spec.containers[ray-worker].image"}
    assert any("aana:0.2-ray-2.20@sha256:" in f["message"] for f in full if f["id"] == "ray-version-mismatch")
    apps = ("asr_deployment", "vad_deployment", "whisper_app")
    assert len(where("serve-import-path")) == 3 and all(
        any(f"[{app}]" in p for p in where("serve-import-path")) for app in apps)
    assert all("test_project.zip is not content-addressed" in f["message"] for f in full if f["id"] == "working-dir-mutable")
    assert len(where("db-sqlite-non-dev")) == 3   # each app's DB_CONFIG
    local = [f for f in full if f["id"] == "node-local-storage"]
    assert local and all(f["severity"] == ERROR for f in local)   # a warning only in dev environments
    assert {f["severity"] for f in full if f["id"] == "deprecated-field"} == {WARNING}
    assert all(f["resource"] == "RayService//aana-sdk" for f in full)


def test_setup_full_example_with_its_modules_declared_external(setup_examples, tmp_path, warm_caches):
    root = copy_repo(tmp_path / "repo", warm_caches)
    edit_config(root, lambda c: c.update(external_imports=["test_project"]))
    (tmp_path / "full.yaml").write_text(setup_examples[1])
    report = validate(root, [tmp_path / "full.yaml"])
    ids = {f.id for f in report.findings}
    assert "serve-import-path" not in ids and "working-dir-mutable" in ids


# --- the corpus of broken plain manifests --------------------------------------------------------

def _expectations(path: Path) -> list[tuple[str, str | None]]:
    """`# expect: <id> [<path>]` lines; `# expect: nothing` for none."""
    out = []
    for line in re.findall(r"^# expect: (.+)$", path.read_text(), re.M):
        if line.strip() != "nothing":
            id_, _, where = line.strip().partition(" ")
            out.append((id_, where or None))
    return out


CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.yaml"))


def test_every_corpus_file_says_what_it_expects():
    """`# expect: nothing` too: a file that gives no finding must say that is its point.
    (tests/unit/test_checks_registry.py checks that the corpus triggers every check a plain file can.)"""
    assert [name for name in CORPUS_FILES if not re.search(r"^# expect: ", (CORPUS / name).read_text(), re.M)] == []


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_manifest(corpus_json, name):
    findings = by_file(corpus_json["findings"]).get(f"tests/e2e/validate_corpus/{name}", [])
    expected = _expectations(CORPUS / name)
    assert {f["id"] for f in findings} == {id_ for id_, _ in expected}, findings
    for id_, where in expected:
        if where:
            assert where in {f["path"] for f in findings if f["id"] == id_}, findings
    for f in findings:   # clear: one line that points at a document, and a fix
        assert "\n" not in f["message"] and f.get("line"), f
        assert f["fix"], f
        assert "Traceback" not in f["message"] and "object at 0x" not in f["message"]


def test_yaml_errors_say_where(corpus_json):
    findings = by_file(corpus_json["findings"])
    [indent] = findings["tests/e2e/validate_corpus/broken-yaml-indent.yaml"]
    assert indent["message"].startswith("invalid YAML: ") and indent["line"] == 7


# --- broken overlays, built in a copy of the repository ----------------------------------------

def _kustomization(overlay: Path) -> dict:
    return yaml.safe_load((overlay / "kustomization.yaml").read_text())


def _write_kustomization(overlay: Path, data: dict) -> None:
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def add(key: str, entry):
    def apply(overlay: Path) -> None:
        data = _kustomization(overlay)
        data.setdefault(key, []).append(entry)
        _write_kustomization(overlay, data)
    return apply


def file(name: str, text: str, key: str | None = None, entry=None):
    """Write a file into the overlay and list it under `key` of its kustomization."""
    def apply(overlay: Path) -> None:
        (overlay / name).write_text(text)
        if key:
            add(key, entry if entry is not None else name)(overlay)
    return apply


def json_patch(*ops: dict):
    return file("json-patch.yaml", yaml.safe_dump(list(ops)), "patches",
                {"path": "json-patch.yaml", "target": {"kind": "RayService", "name": "aana"}})


def strategic_patch(text: str):
    return file("extra-patch.yaml", "apiVersion: ray.io/v1\nkind: RayService\nmetadata:\n  name: aana\n" + text,
                "patches", {"path": "extra-patch.yaml"})


def replace(name: str, old: str, new: str):
    def apply(overlay: Path) -> None:
        path = overlay / name
        text = path.read_text()
        assert old in text, (name, old)
        path.write_text(text.replace(old, new))
    return apply


def serve(change):
    """Edit the serve config that tools/regen generated for the overlay (parsed, not as text)."""
    def apply(overlay: Path) -> None:
        path = overlay / "generated" / "serve-config.yaml"
        config = yaml.safe_load(path.read_text())
        change(config)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    return apply


def app(config: dict, name: str) -> dict:
    return next(a for a in config["applications"] if a["name"] == name)


def deployment(config: dict, app_name: str, name: str) -> dict:
    return next(d for d in app(config, app_name)["deployments"] if d["name"] == name)


def every_app_env(**env_vars):
    def change(config):
        for a in config["applications"]:
            a.setdefault("runtime_env", {}).setdefault("env_vars", {}).update(env_vars)
    return serve(change)


def set_in(getter, **values):
    return serve(lambda config: getter(config).update(values))


WORKER = "/spec/rayClusterConfig/workerGroupSpecs/0/template/spec/containers/0"


def gpu_group(image: str, tolerate: bool) -> dict:
    """A GPU worker group that is right in every other way: shared volume, password and HMAC secret from Secrets."""
    res = {"cpu": "4", "memory": "16Gi", "ephemeral-storage": "50Gi", "nvidia.com/gpu": "1"}
    pod = {"containers": [{
        "name": "ray-worker", "image": image, "resources": {"requests": dict(res), "limits": dict(res)},
        "env": [{"name": "DB_CONFIG__DATASTORE_CONFIG__PASSWORD",
                 "valueFrom": {"secretKeyRef": {"name": "aana-db", "key": "password"}}},
                {"name": "WEBHOOK__HMAC_SECRET",
                 "valueFrom": {"secretKeyRef": {"name": "aana-webhook", "key": "hmac-secret"}}}],
        "volumeMounts": [{"name": "aana-data", "mountPath": "/mnt/aana-data"}]}],
        "volumes": [{"name": "aana-data", "persistentVolumeClaim": {"claimName": "aana-data"}}]}
    if tolerate:
        pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return {"groupName": "gpu-workers", "replicas": 1, "minReplicas": 1, "maxReplicas": 2,
            "rayStartParams": {}, "template": {"spec": pod}}


SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: aana-db\ntype: Opaque\ndata:\n  password: aHVudGVyMg==\n"
DASHBOARD_SERVICE = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: aana-dashboard\nspec:\n  type: LoadBalancer\n"
                     "  selector: {ray.io/node-type: head}\n  ports:\n    - {name: dashboard, port: 8265, targetPort: 8265}\n")
DASHBOARD_INGRESS = ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: aana-dashboard\nspec:\n"
                     "  rules:\n    - http:\n        paths:\n          - path: /\n            pathType: Prefix\n"
                     "            backend: {service: {name: aana-head-svc, port: {number: 8265}}}\n")
PG_WITH_PASSWORD = json.dumps({"datastore_type": "postgresql", "datastore_config": {
    "host": "postgres.aana.svc", "port": 5432, "user": "aana", "database": "aana", "password": "hunter2"}})
SQLITE = json.dumps({"datastore_type": "sqlite", "datastore_config": {"path": "/mnt/aana-data/aana.sqlite"}})

# name → (edits of a copy of overlays/staging, expected findings: {id: severity}, a path or message
# fragment that one finding of the first id has). Every overlay is named after its case, so its
# environment (overlays/<env>) is the case name: not a dev environment.
OVERLAY_CASES: dict[str, tuple[list, dict[str, str], str]] = {
    "control": ([], {}, ""),
    # -- policies
    "ray-version-mismatch": ([replace("generated/images.yaml", "newTag: 2.46.0-py311\n", "newTag: 2.45.0-py311\n")],
                             {"ray-version-mismatch": ERROR}, "image rayproject/ray:2.45.0-py311 but rayVersion 2.46.0"),
    "container-resources": ([json_patch({"op": "remove", "path": f"{WORKER}/resources/limits"})],
                            {"container-resources": ERROR}, "group cpu-workers container ray-worker sets no limits.cpu"),
    "ephemeral-storage-min": ([json_patch({"op": "replace", "path": f"{WORKER}/resources/requests/ephemeral-storage",
                                           "value": "5Gi"})],
                              {"ephemeral-storage-min": ERROR}, "ephemeral-storage 5Gi, below 10Gi"),
    "ephemeral-storage-missing": ([json_patch({"op": "remove", "path": f"{WORKER}/resources/requests/ephemeral-storage"})],
                                  {"ephemeral-storage-min": ERROR}, "requests no ephemeral-storage"),
    "gpu-toleration": ([json_patch({"op": "add", "path": "/spec/rayClusterConfig/workerGroupSpecs/-",
                                    "value": gpu_group("ray-gpu-image", tolerate=False)})],
                       {"gpu-toleration": ERROR}, "workerGroupSpecs[gpu-workers].template.spec.tolerations"),
    "gpu-image": ([json_patch({"op": "add", "path": "/spec/rayClusterConfig/workerGroupSpecs/-",
                               "value": gpu_group("ray-image", tolerate=True)})],
                  {"gpu-image": WARNING}, "runs the CPU image rayproject/ray:2.46.0-py311"),
    "gpu-not-available": ([serve(lambda c: deployment(c, "main", "Gateway").setdefault(
                               "ray_actor_options", {}).update(num_gpus=1))],
                          {"gpu-not-available": ERROR}, "main/Gateway asks for 1 GPU"),
    "capacity": ([set_in(lambda c: deployment(c, "main", "Gateway"), num_replicas=80)],
                 {"capacity": ERROR}, "but the cluster has 8 at maxReplicas (cpu-workers 4×2)"),
    "db-config": ([every_app_env(DB_CONFIG="datastore_type=postgresql")], {"db-config": ERROR}, "DB_CONFIG is not JSON"),
    "db-sqlite-non-dev": ([every_app_env(DB_CONFIG=SQLITE)], {"db-sqlite-non-dev": ERROR},
                          "DB_CONFIG uses SQLite in db-sqlite-non-dev"),
    "db-password-literal": ([every_app_env(DB_CONFIG=PG_WITH_PASSWORD)], {"db-password-literal": ERROR},
                            "DB_CONFIG holds a password literal"),
    "secret-in-git": ([file("secret.yaml", SECRET, "resources")], {"secret-in-git": ERROR}, "Secret holds data"),
    "secret-literal": ([every_app_env(STRIPE_KEY="sk_live_not_a_real_key")], {"secret-literal": ERROR},
                       "serve env var STRIPE_KEY holds a secret literal"),
    "aana-secret-default": ([serve(lambda c: app(c, "main")["runtime_env"]["env_vars"].update(
                                 WEBHOOK__HMAC_SECRET="webhook_secret"))],
                            {"aana-secret-default": ERROR}, "Aana's public default 'webhook_secret'"),
    "node-local-storage": ([every_app_env(TMP_DATA_DIR="/tmp/aana_data")], {"node-local-storage": ERROR},
                           "TMP_DATA_DIR /tmp/aana_data is node-local disk"),
    "image-digest": ([], {"image-digest": ERROR}, "not pinned by digest in image-digest"),   # require_digest below
    "dashboard-exposed": ([file("dashboard.yaml", DASHBOARD_SERVICE, "resources")], {"dashboard-exposed": ERROR},
                          "LoadBalancer Service exposes the Ray dashboard"),
    "dashboard-ingress": ([file("dashboard.yaml", DASHBOARD_INGRESS, "resources")], {"dashboard-exposed": ERROR},
                          "Ingress backend aana-head-svc:8265"),
    "dashboard-enable-ingress": ([json_patch({"op": "add", "path": "/spec/rayClusterConfig/headGroupSpec/enableIngress",
                                              "value": True})], {"dashboard-exposed": ERROR}, "headGroupSpec.enableIngress"),
    "deprecated-field": ([json_patch({"op": "add", "path": "/spec/serviceUnhealthySecondThreshold", "value": 900})],
                         {"deprecated-field": WARNING}, "unused by KubeRay 1.7.0"),
    "working-dir-mutable": ([serve(lambda c: [a["runtime_env"].update(
                                 working_dir="https://artifacts.example.com/raygitops/latest.zip")
                                 for a in c["applications"]])],
                            {"working-dir-mutable": ERROR}, "latest.zip is not content-addressed"),
    # A patch that lists only the group it adds: kustomize moves it in front of cpu-workers.
    "worker-group-order": ([strategic_patch("spec:\n  rayClusterConfig:\n    workerGroupSpecs:\n      - "
                                            + json.dumps(gpu_group("ray-gpu-image", tolerate=True)) + "\n")],
                           {"worker-group-order": ERROR}, "worker groups are [gpu-workers, cpu-workers]"),
    # -- the serve config inside the RayService
    "serve-unknown-key": ([serve(lambda c: deployment(c, "main", "Gateway").update(
                               num_replica=deployment(c, "main", "Gateway").pop("num_replicas")))],
                          {"serve-unknown-key": ERROR},
                          "spec.serveConfigV2:applications[main].deployments[Gateway].num_replica"),
    "serve-schema": ([set_in(lambda c: deployment(c, "main", "Gateway"), num_replicas="lots")],
                     {"serve-schema": ERROR}, "spec.serveConfigV2:applications[main].deployments[Gateway]"),
    "serve-duplicate-app": ([set_in(lambda c: app(c, "language"), name="text_stats")],
                            {"serve-duplicate-app": ERROR, "serve-schema": ERROR}, "name 'text_stats' is used by 2"),
    "serve-duplicate-route": ([set_in(lambda c: app(c, "language"), route_prefix="/text_stats")],
                              {"serve-duplicate-route": ERROR, "serve-schema": ERROR},
                              "route_prefix '/text_stats' is used by 2"),
    "serve-import-path": ([set_in(lambda c: app(c, "main"), import_path="models.whisper:app")],
                          {"serve-import-path": ERROR}, "module models.whisper is not in apps/"),
    "serve-import-missing-module": ([set_in(lambda c: app(c, "main"), import_path="apps.whisper:app")],
                                    {"serve-import-path": ERROR}, "no module apps.whisper in this repository"),
    "serve-import-attribute": ([set_in(lambda c: app(c, "main"), import_path="apps.main:application")],
                               {"serve-import-path": ERROR}, "apps/main.py defines no 'application'"),
    "serve-import-external": ([set_in(lambda c: app(c, "main"), import_path="baked.models:app")], {}, ""),
    # -- kustomize cannot build it: the overlay and kustomize's own message
    "kustomize-missing-patch": ([add("patches", {"path": "no-such-patch.yaml"})], {"kustomize": ERROR},
                                "lstat overlays/kustomize-missing-patch/no-such-patch.yaml: no such file or directory"),
    "kustomize-missing-base": ([add("resources", "../../no-such-base")], {"kustomize": ERROR},
                               "accumulating resources from '../../no-such-base'"),
    "kustomize-broken-yaml": ([replace("kustomization.yaml", "resources:", "resources: [")], {"kustomize": ERROR},
                              "invalid Kustomization: yaml: line"),
    # -- GCS fault tolerance (policies.gcs_ft_required lists this overlay, below)
    "gcs-ft-required": ([replace("kustomization.yaml", "  - ../../base/components/gcs-ft", "  # gcs-ft removed"),
                         replace("rayservice-patch.yaml", "    gcsFaultToleranceOptions:\n", ""),
                         replace("rayservice-patch.yaml", "      redisAddress: redis.aana-staging.svc:6379", "")],
                        {"gcs-ft-required": ERROR}, "gcs-ft-required has no gcsFaultToleranceOptions"),
    "gcs-ft-conflict": ([json_patch({"op": "add", "path": "/metadata/annotations/ray.io~1ft-enabled", "value": "true"})],
                        {"gcs-ft-conflict": ERROR}, "ray.io/ft-enabled and gcsFaultToleranceOptions are both set"),
    # -- severities per environment (raygitops.yaml policies.severity, below)
    "severity-off": ([serve(lambda c: [a["runtime_env"].update(working_dir="https://example.com/latest.zip")
                                       for a in c["applications"]])], {}, ""),
    "severity-error": ([json_patch({"op": "add", "path": "/spec/serviceUnhealthySecondThreshold", "value": 900})],
                       {"deprecated-field": ERROR}, "serviceUnhealthySecondThreshold"),
    "severity-warning": ([file("secret.yaml", SECRET, "resources")], {"secret-in-git": WARNING}, "Secret holds data"),
}

# Each policy id → the overlay that breaks it.
POLICY_CASES = {"ray-version-mismatch": "ray-version-mismatch", "container-resources": "container-resources",
                "ephemeral-storage-min": "ephemeral-storage-min", "gpu-toleration": "gpu-toleration",
                "gpu-image": "gpu-image", "gpu-not-available": "gpu-not-available", "capacity": "capacity",
                "db-config": "db-config", "db-sqlite-non-dev": "db-sqlite-non-dev",
                "db-password-literal": "db-password-literal", "secret-in-git": "secret-in-git",
                "secret-literal": "secret-literal",
                "aana-secret-default": "aana-secret-default", "node-local-storage": "node-local-storage",
                "image-digest": "image-digest", "dashboard-exposed": "dashboard-exposed",
                "deprecated-field": "deprecated-field", "working-dir-mutable": "working-dir-mutable",
                "worker-group-order": "worker-group-order", "gcs-ft-required": "gcs-ft-required",
                "gcs-ft-conflict": "gcs-ft-conflict"}


@pytest.fixture(scope="module")
def overlay_root(tmp_path_factory, warm_caches) -> Path:
    root = copy_repo(tmp_path_factory.mktemp("overlays") / "repo", warm_caches)
    staging = root / "overlays" / "staging"
    for name, (edits, _, _) in OVERLAY_CASES.items():
        overlay = root / "overlays" / name
        shutil.copytree(staging, overlay)
        replace("kustomization.yaml", "namespace: aana-staging", f"namespace: aana-{name}")(overlay)
        for change in edits:
            change(overlay)

    def settings(config):
        config["external_imports"] = ["baked"]
        policies = config.setdefault("policies", {})
        policies["require_digest"] = list(policies.get("require_digest") or []) + ["image-digest"]
        policies["gcs_ft_required"] = list(policies.get("gcs_ft_required") or []) + ["gcs-ft-required"]
        policies.setdefault("severity", {}).update({
            "severity-off": {"working-dir-mutable": "off"},
            "severity-error": {"deprecated-field": "error"},
            "severity-warning": {"secret-in-git": "warning"}})
    edit_config(root, settings)
    return root


@pytest.fixture(scope="module")
def overlay_run(overlay_root) -> dict:
    """One `tools/validate` process over every broken overlay (rendered in parallel)."""
    paths = [f"overlays/{name}" for name in OVERLAY_CASES]
    result = run_validate(overlay_root, *paths, "--output", "json")
    no_traceback(result)
    assert result.returncode == 1, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def overlay_report(overlay_root):
    return validate(overlay_root, [overlay_root / "overlays" / "capacity"])


@BROKEN_OVERLAYS
@pytest.mark.parametrize("name", list(OVERLAY_CASES))
def test_broken_overlay(overlay_run, name):
    _, expected, fragment = OVERLAY_CASES[name]
    findings = by_file(overlay_run["findings"]).get(f"overlays/{name}", [])
    got: dict[str, set] = {}
    for f in findings:
        got.setdefault(f["id"], set()).add(f["severity"])
    assert got == {id_: {severity} for id_, severity in expected.items()}, findings
    if expected:
        first = next(iter(expected))
        assert any(fragment in f["message"] or fragment in f["path"] for f in findings if f["id"] == first), findings


@BROKEN_OVERLAYS
def test_kustomize_failures_name_the_overlay_and_quote_kustomize(overlay_run, overlay_root):
    findings = by_file(overlay_run["findings"])
    for name in ("kustomize-missing-patch", "kustomize-missing-base", "kustomize-broken-yaml"):
        [finding] = findings[f"overlays/{name}"]
        assert finding["message"].startswith("kustomize build failed: ")
        assert f"kubectl kustomize overlays/{name}" in finding["fix"]
        # kustomize's words only: no kubectl log prefix with its timestamp, no absolute paths
        assert "run.go" not in finding["message"] and str(overlay_root) not in finding["message"]


@BROKEN_OVERLAYS
@pytest.mark.parametrize("policy", [p.id for p in POLICIES])
def test_every_policy_fails_an_overlay_and_passes_the_repository(overlay_run, repo_report, policy):
    assert policy in POLICY_CASES, f"add an overlay case that breaks {policy}"
    severity = BY_ID[policy].severity
    findings = by_file(overlay_run["findings"])[f"overlays/{POLICY_CASES[policy]}"]
    assert any(f["id"] == policy and f["severity"] == severity for f in findings)
    assert not [f for f in repo_report.errors if f.id == policy], format_report(repo_report, "text")


@BROKEN_OVERLAYS
def test_severity_overrides_per_environment(overlay_run):
    findings = by_file(overlay_run["findings"])
    assert "overlays/severity-off" not in findings          # working-dir-mutable is off there
    assert {f["id"] for f in findings["overlays/working-dir-mutable"]} == {"working-dir-mutable"}
    assert {f["severity"] for f in findings["overlays/severity-error"]} == {ERROR}
    assert {f["severity"] for f in findings["overlays/deprecated-field"]} == {WARNING}


def test_the_repository_setting_downgrades_prod_image_digests(repo_report):
    config = load_config(REPO)
    if "prod" not in config.environments() or (config.policies.get("severity") or {}).get("prod", {}).get(
            "image-digest") != WARNING:
        pytest.skip("raygitops.yaml no longer downgrades image-digest in prod")
    digests = [f for f in repo_report.findings if f.id == "image-digest"]
    # prod's cluster layers (clusters/prod/<cluster>) check as prod
    assert digests and all(f.file in ("overlays/prod", "clusters/prod/eu-west") and f.severity == WARNING
                           for f in digests)


# --- never crashes: mutated manifests ------------------------------------------------------------

JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8) | st.integers(0, 9), inner,
                                                                max_size=3),
    max_leaves=6)


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield prefix + (index,)
            yield from _paths(value, prefix + (index,))


def _mutate(draw, tree) -> None:
    """Delete, replace with junk, or insert junk at one random place of `tree` (in place)."""
    paths = list(_paths(tree))
    if not paths:
        return
    path = draw(st.sampled_from(paths))
    parent, key = _at(tree, path[:-1]), path[-1]
    action = draw(st.sampled_from(["delete", "replace", "insert"]))
    if action == "delete":
        del parent[key]
    elif action == "replace":
        parent[key] = draw(JUNK)
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=8))] = draw(JUNK)
    else:
        parent.insert(key, draw(JUNK))


def _mutate_serve_text(draw, text: str) -> str:
    how = draw(st.sampled_from(["structure", "splice", "truncate"]))
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        config = None   # an earlier splice broke it: splice on
    if how == "structure" and isinstance(config, (dict, list)):
        for _ in range(draw(st.integers(1, 3))):
            _mutate(draw, config)
        return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    at = draw(st.integers(0, len(text)))
    if how == "truncate":
        return text[:at]
    junk = st.sampled_from(["\t", ": ", "- ", "{", "]", "&a *a", "!!python/object:x {}", "\n  x: "]) | st.text(max_size=10)
    return text[:at] + draw(junk) + text[at:]


@pytest.fixture(scope="module")
def checking():
    config = load_config(REPO)
    return config, schema_registry(config, ValidateOptions()), policy_settings(config)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_manifests_give_findings_never_exceptions(repo_report, checking, data):
    config, registry, settings_ = checking
    overlays = [s for s in repo_report.sources if s.label.startswith("overlays/")]
    source = overlays[data.draw(st.integers(0, len(overlays) - 1), label="overlay")]
    docs = [copy.deepcopy(r) for r in source.resources]
    for _ in range(data.draw(st.integers(1, 4))):
        services = [r for r in docs if isinstance(r, dict) and isinstance(r.get("spec"), dict)
                    and isinstance(r["spec"].get("serveConfigV2"), str)]
        if services and data.draw(st.booleans()):
            spec = services[data.draw(st.integers(0, len(services) - 1))]["spec"]
            spec["serveConfigV2"] = _mutate_serve_text(data.draw, spec["serveConfigV2"])
        else:
            _mutate(data.draw, docs)
    environment = data.draw(st.sampled_from(["dev", "staging", "prod", ""]))
    mutated = Source(source.label, environment, resources=tuple(docs))
    findings = check_source(mutated, config, registry, settings_, ("cpu-workers",) if environment else None)
    assert isinstance(findings, list) and all(isinstance(f, Finding) for f in findings)
    assert all(f.severity in (ERROR, WARNING, INFO) and f.id and isinstance(f.message, str) for f in findings)
    report = type(repo_report)(sources=[mutated], findings=findings)
    for output in ("text", "json", "junit", "github"):
        format_report(report, output, REPO)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_an_object_where_a_string_belongs_is_always_an_error(repo_report, checking, data):
    """The other side of the property above: a mutation known to break a resource is never
    waved through. No strict schema accepts an object in place of a string leaf."""
    config, registry, settings_ = checking
    overlays = [s for s in repo_report.sources if s.label.startswith("overlays/")]
    source = overlays[data.draw(st.integers(0, len(overlays) - 1), label="overlay")]
    docs = [copy.deepcopy(r) for r in source.resources]
    target = docs[data.draw(st.integers(0, len(docs) - 1), label="resource")]
    leaves = [p for p in _paths(target) if p[:1] not in (("apiVersion",), ("kind",)) and isinstance(_at(target, p), str)]
    path = data.draw(st.sampled_from(leaves), label="leaf")
    _at(target, path[:-1])[path[-1]] = {"junk": 1}
    findings = check_source(Source(source.label, source.environment, resources=tuple(docs)), config, registry,
                            settings_, None)
    assert any(f.severity == ERROR and f.resource.startswith(f"{target['kind']}/") for f in findings), (path, findings)


def _at(tree, path: tuple):
    for part in path:
        tree = tree[part]
    return tree


# --- rendering: parallel, cached -----------------------------------------------------------------

@pytest.fixture
def logged_kustomize(tmp_path, monkeypatch):
    """A `kustomize` first on PATH that runs the real `kubectl kustomize` and logs, per build, how many
    builds were running when it started, and how many had started once it waited for $BARRIER of them
    (at most 30 s, so that builds run one after another still end). Counts, not clocks: no timing."""
    log = tmp_path / "builds.log"
    wrapper = tmp_path / "bin" / "kustomize"
    wrapper.parent.mkdir()
    wrapper.write_text(f"""#!/bin/sh
log="{log}"
echo start >> "$log"
running=$(( $(grep -c '^start' "$log") - $(grep -c '^end' "$log") ))
tries=0
while [ "$(grep -c '^start' "$log")" -lt "${{BARRIER:-1}}" ] && [ $tries -lt 300 ]; do sleep 0.1; tries=$((tries + 1)); done
echo "build $running $(grep -c '^start' "$log")" >> "$log"
"{shutil.which("kubectl")}" kustomize "$2"; rc=$?
echo end >> "$log"
exit $rc
""")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    kustomize_command.cache_clear()

    def builds(barrier: int = 1) -> list[tuple[int, int]]:
        """(running when it started, started once past the barrier) of each build since the last call;
        then sets the barrier of the next builds."""
        lines = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        monkeypatch.setenv("BARRIER", str(barrier))
        return [(int(running), int(started))
                for _, running, started in (line.split() for line in lines if line.startswith("build"))]
    yield builds
    kustomize_command.cache_clear()


def test_overlays_render_in_parallel(logged_kustomize):
    assert kustomize_command() == ("kustomize", "build")   # standalone kustomize wins when on PATH
    overlays = [REPO / "overlays" / env for env in load_config(REPO).environments()]
    logged_kustomize(barrier=len(overlays))
    results = render(overlays, root=REPO, jobs=len(overlays), use_cache=False)
    assert all(not isinstance(r, UserError) for r in results.values())
    # every build saw all of them started before it ran: all at once
    assert [started for _, started in logged_kustomize()] == [len(overlays)] * len(overlays)

    render(overlays, root=REPO, jobs=1, use_cache=False)
    assert len(logged_kustomize()) == 1   # one job: one kustomize process builds them all

    # tools/validate: one kustomize per core, each for a batch of overlays (base/, for the
    # worker-group order, in the first)
    logged_kustomize(barrier=len(overlays))
    report = validate(REPO, overlays, ValidateOptions(jobs=len(overlays), use_cache=False))
    assert report.errors == []
    assert [started for _, started in logged_kustomize()] == [len(overlays)] * len(overlays)
    report = validate(REPO, overlays, ValidateOptions(jobs=2, use_cache=False))
    assert report.errors == [] and len(logged_kustomize()) == 2


def test_batched_renders_are_the_texts_of_separate_builds(overlay_root):
    """render builds many kustomizations in one kustomize process per job (tools/validate uses it):
    every text is byte for byte what a build of that kustomization alone prints, and a broken one
    in the batch still reports its own kustomize error."""
    names = ["dev", "staging", "prod", "control", "secret-in-git", "dashboard-ingress", "gpu-toleration",
             "kustomize-missing-base", "worker-group-order", "ray-version-mismatch"]
    paths = [overlay_root / "overlays" / name for name in names]
    if is_kustomization(overlay_root / "argocd"):
        paths.append(overlay_root / "argocd")
    batched = render(paths, root=overlay_root, jobs=1, use_cache=False)
    assert list(batched) == paths
    for path in paths:
        try:
            alone = render_overlay(path, root=overlay_root, use_cache=False)
        except UserError as error:
            assert isinstance(batched[path], UserError) and str(batched[path]) == str(error)
            continue
        assert not isinstance(batched[path], UserError), batched[path]
        assert batched[path].text == alone.text and batched[path].digest == alone.digest
    assert sum(isinstance(r, UserError) for r in batched.values()) == 1


def test_batched_renders_use_and_fill_the_cache(cold_repo_copy):
    overlays = [cold_repo_copy / "overlays" / env for env in load_config(cold_repo_copy).environments()]
    first = render(overlays, root=cold_repo_copy)
    assert not any(r.cached for r in first.values())
    again = render(overlays, root=cold_repo_copy)
    assert all(r.cached for r in again.values())
    assert [r.text for r in again.values()] == [r.text for r in first.values()]
    assert render_overlay(overlays[0], root=cold_repo_copy).cached   # the same cache as single builds


def test_unchanged_overlays_come_from_the_render_cache(cold_repo_copy):
    dev, prod = cold_repo_copy / "overlays" / "dev", cold_repo_copy / "overlays" / "prod"
    first = render_overlay(dev, root=cold_repo_copy)
    assert not first.cached
    assert (cold_repo_copy / ".run" / "render-cache" / f"{first.digest}.yaml").read_text() == first.text
    again = render_overlay(dev, root=cold_repo_copy)
    assert again.cached and again.text == first.text and again.resources == first.resources
    assert not render_overlay(dev, root=cold_repo_copy, use_cache=False).cached

    other = render_overlay(prod, root=cold_repo_copy)
    patch = dev / "rayservice-patch.yaml"
    patch.write_text(patch.read_text().replace("maxReplicas: 1", "maxReplicas: 3"))
    edited = render_overlay(dev, root=cold_repo_copy)
    assert not edited.cached and edited.digest != first.digest and "maxReplicas: 3" in edited.text
    assert render_overlay(prod, root=cold_repo_copy).cached   # other overlays are untouched
    base = cold_repo_copy / "base" / "rayservice.yaml"
    base.write_text(base.read_text() + "\n# a comment changes the input hash\n")
    assert not render_overlay(prod, root=cold_repo_copy).digest == other.digest


def test_validate_no_cache_writes_no_render_cache(cold_repo_copy):
    cache = cold_repo_copy / ".run" / "render-cache"
    overlays = [cold_repo_copy / "overlays" / "dev"]
    validate(cold_repo_copy, overlays, ValidateOptions(use_cache=False))
    assert not cache.exists()
    cold = validate(cold_repo_copy, overlays)
    assert len(list(cache.glob("*.yaml"))) == 2   # dev and base
    warm = validate(cold_repo_copy, overlays)
    assert warm.findings == cold.findings


def test_findings_in_plain_files_point_at_the_field():
    from raygitops.yamlio import line_of_path
    text = """\
spec:
  serveConfigV2: |
    applications: []
  groups:
    - groupName: cpu
      containers:
        - name: ray-worker
          image: x
  annotations:
    "a.b/c": "1"
"""
    node = yaml.compose(text)
    assert line_of_path(node, "spec.groups[cpu].containers[ray-worker].image") == 8
    assert line_of_path(node, "spec.groups[0].containers[0]") == 7
    assert line_of_path(node, 'spec.annotations["a.b/c"]') == 10
    assert line_of_path(node, "spec.serveConfigV2:applications[main]") == 2
    assert line_of_path(node, "spec.groups[gpu].containers") == 4    # the deepest step that exists
    assert line_of_path(node, "") == 1


def test_an_edit_of_a_patch_imports_no_ray(repo_copy):
    """Importing Ray's serve schema takes about a second. An edit of a patch renders the overlay again,
    but its serve config (the generated file, verbatim) is one the check cache knows (issue 9)."""
    patch = repo_copy / "overlays" / "dev" / "rayservice-patch.yaml"
    patch.write_text(patch.read_text().replace("maxReplicas: 1", "maxReplicas: 2"))
    imports = {"PYTHONPROFILEIMPORTTIME": "1"}   # python -X importtime: one stderr line per module
    edited = run_tool(repo_copy, "validate", "overlays/dev", env=imports, process=True)
    assert edited.returncode == 0, edited.stdout + edited.stderr
    assert "| ray.serve.schema" not in edited.stderr and "| raygitops.checks.validate" in edited.stderr
    # A changed serve config is still checked against Ray's schema: serve-schema in the broken overlays above.


def test_a_warm_run_replays_the_last_report_until_an_input_changes(repo_copy):
    """checks/replay.py: the second run prints the recorded report (a planted one proves it is read);
    an edit anywhere an input lives is a real run again, and so is --no-cache."""
    warmed = set((repo_copy / ".run/check-cache").glob("replay-*.json"))   # the warm caches' own runs
    first = run_validate(repo_copy, "--output", "json")
    assert first.returncode == 0, first.stderr
    [entry] = set((repo_copy / ".run/check-cache").glob("replay-*.json")) - warmed
    recorded = json.loads(entry.read_text())
    assert json.loads(recorded["output"]) == json.loads(first.stdout)
    entry.write_text(json.dumps(dict(recorded, output='{"planted": true}')))
    assert json.loads(run_validate(repo_copy, "--output", "json").stdout) == {"planted": True}
    assert json.loads(run_validate(repo_copy, "--output", "json", "--no-cache").stdout) == json.loads(first.stdout)

    patch = repo_copy / "overlays" / "staging" / "rayservice-patch.yaml"
    patch.write_text(patch.read_text().replace("maxReplicas: 4", "maxReplicas: 4\n        maxReplica: 5", 1))
    broken = run_validate(repo_copy, "--output", "json")
    assert broken.returncode == 1 and "maxReplica" in broken.stdout
