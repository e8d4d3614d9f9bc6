"""The registry of checks: every finding's id is registered, --list-checks and the README print the
registry, and the Aana pack runs only where raygitops.yaml turns it on."""
from __future__ import annotations

import ast
import dataclasses
import json
import re

import pytest

from conftest import REPO
from raygitops.checks.policies import POLICIES
from raygitops.checks.registry import AANA, BY_ID, CHECKS, GENERIC, PACKS, finding, is_enabled
from raygitops.checks.validate import ValidateOptions, check_source, policy_settings, schema_registry, validate
from raygitops.cli import main
from raygitops.config import load_config
from raygitops.errors import UserError
from raygitops.findings import ERROR, INFO, WARNING
from raygitops.output.checklist import BEGIN_MARKER, END_MARKER, format_checks

PACKAGE = REPO / "tools" / "raygitops"
CORPUS = REPO / "tests" / "e2e" / "validate_corpus"
# Registered checks that no plain manifest can trigger: they need an overlay (kustomize, regen-stale),
# an environment (image-digest: policies.require_digest), base/'s worker groups (worker-group-order) or an
# overlay's generated serve config (serve-not-generated).
# tests/e2e/test_validate.py and test_hostile_input.py break an overlay for each.
NOT_FROM_PLAIN_FILES = {"kustomize", "regen-stale", "image-digest", "worker-group-order", "serve-not-generated",
                        "gcs-ft-required",    # per environment: policies.gcs_ft_required
                        "aana-fastapi-pin"}   # per repository: pyproject.toml (tests/e2e/test_validate.py)


@pytest.fixture(scope="module")
def corpus_report():
    """The corpus of broken manifests through validate() in this process, as tools/validate checks it."""
    return validate(REPO, [CORPUS])


# --- findings carry registered ids -------------------------------------------------------------

def test_a_finding_of_an_unregistered_check_is_refused():
    with pytest.raises(ValueError, match="no check 'capacty' in raygitops/checks/registry.py"):
        finding("capacty", "serve config asks for 9 CPUs")
    with pytest.raises(ValueError, match="severity 'fatal' of capacity is not error, warning or info"):
        finding("capacity", "serve config asks for 9 CPUs", severity="fatal")


def test_a_finding_takes_its_checks_severity_and_remediation_unless_told():
    plain = finding("gpu-image", "runs the CPU image", file="overlays/prod")
    assert (plain.id, plain.severity, plain.fix) == ("gpu-image", WARNING, BY_ID["gpu-image"].remediation)
    told = finding("gpu-image", "runs the CPU image", severity=ERROR, fix="use the -gpu tag")
    assert (told.severity, told.fix) == (ERROR, "use the -gpu tag")


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            yield node, func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def test_findings_are_made_only_through_the_registry():
    """No module builds a Finding itself, and every id written out where a finding is made is registered."""
    made_directly, unregistered = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for call, name in _calls(ast.parse(path.read_text(), filename=rel)):
            if name == "Finding" and rel != "checks/registry.py":
                made_directly.append(f"{rel}:{call.lineno}")
            if name in ("finding", "registered_finding", "report", "Policy") and call.args:
                first = call.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value not in BY_ID:
                    unregistered.append(f"{rel}:{call.lineno} {first.value}")
            if name in ("replace", "with_location") and any(k.arg == "id" for k in call.keywords):
                made_directly.append(f"{rel}:{call.lineno} (changes an id)")
    assert made_directly == [], "make findings with checks.registry.finding()"
    assert unregistered == [], "register these ids in checks/registry.py"


def test_every_id_the_corpus_gives_is_registered_and_every_check_fires(corpus_report):
    emitted = {f.id for f in corpus_report.findings}
    assert emitted <= set(BY_ID)
    assert set(BY_ID) - emitted <= NOT_FROM_PLAIN_FILES, "a registered check that nothing reports: remove it or test it"
    assert NOT_FROM_PLAIN_FILES <= set(BY_ID)
    expected = {line.split()[0] for p in CORPUS.glob("*.yaml")
                for line in re.findall(r"^# expect: (.+)$", p.read_text(), re.M) if line.strip() != "nothing"}
    assert expected == emitted


def test_every_check_is_complete_and_every_policy_registered():
    for check in CHECKS:
        assert check.pack in PACKS and check.severity in (ERROR, WARNING, INFO)
        assert check.description.endswith(".") and "\n" not in check.description + check.remediation
    assert len({c.id for c in CHECKS}) == len(CHECKS)
    assert {p.id for p in POLICIES} <= set(BY_ID)


# --- packs ------------------------------------------------------------------------------------------

def test_generic_checks_always_run_and_a_pack_only_when_listed():
    assert is_enabled("capacity", ()) and is_enabled("capacity", (AANA,))
    assert not is_enabled("db-config", ()) and is_enabled("db-config", (AANA,))


def _corpus_ids(corpus_report, config) -> set[str]:
    registry, settings = schema_registry(config, ValidateOptions()), policy_settings(config)
    return {f.id for source in corpus_report.sources for f in check_source(source, config, registry, settings, None)}


def test_this_repository_runs_the_aana_pack_and_a_plain_ray_serve_repository_does_not(corpus_report):
    config = load_config(REPO)
    assert config.packs == (AANA,)
    with_aana = _corpus_ids(corpus_report, config)
    plain = _corpus_ids(corpus_report, dataclasses.replace(config, packs=()))
    assert {BY_ID[i].pack for i in plain} == {GENERIC}
    assert plain == {i for i in with_aana if BY_ID[i].pack == GENERIC}   # the generic findings are unchanged
    assert {i for i in with_aana if BY_ID[i].pack == AANA} == {c.id for c in CHECKS if c.pack == AANA} - NOT_FROM_PLAIN_FILES
    assert {c.id for c in CHECKS if c.pack == AANA} == {"db-config", "db-sqlite-non-dev", "db-password-literal",
                                                        "aana-secret-default", "node-local-storage", "aana-fastapi-pin"}


def test_an_unknown_pack_is_an_error_with_its_line(tmp_path):
    text = (REPO / "raygitops.yaml").read_text()
    assert text.endswith("checks:\n  packs: [aana]\n")
    (tmp_path / "raygitops.yaml").write_text(text.replace("packs: [aana]", "packs: [aaan]"))
    with pytest.raises(UserError) as caught:
        policy_settings(load_config(tmp_path))
    error = caught.value
    assert (error.message, error.file, error.line, error.fix) == (
        "checks.packs: no pack 'aaan'", "raygitops.yaml", text.count("\n"), "did you mean aana?")


# --- tools/validate --list-checks and the README ---------------------------------------------------

def test_list_checks_prints_the_registry_as_text(capsys):
    assert main(["validate", "--list-checks"]) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [f"Name: {c.id}" for c in CHECKS]
    for block, check in zip(blocks, CHECKS):
        assert block.splitlines()[1:] == [f"Description: {check.description}", f"Remediation: {check.remediation}",
                                          f"Severity: {check.severity}", f"Family: {check.family}",
                                          f"Pack: {check.pack}"]


def test_list_checks_prints_the_registry_as_json(capsys):
    assert main(["validate", "--list-checks", "--output", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["checks"]
    assert listed == [dataclasses.asdict(c) for c in CHECKS]


@pytest.mark.parametrize("args, message", [
    (["--list-checks", "--output", "junit"], "--list-checks prints text, json, markdown, not junit"),
    (["--list-checks", "overlays/dev"], "--list-checks takes no paths"),
    (["--output", "markdown"], "--output markdown is for --list-checks"),
])
def test_list_checks_usage_errors_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as caught:
        main(["validate", *args])
    assert caught.value.code == 2 and message in capsys.readouterr().err


def test_the_readme_table_of_checks_is_the_registry():
    text = (REPO / "README.md").read_text()
    assert text.count(BEGIN_MARKER) == 1 and text.count(END_MARKER) == 1
    table = text.split(BEGIN_MARKER)[1].split(END_MARKER)[0].strip()
    assert table == format_checks(CHECKS, "markdown"), (
        "README.md's table of checks is stale: replace the lines between its checks markers with the output of "
        "`tools/validate --list-checks --output markdown`")


def test_the_markdown_table_keeps_every_cell_intact():
    text = format_checks(CHECKS, "markdown")
    header, rule, *rows = text.splitlines()
    assert len(rows) == len(CHECKS)
    for row, check in zip(rows, CHECKS):
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert cells[:3] == [f"`{check.id}`", check.severity, check.pack]
        assert "<" not in row   # <digest> would be read as an HTML tag and vanish
