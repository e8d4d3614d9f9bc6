"""checks/aana_pack.py: the Aana pack's checks on plain data, each shown failing and passing."""
from __future__ import annotations

from pathlib import Path

from raygitops.checks.aana_pack import (AANA_PACK, db_config_problems, exact_pins, fastapi_pin_problems,
                                        hmac_secret_problems, tmp_data_dir_problems)

REPO = Path(__file__).resolve().parents[2]
POSTGRES = {"datastore_type": "postgresql",
            "datastore_config": {"host": "pg", "port": 5432, "user": "aana", "database": "aana"}}


def test_every_check_describes_itself():
    ids = [check.id for check in AANA_PACK]
    assert len(ids) == len(set(ids)) and all(i.startswith("aana-") for i in ids)
    assert all(check.description.endswith(")") or check.description.endswith(".") for check in AANA_PACK)
    assert all(check.remediation and callable(check.function) for check in AANA_PACK)


def test_db_config_follows_aanas_settings_model():
    # The password comes from the pod env (DB_CONFIG__DATASTORE_CONFIG__PASSWORD): then nothing is missing.
    assert db_config_problems(POSTGRES, {"password"}) == []
    assert db_config_problems(POSTGRES, set()) == [
        "DB_CONFIG datastore_config for postgresql needs password (in the JSON, or from the pod env as "
        "DB_CONFIG__DATASTORE_CONFIG__PASSWORD)"]
    typo = {**POSTGRES, "pool_sise": 5, "datastore_config": {**POSTGRES["datastore_config"], "port": "54x2",
                                                              "path": "/x"}}
    assert db_config_problems(typo, {"password"}) == [
        "DB_CONFIG has key 'pool_sise', which Aana's DbSettings forbids",
        "DB_CONFIG datastore_config has 'path', which postgresql does not take (fields: host, port, user, password, "
        "database)",
        "DB_CONFIG datastore_config port must be a whole number, got '54x2'"]
    # Ray expands ${PORT} from the pod env; pydantic takes "5432" for an int.
    assert db_config_problems({**POSTGRES, "datastore_config": {**POSTGRES["datastore_config"], "port": "${PORT}"}},
                              {"password"}) == []
    assert db_config_problems({"datastore_type": "SQLite", "datastore_config": {"path": "/d/a.db"}}, set()) == []
    assert db_config_problems({"datastore_type": "mysql", "datastore_config": {}}, set())[0].startswith(
        "DB_CONFIG datastore_type 'mysql' is neither")
    assert db_config_problems("not json", set()) == ["DB_CONFIG is not a JSON object"]


def test_tmp_data_dir_must_be_on_a_shared_volume_when_there_are_workers():
    assert tmp_data_dir_problems({"TMP_DATA_DIR": "/mnt/aana-data/x"}, ["/mnt/aana-data"], has_workers=True) == []
    assert tmp_data_dir_problems({}, [], has_workers=False) == []
    assert tmp_data_dir_problems({}, ["/mnt/aana-data"], has_workers=True) == [
        "TMP_DATA_DIR is Aana's default /tmp/aana_data, on node-local disk, but replicas run on several pods"]
    # A prefix of the mount's name is not inside the mount.
    assert tmp_data_dir_problems({"TMP_DATA_DIR": "/mnt/aana-data2"}, ["/mnt/aana-data"], has_workers=True)


def test_the_webhook_secret_is_never_aanas_default():
    secret = {"valueFrom": {"secretKeyRef": {"name": "aana-webhook", "key": "hmac"}}}
    assert hmac_secret_problems({}, {"WEBHOOK__HMAC_SECRET": secret}) == []
    assert hmac_secret_problems({"WEBHOOK__HMAC_SECRET": "${HMAC}"}, {"HMAC": secret}) == []
    assert hmac_secret_problems({}, {}) == [
        "WEBHOOK__HMAC_SECRET is not set, so Aana signs webhooks with its public default 'webhook_secret'"]
    assert hmac_secret_problems({"WEBHOOK__HMAC_SECRET": "webhook_secret"}, {}) == [
        "WEBHOOK__HMAC_SECRET is Aana's public default 'webhook_secret'"]
    assert hmac_secret_problems({"WEBHOOK__HMAC_SECRET": "${HMAC}"}, {}) == [
        "WEBHOOK__HMAC_SECRET is ${HMAC}, but the pod env has no HMAC from a Secret"]
    assert hmac_secret_problems({}, {"WEBHOOK__HMAC_SECRET": {"value": "s3cr3t"}}) == [
        "WEBHOOK__HMAC_SECRET is written out in the pod spec"]


def test_the_fastapi_pin_fits_ray_and_aana():
    aana = {"fastapi": ">=0.111.0", "ray": ">=2.20"}
    good = '"ray[serve]==2.46.0",\n"fastapi==0.115.12",\n"starlette==0.46.2",'
    assert fastapi_pin_problems(good, "aana==0.2.4\n", "2.46.0", aana) == []
    assert fastapi_pin_problems(good.replace("0.115.12", "0.118.0"), "", "2.46.0", aana) == [
        "pyproject.toml pins fastapi==0.118.0, but Ray 2.46.0 works with fastapi 0.115.*"]
    assert fastapi_pin_problems(good, "", "2.46.0", {"fastapi": ">=0.116"}) == [
        "fastapi==0.115.12 does not satisfy Aana's requirement fastapi>=0.116"]
    assert fastapi_pin_problems(good, "fastapi==0.116.1\n", "2.46.0", aana) == [
        "requirements-aana.txt pins fastapi==0.116.1, but pyproject.toml pins 0.115.12: installed after the "
        "project, it would replace it"]
    assert fastapi_pin_problems('"ray[serve]==2.46.0"', "", "2.46.0", aana)[0].startswith("pyproject.toml pins no")


def test_this_repository_pins_fit():
    pyproject = (REPO / "pyproject.toml").read_text()
    requirements = (REPO / "requirements-aana.txt").read_text()
    ray = exact_pins(pyproject)["ray"]
    assert fastapi_pin_problems(pyproject, requirements, ray, {"fastapi": ">=0.111.0", "ray": ">=2.20"}) == []
    assert exact_pins(requirements)["aana"] == "0.2.4"
