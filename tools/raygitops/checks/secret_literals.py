"""The secret-literal check: credentials written out in rendered manifests, by masking's notion of secret-like.

    from raygitops.checks.secret_literals import POLICIES      # secret-literal, run by checks/policies.py
    findings = without_repeats(findings)                        # where another check names the field, it wins

It reads the settings a manifest writes out: container env values (not valueFrom) and the
arguments after a secret-like flag, the serve config's env_vars and user_config, and ConfigMap
data (keys, and `name=value` lines of files such as application.properties). A value there is a
secret literal when its name is secret-like (raygitops.masking.names_a_secret: OPENAI_API_KEY,
STRIPE_KEY, JWT_SECRET, HF_TOKEN…); any string anywhere in a resource is one when it holds a URL
with a password (DATABASE_URL=postgresql://app:…@db). A ${VAR} reference is not a literal. The
message names the setting, never its value.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from raygitops.checks.policy_base import Policy, PolicyContext, report
from raygitops.findings import Finding
from raygitops.generate.serveconfig import serve_config_of
from raygitops.masking import holds_url_password, is_variable, mask_text, names_a_secret
from raygitops.model.rayservice import RayServiceView

ID = "secret-literal"   # registered in checks/registry.py (description, remediation)
_FIX = {   # where the literal sits → how to read it from a Secret instead
    "container env": "use valueFrom.secretKeyRef to a Secret made by an ExternalSecret",
    "container argument": "pass it from a Secret: env with valueFrom.secretKeyRef, then $(VAR) in the argument",
    "ConfigMap key": "keep it in a Secret made by an ExternalSecret and read it with secretKeyRef",
}
# Kinds whose strings are not settings: a Secret has its own check, the others hold references,
# ciphertext or schemas (whose descriptions may show example URLs).
_SKIPPED_KINDS = {"Secret", "SealedSecret", "ExternalSecret", "ClusterExternalSecret", "CustomResourceDefinition"}
_FLAG = re.compile(r"^--?([A-Za-z][\w.\-]*)(?:=(.*))?$", re.S)
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def _step(item: Any, index: int) -> str:
    name = item.get("name", item.get("groupName")) if isinstance(item, dict) else None
    return f"[{name}]" if isinstance(name, str) and name else f"[{index}]"


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path and not path.endswith(":") else f"{path}{key}"


def _walk(node: Any, path: str) -> Iterator[tuple[str, Any, str]]:
    """(path, value, key) of every scalar, with containers and the serve config expanded."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, _join(path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, path + _step(item, i))
    else:
        yield path, node, path.rsplit(".", 1)[-1]


def _container_settings(container: dict, path: str) -> Iterator[tuple[str, str, str, Any]]:
    for entry in container.get("env") if isinstance(container.get("env"), list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and "valueFrom" not in entry:
            yield "container env", entry["name"], f"{path}.env[{entry['name']}]", entry.get("value")
    for key in ("command", "args"):
        items = container.get(key) if isinstance(container.get(key), list) else []
        for i, item in enumerate(items):
            flag = _FLAG.match(items[i - 1]) if i and isinstance(items[i - 1], str) else None
            own = _FLAG.match(item) if isinstance(item, str) else None
            if own and own.group(2) is not None:          # --api-key=sk-…
                yield "container argument", own.group(1), f"{path}.{key}[{i}]", own.group(2)
            elif flag and flag.group(2) is None and not own:   # --api-key sk-…
                yield "container argument", flag.group(1), f"{path}.{key}[{i}]", item


def _serve_settings(resource: dict) -> Iterator[tuple[str, str, str, Any]]:
    config = serve_config_of(resource) or {}
    apps = config.get("applications") if isinstance(config.get("applications"), list) else []
    for a, app in enumerate(apps):
        if not isinstance(app, dict):
            continue
        app_path = f"spec.serveConfigV2:applications{_step(app, a)}"
        envs = [(f"{app_path}.runtime_env", app.get("runtime_env"))]
        deployments = app.get("deployments") if isinstance(app.get("deployments"), list) else []
        for d, deployment in enumerate(deployments):
            if isinstance(deployment, dict):
                dep_path = f"{app_path}.deployments{_step(deployment, d)}"
                actor = deployment.get("ray_actor_options")
                envs.append((f"{dep_path}.ray_actor_options.runtime_env",
                             actor.get("runtime_env") if isinstance(actor, dict) else None))
                for path, value, key in _walk(deployment.get("user_config"), f"{dep_path}.user_config"):
                    yield "serve user_config", key, path, value
        for path, runtime_env in envs:
            env_vars = runtime_env.get("env_vars") if isinstance(runtime_env, dict) else None
            for name, value in (env_vars.items() if isinstance(env_vars, dict) else ()):
                yield "serve env var", str(name), f"{path}.env_vars.{name}", value


def _settings(resource: dict) -> Iterator[tuple[str, str, str, Any, bool]]:
    """(where, name, path, value, judged by name) of everything the resource writes out."""
    covered: set[str] = set()

    def containers(node: Any, path: str) -> Iterator[tuple[str, str, str, Any]]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _CONTAINER_LISTS and isinstance(value, list):
                    for i, container in enumerate(value):
                        if isinstance(container, dict):
                            yield from _container_settings(container, f"{_join(path, key)}{_step(container, i)}")
                else:
                    yield from containers(value, _join(path, key))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                yield from containers(item, path + _step(item, i))

    named = list(containers(resource, ""))
    if resource.get("kind") == "RayService":
        named += list(_serve_settings(resource))
    if resource.get("kind") == "ConfigMap" and isinstance(resource.get("data"), dict):
        named += [("ConfigMap key", str(k), f"data.{k}", v) for k, v in resource["data"].items()]
    for where, name, path, value in named:
        covered.add(path)
        yield where, name, path, value, True
    for path, value, key in _walk(resource, ""):
        if path != "spec.serveConfigV2" and not any(prefix in covered for prefix in _prefixes(path)):
            yield "field", key, path, value, False


_STEP_END = re.compile(r"(?=[.\[])|$")


def _prefixes(path: str) -> Iterator[str]:
    """a.b[c].d → a, a.b, a.b[c], a.b[c].d: the fields a path lies in."""
    return (path[:m.start()] for m in _STEP_END.finditer(path) if m.start())


def _problem(name: str, value: Any, by_name: bool) -> str | None:
    if not isinstance(value, str) or not value.strip() or is_variable(value):
        return None
    if holds_url_password(value):
        return "holds a URL with a password"
    if by_name and names_a_secret(name) and not re.search(r"(Ref|Name)$", name):
        return "holds a secret literal"
    if by_name and mask_text(value) != value:
        return "holds a secret-like setting in its text"
    return None


def check_secret_literals(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    """A finding per setting of the resource that writes a credential out (see the module docstring)."""
    if not isinstance(view.kind, str) or view.kind in _SKIPPED_KINDS:
        return
    for where, name, path, value, by_name in _settings(view.resource):
        problem = _problem(name, value, by_name)
        if problem:
            yield report(ID, view, ctx, path, f"{where} {name} {problem}", fix=_FIX.get(where))


def without_repeats(findings: Iterable[Finding]) -> list[Finding]:
    """`findings` less each secret-literal finding on a field another finding names: that check says
    more (db-password-literal, aana-secret-default)."""
    findings = list(findings)
    named = {(f.resource, f.path) for f in findings if f.id != ID}
    return [f for f in findings if f.id != ID or (f.resource, f.path) not in named]


class _EveryKindBut(frozenset):
    """Policy.kinds for a check that reads every kind but these (`kind in kinds` is inverted)."""

    def __contains__(self, kind: object) -> bool:
        return isinstance(kind, str) and not super().__contains__(kind)


POLICIES = (Policy(ID, check_secret_literals, _EveryKindBut(_SKIPPED_KINDS)),)
