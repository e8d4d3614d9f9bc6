"""tools/validate's CEL check: a custom resource against its CRD's x-kubernetes-validations rules without oldSelf.

    findings = cel_findings(rayservice, registry, file="overlays/prod")   # registry: checks.schemas.SchemaRegistry
    CEL_RULE, DESCRIPTION          # the finding id and what it means (for the checks registry)

The object is judged as the API server stores it (defaults applied, model/normalise.py). Transition rules (those
that read oldSelf) need the stored object and run only in tools/diff, HEAD against BASE.
"""
from __future__ import annotations

from raygitops.findings import ERROR, WARNING, Finding, resource_id
from raygitops.model.cel_rules import UnsupportedRule, violations
from raygitops.model.normalise import normalise

CEL_RULE = "cel-rule"
DESCRIPTION = ("A CRD validation rule (x-kubernetes-validations, CEL) fails: the API server rejects the object, "
               "and Argo CD's sync fails.")


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
        return [Finding(id=CEL_RULE, severity=WARNING, resource=rid, file=file, message=str(error),
                        fix="the rule is not checked here; the API server still applies it")]
    return [Finding(id=CEL_RULE, severity=ERROR, resource=rid, path=v.path, file=file,
                    message=f"{v.message} (the API server rejects it: rule `{v.rule.expression.strip()}`)",
                    fix="change the value so that the CRD's rule holds")
            for v in found]
