"""raygitops.yaml has one typed schema: unknown keys and wrong types are errors with a line, never echoed values.

    tools/test tests/unit/test_config_schema.py
"""
from __future__ import annotations

from pathlib import Path

import pytest

from raygitops.config import load_config
from raygitops.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def config_with(tmp_path: Path, old: str, new: str) -> Path:
    text = (REPO / "raygitops.yaml").read_text()
    assert old in text, old
    (tmp_path / "raygitops.yaml").write_text(text.replace(old, new, 1))
    return tmp_path


def test_the_repository_config_fits_its_schema():
    assert load_config(REPO).versions.kuberay


@pytest.mark.parametrize("old,new,message,fix", [
    ("\nversions:", "\nverions:", "unknown key 'verions' in the top level", "did you mean 'versions'?"),
    ("route_prefix: /language", "rout_prefix: /language", "unknown key 'rout_prefix' in applications.1",
     "did you mean 'route_prefix'?"),
    ("  kuberay: 1.7.0", "  kuberay: 1.7.0\n  kubernetse: 1.32.0", "unknown key 'kubernetse' in versions",
     "did you mean 'kubernetes'?"),
    ("tag_suffix: -py311}", "tag_suffix: [1]}", "'images.ray-image.tag_suffix' must be a string", "write a string"),
    ("external_imports: []", "external_imports: apps", "'external_imports' must be a list", "write a list"),
])
def test_a_key_off_the_schema_is_refused_with_its_line(tmp_path, old, new, message, fix):
    root = config_with(tmp_path, old, new)
    with pytest.raises(UserError) as raised:
        load_config(root)
    error = raised.value
    assert error.message == message
    assert fix in error.fix
    assert error.file == "raygitops.yaml"
    line = (root / "raygitops.yaml").read_text().splitlines()[error.line - 1]
    assert new.split("\n")[-1].strip().split(":")[0].lstrip("{- ") in line


def test_a_wrongly_typed_secret_is_not_echoed(tmp_path):
    root = config_with(tmp_path, "  url: https://", "  url: [hunter2-very-secret]\n  x: https://")
    with pytest.raises(UserError) as raised:
        load_config(root)
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("old,new,message,fix", [
    ("catalog_commit: 7b1e26ef9deea49293714d204c1a2270aab1178f", "catalog_commit: main",
     "'schemas.catalog_commit' is not a full 40-character commit of datreeio/CRDs-catalog", "write a full"),
    ("    - external-secrets.io/externalsecret_v1.json", "    - ExternalSecret",
     "'schemas.catalog.0' is not a catalog path such as external-secrets.io/externalsecret_v1.json", "write a catalog"),
    ("  catalog_commit: 7b1e26ef9deea49293714d204c1a2270aab1178f\n", "",
     "schemas.catalog needs schemas.catalog_commit", "pin a full commit"),
    ("  skip_kinds: []", "  skip_kinds: []\n  crd_dirs: ['{shared}/crds/argo-cd']",
     "schemas.crd_dirs: '{shared}' and '{kuberay}' are no longer expanded", "tools/schemas fetches them"),
    ("  argocd: 3.5.1 ", "  argocd: '3.5' ", "versions.argocd '3.5' is not a version like 2.46.0", "MAJOR.MINOR.PATCH"),
])
def test_the_schema_pins_are_checked(tmp_path, old, new, message, fix):
    root = config_with(tmp_path, old, new)
    with pytest.raises(UserError) as raised:
        load_config(root)
    assert (raised.value.message, raised.value.file) == (message, "raygitops.yaml")
    assert fix in raised.value.fix and raised.value.line


def test_argocd_and_the_catalog_are_optional(tmp_path):
    root = config_with(tmp_path, "  argocd: 3.5.1 ", "  # no Argo CD ")
    text = (root / "raygitops.yaml").read_text()
    (root / "raygitops.yaml").write_text(text.replace("  catalog:\n    - external-secrets.io/externalsecret_v1.json\n", ""))
    config = load_config(root)
    assert (config.versions.argocd, config.schemas.catalog) == (None, ())


def test_a_config_parsed_once_per_content_still_sees_every_edit(tmp_path):
    """load_config keeps the parse of each text: an edit in the same process is a new text, and an
    error is raised again on every load (exceptions are not kept)."""
    root = config_with(tmp_path, "  kuberay: 1.7.0", "  kuberay: 1.7.0")
    first = load_config(root)
    assert load_config(root) is first   # the same text: parsed once
    config_with(tmp_path, "  kuberay: 1.7.0", "  kuberay: 1.6.2")
    assert load_config(root).versions.kuberay == "1.6.2"
    config_with(tmp_path, "\nversions:", "\nverions:")
    for _ in range(2):
        with pytest.raises(UserError, match="unknown key 'verions'"):
            load_config(root)
    config_with(tmp_path, "  kuberay: 1.7.0", "  kuberay: 1.7.0")
    assert load_config(root).versions.kuberay == "1.7.0"
