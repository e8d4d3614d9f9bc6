"""Aana pack: DB_CONFIG is well-formed, SQLite only in dev, and no database password written out.

    from raygitops.checks.policy_db import POLICIES      # db-config, db-sqlite-non-dev, db-password-literal
    findings = list(check_db_config(RayServiceView(rayservice), ctx))
"""
from __future__ import annotations

from typing import Iterator

from raygitops.checks.policy_base import (SECRET_REF_FIX, SERVE_ENV, Policy, PolicyContext, from_secret, is_ref,
                                          literal_settings, report)
from raygitops.findings import Finding
from raygitops.model.dbconfig import DB_VARS, REQUIRED_FIELDS, parse_db_config, password_variable, shape_problems
from raygitops.model.rayservice import WORKLOAD_KINDS, RayServiceView


def _field_overrides(view: RayServiceView, var: str, env_vars: dict) -> set[str]:
    """datastore_config fields set as VAR__DATASTORE_CONFIG__FIELD (Aana merges them into the JSON)."""
    prefix = f"{var}__DATASTORE_CONFIG__"
    names = set(env_vars) | {n for g in view.groups for c in g.ray_containers for n in c.env}
    return {n[len(prefix):].lower() for n in names if isinstance(n, str) and n.upper().startswith(prefix)}


def check_db_config(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    for db in view.db_configs:
        parsed = db.parsed
        if parsed.data is None:
            yield report("db-config", view, ctx, db.path, f"{db.var} {parsed.error}")
            continue
        kind = parsed.datastore_type
        if not isinstance(kind, str) or kind not in REQUIRED_FIELDS:
            yield report("db-config", view, ctx, db.path,
                         f"{db.var} datastore_type {kind!r} is neither sqlite nor postgresql")
            continue
        for problem in shape_problems(parsed.data, kind):
            yield report("db-config", view, ctx, db.path, f"{db.var} {problem}")
        conf = parsed.data.get("datastore_config", {})
        if not isinstance(conf, dict):
            yield report("db-config", view, ctx, db.path, f"{db.var} datastore_config is not an object")
            continue
        have = {k for k, v in conf.items() if v not in (None, "")} | _field_overrides(view, db.var, db.env_vars)
        missing = [k for k in REQUIRED_FIELDS[kind] if k not in have]
        if missing:
            yield report("db-config", view, ctx, db.path, f"{db.var} ({kind}) has no {', '.join(missing)}")


def check_db_sqlite(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    if ctx.in_dev:
        return
    for db in view.db_configs:
        if db.parsed.datastore_type == "sqlite":
            yield report("db-sqlite-non-dev", view, ctx, db.path,
                         f"{db.var} uses SQLite in {ctx.environment or 'a non-dev environment'}")


def check_db_password(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    for db in view.db_configs:
        password = db.parsed.datastore_config.get("password")
        if password not in (None, "") and not is_ref(password):
            yield report("db-password-literal", view, ctx, db.path, f"{db.var} holds a password literal")
            continue
        if db.parsed.datastore_type != "postgresql":
            continue
        # The password then comes from the pod env: ${VAR} names it, else Aana's nested override.
        needed = password_variable(db.parsed.data, db.var)
        if isinstance(db.env_vars.get(needed), str) and not is_ref(db.env_vars[needed]):
            continue   # a literal there is reported below, as a serve env var
        for g in view.groups:
            if not any(from_secret(c.env.get(needed)) for c in g.ray_containers):
                yield report("db-password-literal", view, ctx, f"{g.pod_path}.containers",
                             f"{db.var} has no password and group {g.name} gets no {needed} from a Secret",
                             fix=f"add env {needed} with valueFrom.secretKeyRef to every Ray container "
                                 "(include base/components/postgres)")
    for where, name, path, value in literal_settings(view):
        if not isinstance(value, str) or not value or is_ref(value):
            continue
        if "PASSWORD" in name.upper():
            yield report("db-password-literal", view, ctx, path, f"{where} {name} holds a password literal",
                         fix=SECRET_REF_FIX.get(where))
        elif name in DB_VARS and where != SERVE_ENV:   # the serve config's DB_CONFIG is checked above
            password = parse_db_config(value).datastore_config.get("password")
            if password not in (None, "") and not is_ref(password):
                yield report("db-password-literal", view, ctx, path, f"{where} {name} holds a password literal",
                             fix=SECRET_REF_FIX.get(where))


POLICIES = (
    Policy("db-config", check_db_config, ("RayService",)),
    Policy("db-sqlite-non-dev", check_db_sqlite, ("RayService",)),
    Policy("db-password-literal", check_db_password, WORKLOAD_KINDS + ("ConfigMap",)),
)
