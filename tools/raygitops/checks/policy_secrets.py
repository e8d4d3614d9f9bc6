"""Policies on credentials in Git: no Secret data, and (Aana pack) no literal or default for Aana's secrets.

    from raygitops.checks.policy_secrets import POLICIES      # secret-in-git, aana-secret-default
    findings = list(check_aana_secrets(RayServiceView(rayservice), ctx))
"""
from __future__ import annotations

from typing import Any, Iterator

from raygitops.checks.policy_base import Policy, PolicyContext, from_secret, is_ref, literal_settings, report
from raygitops.findings import ERROR, WARNING, Finding
from raygitops.model.rayservice import WORKLOAD_KINDS, RayServiceView


def check_secret_in_git(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    r = view.resource
    if r.get("apiVersion") != "v1":
        return
    for key in ("data", "stringData"):
        if isinstance(r.get(key), dict) and r[key]:
            keys = ", ".join(sorted(map(str, r[key])))
            yield report("secret-in-git", view, ctx, key, f"Secret holds {key} in Git ({keys})")


# aana 0.2.4, aana/configs/settings.py: WebhookSettings.hmac_secret = "webhook_secret", read as
# WEBHOOK__HMAC_SECRET; aana/routers/webhook.py signs every webhook with it. Unset means the public default.
HMAC_VARIABLE, HMAC_DEFAULT = "WEBHOOK__HMAC_SECRET", "webhook_secret"
# Aana settings whose literal value is a credential; the HMAC secret has a public default.
_AANA_SECRETS = {HMAC_VARIABLE: HMAC_DEFAULT, "API_SERVICE__LAGO_API_KEY": None,
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
    yield from _unset_hmac_secrets(view, ctx)


def _unset_hmac_secrets(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    """An Aana app whose replicas get no WEBHOOK__HMAC_SECRET, neither in its env_vars (judged above) nor from
    a Secret on every Ray group's containers, signs webhooks with Aana's public default."""
    unset = [g.name for g in view.groups if not any(from_secret(c.env.get(HMAC_VARIABLE)) for c in g.ray_containers)]
    if not unset:
        return
    for entry, prefix in ctx.settings.aana_apps:
        members = [a for a in view.apps if str(a.spec.get("import_path", "")).startswith(prefix)]
        if not members or any(HMAC_VARIABLE in r.env_vars for r in view.runtime_envs
                              if r.app in {a.name for a in members}):
            continue
        where = next((a for a in members if a.name == entry), members[0])
        yield report("aana-secret-default", view, ctx, f"{where.path}.runtime_env.env_vars",
                     f"Aana app {entry}: {HMAC_VARIABLE} is not set (group {', '.join(unset)} gets none from a Secret), "
                     f"so Aana signs webhooks with its public default {HMAC_DEFAULT!r}",
                     fix="include base/components/aana-webhook (env from the Secret aana-webhook on every Ray "
                         "container)", severity=WARNING if ctx.in_dev else ERROR)


POLICIES = (
    Policy("secret-in-git", check_secret_in_git, ("Secret",)),
    Policy("aana-secret-default", check_aana_secrets, WORKLOAD_KINDS + ("ConfigMap",)),
)
