"""validate's output formats behind one interface, as kubeconform's `output.New(format)`.

    print(format_report(report, "junit"))
    FORMATS  # text, json, junit, github, tap
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from raygitops.findings import ERROR, INFO, Finding, resource_id
from raygitops.model.environment import OVERLAYS
from raygitops.masking import mask_text, printable

if TYPE_CHECKING:
    from raygitops.checks.validate import ValidationReport


def _resource_words(finding: Finding) -> str:
    kind, _, rest = finding.resource.partition("/")
    name = rest.rpartition("/")[2]
    return f"{kind} {name}: " if finding.resource and kind != "?" else ""


def format_text(report: ValidationReport) -> str:
    def line(f: Finding, with_path: bool) -> str:
        where = f"{f.file}:{f.line}" if f.line and f.file and not f.file.startswith(OVERLAYS + "/") else (f.file or "")
        path = f" ({f.path})" if f.path and with_path else ""
        fix = f" — {f.fix}" if f.fix else ""
        return f"{where}: {_resource_words(f)}{f.severity} {f.id}: {f.message}{path}{fix}".replace("\n", "\\n")

    # Policy messages name what is wrong; the field is shown when it tells two alike findings apart.
    short = [line(f, f.id.startswith(("schema", "serve-"))) for f in report.findings]
    lines = [line(f, True) if short.count(text) > 1 else text for f, text in zip(report.findings, short)]
    lines.append(summary_line(report))
    return "\n".join(lines)


def _counts(report: ValidationReport) -> dict[str, int]:
    """kubeconform's counts: a resource is invalid when it has an error; errors are sources that did not load."""
    bad = {(f.file, f.resource) for f in report.errors if f.resource}
    return {"valid": max(report.resource_count - len(bad) - report.skipped, 0), "invalid": len(bad),
            "errors": sum(1 for s in report.sources if s.error is not None), "skipped": report.skipped}


def summary_line(report: ValidationReport) -> str:
    """kubeconform's summary, plus warnings."""
    counts = _counts(report)
    return (f"Summary: {report.resource_count} resources found in {len(report.sources)} sources - "
            f"Valid: {counts['valid']}, Invalid: {counts['invalid']}, Errors: {counts['errors']}, "
            f"Skipped: {counts['skipped']}, Warnings: {len(report.warnings)}")


def format_json(report: ValidationReport) -> str:
    # Every finding carries the same keys ("" where unknown); line only where known.
    keys = ("id", "severity", "file", "resource", "path", "message", "fix")
    findings = [{**{k: getattr(f, k) or "" for k in keys}, **({"line": f.line} if f.line else {})}
                for f in report.findings]
    # The summary also has kubeconform's valid, invalid and skipped (README: where it differs from kubeconform's).
    counts = _counts(report)
    return json.dumps({"findings": findings,
                       "summary": {"resources": report.resource_count, "sources": len(report.sources),
                                   "errors": len(report.errors), "warnings": len(report.warnings),
                                   "valid": counts["valid"], "invalid": counts["invalid"],
                                   "skipped": counts["skipped"]}},
                      indent=2, sort_keys=True, allow_nan=False)


def _annotation_file(finding: Finding, root: Path | None) -> str:
    file = finding.file or ""
    if root is not None and (root / file).is_dir():
        file = f"{file.rstrip('/')}/kustomization.yaml"
    return file


def _escape_data(text: str) -> str:
    """GitHub's workflow-command escaping for the message part."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(report: ValidationReport, root: Path | None = None) -> str:
    lines = []
    for f in report.findings:
        level = {ERROR: "error", INFO: "notice"}.get(f.severity, "warning")
        props = f"file={_escape_property(_annotation_file(f, root))}" + (f",line={f.line}" if f.line else "")
        text = f"{f.resource} {f.id}: {f.message}" + (f" ({f.path})" if f.path else "") + (f" — {f.fix}" if f.fix else "")
        lines.append(f"::{level} {props},title={f.id}::{_escape_data(text)}")
    lines.append(summary_line(report))
    return "\n".join(lines)


def format_junit(report: ValidationReport) -> str:
    """One testsuite per source, one testcase per resource. Findings are grouped once, so the
    time grows with resources plus findings (not their product)."""
    errors_by_suite: dict[str, list[Finding]] = defaultdict(list)
    labels = {printable(source.label) for source in report.sources}
    for f in report.errors:
        label = f.file or ""
        if label not in labels and ":" in label:
            label = label.rsplit(":", 1)[0]    # a finding at file:line inside a source
        errors_by_suite[label].append(f)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="tools/validate" tests="{report.resource_count}" failures="{len(report.errors)}">']
    for source in report.sources:
        label = printable(source.label)
        errors = errors_by_suite.get(label, [])
        by_resource: dict[str, list[Finding]] = defaultdict(list)
        for f in errors:
            by_resource[f.resource or label].append(f)
        out.append(f'  <testsuite name={quoteattr(label)} tests="{max(1, len(source.resources))}" '
                   f'failures="{len(errors)}">')
        names = [printable(resource_id(r)) if isinstance(r, dict) else "?" for r in source.resources] or [label]
        listed = set(names)
        for name in names + [rest for rest in by_resource if rest not in listed]:
            # A resource listed twice gets its failures once; a finding on no listed resource its own case.
            out.append(f'    <testcase classname={quoteattr(label)} name={quoteattr(name)}>')
            for f in by_resource.pop(name, []):
                out.append(f'      <failure type={quoteattr(f.id)} message={quoteattr(f.message)}>'
                           f'{escape(f.path + " — " + f.fix)}</failure>')
            out.append("    </testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out)


def format_tap(report: ValidationReport) -> str:
    """TAP 13 as kubeconform writes it (pkg/output/tap.go at v0.7.0): one test per resource, named
    `<source> (<apiVersion>/<Kind>/<namespace>/<name>)`, `# skip` for a skipped one; then one per
    source that did not load and one per error that belongs to no resource. Warnings are comments."""
    lines, number = ["TAP version 13"], 0

    def test(ok: bool, text: str, notes: list[Finding] = ()) -> None:
        nonlocal number
        number += 1
        lines.append(f"{'ok' if ok else 'not ok'} {number} - {text}")
        lines.extend(f"# {f.severity} {f.id}: {_one_line(f)}" for f in notes)

    for source in report.sources:
        mine = [f for f in report.findings if f.file == source.label or (f.file or "").startswith(source.label + ":")]
        for resource in source.resources:
            rid = resource_id(resource) if isinstance(resource, dict) else "?"
            name = _qualified_name(resource)
            findings = [f for f in mine if f.resource == rid]
            errors = [f for f in findings if f.severity == ERROR]
            if (source.label, rid) in report.skipped_resources and not errors:
                test(True, f"{source.label} ({name}) # skip")
            elif errors:
                test(False, f"{source.label} ({name}): " + "; ".join(_one_line(f) for f in errors),
                     [f for f in findings if f.severity != ERROR])
            else:
                test(True, f"{source.label} ({name})", findings)
        for f in (f for f in mine if not f.resource and f.severity == ERROR):
            test(False, f"{source.label}: {_one_line(f)}")
    lines.append(f"1..{number}")
    return "\n".join(lines)


def _one_line(f: Finding) -> str:
    return f"{f.message}" + (f" ({f.path})" if f.path else "")


def _qualified_name(resource) -> str:
    """kubeconform's Signature.QualifiedName: version/kind/namespace/name."""
    if not isinstance(resource, dict):
        return "///"
    meta = resource.get("metadata") if isinstance(resource.get("metadata"), dict) else {}
    return "/".join(str(v or "") for v in (resource.get("apiVersion"), resource.get("kind"),
                                           meta.get("namespace"), meta.get("name")))


FORMATS = {
    "text": lambda report, root: format_text(report),
    "json": lambda report, root: format_json(report),
    "junit": lambda report, root: format_junit(report),
    "github": format_github,
    "tap": lambda report, root: format_tap(report),
}


def _safe(finding: Finding) -> Finding:
    """The last line of defence, shared by every format: a message or fix that quotes a URL with
    user information or a secret-like setting has it hidden, and control characters (terminal
    escapes, bidi overrides, what XML 1.0 cannot hold) are written as \\xNN."""
    def clean(text: str) -> str:   # line breaks stay for each format to write its own way
        return printable(mask_text(text), keep_newlines=True)
    return replace(finding, message=clean(finding.message), fix=clean(finding.fix), path=printable(finding.path),
                   resource=printable(finding.resource), file=printable(finding.file) if finding.file else finding.file)


def format_report(report: ValidationReport, output: str, root: Path | None = None) -> str:
    safe = replace(report, findings=[_safe(f) for f in report.findings])
    return FORMATS[output](safe, root)
