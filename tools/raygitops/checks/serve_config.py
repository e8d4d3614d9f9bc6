"""The serve-* checks: one RayService's serveConfigV2 as Ray would read it (tools/validate).

    findings = check_serve_config_text(spec["serveConfigV2"], root=root, external_imports=(), file="overlays/dev",
                                       resource="RayService/aana-dev/aana")
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from raygitops.checks.registry import finding as registered_finding
from raygitops.findings import Finding
from raygitops.generate.serve_schema import display_path, ray_schema_errors, unknown_keys
from raygitops.generate.serveconfig import read_serve_config_text
from raygitops.generate.workingdir import APPS_PACKAGE
from raygitops.masking import describe

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def import_path_problem(import_path: str, root: Path, external: Iterable[str]) -> str | None:
    """Why `import_path` does not resolve to code in this repository, or None."""
    module, _, attribute = import_path.partition(":")
    if any(module == e or module.startswith(e + ".") for e in external):
        return None
    if not _MODULE.match(module) or not attribute:
        return f"import_path '{import_path}' is not module:attribute"
    from raygitops.generate.aana_apps import generated_serve_modules
    if module in generated_serve_modules(root):
        return None   # an Aana app's Serve targets: tools/regen puts the module into the working_dir zip
    if module.split(".")[0] != APPS_PACKAGE:
        # The working_dir zip holds apps/ only: anything else in the repository is not in the cluster.
        return f"import_path '{import_path}': module {module} is not in {APPS_PACKAGE}/, the code the cluster gets"
    base = root.joinpath(*module.split("."))
    source = base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
    if not source.exists():
        return f"import_path '{import_path}': no module {module} in this repository"
    text = source.read_text(encoding="utf-8", errors="replace")
    if not re.search(rf"^(?:{re.escape(attribute)}\s*[:=]|def {re.escape(attribute)}\b|class {re.escape(attribute)}\b)",
                     text, re.M):
        return f"import_path '{import_path}': {source.relative_to(root).as_posix()} defines no '{attribute}'"
    return None


def check_serve_config_text(text: Any, *, root: Path, external_imports: Iterable[str], file: str,
                            resource: str, path: str = "spec.serveConfigV2") -> list[Finding]:
    """Every serve-* finding for one RayService's serveConfigV2."""
    def finding(id_: str, message: str, fix: str, where: str = "") -> Finding:
        return registered_finding(id_, message, fix=fix, file=file, resource=resource,
                                  path=f"{path}:{where}" if where else path)

    if isinstance(text, (dict, list)):
        return [finding("serve-yaml", f"serveConfigV2 is {describe(text)}, not a string",
                        "write it as a YAML block string (serveConfigV2: |); tools/regen does that")]
    if not isinstance(text, str) or not text.strip():
        return [finding("serve-missing", "no serveConfigV2", "run tools/regen and include overlays/<env>/generated")]
    parsed = read_serve_config_text(text)   # the parse every reader of this text shares
    config, duplicate = parsed.data, parsed.duplicate
    if parsed.problem:
        return [finding("serve-yaml", f"serveConfigV2 {parsed.problem}",
                        "run tools/regen instead of editing the string")]
    if not isinstance(config, dict):
        return [finding("serve-yaml", "serveConfigV2 is not a mapping", "run tools/regen")]
    if duplicate:
        # Ray would take the last value without a word: num_replicas: 1 … num_replicas: 3.
        key, line, first = duplicate
        return [finding("serve-yaml", f"serveConfigV2 repeats key '{key}' (lines {first} and {line} of the string)",
                        "keep one of them; run tools/regen instead of editing the string")]

    findings = []
    for key_path, key in unknown_keys(config):
        where = ".".join(filter(None, [display_path(config, key_path), str(key)]))
        findings.append(finding("serve-unknown-key", f"unknown key '{key}' (Ray ignores it silently)",
                                "fix the spelling or remove it", where))
    apps = config.get("applications") if isinstance(config.get("applications"), list) else []
    for attribute, id_ in (("name", "serve-duplicate-app"), ("route_prefix", "serve-duplicate-route")):
        values = [app.get(attribute, "/" if attribute == "route_prefix" else "default")
                  for app in apps if isinstance(app, dict)]
        values = [v for v in values if isinstance(v, str)]  # other types are serve-schema findings
        for value in sorted({v for v in values if values.count(v) > 1}, key=str):
            findings.append(finding(id_, f"{attribute} '{value}' is used by {values.count(value)} applications",
                                    f"give every application its own {attribute}", "applications"))
    for loc, message in ray_schema_errors(config):
        findings.append(finding("serve-schema", message, "fix the value (Ray rejects it when it deploys the config)",
                                display_path(config, loc)))
    for app in apps:
        if isinstance(app, dict) and isinstance(app.get("import_path"), str):
            problem = import_path_problem(app["import_path"], root, external_imports)
            if problem:
                findings.append(finding("serve-import-path", problem,
                                        "fix import_path, or list the module under external_imports in raygitops.yaml "
                                        "when the code is baked into the image",
                                        f"applications[{app.get('name')}].import_path"))
    return findings
