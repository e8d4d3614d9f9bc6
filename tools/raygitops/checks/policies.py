"""RayService-aware policies: every checks/policy_*.py module's POLICIES, run over the resources of one source.

    findings = run_policies(docs, PolicyContext(environment="prod", source="overlays/prod", resources=tuple(docs),
                            ray_version="2.46.0", pinned_serve_version="2.46.0", kuberay_version="1.7.0"))
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from raygitops.checks import (policy_capacity, policy_db, policy_exposure, policy_ha, policy_kuberay,
                              policy_resources, policy_secrets, policy_storage, policy_versions, secret_literals)
from raygitops.checks.policy_base import Policy, PolicyContext, PolicySettings
from raygitops.checks.registry import CHECKS, is_enabled
from raygitops.findings import ERROR, WARNING, Finding
from raygitops.model.rayservice import RayServiceView, as_dict

__all__ = ["POLICIES", "Policy", "PolicyContext", "PolicySettings", "run_policies"]

_ALL = {p.id: p for module in (policy_versions, policy_resources, policy_capacity, policy_db, policy_secrets,
                               policy_storage, policy_exposure, policy_kuberay, secret_literals, policy_ha)
        for p in module.POLICIES}
# In the registry's order (which tools/validate --list-checks shows).
POLICIES: tuple[Policy, ...] = tuple(_ALL[c.id] for c in CHECKS if c.id in _ALL)


def _severity(settings: PolicySettings, env: str, pid: str) -> str | None:
    """The configured severity of a policy in an environment (the env beats "*"), or None."""
    overrides = as_dict(settings.severity)
    for key in (env, "*"):
        value = as_dict(overrides.get(key)).get(pid)
        if value in (ERROR, WARNING, "off"):
            return value
    return None


def run_policies(resources: Sequence[dict | RayServiceView], ctx: PolicyContext) -> list[Finding]:
    """Every enabled policy over every resource, in resource then registry order; "off" drops a policy.

    A policy runs when its pack is on (checks.packs). Identical findings (one per app that shares
    a DB_CONFIG, say) are reported once; so is a field both secret-literal and a specific check name.
    """
    out: dict[Finding, None] = {}
    for r in resources:
        view = r if isinstance(r, RayServiceView) else RayServiceView(r) if isinstance(r, dict) else None
        if view is None:
            continue
        for p in POLICIES:
            if view.kind not in p.kinds or not is_enabled(p.id, ctx.settings.packs):
                continue
            severity = _severity(ctx.settings, ctx.environment, p.id)
            if severity == "off":
                continue
            for f in p.check(view, ctx):
                out[replace(f, severity=severity) if severity else f] = None
    return secret_literals.without_repeats(out)   # the specific check's finding, not also the general one
