"""What Ray refuses when it deploys a serve config that ServeDeploySchema accepted, checked now.

    deploy_errors(config)   # [(loc, message)], as ray_schema_errors gives them
    env_var_name_problem("A=B")   # "…", or None for a valid name

ServeDeploySchema (ray/serve/schema.py, Ray 2.46) types `autoscaling_config` and `runtime_env` as
plain dicts and does not check `route_prefix`, so these pass it and fail only at deploy, in the
Serve controller's `override_deployment_info` (ray/serve/_private/application_state.py):
- `validate_route_prefix` (ray/serve/_private/utils.py): no trailing "/", no "{" or "}";
- `DeploymentConfig(**options)` (ray/serve/_private/config.py) and, through it, `AutoscalingConfig`
  (ray/serve/config.py `replicas_settings_valid`: min_replicas <= initial_replicas <= max_replicas);
  with num_replicas "auto", `AutoscalingConfig.default()` updated by the given settings;
- `ReplicaConfig._validate` (ray/serve/_private/config.py): ray_actor_options, placement group
  bundles against the actor's resources, max_replicas_per_node;
- `RuntimeEnv(**runtime_env)` (ray/runtime_env/runtime_env.py) when the app's tasks and actors start.
Each rule is Ray's own code, called here. Two more rules are ours: pydantic v1 silently turns
`num_replicas: 1.5` into 1 and "5" into 5, so a value must have its field's own type; and an env
var name must be one Kubernetes accepts (apimachinery validation.IsEnvVarName), because the same
names become the `raygitops-env` ConfigMap's keys. Ray's messages are masked (raygitops.masking).
"""
from __future__ import annotations

import copy
import re
import typing
from enum import Enum
from typing import Any, Iterable

from raygitops.masking import describe, mask_text

# k8s.io/apimachinery/pkg/util/validation: IsEnvVarName, "[-._a-zA-Z][-._a-zA-Z0-9]*".
_ENV_VAR_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


_CHARACTERS = {"=": "'='", "\n": "a line break", "\r": "a carriage return", " ": "a space", "\t": "a tab"}


def env_var_name_problem(name: Any) -> str | None:
    """Why `name` cannot be an env var name, or None. Only the valid part before the first bad
    character is quoted: what follows may be a pasted secret (OPENAI_API_KEY=sk-…)."""
    if not isinstance(name, str):
        return f"an env var name must be a string, not {describe(name)}"
    if not name:
        return "an env var name is empty"
    match = _ENV_VAR_NAME.match(name)
    if match and match.end() == len(name):
        return None
    good = name[:match.end()] if match else ""
    bad = name[len(good)]
    what = _CHARACTERS.get(bad) or ("a digit" if bad.isdigit() else f"the character U+{ord(bad):04X}")
    where = f"after {good[:40]!r}" if good else "as its first character"
    return f"env var name is not valid: it has {what} {where} (Kubernetes allows letters, digits, '_', '-', '.')"


# --- types ------------------------------------------------------------------------------------

def _type_words(tp: Any) -> list[str]:
    if typing.get_origin(tp) is typing.Union:
        return [w for arg in typing.get_args(tp) for w in _type_words(arg)]
    origin = typing.get_origin(tp) or tp
    if tp is type(None):
        return ["null"]
    if origin in (list, tuple, set):
        return ["a list"]
    if origin is dict:
        return ["a mapping"]
    if isinstance(origin, type):
        if issubclass(origin, bool):
            return ["true or false"]
        if issubclass(origin, int):
            return ["a whole number"]
        if issubclass(origin, float):
            return ["a number"]
        if issubclass(origin, (str, Enum)):
            return ["a string"]
        if hasattr(origin, "__fields__"):
            return ["a mapping"]
    return []


def _accepts(tp: Any, value: Any) -> bool:
    """Whether `value` has type `tp` without pydantic v1's coercion (1.5 → 1, "5" → 5, 1 → True)."""
    if tp is Any:
        return True
    if typing.get_origin(tp) is typing.Union:
        return any(_accepts(arg, value) for arg in typing.get_args(tp))
    origin = typing.get_origin(tp) or tp
    if tp is type(None):
        return value is None
    if origin in (list, tuple, set):
        return isinstance(value, list)
    if origin is dict:
        return isinstance(value, dict)
    if not isinstance(origin, type):
        return True          # a type this check does not know: Ray's schema decides
    if issubclass(origin, bool):
        return isinstance(value, bool)
    if issubclass(origin, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if issubclass(origin, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if issubclass(origin, Enum):
        return isinstance(value, (str, int)) and not isinstance(value, bool)
    if issubclass(origin, str):
        return isinstance(value, str)
    if hasattr(origin, "__fields__"):
        return isinstance(value, dict)
    return True


def type_errors(model: Any, data: Any, loc: tuple = ()) -> list[tuple[tuple, str]]:
    """(loc, message) for every value in `data` whose type is not its field's, through nested models."""
    from ray.serve.config import AutoscalingConfig
    if not isinstance(data, dict):
        return []
    out = []
    for name, value in data.items():
        field = model.__fields__.get(name) if isinstance(name, str) else None
        if field is None or (value is None and field.allow_none):
            continue
        tp = field.outer_type_   # pydantic v1: Optional[X] is X with allow_none
        if not _accepts(tp, value):
            words = [w for w in dict.fromkeys(_type_words(tp)) if w != "null"] or ["another type"]
            out.append((loc + (name,), f"must be {' or '.join(words)}, not {describe(value)}"))
            continue
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) in (list,) and typing.get_args(tp) else None
        if inner is not None and hasattr(inner, "__fields__"):
            for i, item in enumerate(value):
                out += type_errors(inner, item, loc + (name, i))
        elif hasattr(tp, "__fields__"):
            out += type_errors(tp, value, loc + (name,))
        elif name == "autoscaling_config":
            out += type_errors(AutoscalingConfig, value, loc + (name,))
    return out


# --- Ray's deploy-time rules --------------------------------------------------------------------

def _messages(error: Exception, loc: tuple) -> list[tuple[tuple, str]]:
    """A pydantic ValidationError's entries, or the error's own message, masked and on one line."""
    errors = getattr(error, "errors", None)
    entries = errors() if callable(errors) else [{"loc": (), "msg": str(error)}]
    return [(loc + tuple(p for p in entry.get("loc", ()) if p != "__root__"),
             " ".join(mask_text(str(entry.get("msg", "invalid"))).split())) for entry in entries]


def _replica_errors(deployment: dict, loc: tuple) -> list[tuple[tuple, str]]:
    from ray.serve._private.config import ReplicaConfig
    # ReplicaConfig.update() runs _validate(); the object needs nothing else for it.
    replica = ReplicaConfig.__new__(ReplicaConfig)
    options = deployment.get("ray_actor_options")
    replica.ray_actor_options = copy.deepcopy(options) if isinstance(options, dict) else {}
    replica.placement_group_bundles = deployment.get("placement_group_bundles")
    replica.placement_group_strategy = deployment.get("placement_group_strategy")
    replica.max_replicas_per_node = deployment.get("max_replicas_per_node")
    try:
        replica._validate()
    except Exception as error:  # noqa: BLE001 - ValueError/TypeError; any failure is Ray's refusal
        return _messages(error, loc)
    return []


def _deployment_errors(deployment: dict, loc: tuple) -> list[tuple[tuple, str]]:
    from ray.serve._private.config import DeploymentConfig
    from ray.serve.config import AutoscalingConfig
    options = {k: copy.deepcopy(v) for k, v in deployment.items() if k in DeploymentConfig.__fields__}
    if options.get("num_replicas") == "auto":
        options["num_replicas"] = None
        settings = AutoscalingConfig.default().dict()
        settings.update(deployment.get("autoscaling_config") or {})
        try:
            options["autoscaling_config"] = AutoscalingConfig(**settings)
        except Exception as error:  # noqa: BLE001
            return _messages(error, loc + ("autoscaling_config",))
    try:
        DeploymentConfig(**options)
    except Exception as error:  # noqa: BLE001
        return _messages(error, loc)
    return _replica_errors(deployment, loc)


def _runtime_env_errors(runtime_env: Any, loc: tuple) -> list[tuple[tuple, str]]:
    from ray.runtime_env import RuntimeEnv
    if not isinstance(runtime_env, dict):
        return []
    out = []
    env_vars = runtime_env.get("env_vars")
    for name, value in env_vars.items() if isinstance(env_vars, dict) else ():
        problem = env_var_name_problem(name)
        if problem is None and not isinstance(value, str):
            problem = f"env var {name} must be a string, not {describe(value)}"
        if problem:
            out.append((loc + ("env_vars",), problem))
    others = {k: v for k, v in runtime_env.items() if k != "env_vars"}
    try:
        RuntimeEnv(**others)
    except Exception as error:  # noqa: BLE001
        out += _messages(error, loc)
    return out


def deploy_errors(config: Any) -> list[tuple[tuple, str]]:
    """(loc, message) for what the Serve controller would refuse (see the module docstring)."""
    from ray.serve._private.utils import validate_route_prefix
    from ray.serve.schema import ServeDeploySchema
    out = type_errors(ServeDeploySchema, config)
    apps = config.get("applications") if isinstance(config, dict) else None
    for a, app in enumerate(apps if isinstance(apps, list) else []):
        if not isinstance(app, dict):
            continue
        loc = ("applications", a)
        if isinstance(app.get("route_prefix"), str):
            try:
                validate_route_prefix(app["route_prefix"])
            except ValueError as error:
                out += _messages(error, loc + ("route_prefix",))
        out += _runtime_env_errors(app.get("runtime_env"), loc + ("runtime_env",))
        deployments = app.get("deployments")
        for d, deployment in enumerate(deployments if isinstance(deployments, list) else []):
            if isinstance(deployment, dict):
                out += _deployment_errors(deployment, loc + ("deployments", d))
                actor = deployment.get("ray_actor_options")
                if isinstance(actor, dict):
                    out += _runtime_env_errors(actor.get("runtime_env"),
                                               loc + ("deployments", d, "ray_actor_options", "runtime_env"))
    return list(dict.fromkeys(out))


def first_by_place(errors: Iterable[tuple[tuple, str]]) -> list[tuple[tuple, str]]:
    """One message per place: Ray's schema and the deploy rules often see the same cause."""
    seen, out = set(), []
    for loc, message in errors:
        if loc not in seen:
            seen.add(loc)
            out.append((loc, message))
    return out
