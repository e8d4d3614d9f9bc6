"""diff/kuberay.py's table of RayService fields by release agrees with the CRDs in the schema store.

    tools/test tests/unit/test_kuberay_fields.py
"""
from __future__ import annotations

import pytest

from conftest import load_crd_file
from raygitops.diff.fields import Named
from raygitops.diff.kuberay import FIELDS_ADDED, parse_version, schema_knows, shape_of
from raygitops.model.cel_rules import crd_schema

from test_validate_normalised import SHARED


def stored_versions() -> list[str]:
    store = SHARED / "crds" / "kuberay"
    if not store.is_dir():
        pytest.fail(f"no schema store at {store}: set RAYGITOPS_SHARED")
    return sorted((p.name.lstrip("v") for p in store.iterdir() if (p / "ray.io_rayservices.yaml").is_file()),
                  key=parse_version)


def path_of(field: str) -> tuple:
    return tuple(Named("x") if token == "[]" else token for token in shape_of(field))


@pytest.mark.parametrize("version", stored_versions())
def test_each_field_exists_exactly_from_its_release(version):
    schema = crd_schema(load_crd_file(SHARED / f"crds/kuberay/v{version}/ray.io_rayservices.yaml"))
    for field, since in FIELDS_ADDED.items():
        expected = parse_version(version) >= parse_version(since)
        assert schema_knows(schema, path_of(field)) == expected, (field, since, version)
