"""Policies on credentials in Git: no Secret data, and (Aana pack) no literal or default for Aana's secrets.

    from raygitops.checks.policy_secrets import POLICIES      # secret-in-git, aana-secret-default
    findings = list(check_aana_secrets(RayServiceView(rayservice), ctx))
"""
from __future__ import annotations

from typing import Any, Iterator

from raygitops.checks.policy_base import Policy, PolicyContext, is_ref, literal_settings, report
from raygitops.findings import Finding
from raygitops.model.rayservice import WORKLOAD_KINDS, RayServiceView


def check_secret_in_git(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    r = view.resource
    if r.get("apiVersion") != "v1":
        return
    for key in ("data", "stringData"):
        if isinstance(r.get(key), dict) and r[key]:
            keys = ", ".join(sorted(map(str, r[key])))
            yield report("secret-in-git", view, ctx, key, f"Secret holds {key} in Git ({keys})")


# Aana settings whose literal value is a credential; the HMAC secret has a public default.
_AANA_SECRETS = {"WEBHOOK__HMAC_SECRET": "webhook_secret", "API_SERVICE__LAGO_API_KEY": None,
                 "HF_TOKEN": None, "HUGGING_FACE_HUB_TOKEN": None}


def _secret_problem(name: str, value: Any) -> str | None:
    key = name.upper()
    if key not in _AANA_SECRETS or not isinstance(value, str) or is_ref(value):
        return None
    default = _AANA_SECRETS[key]
    if value == "" and default:
        return f"{name} is empty, so Aana uses its default {default!r}"
    if value == default:
        return f"{name} is Aana's public default {default!r}"
    return f"{name} is a literal" if value else None


def check_aana_secrets(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    for where, name, path, value in literal_settings(view):
        problem = _secret_problem(name, value)
        if problem:
            yield report("aana-secret-default", view, ctx, path, f"{where} {problem}")


POLICIES = (
    Policy("secret-in-git", check_secret_in_git, ("Secret",)),
    Policy("aana-secret-default", check_aana_secrets, WORKLOAD_KINDS + ("ConfigMap",)),
)
