"""tools/diff output: text for the terminal, Markdown for a PR comment, JSON for tooling, and git's
--stat and --name-only.

    print(format_report(report, "markdown"), end="")   # "" when no environment changed
    json.loads(format_report(report, "json"))["environments"][0]["verdict"]
"""
from __future__ import annotations

from raygitops.diff.compare import SAME_OUTPUT, UNCHANGED, DiffReport, EnvironmentDiff
from raygitops.diff.fields import ResourceDiff, to_json
from raygitops.diff.rollout import Classified
from raygitops.output import plural

MARKER = "<!-- raygitops-diff -->"     # the PR-comment workflow finds its comment by this line
COMMENT_LIMIT = 60_000                 # GitHub rejects comments over 65,536 characters
_QUIET = {UNCHANGED: "inputs identical, not rendered", SAME_OUTPUT: "inputs differ, rendered output identical"}


def format_report(report: DiffReport, output: str) -> str:
    return {"text": format_text, "markdown": format_markdown, "json": format_json, "stat": format_stat,
            "name-only": format_name_only}[output](report)


def _by_resource(env: EnvironmentDiff) -> list[tuple[ResourceDiff, list[Classified]]]:
    groups: dict[int, tuple[ResourceDiff, list[Classified]]] = {}
    for item in env.classified:
        groups.setdefault(id(item.resource), (item.resource, []))[1].append(item)
    return list(groups.values())


def _what(item: Classified) -> tuple[str, str]:
    """(field, change) for one classified change; a whole resource has no field."""
    if item.change is None:
        return "", item.resource.change
    return item.change.display_path, item.change.summary()


def _capacity_line(env: EnvironmentDiff) -> str:
    return env.capacity.describe()


# --- text ---------------------------------------------------------------------------------------

def _reach(env: EnvironmentDiff) -> str:
    if env.is_layer:
        name, cluster = env.name.split("/")
        return f"reaches 1 cluster: {cluster} (aana-{name}-{cluster}), as {env.path} renders {name} there"
    return (f"reaches {env.cluster_count} clusters: Argo CD's own (aana-{env.name}) and "
            + ", ".join(f"{c} (aana-{env.name}-{c})" for c in env.clusters))


def format_text(report: DiffReport) -> str:
    lines = [f"tools/diff {report.base} → {report.head} · KubeRay {report.kuberay}", ""]
    for env in report.environments:
        if not env.differs:
            continue
        lines.append(f"{env.name}: {env.verdict}" + (f" (environment {env.status})" if env.status != "changed" else ""))
        if env.clusters or env.is_layer:
            lines.append(f"  {_reach(env)}")
        lines += [f"  ERROR: {error}" for error in env.errors]
        lines += [f"  WARNING: {warning}" for warning in env.warnings]
        for resource, items in _by_resource(env):
            lines.append(f"  {resource.resource}" + (f": {resource.change}" if not resource.fields else ""))
            for item in items:
                where, what = _what(item)
                change = f"{where}: {what} — " if where else ""
                lines.append(f"    [{item.verdict}] {change}{item.impact}")
            if items[0].note:
                lines.append(f"    note: {items[0].note}")
        if env.capacity:
            lines.append(f"  {_capacity_line(env)}")
        lines += [f"  hint: {hint}" for hint in env.hints]
        lines.append("")
    if not report.has_differences:
        lines.append("no differences")
    lines += _quiet_lines(report)
    return "\n".join(lines) + "\n"


def _quiet_lines(report: DiffReport) -> list[str]:
    """Environments without differences, one line per reason; their hints after."""
    lines = []
    for status, reason in _QUIET.items():
        names = [env.name for env in report.environments
                 if not env.differs and env.status == status and not env.is_setup]
        if names:
            lines.append(f"{status} ({reason}): {', '.join(names)}")
    return lines + [f"hint: {hint}" for env in report.environments if not env.differs for hint in env.hints]


# --- markdown -----------------------------------------------------------------------------------

def _cell(text: str, code: bool = False) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`{text.replace('`', chr(39))}`" if code and text else text


def _markdown_environment(env: EnvironmentDiff, with_details: bool) -> list[str]:
    lines = [f"### {env.name}: **{env.verdict}**" + (f" (environment {env.status})" if env.status != "changed" else ""),
             ""]
    if env.clusters or env.is_layer:
        lines += [_reach(env)[0].upper() + _reach(env)[1:] + ".", ""]
    for error in env.errors:
        lines += ["> [!CAUTION]", f"> **{error}**", ""]
    for warning in env.warnings:
        lines += ["> [!WARNING]", f"> **{warning}**", ""]
    if env.capacity:
        capacity = _capacity_line(env)
        lines += [capacity[0].upper() + capacity[1:] + ".", ""]
    lines += ["| Resource | Field | Change | Impact |", "|---|---|---|---|"]
    notes = []
    for resource, items in _by_resource(env):
        for index, item in enumerate(items):
            where, what = _what(item)
            name = _cell(resource.resource) if index == 0 else ""   # once per resource: the rows below are its fields
            lines.append(f"| {name} | {_cell(where, code=True)} | {_cell(what)} "
                         f"| **{item.verdict}**: {_cell(item.impact)} |")
        if items[0].note:
            notes.append(f"- `{resource.resource}`: {items[0].note}")
    lines += [""] + notes + ([""] if notes else [])
    lines += [f"> {hint}" for hint in env.hints]
    if with_details:
        lines += _details(env)
    return lines


def _details(env: EnvironmentDiff) -> list[str]:
    body = []
    for resource in env.resources:
        body.append(f"@@ {resource.resource} ({resource.change})")
        for change in resource.fields:
            body += change.detail_lines()
    return ["<details><summary>Raw field diffs</summary>", "", "```diff", *body, "```", "", "</details>", ""]


def format_markdown(report: DiffReport) -> str:
    """One section per changed environment, verdict first; "" when nothing changed."""
    if not report.has_differences:
        return ""
    for with_details in (True, False):
        text = _markdown(report, with_details)
        if len(text) <= COMMENT_LIMIT:
            return text
    # Cut at a line end, so that no table row is left half written.
    return text[:text.rfind("\n", 0, COMMENT_LIMIT) + 1] + "\n… cut: too long for a comment. Run `tools/diff` locally.\n"


def _markdown(report: DiffReport, with_details: bool) -> str:
    changed = [env for env in report.environments if env.differs]
    lines = [MARKER, f"## Rollout preview: **{report.verdict}**", "",
             f"`{report.base}` → `{report.head}` · KubeRay {report.kuberay}", "",
             "| Environment | Verdict | Changes | Clusters |", "|---|---|---|---|"]
    lines += [f"| {env.name} | **{env.verdict}** | {len(env.classified)} | {env.cluster_count} |" for env in changed]
    lines.append("")
    for env in changed:
        lines += _markdown_environment(env, with_details)
    lines += [f"{line[0].upper()}{line[1:]}  " for line in _quiet_lines(report)]
    if not with_details:
        lines += ["", "_Raw field diffs left out: too long for a comment. Run `tools/diff` locally._"]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- json ---------------------------------------------------------------------------------------

def _json_change(item: Classified) -> dict:
    out = {"resource": item.resource.resource, "kind": item.resource.kind, "verdict": item.verdict,
           "impact": item.impact, "source": item.rule.source}
    if item.change is None:
        out["change"] = item.resource.change
    else:
        out.update(change=item.change.change, path=item.change.display_path)
        if item.change.secret:
            out["secret"] = True
        else:
            out.update(before=item.change.before, after=item.change.after)
    if item.warning:
        out["warning"] = item.warning
    if item.is_error:
        out["error"] = True
    if item.note:
        out["note"] = item.note
    return out


def _json_environment(env: EnvironmentDiff) -> dict:
    out = {"name": env.name, "path": env.path, "status": env.status, "verdict": env.verdict, "errors": env.errors,
           "warnings": env.warnings, "hints": env.hints, "clusters": env.cluster_count,
           "changes": [_json_change(item) for item in env.classified]}
    if env.is_setup:
        out["setup"] = True
    if env.capacity:
        out["rollover_requests"] = env.capacity.to_json()
    return out


def format_json(report: DiffReport) -> str:
    data = {"base": report.base, "head": report.head, "kuberay": report.kuberay, "verdict": report.verdict,
            "has_differences": report.has_differences,
            "environments": [_json_environment(env) for env in report.environments]}
    return to_json(data, indent=2) + "\n"


# --- git's --stat and --name-only ----------------------------------------------------------------

def format_stat(report: DiffReport) -> str:
    """One line per changed environment and a total, as `git diff --stat`; "" when nothing changed."""
    changed = [env for env in report.environments if env.differs]
    if not changed:
        return ""
    width = max(len(env.path) for env in changed)
    lines = [f" {env.path:<{width}} | {plural(len(env.resources), 'resource')}, "
             f"{plural(len(env.classified), 'change')} · {env.verdict}"
             + (f" (environment {env.status})" if env.status != "changed" else "") for env in changed]
    lines.append(f" {plural(len(changed), 'environment')} changed, "
                 f"{plural(sum(len(env.resources) for env in changed), 'resource')}, "
                 f"{plural(sum(len(env.classified) for env in changed), 'change')}")
    return "\n".join(lines) + "\n"


def format_name_only(report: DiffReport) -> str:
    """The changed environments' overlay paths, one a line, as `git diff --name-only`."""
    return "".join(f"{env.path}\n" for env in report.environments if env.differs)
