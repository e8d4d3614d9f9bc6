"""Aana's DB_CONFIG settings (without importing Aana), the engine they describe, and the migration.

    engine = engine_for(db_config_from_env())      # DB_CONFIG plus DB_CONFIG__A__B variables
    python -m apps.db migrate                      # what the Argo CD migration hook Job and tools/up run
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, create_engine, func
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

PREFIX = "DB_CONFIG"
# Aana's own default is /var/lib/aana_data, which a non-root laptop user cannot create.
DEFAULT_CONFIG = {"datastore_type": "sqlite", "datastore_config": {"path": "/tmp/aana_data/aana.sqlite"}}
REQUIRED_KEYS = {"sqlite": ["path"], "postgresql": ["host", "port", "user", "password", "database"]}
# Fail a migration Job pointed at an unreachable host in seconds rather than hanging it.
CONNECT_TIMEOUT_S = 10

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def _deep_update(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_update(merged[key], value)
        else:
            merged[key] = value
    return merged


def db_config_from_env(environ: Mapping[str, str] = os.environ) -> dict:
    """DB_CONFIG as pydantic-settings reads it for Aana: JSON, then DB_CONFIG__A__B on top."""
    config, nested, seen = {}, {}, False
    # Sorted so that the same environment always gives the same result.
    for name, value in sorted(environ.items()):
        upper = name.upper()
        if not value or not (upper == PREFIX or upper.startswith(PREFIX + "__")):
            continue  # env_ignore_empty=True: an empty variable counts as unset
        seen = True
        if upper == PREFIX:
            try:
                config = json.loads(value)
            except json.JSONDecodeError as err:
                raise ValueError(f"DB_CONFIG is not valid JSON ({err})") from None
            if not isinstance(config, dict):
                raise ValueError("DB_CONFIG must be a JSON object with datastore_type and datastore_config")
        else:
            *parents, last = upper[len(PREFIX) + 2:].lower().split("__")
            update = {last: value}
            for key in reversed(parents):
                update = {key: update}
            nested = _deep_update(nested, update)
    # Variables are merged in after the JSON because pydantic-settings lets them win.
    return check_config(_deep_update(config, nested) if seen else DEFAULT_CONFIG)


def check_config(config: dict) -> dict:
    """The config with datastore_type lower-cased; ValueError naming DB_CONFIG if unusable."""
    kind = str(config.get("datastore_type", "")).lower()
    if kind not in REQUIRED_KEYS:
        raise ValueError(
            f"DB_CONFIG datastore_type must be one of {sorted(REQUIRED_KEYS)}, "
            f"got {config.get('datastore_type')!r}"
        )
    store = config.get("datastore_config")
    if not isinstance(store, dict):
        raise ValueError("DB_CONFIG datastore_config must be a JSON object")
    missing = [key for key in REQUIRED_KEYS[kind] if store.get(key) in (None, "")]
    if missing:
        raise ValueError(
            f"DB_CONFIG datastore_config for {kind} is missing {', '.join(missing)} "
            f"(set it in DB_CONFIG or as DB_CONFIG__DATASTORE_CONFIG__{missing[0].upper()})"
        )
    if kind == "postgresql" and not str(store["port"]).isdigit():
        raise ValueError(f"DB_CONFIG datastore_config port must be a number, got {store['port']!r}")
    return {**config, "datastore_type": kind}


def engine_for(config: dict) -> Engine:
    config = check_config(config)
    store = config["datastore_config"]
    if config["datastore_type"] == "sqlite":
        path = Path(store["path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        return create_engine(URL.create("sqlite", database=str(path)))
    # URL.create escapes the parts, so a password with "@" or "/" still connects
    # (Aana builds the URL with an f-string and does not).
    url = URL.create(
        "postgresql+psycopg",
        username=store["user"],
        password=store["password"],
        host=store["host"],
        port=int(store["port"]),
        database=store["database"],
    )
    # pool_pre_ping: a long-lived replica survives a Postgres restart without a failed request.
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})


def migrate(engine: Engine) -> None:
    metadata.create_all(engine)  # checks first, so running it again changes nothing


def describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.db", description="Database tasks for apps/.")
    parser.add_argument("command", choices=["migrate"], help="create the notes table if absent")
    parser.parse_args(argv)
    try:
        engine = engine_for(db_config_from_env())
    except ValueError as err:
        print(f"apps.db: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"apps.db: cannot create the directory of DB_CONFIG's SQLite path: {err}", file=sys.stderr)
        return 2
    try:
        migrate(engine)
    except SQLAlchemyError as err:
        reason = err.orig if isinstance(err, DBAPIError) else err
        print(f"apps.db: cannot migrate {describe(engine)}: {' '.join(str(reason).split())}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"apps.db: notes table ready in {describe(engine)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
