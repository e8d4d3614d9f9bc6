"""The one notion of secret-like and the one masking function (raygitops.masking), on their own.

    .venv/bin/pytest tests/unit/test_masking.py -q
"""
from __future__ import annotations

import pytest

from raygitops.masking import (HIDDEN, Named, describe, holds_url_password, is_secret_path, mask_text, names_a_secret,
                               printable, redact, shown)


@pytest.mark.parametrize("name", ["DB_PASSWORD", "PGPASSWORD", "JWT_SECRET", "clientSecret", "HF_TOKEN_2", "API_KEYS",
                                  "OPENAI_API_KEY", "MASTER_KEY", "JWT_KEY", "STRIPE_KEY", "tls.key",
                                  "aws_credentials", "DB_PASS", "SENTRY_DSN", "apikey"])
def test_secret_like_names(name):
    assert names_a_secret(name)


@pytest.mark.parametrize("name", ["max_tokens", "tokenizer", "sort_key", "topologyKey", "key", "bypass",
                                  "DATABASE_URL", "AWS_ACCESS_KEY_ID", "public_key", "num_replicas"])
def test_plain_names(name):
    assert not names_a_secret(name)


def test_paths_hide_secrets_but_not_references_or_names():
    assert is_secret_path(("data", "anything"), "Secret")
    assert is_secret_path(("env", Named("STRIPE_KEY"), "value"))
    assert not is_secret_path(("env", Named("STRIPE_KEY"), "name"))
    assert not is_secret_path(("env", Named("API_TOKEN"), "valueFrom", "secretKeyRef", "key"))


@pytest.mark.parametrize("text, masked", [
    ("postgresql://app:s3cr@t@db:5432/aana", "postgresql://app:(hidden)@db:5432/aana"),
    ("https://ghp_token@github.com/org/repo", "https://(hidden)@github.com/org/repo"),
    ("db.password=hunter2\nserver.port=8080", "db.password=(hidden)\nserver.port=8080"),
    ('DB_CONFIG={"datastore_type":"postgresql","password":"pw"}',
     'DB_CONFIG={"datastore_type":"postgresql","password":"(hidden)"}'),
    ("--api-key sk-1 --port 80", "--api-key (hidden) --port 80"),
    ("--token=abc", "--token=(hidden)"),
    ("password: ${PG_PASSWORD}", "password: ${PG_PASSWORD}"),   # a reference, not the secret
    ("secretName: db-credentials", "secretName: db-credentials"),
    # a file named like a secret, before its line and message, is no setting
    ("external-secrets.io/externalsecret_v1.json: the cached file does not match",
     "external-secrets.io/externalsecret_v1.json: the cached file does not match"),
    ("overlays/dev/secret.yaml:9: invalid YAML", "overlays/dev/secret.yaml:9: invalid YAML"),
    ("secret.yaml:9: invalid YAML", "secret.yaml:9: invalid YAML"),
])
def test_mask_text(text, masked):
    assert mask_text(text) == masked


def test_url_passwords():
    assert holds_url_password("redis://:pw@cache:6379/0")
    assert not holds_url_password("postgresql://app:${PG_PASSWORD}@db/aana")
    assert not holds_url_password("ssh://git@github.com/org/repo")


def test_redact_keeps_structure_and_hides_flag_values():
    redacted = redact({"args": ["--signing-key", "k", "--port", "80"],
                       "env": [{"name": "JWT_KEY", "value": "v"}, {"name": "PORT", "value": "8080"}]})
    assert redacted == {"args": ["--signing-key", HIDDEN, "--port", "80"],
                        "env": [{"name": "JWT_KEY", "value": HIDDEN}, {"name": "PORT", "value": "8080"}]}
    assert redact("applications: [", ("spec", "serveConfigV2")) == "(1 lines, not valid YAML: not shown)"


def test_values_in_messages():
    assert shown(8675309, secret=True) == describe(8675309) == "an integer of 7 digits"
    assert shown({"password": "pw", "user": "u"}) == '{"password": "(hidden)", "user": "u"}'
    assert printable("a\x1b[31mb\u202ec") == "a\\x1b[31mb\\u202ec"


def test_masking_a_long_line_stays_linear():
    # One pass over the text: 200,000 settings in a row neither recurse nor rescan.
    assert mask_text("a=" * 200_000 + "password=x") == "a=" * 200_000 + f"password={HIDDEN}"
