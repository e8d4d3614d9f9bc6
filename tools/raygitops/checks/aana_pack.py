"""Checks that know Aana's settings, as small functions over plain data, for the checks registry's "aana" pack.

    for check in AANA_PACK: check.id, check.description, check.remediation    # what the registry lists
    db_config_problems({"datastore_type": "sqlite", "datastore_config": {}}, set())  # → ["... needs path"]

Each function returns problems as one-line messages; the registry's policy wrapper places them (file,
resource, path, severity). Aana is never imported here: importing any of its settings creates
/tmp/aana_data (aana 0.2.4, aana/configs/settings.py), so its model is restated, with the source cited.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class PackCheck:
    id: str
    description: str
    remediation: str
    function: Callable[..., list[str]]


_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")   # Ray expands ${VAR} in env_vars from the pod env


def _is_ref(value: Any) -> bool:
    return isinstance(value, str) and bool(_REF.match(value))


# --- DB_CONFIG, per Aana's DbSettings ----------------------------------------------------------------
# aana 0.2.4, aana/configs/db.py: DbSettings(BaseSettings) (extra="forbid": unknown keys are errors) with
# datastore_type, datastore_config: SQLiteConfig | PostgreSQLConfig (TypedDicts: every key required, no
# others), pool_size, max_overflow, pool_recycle (int). aana/storage/op.py create_database_engine takes
# datastore_type case-insensitively and reads the datastore_config keys of that type only.
DB_FIELDS = {"sqlite": {"path": str}, "postgresql": {"host": str, "port": int, "user": str, "password": str,
                                                      "database": str}}
DB_TOP_LEVEL = {"datastore_type", "datastore_config", "pool_size", "max_overflow", "pool_recycle"}


def db_config_problems(db_config: Any, from_env: set[str]) -> list[str]:
    """Why Aana's DbSettings would reject this DB_CONFIG (or its engine fail). `from_env`: datastore_config
    fields the pod env sets as DB_CONFIG__DATASTORE_CONFIG__<FIELD> (pydantic-settings merges them in)."""
    if not isinstance(db_config, dict):
        return ["DB_CONFIG is not a JSON object"]
    problems = [f"DB_CONFIG has key '{key}', which Aana's DbSettings forbids"
                for key in sorted(set(db_config) - DB_TOP_LEVEL, key=str)]
    for key in ("pool_size", "max_overflow", "pool_recycle"):
        if key in db_config and not _int_like(db_config[key]):
            problems.append(f"DB_CONFIG {key} must be a whole number, got {db_config[key]!r}")
    kind = str(db_config.get("datastore_type", "sqlite")).lower()
    if kind not in DB_FIELDS:
        return problems + [f"DB_CONFIG datastore_type {db_config.get('datastore_type')!r} is neither sqlite nor "
                           "postgresql (Aana's engine factory knows only these)"]
    store = db_config.get("datastore_config")
    if not isinstance(store, dict):
        return problems + ["DB_CONFIG datastore_config must be an object"]
    fields = DB_FIELDS[kind]
    from_env = {name.lower() for name in from_env}
    for key in sorted(set(store) - set(fields), key=str):
        problems.append(f"DB_CONFIG datastore_config has '{key}', which {kind} does not take (fields: "
                        f"{', '.join(fields)})")
    for key, kind_of in fields.items():
        value = store.get(key)
        if value is None and key not in from_env:
            problems.append(f"DB_CONFIG datastore_config for {kind} needs {key} (in the JSON, or from the pod env as "
                            f"DB_CONFIG__DATASTORE_CONFIG__{key.upper()})")
        elif value is not None and not _is_ref(value) and kind_of is int and not _int_like(value):
            problems.append(f"DB_CONFIG datastore_config {key} must be a whole number, got {value!r}")
    return problems


def _int_like(value: Any) -> bool:
    # pydantic's lax mode takes "5432" for an int.
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())


# --- TMP_DATA_DIR on shared storage ------------------------------------------------------------------
# aana 0.2.4, aana/configs/settings.py: Settings.tmp_data_dir defaults to /tmp/aana_data; images, videos,
# audios and models go below it, and a file one replica writes is read by another (cluster-setup guide,
# "Shared storage"), so on a cluster with workers it must be a volume every Ray pod mounts.
TMP_DATA_DEFAULT = "/tmp/aana_data"


def tmp_data_dir_problems(env_vars: Mapping[str, str], shared_mounts: list[str], *, has_workers: bool) -> list[str]:
    """For one Aana-built application: `shared_mounts` are the mount paths of ReadWriteMany volumes in
    every Ray group that may host its replicas."""
    if not has_workers:
        return []
    directory = env_vars.get("TMP_DATA_DIR") or TMP_DATA_DEFAULT
    if _is_ref(directory):
        return []   # set from the pod env; the pod spec is checked where it is written
    inside = any(directory.rstrip("/") == m.rstrip("/") or directory.startswith(m.rstrip("/") + "/")
                 for m in shared_mounts)
    if inside:
        return []
    where = "Aana's default " if "TMP_DATA_DIR" not in env_vars or not env_vars["TMP_DATA_DIR"] else ""
    return [f"TMP_DATA_DIR is {where}{directory}, on node-local disk, but replicas run on several pods"]


# --- the webhook HMAC secret ---------------------------------------------------------------------------
# aana 0.2.4, aana/configs/settings.py WebhookSettings.hmac_secret = "webhook_secret", read as
# WEBHOOK__HMAC_SECRET; aana/routers/webhook.py signs every webhook with it. Unset means the public default.
HMAC_VARIABLE = "WEBHOOK__HMAC_SECRET"
HMAC_DEFAULT = "webhook_secret"


def hmac_secret_problems(env_vars: Mapping[str, str], pod_env: Mapping[str, Any]) -> list[str]:
    """For one Aana-built application: `pod_env` is the Ray container's env by name (entries as in a pod spec)."""
    value = env_vars.get(HMAC_VARIABLE)
    if value is not None:
        if _is_ref(value):
            name = value[2:-1]
            return [] if _from_secret(pod_env.get(name)) else \
                [f"{HMAC_VARIABLE} is {value}, but the pod env has no {name} from a Secret"]
        if value in ("", HMAC_DEFAULT):
            return [f"{HMAC_VARIABLE} is Aana's public default {HMAC_DEFAULT!r}"]
        return [f"{HMAC_VARIABLE} is written out in the serve config"]
    entry = pod_env.get(HMAC_VARIABLE)
    if _from_secret(entry):
        return []
    if isinstance(entry, dict) and entry.get("value") not in (None, "", HMAC_DEFAULT):
        return [f"{HMAC_VARIABLE} is written out in the pod spec"]
    return [f"{HMAC_VARIABLE} is not set, so Aana signs webhooks with its public default {HMAC_DEFAULT!r}"]


def _from_secret(entry: Any) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("valueFrom"), dict) \
        and "secretKeyRef" in entry["valueFrom"]


# --- the fastapi pin -----------------------------------------------------------------------------------
# Ray's @serve.ingress serialises the FastAPI app; FastAPI/Starlette releases after Ray's time break that,
# so each Ray minor has the fastapi series it works with (0.115 for Ray 2.46: pyproject.toml's comment,
# checked on this repository's apps). Aana 0.2.4 asks for fastapi>=0.111.0 and ray[serve]>=2.20 (its
# METADATA); a newer installed Aana's own requirement is read from its metadata instead.
FASTAPI_FOR_RAY = {"2.46": "0.115"}
AANA_REQUIRES = {"fastapi": ">=0.111.0", "ray": ">=2.20"}
_PIN = re.compile(r"""["']?\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*==\s*([A-Za-z0-9_.\-*+!]+)""")


def exact_pins(text: str) -> dict[str, str]:
    """name → version of every `name==version` in a pyproject.toml or requirements file (lower-cased names)."""
    return {m.group(1).lower().replace("_", "-"): m.group(3) for m in _PIN.finditer(text)}


def aana_requirements() -> dict[str, str]:
    """Aana's declared requirements on fastapi and ray: from the installed Aana, else aana 0.2.4's."""
    try:
        declared = metadata.requires("aana") or []
    except metadata.PackageNotFoundError:
        return dict(AANA_REQUIRES)
    found = dict(AANA_REQUIRES)
    for line in declared:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.name.lower() in found and not requirement.marker:
            found[requirement.name.lower()] = str(requirement.specifier)
    return found


def fastapi_pin_problems(pyproject: str, requirements: str, ray_version: str,
                         aana: Mapping[str, str] | None = None) -> list[str]:
    """pyproject.toml's fastapi pin against Ray's working series and Aana's requirement; requirements-aana.txt
    (installed with --no-deps after the project) must not pin another fastapi or ray."""
    aana = aana if aana is not None else aana_requirements()
    project, extra = exact_pins(pyproject), exact_pins(requirements)
    fastapi = project.get("fastapi")
    if fastapi is None:
        return ["pyproject.toml pins no fastapi==…: pip would take the newest, which breaks @serve.ingress"]
    problems = []
    series = FASTAPI_FOR_RAY.get(".".join(ray_version.split(".")[:2]))
    if series and not (fastapi == series or fastapi.startswith(series + ".")):
        problems.append(f"pyproject.toml pins fastapi=={fastapi}, but Ray {ray_version} works with fastapi {series}.*")
    for name, pinned in (("fastapi", fastapi), ("ray", project.get("ray", ray_version))):
        try:
            if name in aana and Version(pinned) not in SpecifierSet(aana[name]):
                problems.append(f"{name}=={pinned} does not satisfy Aana's requirement {name}{aana[name]}")
        except InvalidVersion:
            problems.append(f"{name}=={pinned} is not a version")
    for name in ("fastapi", "starlette", "ray"):
        if name in extra and extra[name] != project.get(name):
            problems.append(f"requirements-aana.txt pins {name}=={extra[name]}, but pyproject.toml pins "
                            f"{project.get(name) or 'none'}: installed after the project, it would replace it")
    return problems


AANA_PACK = (
    PackCheck("aana-db-config-model",
              "DB_CONFIG fits Aana's DbSettings: known keys only, the fields of its datastore_type, whole numbers "
              "where Aana wants them (Aana refuses anything else in every replica).",
              'write {"datastore_type": "postgresql", "datastore_config": {"host", "port", "user", "database"}} '
              "with the password from the pod env, or sqlite with {\"path\"}", db_config_problems),
    PackCheck("aana-tmp-data-dir",
              "An Aana app's TMP_DATA_DIR is on a ReadWriteMany volume every Ray group mounts when the cluster has "
              "workers: one replica writes the media another reads.",
              "include base/components/shared-data and set TMP_DATA_DIR to its mount path (/mnt/aana-data)",
              tmp_data_dir_problems),
    PackCheck("aana-webhook-secret",
              "An Aana app signs webhooks with WEBHOOK__HMAC_SECRET from a Secret, never Aana's public default "
              "'webhook_secret' (what an unset variable means).",
              "give the Ray containers WEBHOOK__HMAC_SECRET with valueFrom.secretKeyRef", hmac_secret_problems),
    PackCheck("aana-fastapi-pin",
              "pyproject.toml's fastapi pin is the series Ray's @serve.ingress works with and satisfies Aana's "
              "requirement, and requirements-aana.txt pins no other fastapi, starlette or ray.",
              "pin fastapi (and starlette) in pyproject.toml to the series for versions.ray; keep them out of "
              "requirements-aana.txt", fastapi_pin_problems),
)
