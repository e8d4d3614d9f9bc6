"""validate's output formats behind one interface, as kubeconform's `output.New(format)`.

    print(format_report(report, "junit"))
    FORMATS  # text, json, junit, github
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from raygitops.findings import ERROR, INFO, Finding, resource_id

if TYPE_CHECKING:
    from raygitops.checks.validate import ValidationReport

def _resource_words(finding: Finding) -> str:
    kind, _, rest = finding.resource.partition("/")
    name = rest.rpartition("/")[2]
    return f"{kind} {name}: " if finding.resource and kind != "?" else ""


def format_text(report: ValidationReport) -> str:
    def line(f: Finding, with_path: bool) -> str:
        where = f"{f.file}:{f.line}" if f.line and f.file and not f.file.startswith("overlays/") else (f.file or "")
        path = f" ({f.path})" if f.path and with_path else ""
        fix = f" — {f.fix}" if f.fix else ""
        return f"{where}: {_resource_words(f)}{f.severity} {f.id}: {f.message}{path}{fix}"

    # Policy messages name what is wrong; the field is shown when it tells two alike findings apart.
    short = [line(f, f.id.startswith(("schema", "serve-"))) for f in report.findings]
    lines = [line(f, True) if short.count(text) > 1 else text for f, text in zip(report.findings, short)]
    lines.append(summary_line(report))
    return "\n".join(lines)


def summary_line(report: ValidationReport) -> str:
    """kubeconform's summary, plus warnings. A resource is invalid when it has an error."""
    bad = {(f.file, f.resource) for f in report.errors if f.resource}
    failed_sources = sum(1 for s in report.sources if s.error is not None)
    valid = report.resource_count - len(bad) - report.skipped
    return (f"Summary: {report.resource_count} resources found in {len(report.sources)} sources - "
            f"Valid: {max(valid, 0)}, Invalid: {len(bad)}, Errors: {failed_sources}, Skipped: {report.skipped}, "
            f"Warnings: {len(report.warnings)}")


def format_json(report: ValidationReport) -> str:
    # Every finding carries the same keys ("" where unknown); line only where known.
    keys = ("id", "severity", "file", "resource", "path", "message", "fix")
    findings = [{**{k: getattr(f, k) or "" for k in keys}, **({"line": f.line} if f.line else {})}
                for f in report.findings]
    return json.dumps({"findings": findings,
                       "summary": {"resources": report.resource_count, "sources": len(report.sources),
                                   "errors": len(report.errors), "warnings": len(report.warnings)}},
                      indent=2, sort_keys=True)


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
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="tools/validate" tests="{report.resource_count}" failures="{len(report.errors)}">']
    for source in report.sources:
        findings = [f for f in report.findings if f.file == source.label or (f.file or "").startswith(source.label + ":")]
        errors = [f for f in findings if f.severity == ERROR]
        out.append(f'  <testsuite name={quoteattr(source.label)} tests="{max(1, len(source.resources))}" '
                   f'failures="{len(errors)}">')
        names = [resource_id(r) if isinstance(r, dict) else "?" for r in source.resources] or [source.label]
        for name in names:
            mine = [f for f in errors if f.resource == name or (name == source.label and not f.resource)]
            out.append(f'    <testcase classname={quoteattr(source.label)} name={quoteattr(name)}>')
            for f in mine:
                out.append(f'      <failure type={quoteattr(f.id)} message={quoteattr(f.message)}>'
                           f'{escape(f.path + " — " + f.fix)}</failure>')
            out.append("    </testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out)


FORMATS = {
    "text": lambda report, root: format_text(report),
    "json": lambda report, root: format_json(report),
    "junit": lambda report, root: format_junit(report),
    "github": format_github,
}


def format_report(report: ValidationReport, output: str, root: Path | None = None) -> str:
    return FORMATS[output](report, root)
