"""DB_CONFIG, Aana's database setting (JSON in a serve env var), read one way by validate, render and up.

    parsed = parse_db_config('{"datastore_type": "postgresql", "datastore_config": {"port": ${PG_PORT}}}')
    parsed.data, parsed.error, parsed.placeholders   # {…"port": 0}, None, True

Aana reads it with pydantic-settings (apps/db.py mirrors that): the JSON, then `DB_CONFIG__A__B`
variables merged over it. Ray expands `${VAR}` in runtime_env env_vars from the pod environment
before Aana sees the text, so an unquoted `${PG_PORT}` is valid once deployed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

# The serve env vars that hold a DB_CONFIG: Aana's, and the API service's own database.
DB_VARS = ("DB_CONFIG", "API_SERVICE_DB_CONFIG")
PASSWORD_VAR = "DB_CONFIG__DATASTORE_CONFIG__PASSWORD"
# What Aana needs to connect; anything else has a default.
REQUIRED_FIELDS = {"sqlite": ("path",), "postgresql": ("host", "port", "user", "database")}
# Aana's settings model (aana 0.2.4, aana/configs/db.py): DbSettings is a pydantic-settings BaseSettings
# (extra="forbid") with these keys, and datastore_config is SQLiteConfig | PostgreSQLConfig, TypedDicts that
# inherit the forbid: a key of neither fails validation in every replica. port and the pool settings are
# ints (pydantic's lax mode takes "5432", not "5432.0").
TOP_LEVEL_KEYS = ("datastore_type", "datastore_config", "pool_size", "max_overflow", "pool_recycle")
DATASTORE_FIELDS = {"sqlite": ("path",), "postgresql": ("host", "port", "user", "password", "database")}
WHOLE_NUMBERS = ("pool_size", "max_overflow", "pool_recycle")

_UNQUOTED_REF = re.compile(r'(?<!")\$\{\w+\}(?!")')
_WHOLE_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class ParsedDbConfig:
    """One DB_CONFIG text read: the object (shared: read it, never change it), or why not."""
    data: dict | None
    error: str | None = None       # "is not JSON (…)" / "is not a JSON object"; None when data is set
    placeholders: bool = False     # unquoted ${VAR}s were read as 0 to get data

    @property
    def datastore_type(self) -> object:
        """As written (Aana's default is sqlite); None when there is no data."""
        return self.data.get("datastore_type", "sqlite") if self.data is not None else None

    @property
    def datastore_config(self) -> dict:
        conf = (self.data or {}).get("datastore_config")
        return conf if isinstance(conf, dict) else {}


@lru_cache(maxsize=256)
def parse_db_config(value: str) -> ParsedDbConfig:
    """The DB_CONFIG JSON; an unquoted ${PORT} reads as 0 (placeholders=True), as it is valid once Ray expands it."""
    err = "empty"
    for text, placeholders in ((value, False), (_UNQUOTED_REF.sub("0", value), True)):
        if placeholders and text == value:
            break
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as e:
            err = str(e).splitlines()[0] if str(e) else type(e).__name__
            continue
        if not isinstance(data, dict):
            return ParsedDbConfig(None, "is not a JSON object")
        return ParsedDbConfig(data, None, placeholders)
    return ParsedDbConfig(None, f"is not JSON ({err})")


def shape_problems(db_config: dict, kind: str) -> list[str]:
    """What Aana's DbSettings refuses beyond missing fields: keys it forbids and values that are no whole number.
    `kind` is the datastore_type, already known to be sqlite or postgresql."""
    problems = [f"has key '{key}', which Aana's DbSettings forbids (keys: {', '.join(TOP_LEVEL_KEYS)})"
                for key in sorted(set(db_config) - set(TOP_LEVEL_KEYS), key=str)]
    problems += [f"{key} must be a whole number, got {db_config[key]!r}"
                 for key in WHOLE_NUMBERS if key in db_config and not _whole_number(db_config[key])]
    store = db_config.get("datastore_config")
    if isinstance(store, dict):
        fields = DATASTORE_FIELDS[kind]
        problems += [f"datastore_config has '{key}', which {kind} does not take (fields: {', '.join(fields)})"
                     for key in sorted(set(store) - set(fields), key=str)]
        if "port" in fields and store.get("port") not in (None, "") and not _whole_number(store["port"]):
            problems.append(f"datastore_config port must be a whole number, got {store['port']!r}")
    return problems


def _whole_number(value: object) -> bool:
    """An int as pydantic's lax mode reads one (5432 or "5432"), or a whole ${VAR} that Ray expands."""
    if isinstance(value, str):
        return value.strip().isdigit() or _WHOLE_REF.match(value) is not None
    return isinstance(value, int) and not isinstance(value, bool)


def exact_db_config(value: object) -> dict | None:
    """A DB_CONFIG that is JSON as written (no ${VAR} stand-ins), as a new dict; else None.
    tools/up rewrites this one, so it must not be the shared parse."""
    if not isinstance(value, str) or not value:
        return None
    parsed = parse_db_config(value)
    return json.loads(value) if parsed.data is not None and not parsed.placeholders else None


def is_postgres(db_config: dict | None) -> bool:
    return bool(db_config) and str(db_config.get("datastore_type", "")).lower() == "postgresql"


def password_variable(db_config: dict | None, var: str = "DB_CONFIG") -> str:
    """The pod env variable that carries the password: `${VAR}` as the whole password names it (Ray
    expands it in runtime_env env_vars); otherwise Aana's nested override variable of `var`."""
    conf = (db_config or {}).get("datastore_config")
    password = conf.get("password") if isinstance(conf, dict) else None
    match = _WHOLE_REF.match(password) if isinstance(password, str) else None
    return match.group(1) if match else f"{var}__DATASTORE_CONFIG__PASSWORD"
