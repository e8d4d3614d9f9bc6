"""Bad inputs to tools/regen: one clear line naming the file (and line), the fix, exit 2,
no traceback, and nothing written."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_tool


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


DEV = "overlays/dev/serve.yaml"
STAGING = "overlays/staging/serve.yaml"

# (id, how to break the copy, expected location prefix, expected words in the message)
CASES = [
    ("broken-yaml", lambda r: append(r / DEV, "  - name: [unclosed\n"), f"{DEV}:", "invalid YAML"),
    ("unknown-app", lambda r: edit(r / DEV, "- name: main", "- name: mian"), f"{DEV}:13", "unknown application 'mian'"),
    ("unknown-deployment", lambda r: edit(r / DEV, "- name: Gateway", "- name: Gatway"), f"{DEV}:15",
     "unknown deployment 'Gatway' in application 'main'"),
    ("unknown-field", lambda r: edit(r / DEV, "num_replicas: 1", "num_replica: 1"), f"{DEV}:16",
     "unknown field 'num_replica'"),
    ("unknown-nested-field", lambda r: edit(r / "overlays/prod/serve.yaml", "min_replicas: 2", "min_replica: 2"),
     "overlays/prod/serve.yaml:", "unknown field 'min_replica'"),
    ("wrong-type", lambda r: edit(r / DEV, "num_replicas: 1", "num_replicas: three"), f"{DEV}:16",
     "num_replicas"),
    ("negative-replicas", lambda r: edit(r / STAGING, "num_replicas: 2", "num_replicas: -2"), f"{STAGING}:",
     "num_replicas"),
    ("env-var-not-a-string", lambda r: append(r / DEV, "    runtime_env:\n      env_vars:\n        WORKERS: 4\n"),
     f"{DEV}:", "env var WORKERS must be a string or a mapping"),
    ("runtime-env-working-dir", lambda r: append(r / DEV, "    runtime_env:\n      working_dir: s3://x/y.zip\n"),
     f"{DEV}:", "only runtime_env.env_vars can be set per environment"),
    ("duplicate-key", lambda r: append(r / DEV, "env_vars:\n  X: y\n"), f"{DEV}:", "duplicate key 'env_vars'"),
    ("duplicate-deployment", lambda r: append(r / DEV, "      - name: Gateway\n        num_replicas: 2\n"),
     f"{DEV}:", "deployment 'Gateway' is listed twice"),
    ("not-a-mapping", lambda r: (r / DEV).write_text("- just\n- a list\n"), f"{DEV}:1", "expected a mapping"),
    ("duplicate-route-prefix", lambda r: edit(r / "raygitops.yaml", "route_prefix: /language", "route_prefix: /text_stats"),
     "raygitops.yaml:", "duplicate route prefix '/text_stats'"),
    ("duplicate-app-name", lambda r: edit(r / "raygitops.yaml", "- name: language", "- name: text_stats"),
     "raygitops.yaml:", "duplicate application name 'text_stats'"),
    ("route-without-slash", lambda r: edit(r / "raygitops.yaml", "route_prefix: /language", "route_prefix: language"),
     "raygitops.yaml:", "must start with /"),
    ("import-path-missing-module", lambda r: edit(r / "raygitops.yaml", "apps.language:app", "apps.langauge:app"),
     "raygitops.yaml:", "cannot import the Serve apps: ModuleNotFoundError"),
    ("app-import-error", lambda r: append(r / "apps/embedding.py", "\nimport numpyy\n"), "apps/embedding.py:",
     "cannot import the Serve apps"),
    ("app-syntax-error", lambda r: append(r / "apps/language.py", "\ndef broken(:\n"), "apps/language.py:",
     "SyntaxError"),
    ("not-an-application", lambda r: edit(r / "raygitops.yaml", "apps.language:app", "apps.language:LanguageGuesser"),
     "raygitops.yaml:", "Expected 'apps.language:LanguageGuesser' to be an Application"),
    ("version-mismatch-pyproject", lambda r: edit(r / "pyproject.toml", "ray[serve]==2.46.0", "ray[serve]==2.44.1"),
     "", "pyproject.toml pins ray[serve]==2.44.1 but raygitops.yaml versions.ray is 2.46.0"),
    ("version-mismatch-image", lambda r: edit(r / "base/rayservice.yaml", "image: ray-image", "image: rayproject/ray:2.45.0-py311"),
     "", "base/rayservice.yaml:41: image rayproject/ray:2.45.0-py311 but raygitops.yaml versions.ray is 2.46.0"),
    ("version-mismatch-ray-version", lambda r: edit(r / "base/rayservice.yaml", "rayVersion: set-by-tools-regen",
                                                    'rayVersion: "2.45.0"'),
     "", "base/rayservice.yaml:19: rayVersion 2.45.0 but raygitops.yaml versions.ray is 2.46.0"),
    ("version-mismatch-kuberay", lambda r: edit(r / "argocd/settings/settings.yaml", 'kuberayVersion: "1.7.0"',
                                                'kuberayVersion: "1.6.0"'),
     "", "argocd/settings/settings.yaml: kuberayVersion 1.6.0 but raygitops.yaml versions.kuberay is 1.7.0"),
    ("bad-version", lambda r: edit(r / "raygitops.yaml", "ray: 2.46.0", "ray: '2.46'"), "raygitops.yaml:6",
     "versions.ray '2.46' is not a version"),
    ("missing-version", lambda r: edit(r / "raygitops.yaml", "  kuberay: 1.7.0", ""), "raygitops.yaml:",
     "missing 'versions.kuberay'"),
    ("working-dir-without-hash", lambda r: edit(r / "raygitops.yaml", "apps-{hash}.zip", "apps-latest.zip"),
     "raygitops.yaml:", "working_dir.url has no {hash}"),
    ("environment-without-kustomization", lambda r: (r / "overlays/dev/kustomization.yaml").unlink(), "overlays/dev/",
     "environment dev has no kustomization.yaml"),
    ("missing-overlay-file", lambda r: (r / STAGING).unlink(), STAGING, "missing serve.yaml for environment staging"),
    ("yaml-alias", lambda r: edit(r / DEV, "applications:\n", "x: &a [1]\ny: *a\napplications:\n"),
     f"{DEV}:", "YAML aliases (*name) are not supported"),
    ("reserved-env-var", lambda r: edit(r / DEV, "env_vars:   # set on every application's runtime_env\n",
                                        "env_vars:\n  WORKING_DIR_URL: file:///tmp/x.zip\n"),
     f"{DEV}:4", "WORKING_DIR_URL is set by tools/regen"),
    ("string-instead-of-list", lambda r: edit(r / "raygitops.yaml", "external_imports: []", "external_imports: aana.x:app"),
     "raygitops.yaml:", "'external_imports' must be a list"),
    ("list-of-non-strings", lambda r: edit(r / "raygitops.yaml", "external_imports: []", "external_imports: [{a: b}]"),
     "raygitops.yaml:", "'external_imports.0' must be a string"),
    ("smoke-unknown-field", lambda r: edit(r / "raygitops.yaml", "expect: {language: de}", "expected: {language: de}"),
     "raygitops.yaml:", "unknown key 'expected' in applications.1.smoke — did you mean 'expect'?"),
    ("replicas-and-autoscaling", lambda r: edit(r / DEV, "num_replicas: 1", "num_replicas: 1\n        autoscaling_config: {min_replicas: 1, max_replicas: 2}"),
     f"{DEV}:16", "deployment 'Gateway' sets both num_replicas and autoscaling_config"),
    ("serve-yaml-is-a-directory", lambda r: ((r / DEV).unlink(), (r / DEV).mkdir()), f"{DEV}: Is a directory",
     "check that this path is a readable file"),
    ("app-args", lambda r: append(r / DEV, "  - name: language\n    args: {threshold: 2}\n"), f"{DEV}:",
     "'args' cannot be set per environment"),
    ("unknown-kubernetes-version", lambda r: edit(r / "raygitops.yaml", "kubernetes: 1.32.0", "kubernetes: 1.99.0"),
     "raygitops.yaml", "no schemas for Kubernetes 1.99.0"),
]


def generated(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.glob("overlays/*/generated/*")) + sorted(root.glob("base/generated/*"))}


@pytest.mark.parametrize("break_it,location,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_error_and_writes_nothing(repo_copy, break_it, location, words):
    before = generated(repo_copy)
    break_it(repo_copy)
    result = run_tool(repo_copy, "regen")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    message = lines[0]
    assert message.startswith(f"error: {location}"), message
    assert words in message, message
    assert " — " in message  # every error carries its fix
    after = generated(repo_copy)
    # The missing-overlay case still has its old generated files; nothing was rewritten.
    assert after == before
    assert not list(repo_copy.rglob("*.regen-tmp"))


def test_an_import_error_raised_inside_a_venv_in_the_repository_points_at_raygitops_yaml(tmp_path):
    """Ray's own frames (a .venv inside the checkout, as the README makes one) are not the user's file."""
    import importlib.util
    import sys

    from raygitops.config import AppSpec
    from raygitops.generate.serve_schema import _build_error

    library = tmp_path / ".venv/lib/python3.11/site-packages/raylike.py"
    library.parent.mkdir(parents=True)
    library.write_text("def import_attr(path):\n    raise ModuleNotFoundError(f\"No module named '{path}'\")\n")
    spec = importlib.util.spec_from_file_location("raylike", library)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.import_attr("apps.langauge")
    except ModuleNotFoundError as exc:
        error = _build_error(exc, sys.exc_info(), tmp_path,
                             [AppSpec("language", "apps.langauge:app", "/language", line=31)], "raygitops.yaml")
    assert (error.file, error.line) == ("raygitops.yaml", 31), error
