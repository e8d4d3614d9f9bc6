"""tools/validate's CEL check: a custom resource against its CRD's x-kubernetes-validations rules without oldSelf.

    findings = cel_findings(rayservice, registry, file="overlays/prod")   # registry: checks.schemas.SchemaRegistry
    CEL_RULE                                                              # the finding id (checks/registry.py)

The object is judged as the API server stores it (defaults applied, model/normalise.py). Transition rules (those
that read oldSelf) need the stored object and run only in tools/diff, HEAD against BASE.
"""
from __future__ import annotations

from raygitops.checks.registry import finding
from raygitops.findings import WARNING, Finding, resource_id
from raygitops.model.cel_rules import UnsupportedRule, violations
from raygitops.model.normalise import normalise

CEL_RULE = "cel-rule"


def cel_findings(resource: dict, registry, *, file: str | None = None) -> list[Finding]:
    """The rules of the resource's CRD (none for built-in kinds, unknown and skipped ones)."""
    api_version, kind = (resource.get("apiVersion"), resource.get("kind")) if isinstance(resource, dict) else (0, 0)
    if not isinstance(api_version, str) or not isinstance(kind, str) or registry.is_skipped(api_version, kind):
        return []
    schema = registry.crd_schema(api_version, kind)
    if not schema:
        return []
    rid = resource_id(resource)
    try:
        found = violations(normalise(resource, schema).obj, schema)
    except UnsupportedRule as error:
        return [finding(CEL_RULE, str(error), severity=WARNING, resource=rid, file=file,
                        fix="the rule is not checked here; the API server still applies it")]
    return [finding(CEL_RULE, f"{v.message} (the API server rejects it: rule `{v.rule.expression.strip()}`)",
                    resource=rid, path=v.path, file=file)
            for v in found]
