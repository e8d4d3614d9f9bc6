"""Hostile input (issue 13): each case is one class of bad input from a pull request, run as the
command a user runs. Each asserts the exit code, one `error:` line (or finding) naming the file and
line and the fix, no traceback, no planted secret in stdout or stderr in any output format, and
nothing written outside .run/. A hypothesis fuzz test closes the file.

    .venv/bin/pytest tests/e2e/test_hostile_input.py -q
    def test_x(case_repo): result = invoke(case_repo, "validate", "-", stdin=b"...")

Commands run in this process (raygitops.cli.main), not as subprocesses: a process start costs about
a second and Ray's import several, paid once here. kustomize, Ray's `serve build` and git are real.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, SHARED, copy_repository
from raygitops.cli import main

SECRET = "8675309"       # the planted password, as a number
FORMATS = ("text", "json", "junit", "github")
DEV_SERVE = "overlays/dev/serve.yaml"


# --- running a command -------------------------------------------------------------------------

class Hang(BaseException):
    """Raised by the alarm: not an Exception, so the command's own handler cannot swallow it."""


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err

    @property
    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith(("error:", "internal error:"))]



def config_line(text: str) -> int:
    """The line of raygitops.yaml that starts with `text` (after indentation): messages cite it."""
    lines = (Path(__file__).resolve().parents[2] / "raygitops.yaml").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.strip().lstrip("- ").startswith(text))

def invoke(root: Path, *args: str, stdin: bytes | None = None, env: dict | None = None,
           seconds: int = 120) -> Result:
    """`tools/<args>` against the repository at `root`, in this process. A hang fails the test, and
    so does a file written outside .run/."""
    before = snapshot(root)
    saved_env, saved_stdin = dict(os.environ), sys.stdin
    os.environ.update({"RAYGITOPS_ROOT": str(root), "RAYGITOPS_SHARED": str(SHARED), **(env or {})})
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")

    def hang(signum, frame):
        raise Hang(f"{' '.join(args)} did not finish in {seconds} s")
    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.chdir(root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.stdin = saved_stdin
    result = Result(code, out.getvalue(), err.getvalue())
    assert snapshot(root) == before, f"tools/{' '.join(args)} wrote outside .run/:\n{result.output}"
    return result


def named(*rows: tuple) -> list:
    """parametrize rows whose first item, the case's name, is also its test id."""
    return [pytest.param(*row, id=row[0]) for row in rows]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file outside the caches (.run/, bytecode, hypothesis') and git's own data: size, mtime."""
    files = {}
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in (".run", ".git", "__pycache__", ".hypothesis")]
        for name in names:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            files[os.path.relpath(path, root)] = (info.st_size, info.st_mtime_ns)
    return files


def check(result: Result, code: int, *, secrets: tuple[str, ...] = (SECRET,)) -> None:
    assert result.code == code, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    for secret in secrets:
        assert secret not in result.output, f"{secret!r} printed:\n{result.output}"


def refused(result: Result, where: str, *words: str, secrets: tuple[str, ...] = (SECRET,)) -> str:
    """Exit 2 and exactly one error line, starting with the file (and line), holding `words` and a fix."""
    check(result, 2, secrets=secrets)
    assert len(result.errors) == 1, result.err
    [line] = result.errors
    assert line.startswith(f"error: {where}"), line
    assert " — " in line, f"no fix in: {line}"
    for word in words:
        assert word in line, line
    return line


def finding_lines(result: Result, file: str) -> list[str]:
    return [line for line in result.out.splitlines() if line.startswith(file)]


# --- repositories --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def template(tmp_path_factory, warm_caches) -> Path:
    root = copy_repository(tmp_path_factory.mktemp("hostile") / "template", warm_caches)
    return root


@pytest.fixture
def case_repo(template, tmp_path) -> Path:
    """A fresh copy of the repository to break (invoke checks that the command writes nothing outside .run/)."""
    root = tmp_path / "repo"
    shutil.copytree(template, root, symlinks=True)
    return root


def write(root: Path, rel: str, text: str | bytes) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return rel


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


RAYSERVICE = (REPO / "tests/e2e/validate_corpus/valid-rayservice.yaml").read_text()


def rayservice(serve_config: str) -> str:
    """The corpus' valid RayService with another serveConfigV2 (given unindented)."""
    head, _, rest = RAYSERVICE.partition("  serveConfigV2: |\n")
    tail = rest[rest.index("  rayClusterConfig:"):]
    return head + "  serveConfigV2: |\n" + "".join(f"    {line}\n" for line in serve_config.splitlines()) + tail


SERVE_APP = """applications:
  - name: main
    route_prefix: {route}
    import_path: apps.main:app
    runtime_env:
      working_dir: https://artifacts.example.com/raygitops/apps-0123456789abcdef.zip
    deployments:
      - name: Gateway
{deployment}"""


# --- 1. secrets echoed back -----------------------------------------------------------------------

WRONG_TYPES = f"""apiVersion: v1
kind: Secret
metadata: {{name: db, namespace: aana-x}}
data:
  password: {SECRET}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: aana-x}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers:
        - name: api
          image: example/api:1.0@sha256:{"0" * 64}
          env:
            - {{name: DB_PASSWORD, value: {SECRET}}}
"""


@pytest.mark.parametrize("output", FORMATS)
def test_a_secret_of_the_wrong_type_is_described_not_echoed(case_repo, output):
    rel = write(case_repo, ".run/in/wrong-types.yaml", WRONG_TYPES)
    result = invoke(case_repo, "validate", rel, "--output", output)
    check(result, 1)
    if output == "text":
        lines = [line for line in finding_lines(result, rel) if " error schema: " in line]
        assert any(line.startswith(f"{rel}:5: Secret db: error schema: an integer of 7 digits is not of type")
                   for line in lines), lines
        [env_value] = [line for line in lines if line.startswith(f"{rel}:19: Deployment api: error schema: ")]
        assert "an integer of 7 digits" in env_value and "— write a value of that type" in env_value
    elif output == "junit":
        ET.fromstring(result.out)


LITERALS = """apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: aana-x}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - name: api
          image: example/api:1.0@sha256:%s
          args: ["--api-key", "planted-arg-4417"]
          env:
            - {name: OPENAI_API_KEY, value: planted-openai-4417}
            - {name: STRIPE_KEY, value: planted-stripe-4417}
            - {name: JWT_SECRET, value: planted-jwt-4417}
            - {name: DATABASE_URL, value: "postgresql://app:planted-url-4417@db:5432/aana"}
            - {name: TOKEN_FROM_SECRET, valueFrom: {secretKeyRef: {name: api, key: token}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: aana-x}
data:
  application.properties: |
    server.port=8080
    db.password=planted-props-4417
""" % ("0" * 64)
PLANTED = tuple(f"planted-{what}-4417" for what in ("arg", "openai", "stripe", "jwt", "url", "props"))


@pytest.mark.parametrize("output", FORMATS)
def test_literal_secrets_under_common_names_are_findings(case_repo, output):
    rel = write(case_repo, ".run/in/literals.yaml", LITERALS)
    result = invoke(case_repo, "validate", rel, "--output", output)
    check(result, 1, secrets=PLANTED)
    if output == "json":
        found = {(f["path"], f["message"]) for f in json.loads(result.out)["findings"] if f["id"] == "secret-literal"}
        container = "spec.template.spec.containers[api]"
        assert found == {
            (f"{container}.args[1]", "container argument api-key holds a secret literal"),
            (f"{container}.env[OPENAI_API_KEY]", "container env OPENAI_API_KEY holds a secret literal"),
            (f"{container}.env[STRIPE_KEY]", "container env STRIPE_KEY holds a secret literal"),
            (f"{container}.env[JWT_SECRET]", "container env JWT_SECRET holds a secret literal"),
            (f"{container}.env[DATABASE_URL]", "container env DATABASE_URL holds a URL with a password"),
            ("data.application.properties",
             "ConfigMap key application.properties holds a secret-like setting in its text"),
        }
    if output == "text":
        [line] = [line for line in finding_lines(result, rel) if "STRIPE_KEY" in line]
        assert line.startswith(f"{rel}:15: Deployment api: error secret-literal:")
        assert "— use valueFrom.secretKeyRef" in line


def test_regen_error_does_not_quote_a_secret_in_its_fix(case_repo):
    edit(case_repo, DEV_SERVE, "env_vars:   # set on every application's runtime_env\n",
         f"env_vars:   # set on every application's runtime_env\n  DB_PASSWORD: {SECRET}\n")
    refused(invoke(case_repo, "regen"), f"{DEV_SERVE}:4:", "env var DB_PASSWORD must be a string",
            "an integer of 7 digits", 'quote it: DB_PASSWORD: "(hidden)"')


def test_regen_check_diff_hides_secrets(case_repo):
    edit(case_repo, DEV_SERVE, "env_vars:   # set on every application's runtime_env\n",
         "env_vars:   # set on every application's runtime_env\n  API_TOKEN: planted-token-4417\n"
         "  CACHE_URL: redis://cache:planted-redis-4417@cache:6379/0\n")
    edit(case_repo, DEV_SERVE, "datastore_type: sqlite\n", "datastore_type: sqlite\n    password: planted-db-4417\n")
    edit(case_repo, "overlays/dev/generated/serve-config.yaml", '"datastore_type":"sqlite"',
         '"datastore_type":"sqlite","password":"planted-old-4417"')
    result = invoke(case_repo, "regen", "--check")
    check(result, 1, secrets=("planted-token-4417", "planted-redis-4417", "planted-db-4417", "planted-old-4417"))
    assert "stale: overlays/dev/generated/serve-config.yaml" in result.err
    assert "+      API_TOKEN: (hidden)" in result.err and '+  - "API_TOKEN=(hidden)"' in result.err
    assert '+      CACHE_URL: "redis://cache:(hidden)@cache:6379/0"' in result.err
    assert "run tools/regen and commit the result" in result.err


# --- tools/diff: every format, a git repository ------------------------------------------------------

def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   check=True, capture_output=True)


def test_diff_masks_every_secret_in_every_format(case_repo):
    root = case_repo

    def plant(tag: str) -> None:
        """dev's settings, holding planted-<what>-<tag> in every secret-like place tools/diff shows."""
        write(root, "overlays/dev/app-config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\n"
              f"data:\n  application.properties: |\n    server.port=8080\n    db.password=planted-props-{tag}\n")
        write(root, "overlays/dev/secrets-patch.yaml",
              "apiVersion: ray.io/v1\nkind: RayService\nmetadata: {name: aana}\n"
              "spec:\n  rayClusterConfig:\n    headGroupSpec:\n      template:\n        spec:\n          containers:\n"
              f"            - name: ray-head\n              args: [--signing-key, planted-arg-{tag}]\n"
              "              env:\n"
              f"                - {{name: MASTER_KEY, value: planted-master-{tag}}}\n"
              f"                - {{name: JWT_KEY, value: planted-jwtkey-{tag}}}\n"
              f"                - {{name: STRIPE_KEY, value: planted-stripe-{tag}}}\n"
              f"                - {{name: DATABASE_URL, value: 'postgresql://app:planted-dburl-{tag}@db/aana'}}\n")

    plant("old")
    edit(root, "overlays/dev/kustomization.yaml", "  - ../../base\n", "  - ../../base\n  - app-config.yaml\n")
    edit(root, "overlays/dev/kustomization.yaml", "  - path: rayservice-patch.yaml\n",
         "  - path: rayservice-patch.yaml\n  - path: secrets-patch.yaml\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    plant("new")
    # A NaN, which JSON cannot hold (the generated file is edited by hand: tools/diff shows what renders).
    edit(root, "overlays/dev/generated/serve-config.yaml", "      top_k: 5\n", "      top_k: .nan\n")
    planted = [f"planted-{what}-{tag}" for what in ("props", "arg", "master", "jwtkey", "stripe", "dburl")
               for tag in ("old", "new")]
    for output in ("text", "markdown", "json"):
        result = invoke(root, "diff", "HEAD", "--format", output)
        check(result, 0, secrets=planted)
        for name in ("MASTER_KEY", "JWT_KEY", "STRIPE_KEY", "DATABASE_URL", "args", "application.properties"):
            assert name in result.out, (name, result.out)
        if output == "text":
            # Only a hidden part changed: the change is named, its content is not shown.
            assert "env[DATABASE_URL].value: (changed)" in result.out
            assert 'data."application.properties": (changed)' in result.out
        if output == "json":
            json.loads(result.out, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
            assert '".nan"' in result.out
    # A serveConfigV2 that no longer parses, with a password in it, is not printed.
    edit(root, "overlays/dev/generated/serve-config.yaml", "proxy_location: EveryNode\n",
         "proxy_location: EveryNode\npassword: planted-serve-4417\n  : [\n")
    for output in ("text", "markdown", "json"):
        result = invoke(root, "diff", "HEAD", "--format", output)
        check(result, 0, secrets=(*planted, "planted-serve-4417"))
        assert "not valid YAML: not shown" in result.out, result.out


# --- 2. input that crashed or hung --------------------------------------------------------------------

DEEP_FLOW = "a: " + "[" * 50_000 + "]" * 50_000 + "\n"        # libyaml's composer crashed on this
DEEP_BLOCK = "".join(" " * i + f"k{i}:\n" for i in range(2_000)) + " " * 2_000 + "v: 1\n"
ALIAS_BOMB = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n"
              "  a: &a [x, x, x, x, x, x, x, x, x]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
              "  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
              "  e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n")
SERVE_ALIAS_BOMB = rayservice("x: &a [1, 1, 1, 1, 1, 1, 1, 1]\ny: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                              "z: &c [*b, *b, *b, *b, *b, *b, *b, *b]\napplications: [*c, *c, *c, *c]\n")
DEPTH = ("YAML nested deeper than 100 levels", "RAYGITOPS_YAML_MAX_DEPTH")
ALIASES = ("YAML aliases (*name) are not supported here", "write the value out")


@pytest.mark.parametrize("name, target, text, where", named(
    ("config-deep-flow", "raygitops.yaml", "versions: " + DEEP_FLOW, "raygitops.yaml:1:"),
    ("config-deep-block", "raygitops.yaml", DEEP_BLOCK, "raygitops.yaml:101:"),
    ("serve-yaml-deep", DEV_SERVE, "applications: " + DEEP_FLOW, f"{DEV_SERVE}:1:"),
))
def test_deep_files_are_refused_before_parsing(case_repo, name, target, text, where):
    write(case_repo, target, text)
    refused(invoke(case_repo, "regen", "--check"), where, *DEPTH)


STDIN_CASES = {
    "deep-flow": (DEEP_FLOW.encode(), {}, "<stdin>:1:", DEPTH),
    "deep-block": (("- " * 50_000 + "x\n").encode(), {}, "<stdin>:1:", DEPTH),
    "alias-bomb": (ALIAS_BOMB.encode(), {}, "<stdin>:6:", ALIASES),
    "serve-config-alias-bomb": (SERVE_ALIAS_BOMB.encode(), {}, "<stdin>:", ALIASES + ("spec.serveConfigV2",)),
    "not-utf8": (b"apiVersion: v1\nkind: ConfigMap\ndata: {a: \xff\xfe}\n", {}, "<stdin>:3:", ("not UTF-8",)),
    "too-many-documents": (b"---\na: 1\n" * 4, {"RAYGITOPS_YAML_MAX_DOCUMENTS": "3"}, "<stdin>:7:",
                           ("more than 3 YAML documents", "RAYGITOPS_YAML_MAX_DOCUMENTS")),
    # The limit stays above raygitops.yaml's size, which every command reads first.
    "too-large": (b"# padding\n" * 2000, {"RAYGITOPS_YAML_MAX_BYTES": "16384"}, "<stdin>:",
                  ("larger than the limit of 16384 bytes", "RAYGITOPS_YAML_MAX_BYTES")),
}


@pytest.mark.parametrize("name", STDIN_CASES)
def test_hostile_stdin_is_refused(case_repo, name):
    stdin, env, where, words = STDIN_CASES[name]
    for output in FORMATS:
        result = invoke(case_repo, "validate", "-", "--output", output, stdin=stdin, env=env)
        refused(result, where, *words)


def test_alias_bomb_file_is_refused(case_repo):
    rel = write(case_repo, ".run/in/bomb.yaml", ALIAS_BOMB)
    refused(invoke(case_repo, "validate", rel), f"{rel}:6:", *ALIASES)


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_only_regular_files_are_read(case_repo, tmp_path, kind):
    path = tmp_path / "manifest.yaml"
    if kind == "fifo":
        os.mkfifo(path)   # reading it would block for ever
    else:
        path = Path("/dev/zero")   # reading it would never end
    assert not stat.S_ISREG(path.stat().st_mode)
    refused(invoke(case_repo, "validate", str(path)), f"{path}:", "not a regular file", "a readable file")


def test_an_unexpected_error_is_exit_2_without_its_message(case_repo, monkeypatch):
    import raygitops.checks.validate as module

    def broken(*args, **kwargs):
        raise RuntimeError(f"password={SECRET}")
    monkeypatch.setattr(module, "validate", broken)
    result = invoke(case_repo, "validate")
    assert result.code == 2 and SECRET not in result.output and "Traceback" not in result.output
    assert result.err.startswith("internal error: RuntimeError") and "please report it" in result.err


# --- 3. what Ray or kustomize would reject later ---------------------------------------------------------

@pytest.mark.parametrize("route, words", named(
    ("/language/", ("must not end with /", "use /language")),
    ("/lang/{id}", ("must not hold a path parameter",)),
))
def test_routes_ray_refuses_are_refused(case_repo, route, words):
    edit(case_repo, "raygitops.yaml", "route_prefix: /language\n", f"route_prefix: {route}\n")
    refused(invoke(case_repo, "regen", "--check"), f"raygitops.yaml:{config_line('route_prefix: /language')}:", f"route_prefix {route!r}", *words)


@pytest.mark.parametrize("name, serve_yaml, words", named(
    ("autoscaling-min-above-max",
     "        num_replicas: auto\n        autoscaling_config: {min_replicas: 3, max_replicas: 1}\n",
     ("max_replicas (1) must be greater than or equal to min_replicas (3)",)),
    ("replicas-not-whole", "        num_replicas: 1.5\n", ("must be a whole number or a string, not a number",)),
    ("env-var-name-with-equals", "        num_replicas: 1\n    runtime_env:\n      env_vars: {'A=B': x}\n",
     ("env var name is not valid: it has '=' after 'A'",)),
    ("env-var-name-empty", "        num_replicas: 1\n    runtime_env:\n      env_vars: {'': x}\n",
     ("an env var name is empty",)),
    ("env-var-name-newline", "        num_replicas: 1\n    runtime_env:\n      env_vars: {\"A\\nB\": x}\n",
     ("a line break after 'A'",)),
    ("env-var-null", "        num_replicas: 1\n    runtime_env:\n      env_vars: {EMPTY: null}\n",
     ("env var EMPTY has no value", 'give it one (EMPTY: "…")')),
))
def test_serve_yaml_that_ray_would_refuse_is_refused(case_repo, name, serve_yaml, words):
    edit(case_repo, DEV_SERVE, "        num_replicas: 1\n", serve_yaml)
    refused(invoke(case_repo, "regen", "--check"), f"{DEV_SERVE}:", *words)


@pytest.mark.parametrize("name, deployment, route, path, words", named(
    ("route-trailing-slash", "        num_replicas: 1", "/main/", "applications[main].route_prefix",
     "may not end with a trailing '/'"),
    ("autoscaling-min-above-max",
     "        num_replicas: auto\n        autoscaling_config: {min_replicas: 3, max_replicas: 1}",
     "/", "applications[main].deployments[Gateway].autoscaling_config.max_replicas",
     "must be greater than or equal to min_replicas"),
    ("env-var-name",
     "        num_replicas: 1\n        ray_actor_options:\n          runtime_env: {env_vars: {'A=B': x}}",
     "/", "applications[main].deployments[Gateway].ray_actor_options.runtime_env.env_vars", "it has '='"),
))
def test_rendered_serve_config_that_ray_would_refuse_is_a_finding(case_repo, name, deployment, route, path, words):
    rel = write(case_repo, ".run/in/serve.yaml", rayservice(SERVE_APP.format(route=route, deployment=deployment)))
    result = invoke(case_repo, "validate", rel, "--output", "json")
    check(result, 1)
    found = [f for f in json.loads(result.out)["findings"] if f["id"] == "serve-schema"]
    assert [(f["path"], words in f["message"]) for f in found] == [(f"spec.serveConfigV2:{path}", True)], found


@pytest.mark.parametrize("name, old, new, where, words", named(
    ("unknown-top-level-key", "versions:", "verions:", "raygitops.yaml:5:", ("unknown key 'verions'", "'versions'")),
    ("unknown-app-key", "route_prefix: /language", "rout_prefix: /language", f"raygitops.yaml:{config_line('route_prefix: /language')}:",
     ("unknown key 'rout_prefix'", "'route_prefix'")),
    ("tag-suffix-list", "tag_suffix: -py311}", "tag_suffix: [1]}", "raygitops.yaml:",
     ("tag_suffix' must be a string",)),
    ("version-list", "ray: 2.46.0 ", "ray: [1] ", "raygitops.yaml:", ("versions.ray",)),
))
def test_raygitops_yaml_keys_and_types(case_repo, name, old, new, where, words):
    edit(case_repo, "raygitops.yaml", old, new)
    line = refused(invoke(case_repo, "validate", "tests/e2e/validate_corpus/valid-rayservice.yaml"), where, *words)
    assert "or number or number" not in line


def test_a_patch_that_replaces_the_serve_config_fails(case_repo):
    write(case_repo, "overlays/dev/serve-patch.yaml",
          "apiVersion: ray.io/v1\nkind: RayService\nmetadata: {name: aana}\n"
          "spec:\n  serveConfigV2: |\n    applications:\n      - name: main\n        import_path: apps.main:app\n"
          "        route_prefix: /\n        runtime_env: {env_vars: {API_TOKEN: planted-patch-4417}}\n")
    edit(case_repo, "overlays/dev/kustomization.yaml", "  - path: rayservice-patch.yaml\n",
         "  - path: rayservice-patch.yaml\n  - path: serve-patch.yaml\n")
    result = invoke(case_repo, "validate", "overlays/dev")
    check(result, 1, secrets=("planted-patch-4417",))
    [line] = [line for line in result.out.splitlines() if "serve-not-generated" in line]
    assert line.startswith("overlays/dev: RayService aana: error serve-not-generated: serveConfigV2 is not "
                           "overlays/dev/generated/serve-config.yaml"), line
    assert "— remove that patch; change overlays/dev/serve.yaml and run tools/regen" in line


def test_a_kustomization_outside_the_repository_is_refused(case_repo, tmp_path):
    outside = tmp_path / "outside"
    write(outside, "kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
          "resources: [cm.yaml]\n")
    write(outside, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    refused(invoke(case_repo, "validate", str(outside)), f"{outside}:", "outside the repository",
            "move it under overlays/")


def test_an_overlay_name_argo_cd_cannot_use_is_refused(case_repo):
    shutil.copytree(case_repo / "overlays/staging", case_repo / "overlays/q a")
    refused(invoke(case_repo, "validate"), "overlays/q a/:", "'q a' is not a valid Kubernetes name",
            "rename the directory")


# --- 4. output formats and messages -----------------------------------------------------------------

def test_junit_escapes_control_characters(case_repo):
    rel = write(case_repo, ".run/in/control.yaml",
                'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: "a\\x01b"}\n'
                'data: {"k\\x1b[31m": 1, "bidi\\u202e": 2}\n')
    for output in FORMATS:
        result = invoke(case_repo, "validate", rel, "--output", output)
        check(result, 1)
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\u202e]", result.out), result.out
        if output == "junit":
            suites = ET.fromstring(result.out)
            assert len(suites.findall(".//failure")) == 2
            assert suites.find(".//testcase").get("name") == "ConfigMap/a\\x01b/x"


@pytest.mark.parametrize("name, change, where, words", named(
    ("no-applications", lambda r: write(r, "raygitops.yaml", re.sub(r"(?ms)^applications:.*?(?=^schemas:)",
                                                                    "applications: []\n\n", r.joinpath(
                                                                        "raygitops.yaml").read_text())),
     f"raygitops.yaml:{config_line('applications:')}:", ("applications is empty", "list at least one application")),
    ("self-symlink", lambda r: (r / "raygitops.yaml").unlink() or os.symlink("raygitops.yaml", r / "raygitops.yaml"),
     "raygitops.yaml:", ("cannot read", "replace the looping symbolic link")),
    ("kuberay-mismatch", lambda r: edit(r, "argocd/settings/settings.yaml", 'kuberayVersion: "1.7.0"',
                                        'kuberayVersion: "1.6.2"'),
     "argocd/settings/settings.yaml:", ("kuberayVersion 1.6.2", "versions.kuberay")),
))
def test_messages_say_what_to_fix(case_repo, name, change, where, words):
    change(case_repo)
    line = refused(invoke(case_repo, "regen"), where, *words)
    assert "Usage:" not in line and "versions.ray" not in line.split(" — ")[1]


def test_a_serve_config_mapping_is_not_called_missing(case_repo):
    text = RAYSERVICE.replace("  serveConfigV2: |\n", "  serveConfigV2:\n")
    rel = write(case_repo, ".run/in/mapping.yaml", text)
    result = invoke(case_repo, "validate", rel, "--output", "json")
    check(result, 1)
    messages = [f["message"] for f in json.loads(result.out)["findings"] if f["id"].startswith("serve")]
    assert messages == ["serveConfigV2 is a mapping of 1 key, not a string"], messages


# --- fuzz ----------------------------------------------------------------------------------------------

SECRET_NAMES = ("API_TOKEN", "DB_PASSWORD", "OPENAI_API_KEY", "STRIPE_KEY", "clientSecret", "JWT_SECRET",
                "MASTER_KEY", "aws_credentials", "HF_TOKEN_2", "tls.key")
PLANTS = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=10, max_size=16).map(lambda s: f"Zq{s}")
KEYS = st.sampled_from(["name", "spec", "data", "env", "value", "items", "x", "num_replicas", "route_prefix",
                        "env_vars", "user_config", "applications", "deployments", "args", "metadata"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**9), st.floats(allow_nan=True),
                    st.text(alphabet="abc/:{}[]-_ ", max_size=8))


@st.composite
def planted_tree(draw, plants: list):
    """Random structure in which some mappings hold a secret-named key with a planted value."""
    def with_secret(value):
        if isinstance(value, dict) and draw(st.booleans()):
            plant = draw(PLANTS)
            plants.append(plant)
            value[draw(st.sampled_from(SECRET_NAMES))] = draw(st.sampled_from([plant, [plant], {"v": plant}]))
        return value
    tree = draw(st.recursive(SCALARS, lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=3).map(with_secret)), max_leaves=12))
    for _ in range(draw(st.integers(0, 3)) * draw(st.sampled_from([1, 1, 40]))):
        tree = [tree] if draw(st.booleans()) else {"n": tree}      # now and then deeper than the bound
    return with_secret(tree if isinstance(tree, dict) else {"x": tree})


@st.composite
def documents(draw):
    plants: list[str] = []
    serve = draw(planted_tree(plants))
    env = {name: draw(PLANTS) for name in draw(st.lists(st.sampled_from(SECRET_NAMES), max_size=3, unique=True))}
    plants += env.values()
    app = {"name": "main", "import_path": "apps.main:app", "route_prefix": draw(st.sampled_from(["/", "/x/", "/a"])),
           "runtime_env": {"env_vars": env}, "deployments": [{"name": "Gateway", **draw(planted_tree(plants))}]}
    serve.setdefault("applications", [app])
    shared = draw(planted_tree(plants))
    spec = draw(planted_tree(plants))
    for tree in (spec, serve):
        if draw(st.booleans()):
            tree["alias"], tree["again"] = shared, shared      # the dumper writes &id001 and *id001
    service = {"apiVersion": "ray.io/v1", "kind": draw(st.sampled_from(["RayService", "ConfigMap", "Secret"])),
               "metadata": {"name": "fuzz", "namespace": "aana-fuzz"},
               "spec": {"serveConfigV2": yaml.safe_dump(serve, allow_unicode=True), **spec}}
    text = yaml.safe_dump_all([service, draw(planted_tree(plants))], allow_unicode=True)
    return text, plants


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=documents(), output=st.sampled_from(FORMATS))
def test_fuzz_no_traceback_no_secret(template, case, output):
    text, plants = case
    result = invoke(template, "validate", "-", "--output", output, stdin=text.encode(), seconds=60)
    assert result.code in (0, 1, 2), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    for plant in plants:
        assert plant not in result.output, f"{plant} printed:\n{result.output}"
