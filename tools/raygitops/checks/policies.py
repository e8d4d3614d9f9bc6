"""RayService-aware policies: small functions over one rendered resource, listed in POLICIES.

    findings = run_policies(docs, PolicyContext(environment="prod", source="overlays/prod", resources=tuple(docs),
                            ray_version="2.46.0", pinned_serve_version="2.46.0", kuberay_version="1.7.0"))
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from raygitops.checks.policy_ha import check_gcs_ft_conflict, check_gcs_ft_required
from raygitops.findings import ERROR, WARNING, Finding, resource_id
from raygitops.generate.serveconfig import serve_config_of
from raygitops.versions import parse_ray_image, ray_version_in_image, versions_agree


@dataclass(frozen=True)
class PolicySettings:
    ephemeral_storage_min: str = "10Gi"
    dev_environments: tuple[str, ...] = ("dev",)
    require_digest: tuple[str, ...] = ("prod",)   # environments where images must be pinned by digest
    # {env or "*": {policy id: "error" | "warning" | "off"}}; the environment's entry beats "*"
    severity: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    gpu_toleration_keys: tuple[str, ...] = ("nvidia.com/gpu",)
    gcs_ft_required: tuple[str, ...] = ("prod",)   # environments whose RayService must have GCS fault tolerance


@dataclass(frozen=True)
class PolicyContext:
    environment: str             # "dev"/"staging"/"prod"; "" for a plain file outside overlays/
    source: str                  # overlay dir or file path: Finding.file
    resources: tuple[dict, ...]  # every rendered resource of the same source
    ray_version: str             # versions.ray in raygitops.yaml
    pinned_serve_version: str | None   # ray[serve]==… in pyproject.toml
    kuberay_version: str
    base_worker_groups: tuple[str, ...] | None = None
    settings: PolicySettings = field(default_factory=PolicySettings)


@dataclass(frozen=True)
class Policy:
    id: str
    severity: str
    explanation: str
    fix: str
    check: Callable[[dict, PolicyContext], Iterable[Finding]]
    kinds: tuple[str, ...]


# ---------------------------------------------------------------- safe access
# Rendered input may have any shape; these never raise and turn the unexpected into "absent".

def _d(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _l(x: Any) -> list:
    return x if isinstance(x, list) else []


def _s(x: Any) -> str | None:
    return x if isinstance(x, str) else None


def _num(x: Any) -> float | None:
    """A finite number from an int, float or numeric string (rayStartParams are strings)."""
    if isinstance(x, bool) or not isinstance(x, (int, float, str)):
        return None
    try:
        v = float(x)
    except (ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def _fmt(x: float) -> str:
    return f"{x:g}"


def _label(item: dict, key: str, index: int) -> str:
    name = item.get(key)
    return name if isinstance(name, str) and name else str(index)


_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?")
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def parse_quantity(q: Any) -> float | None:
    """A Kubernetes quantity ("95Gi", "500m", "1e3", 2) as a number, or None when unreadable."""
    if isinstance(q, (int, float)) and not isinstance(q, bool):
        return _num(q)
    m = _QUANTITY.fullmatch(q.strip()) if isinstance(q, str) else None
    if not m:
        return None
    try:
        v = float(m[1]) * (_SUFFIX[m[2]] if m[2] else 10.0 ** int(m[3]) if m[3] else 1)
    except (OverflowError, ValueError):   # 1e999…, or an exponent past int()'s digit limit
        return None
    return v if math.isfinite(v) else None


# ---------------------------------------------------------------- pod templates

RAY_KINDS = ("RayService", "RayCluster", "RayJob")
WORKLOAD_KINDS = RAY_KINDS + ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
_RAY_NAMES = ("ray-head", "ray-worker")
_UNBOUNDED = 2147483647   # the CRD default of workerGroupSpecs[].maxReplicas


@dataclass(frozen=True)
class Group:
    name: str        # "head" or the worker groupName
    path: str        # dotted path of the group spec
    spec: dict
    is_head: bool

    @property
    def pod(self) -> dict:
        return _d(_d(self.spec.get("template")).get("spec"))

    @property
    def pod_path(self) -> str:
        return f"{self.path}.template.spec"


def cluster_spec(r: dict) -> tuple[dict, str]:
    """The RayCluster spec inside a RayService/RayCluster/RayJob, and its dotted path."""
    spec = _d(r.get("spec"))
    kind = r.get("kind")
    if kind == "RayService":
        return _d(spec.get("rayClusterConfig")), "spec.rayClusterConfig"
    if kind == "RayJob":
        return _d(spec.get("rayClusterSpec")), "spec.rayClusterSpec"
    return (spec, "spec") if kind == "RayCluster" else ({}, "")


def groups(r: dict) -> list[Group]:
    cs, base = cluster_spec(r)
    out = []
    if isinstance(cs.get("headGroupSpec"), dict):
        out.append(Group("head", f"{base}.headGroupSpec", cs["headGroupSpec"], True))
    for i, g in enumerate(_l(cs.get("workerGroupSpecs"))):
        if isinstance(g, dict):
            name = _label(g, "groupName", i)
            out.append(Group(name, f"{base}.workerGroupSpecs[{name}]", g, False))
    return out


def _containers(pod: dict, pod_path: str, keys=("containers",)) -> list[tuple[str, dict]]:
    out = []
    for key in keys:
        for i, c in enumerate(_l(pod.get(key))):
            if isinstance(c, dict):
                out.append((f"{pod_path}.{key}[{_label(c, 'name', i)}]", c))
    return out


def ray_containers(g: Group) -> list[tuple[str, dict]]:
    """The first container, any named ray-head/ray-worker, and any running a Ray image."""
    cs = _containers(g.pod, g.pod_path)
    first = cs[0][1] if cs else None
    return [(p, c) for p, c in cs
            if c is first or c.get("name") in _RAY_NAMES or parse_ray_image(c.get("image")) is not None]


def _main_container(g: Group) -> dict:
    # KubeRay runs `ray start` in containers[0] and derives num-cpus/num-gpus from it.
    c = _l(g.pod.get("containers"))
    return _d(c[0]) if c else {}


def pod_specs(r: dict) -> list[tuple[str, dict]]:
    """(path, pod spec) of every pod template of a workload or Ray resource."""
    kind = r.get("kind")
    if kind in RAY_KINDS:
        return [(g.pod_path, g.pod) for g in groups(r)]
    spec = _d(r.get("spec"))
    if kind == "Pod":
        return [("spec", spec)]
    if kind == "CronJob":
        return [("spec.jobTemplate.spec.template.spec",
                 _d(_d(_d(_d(spec.get("jobTemplate")).get("spec")).get("template")).get("spec")))]
    if kind in WORKLOAD_KINDS:
        return [("spec.template.spec", _d(_d(spec.get("template")).get("spec")))]
    return []


def all_containers(r: dict) -> list[tuple[str, dict]]:
    return [pc for path, pod in pod_specs(r)
            for pc in _containers(pod, path, ("initContainers", "containers", "ephemeralContainers"))]


def _env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in _l(container.get("env")) if isinstance(e, dict) and isinstance(e.get("name"), str)}


def _from_secret(entry: dict | None) -> bool:
    return isinstance(_d(_d(entry).get("valueFrom")).get("secretKeyRef"), dict)


def _replicas(g: Group, at_max: bool) -> float:
    """Pods a group can run: the head 1; workers at maxReplicas, or `replicas` as KubeRay clamps it."""
    if g.is_head:
        return 1
    s = g.spec
    lo = _num(s.get("minReplicas")) or 0
    hi = _num(s.get("maxReplicas"))
    hi = _UNBOUNDED if hi is None else hi
    n = hi if at_max else min(max(_num(s.get("replicas")) or lo, lo), hi)
    hosts = _num(s.get("numOfHosts"))
    return max(n, 0) * (hosts if hosts is not None and hosts > 0 else 1)


def _pod_resource(g: Group, kind: str) -> float | None:
    """CPUs or GPUs Ray sees in one pod of a group; None when Ray would guess (no CPU limit)."""
    param = _d(g.spec.get("rayStartParams")).get(f"num-{kind}s")
    if param is not None and _num(param) is not None:
        return _num(param)
    res = _d(_main_container(g).get("resources"))
    for section in ("limits", "requests"):
        values = _d(res.get(section))
        if kind == "cpu":
            q = parse_quantity(values.get("cpu"))
            if q:   # KubeRay skips a zero limit, and rounds a fractional one up (Quantity.Value)
                return float(math.ceil(q - 1e-9))
        else:
            gpus = [parse_quantity(v) for k, v in values.items() if isinstance(k, str) and k.endswith("gpu")]
            if any(q is not None for q in gpus):
                return sum(q for q in gpus if q is not None)
    return None if kind == "cpu" else 0.0


def _requests_gpu(g: Group) -> bool:
    return any((parse_quantity(_d(_d(c.get("resources")).get(s)).get("nvidia.com/gpu")) or 0) > 0
               for _, c in _containers(g.pod, g.pod_path) for s in ("limits", "requests"))


# ---------------------------------------------------------------- serve config
# Paths into the serve config step into the string with ':' (spec.serveConfigV2:applications[main]),
# as serve-* findings and tools/diff write them.

_SERVE_PATH = "spec.serveConfigV2"


def apps(r: dict) -> list[tuple[str, str, dict]]:
    """(name, path, app) of every serve application (none when the serve config is unreadable)."""
    out = []
    for i, a in enumerate(_l(_d(serve_config_of(r)).get("applications"))):
        if isinstance(a, dict):
            name = _label(a, "name", i)
            out.append((name, f"{_SERVE_PATH}:applications[{name}]", a))
    return out


def deployments(app: dict, app_path: str) -> list[tuple[str, str, dict]]:
    out = []
    for i, d in enumerate(_l(app.get("deployments"))):
        if isinstance(d, dict):
            name = _label(d, "name", i)
            out.append((name, f"{app_path}.deployments[{name}]", d))
    return out


def runtime_envs(r: dict) -> list[tuple[str, str, dict]]:
    """(app name, path, runtime_env) at app level and in every deployment's ray_actor_options."""
    out = []
    for name, path, app in apps(r):
        if isinstance(app.get("runtime_env"), dict):
            out.append((name, f"{path}.runtime_env", app["runtime_env"]))
        for _, dpath, dep in deployments(app, path):
            renv = _d(dep.get("ray_actor_options")).get("runtime_env")
            if isinstance(renv, dict):
                out.append((name, f"{dpath}.ray_actor_options.runtime_env", renv))
    return out


def env_var_settings(r: dict) -> list[tuple[str, str, Any]]:
    """(name, path, value) of every runtime_env env var in the serve config."""
    return [(k, f"{path}.env_vars.{k}", v) for _, path, renv in runtime_envs(r)
            for k, v in _d(renv.get("env_vars")).items() if isinstance(k, str)]


SERVE_ENV, CONTAINER_ENV, CONFIG_MAP = "serve env var", "container env", "ConfigMap key"
_SECRET_REF_FIX = {CONTAINER_ENV: "use valueFrom.secretKeyRef to a Secret made by an ExternalSecret",
                   CONFIG_MAP: "keep it in a Secret made by an ExternalSecret and read it with secretKeyRef"}


def literal_settings(r: dict) -> list[tuple[str, str, str, Any]]:
    """(where, name, path, value) of every setting written out in the manifest: serve env vars,
    container env values (not valueFrom) and ConfigMap data. Credentials must be none of them."""
    out = [(SERVE_ENV, name, path, value) for name, path, value in env_var_settings(r)]
    for path, c in all_containers(r):
        out.extend((CONTAINER_ENV, name, f"{path}.env[{name}]", e.get("value"))
                   for name, e in sorted(_env(c).items()) if "valueFrom" not in e)
    if r.get("kind") == "ConfigMap":
        out.extend((CONFIG_MAP, str(k), f"data.{k}", v) for k, v in sorted(_d(r.get("data")).items(), key=str))
    return out


def _max_replicas(dep: dict) -> float | None:
    n = dep.get("num_replicas")
    auto = dep.get("autoscaling_config")
    if isinstance(auto, dict) or n == "auto":
        # Serve's defaults: max_replicas 1 for an autoscaling_config, 100 for num_replicas "auto".
        return _num(_d(auto).get("max_replicas", 100 if n == "auto" else 1))
    return 1 if n is None else _num(n)


def _actor_resource(dep: dict, kind: str) -> float | None:
    # Serve reserves 1 CPU per replica when num_cpus is unset (ray/serve/_private/config.py).
    opts = dep.get("ray_actor_options")
    value = _d(opts).get(f"num_{kind}s")
    return (1.0 if kind == "cpu" else 0.0) if value is None else _num(value)


_REF = re.compile(r"(?:\$\{\w+\})+")


def _is_ref(value: Any) -> bool:
    """A value made only of ${VAR} references, which Ray expands from the pod's environment."""
    return isinstance(value, str) and _REF.fullmatch(value) is not None


# ---------------------------------------------------------------- findings

_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")   # what str.splitlines splits on


def _f(pid: str, r: dict, ctx: PolicyContext, path: str, message: str,
       *, fix: str | None = None, severity: str | None = None) -> Finding:
    p = _BY_ID[pid]
    # Values quoted from the input may hold newlines; a message stays one line.
    message = _LINE_BREAK.sub(lambda m: repr(m[0])[1:-1], message)
    return Finding(id=pid, severity=severity or p.severity, message=message, fix=fix or p.fix,
                   file=ctx.source, resource=resource_id(r), path=path)


# ---------------------------------------------------------------- 1. versions

def check_ray_version(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    cs, base = cluster_spec(r)
    pin = ctx.ray_version
    if ctx.pinned_serve_version and not versions_agree(ctx.pinned_serve_version, pin):
        yield _f("ray-version-mismatch", r, ctx, "",
                 f"pyproject.toml pins ray[serve]=={ctx.pinned_serve_version} but versions.ray is {pin}")
    raw = cs.get("rayVersion")
    ray_version = raw if isinstance(raw, str) and re.fullmatch(r"\d+\.\d+(\.\d+)?", raw) else None
    if ray_version is None or not versions_agree(ray_version, pin):
        shown = "is not set;" if raw is None else f"{raw} but" if ray_version else f"{raw!r} is not a version;"
        yield _f("ray-version-mismatch", r, ctx, f"{base}.rayVersion", f"rayVersion {shown} versions.ray is {pin}")
    for g in groups(r):
        for path, c in ray_containers(g):
            image = c.get("image")
            v = ray_version_in_image(image)
            if v is None:
                continue
            if ray_version and not versions_agree(v, ray_version):
                yield _f("ray-version-mismatch", r, ctx, f"{path}.image",
                         f"image {image} but rayVersion {ray_version}")
            elif not versions_agree(v, pin):
                yield _f("ray-version-mismatch", r, ctx, f"{path}.image", f"image {image} but versions.ray is {pin}")


# ---------------------------------------------------------------- 2. resources

def check_container_resources(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    for g in groups(r):
        for path, c in ray_containers(g):
            res = _d(c.get("resources"))
            missing = [f"{s}.{k}" for s in ("requests", "limits") for k in ("cpu", "memory")
                       if _d(res.get(s)).get(k) in (None, "")]
            if missing:
                yield _f("container-resources", r, ctx, f"{path}.resources",
                         f"group {g.name} container {c.get('name', '?')} sets no {', '.join(missing)}")
    # The autoscaler sidecar KubeRay adds to the head: autoscalerOptions.resources replaces its
    # default (500m CPU, 512Mi, no ephemeral-storage) as a whole (kuberay v1.7.0
    # ray-operator/controllers/ray/common/pod.go BuildAutoscalerContainer, mergeAutoscalerOverrides).
    cs, base = cluster_spec(r)
    if cs.get("enableInTreeAutoscaling") is True:
        res = _d(_d(cs.get("autoscalerOptions")).get("resources"))
        missing = [f"{s}.{k}" for s in ("requests", "limits") for k in ("cpu", "memory", "ephemeral-storage")
                   if _d(res.get(s)).get(k) in (None, "")]
        if missing:
            yield _f("container-resources", r, ctx, f"{base}.autoscalerOptions.resources",
                     f"the autoscaler sidecar sets no {', '.join(missing)}",
                     fix="set autoscalerOptions.resources.requests and .limits for cpu, memory and ephemeral-storage")


def check_ephemeral_storage(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    wanted = ctx.settings.ephemeral_storage_min
    minimum = parse_quantity(wanted)
    if minimum is None:
        return
    for g in groups(r):
        for path, c in ray_containers(g):
            raw = _d(_d(c.get("resources")).get("requests")).get("ephemeral-storage")
            q = parse_quantity(raw)
            if raw is None:
                yield _f("ephemeral-storage-min", r, ctx, f"{path}.resources.requests",
                         f"group {g.name} requests no ephemeral-storage (need ≥ {wanted})")
            elif q is not None and q < minimum:
                yield _f("ephemeral-storage-min", r, ctx, f"{path}.resources.requests.ephemeral-storage",
                         f"group {g.name} requests ephemeral-storage {raw}, below {wanted}")


# ---------------------------------------------------------------- 3. GPUs

def _tolerates_gpu(pod: dict, keys: tuple[str, ...]) -> bool:
    for t in _l(pod.get("tolerations")):
        t = _d(t)
        if t.get("key") in keys or (t.get("operator") == "Exists" and not t.get("key")):
            return True
    return False


def check_gpu_toleration(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    for g in groups(r):
        if _requests_gpu(g) and not _tolerates_gpu(g.pod, ctx.settings.gpu_toleration_keys):
            yield _f("gpu-toleration", r, ctx, f"{g.pod_path}.tolerations",
                     f"group {g.name} requests nvidia.com/gpu but tolerates no GPU-node taint "
                     f"({', '.join(ctx.settings.gpu_toleration_keys)})")


def check_gpu_image(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    for g in groups(r):
        if not _requests_gpu(g):
            continue
        for path, c in ray_containers(g):
            tag = parse_ray_image(c.get("image"))
            if tag is not None and not tag.is_gpu:
                yield _f("gpu-image", r, ctx, f"{path}.image",
                         f"group {g.name} requests nvidia.com/gpu but runs the CPU image {c.get('image')}")


def check_gpu_available(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    gs = groups(r)
    if not gs or any((_pod_resource(g, "gpu") or 0) > 0 for g in gs):
        return
    for app_name, path, app in apps(r):
        for dep_name, dpath, dep in deployments(app, path):
            gpus = _actor_resource(dep, "gpu")
            if gpus is not None and gpus > 0:
                yield _f("gpu-not-available", r, ctx, f"{dpath}.ray_actor_options.num_gpus",
                         f"{app_name}/{dep_name} asks for {_fmt(gpus)} GPU per replica but no Ray group has GPUs")


# ---------------------------------------------------------------- 4. capacity

def _demand(r: dict, kind: str) -> tuple[float, list[str], float, str]:
    """Total asked at max replicas, its breakdown, and the largest single replica."""
    total, parts, largest, who = 0.0, [], 0.0, ""
    for app_name, path, app in apps(r):
        for dep_name, _, dep in deployments(app, path):
            n, each = _max_replicas(dep), _actor_resource(dep, kind)
            if n is None or each is None or n <= 0 or each <= 0:
                continue
            total += n * each
            parts.append(f"{app_name}/{dep_name} {_fmt(n)}×{_fmt(each)}")
            if each > largest:
                largest, who = each, f"{app_name}/{dep_name}"
    return total, parts, largest, who


def _supply(gs: list[Group], kind: str, at_max: bool) -> tuple[float | None, list[str]]:
    total, parts = 0.0, []
    for g in gs:
        per_pod = _pod_resource(g, kind)
        if per_pod is None:
            return None, []
        n = _replicas(g, at_max)
        total += n * per_pod
        if per_pod and n:
            parts.append(f"{g.name} {_fmt(per_pod)}" if g.is_head else f"{g.name} {_fmt(n)}×{_fmt(per_pod)}")
    return total, parts


def _short(parts: list[str], limit: int = 4) -> str:
    return ", ".join(parts[:limit]) + (", …" if len(parts) > limit else "")


def check_capacity(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    gs = groups(r)
    if not gs:
        return
    cs, _ = cluster_spec(r)
    autoscaling = cs.get("enableInTreeAutoscaling") is True
    for kind, unit in (("cpu", "CPUs"), ("gpu", "GPUs")):
        asked, asked_parts, largest, who = _demand(r, kind)
        if asked <= 0:
            continue
        per_pod = [_pod_resource(g, kind) for g in gs if _replicas(g, True) > 0]
        if kind == "gpu" and not any(per_pod):
            continue   # gpu-not-available reports a cluster without GPUs
        biggest = max(per_pod) if per_pod and all(p is not None for p in per_pod) else None
        if biggest is not None and largest > biggest + 1e-9:
            yield _f("capacity", r, ctx, _SERVE_PATH,
                     f"a replica of {who} needs {_fmt(largest)} {unit} but the largest Ray pod has {_fmt(biggest)}")
            continue
        checks = [(True, ERROR, "at maxReplicas")]
        if not autoscaling:
            checks.append((False, WARNING, "at replicas (autoscaling off)"))
        for at_max, severity, when in checks:
            have, have_parts = _supply(gs, kind, at_max)
            if have is not None and asked > have + 1e-9:
                yield _f("capacity", r, ctx, _SERVE_PATH,
                         f"serve config asks for {_fmt(asked)} {unit} ({_short(asked_parts)}) but the cluster has "
                         f"{_fmt(have)} {when} ({_short(have_parts) or 'none'})", severity=severity)
                break


# ---------------------------------------------------------------- 5. database

_DB_VARS = ("DB_CONFIG", "API_SERVICE_DB_CONFIG")
_DB_REQUIRED = {"sqlite": ("path",), "postgresql": ("host", "port", "user", "database")}
_UNQUOTED_REF = re.compile(r'(?<!")\$\{\w+\}(?!")')


def _load_db_config(value: str) -> tuple[dict | None, str | None]:
    """The DB_CONFIG JSON and an error; an unquoted ${PORT} is valid once Ray expands it."""
    for text in (value, _UNQUOTED_REF.sub("0", value)):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as e:
            err = str(e).splitlines()[0] if str(e) else type(e).__name__
            continue
        return (data, None) if isinstance(data, dict) else (None, "is not a JSON object")
    return None, f"is not JSON ({err})"


def db_configs(r: dict) -> list[tuple[str, str, dict | None, str | None, dict]]:
    """(var, path, parsed DB config, parse error, sibling env vars) from the serve config."""
    out = []
    for _, path, renv in runtime_envs(r):
        env_vars = _d(renv.get("env_vars"))
        for var in _DB_VARS:
            value = env_vars.get(var)
            if isinstance(value, str):
                data, err = _load_db_config(value)
                out.append((var, f"{path}.env_vars.{var}", data, err, env_vars))
    return out


def _db_field_overrides(r: dict, var: str, env_vars: dict) -> set[str]:
    """datastore_config fields set as VAR__DATASTORE_CONFIG__FIELD (Aana merges them into the JSON)."""
    prefix = f"{var}__DATASTORE_CONFIG__"
    names = set(env_vars) | {n for g in groups(r) for _, c in ray_containers(g) for n in _env(c)}
    return {n[len(prefix):].lower() for n in names if isinstance(n, str) and n.upper().startswith(prefix)}


def check_db_config(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    for var, path, data, err, env_vars in db_configs(r):
        if data is None:
            yield _f("db-config", r, ctx, path, f"{var} {err}")
            continue
        kind = data.get("datastore_type", "sqlite")
        if not isinstance(kind, str) or kind not in _DB_REQUIRED:
            yield _f("db-config", r, ctx, path, f"{var} datastore_type {kind!r} is neither sqlite nor postgresql")
            continue
        conf = data.get("datastore_config", {})
        if not isinstance(conf, dict):
            yield _f("db-config", r, ctx, path, f"{var} datastore_config is not an object")
            continue
        have = {k for k, v in conf.items() if v not in (None, "")} | _db_field_overrides(r, var, env_vars)
        missing = [k for k in _DB_REQUIRED[kind] if k not in have]
        if missing:
            yield _f("db-config", r, ctx, path, f"{var} ({kind}) has no {', '.join(missing)}")


def check_db_sqlite(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    if ctx.environment in ctx.settings.dev_environments:
        return
    for var, path, data, _, _ in db_configs(r):
        if data is not None and data.get("datastore_type", "sqlite") == "sqlite":
            env = ctx.environment or "a non-dev environment"
            yield _f("db-sqlite-non-dev", r, ctx, path, f"{var} uses SQLite in {env}")


def check_db_password(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    gs = groups(r)
    for var, path, data, _, env_vars in db_configs(r):
        conf = _d(_d(data).get("datastore_config"))
        password = conf.get("password")
        if password not in (None, "") and not _is_ref(password):
            yield _f("db-password-literal", r, ctx, path, f"{var} holds a password literal")
            continue
        if _d(data).get("datastore_type") != "postgresql":
            continue
        # The password then comes from the pod env: ${VAR} names it, else Aana's nested override.
        one_ref = _is_ref(password) and password.count("${") == 1
        needed = password[2:-1] if one_ref else f"{var}__DATASTORE_CONFIG__PASSWORD"
        if isinstance(env_vars.get(needed), str) and not _is_ref(env_vars[needed]):
            continue   # a literal there is reported below, as a serve env var
        for g in gs:
            if not any(_from_secret(_env(c).get(needed)) for _, c in ray_containers(g)):
                yield _f("db-password-literal", r, ctx, f"{g.pod_path}.containers",
                         f"{var} has no password and group {g.name} gets no {needed} from a Secret",
                         fix=f"add env {needed} with valueFrom.secretKeyRef to every Ray container "
                             "(include base/components/postgres)")
    for where, name, path, value in literal_settings(r):
        if not isinstance(value, str) or not value or _is_ref(value):
            continue
        if "PASSWORD" in name.upper():
            yield _f("db-password-literal", r, ctx, path, f"{where} {name} holds a password literal",
                     fix=_SECRET_REF_FIX.get(where))
        elif name in _DB_VARS and where != SERVE_ENV:   # the serve config's DB_CONFIG is checked above
            password = _d(_d(_load_db_config(value)[0]).get("datastore_config")).get("password")
            if password not in (None, "") and not _is_ref(password):
                yield _f("db-password-literal", r, ctx, path, f"{where} {name} holds a password literal",
                         fix=_SECRET_REF_FIX.get(where))


# ---------------------------------------------------------------- 6-7. secrets

def check_secret_in_git(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    if r.get("apiVersion") != "v1":
        return
    for key in ("data", "stringData"):
        if isinstance(r.get(key), dict) and r[key]:
            keys = ", ".join(sorted(map(str, r[key])))
            yield _f("secret-in-git", r, ctx, key, f"Secret holds {key} in Git ({keys})")


# Aana settings whose literal value is a credential; the HMAC secret has a public default.
_AANA_SECRETS = {"WEBHOOK__HMAC_SECRET": "webhook_secret", "API_SERVICE__LAGO_API_KEY": None,
                 "HF_TOKEN": None, "HUGGING_FACE_HUB_TOKEN": None}


def _secret_problem(name: str, value: Any) -> str | None:
    key = name.upper()
    if key not in _AANA_SECRETS or not isinstance(value, str) or _is_ref(value):
        return None
    default = _AANA_SECRETS[key]
    if value == "" and default:
        return f"{name} is empty, so Aana uses its default {default!r}"
    if value == default:
        return f"{name} is Aana's public default {default!r}"
    return f"{name} is a literal" if value else None


def check_aana_secrets(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    for where, name, path, value in literal_settings(r):
        problem = _secret_problem(name, value)
        if problem:
            yield _f("aana-secret-default", r, ctx, path, f"{where} {problem}")


# ---------------------------------------------------------------- 8. node-local storage

_TMP_DEFAULT = "/tmp/aana_data"


def _shared_volumes(r: dict, ctx: PolicyContext, pod: dict) -> set[str]:
    """Volumes of a pod that every node sees: NFS, or a PVC whose claim is ReadWriteMany."""
    ns = _d(r.get("metadata")).get("namespace")
    rwx = set()
    for o in map(_d, ctx.resources):
        meta = _d(o.get("metadata"))
        if (o.get("kind") == "PersistentVolumeClaim" and "ReadWriteMany" in _l(_d(o.get("spec")).get("accessModes"))
                and (not ns or not meta.get("namespace") or meta.get("namespace") == ns)):
            rwx.add(str(meta.get("name")))
    out = set()
    for v in _l(pod.get("volumes")):
        v = _d(v)
        claim = _d(v.get("persistentVolumeClaim")).get("claimName")
        if isinstance(v.get("nfs"), dict) or (isinstance(claim, str) and claim in rwx):
            out.add(str(v.get("name")))
    return out


def _on_shared(directory: str, container: dict, shared: set[str]) -> bool:
    mounts = [_d(m) for m in _l(container.get("volumeMounts"))]
    best = None
    for m in mounts:
        mp = _s(m.get("mountPath"))
        if mp and (directory == mp.rstrip("/") or directory.startswith(mp.rstrip("/") + "/")):
            if best is None or len(mp) > len(best.get("mountPath")):
                best = m
    return best is not None and str(best.get("name")) in shared


def _can_have_workers(gs: list[Group]) -> bool:
    return any(not g.is_head and (_replicas(g, True) > 0 or _replicas(g, False) > 0) for g in gs)


def _can_host_replicas(g: Group) -> bool:
    cpu = _pod_resource(g, "cpu")
    return _replicas(g, True) > 0 and (cpu is None or cpu > 0 or (_pod_resource(g, "gpu") or 0) > 0)


def _aana_dirs(env_vars: dict, container: dict) -> list[tuple[str, str]]:
    """(what, directory) Aana writes to for one app in one container: TMP_DATA_DIR and a SQLite file."""
    tmp = env_vars.get("TMP_DATA_DIR", _d(_env(container).get("TMP_DATA_DIR")).get("value"))
    # Aana's settings ignore an empty value (env_ignore_empty), so "" means the default.
    out = [(f"TMP_DATA_DIR {tmp}", tmp) if isinstance(tmp, str) and tmp
           else (f"TMP_DATA_DIR {_TMP_DEFAULT} (Aana's default)", _TMP_DEFAULT)]
    db = env_vars.get("DB_CONFIG")
    data = _load_db_config(db)[0] if isinstance(db, str) else None
    if data is not None and data.get("datastore_type", "sqlite") == "sqlite":
        path = _d(data.get("datastore_config")).get("path")
        if isinstance(path, str) and path:
            out.append((f"the SQLite database {path}", path))
    return out


def check_node_local_storage(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    gs = groups(r)
    if not _can_have_workers(gs):
        return
    severity = WARNING if ctx.environment in ctx.settings.dev_environments else ERROR
    seen = set()
    for _, _, app in apps(r):
        env_vars = _d(_d(app.get("runtime_env")).get("env_vars"))
        for g in filter(_can_host_replicas, gs):
            c = _main_container(g)
            shared = _shared_volumes(r, ctx, g.pod)
            for what, directory in _aana_dirs(env_vars, c):
                if (what, g.name) in seen or not directory.startswith("/") or _on_shared(directory, c, shared):
                    continue
                seen.add((what, g.name))
                cs = _containers(g.pod, g.pod_path)
                yield _f("node-local-storage", r, ctx, f"{cs[0][0] if cs else g.pod_path}.volumeMounts",
                         f"{what} is node-local disk in group {g.name}, but the cluster runs workers",
                         severity=severity)


# ---------------------------------------------------------------- 9. image digests

def check_image_digest(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    if ctx.environment not in ctx.settings.require_digest:
        return
    for path, c in all_containers(r):
        image = c.get("image")
        if not (isinstance(image, str) and "@sha256:" in image):
            yield _f("image-digest", r, ctx, f"{path}.image",
                     f"image {image or '(none)'} is not pinned by digest in {ctx.environment}")


# ---------------------------------------------------------------- 10. dashboard

_EXPOSED = ("LoadBalancer", "NodePort")


def _dashboard_port(port: dict) -> bool:
    return (port.get("port") == 8265 or port.get("targetPort") in (8265, "dashboard")
            or port.get("name") == "dashboard")


def _exposing_service(svc: dict, path: str) -> list[str]:
    """Paths of the dashboard ports of a LoadBalancer/NodePort Service (path is the Service's)."""
    spec = _d(svc.get("spec"))
    if spec.get("type") not in _EXPOSED:
        return []
    prefix = f"{path}.spec" if path else "spec"
    return [f"{prefix}.ports[{_label(p, 'name', i)}]" for i, p in enumerate(_l(spec.get("ports")))
            if isinstance(p, dict) and _dashboard_port(p)]


def _ingress_backends(spec: dict) -> list[tuple[str, dict]]:
    out = [("spec.defaultBackend", _d(spec.get("defaultBackend")))]
    for i, rule in enumerate(_l(spec.get("rules"))):
        for j, p in enumerate(_l(_d(_d(rule).get("http")).get("paths"))):
            out.append((f"spec.rules[{i}].http.paths[{j}].backend", _d(_d(p).get("backend"))))
    return out


def check_dashboard_exposed(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    kind = r.get("kind")
    outside = "exposes the Ray dashboard (8265) outside the cluster"
    if kind == "Service":
        for path in _exposing_service(r, ""):
            yield _f("dashboard-exposed", r, ctx, path, f"{_d(r.get('spec')).get('type')} Service {outside}")
    elif kind == "Ingress":
        for path, backend in _ingress_backends(_d(r.get("spec"))):
            svc = _d(backend.get("service"))
            port = _d(svc.get("port"))
            # networking.k8s.io/v1 names service.port; v1beta1 had servicePort.
            target = port.get("number") or port.get("name") or backend.get("servicePort")
            if target in (8265, "dashboard"):
                name = svc.get("name") or backend.get("serviceName") or "?"
                yield _f("dashboard-exposed", r, ctx, path, f"Ingress backend {name}:{target} {outside}")
    elif kind in RAY_KINDS:
        spec = _d(r.get("spec"))
        for path in _exposing_service(_d(spec.get("serveService")), "spec.serveService"):
            yield _f("dashboard-exposed", r, ctx, path, f"serveService {outside}")
        for g in groups(r):
            if not g.is_head:
                continue
            if g.spec.get("serviceType") in _EXPOSED:
                yield _f("dashboard-exposed", r, ctx, f"{g.path}.serviceType",
                         f"head service of type {g.spec['serviceType']} {outside}")
            for path in _exposing_service(_d(g.spec.get("headService")), f"{g.path}.headService"):
                yield _f("dashboard-exposed", r, ctx, path, f"headService {outside}")
            # KubeRay then creates an Ingress to the head service's dashboard port (common/ingress.go).
            if g.spec.get("enableIngress") is True:
                yield _f("dashboard-exposed", r, ctx, f"{g.path}.enableIngress",
                         f"enableIngress makes KubeRay create an Ingress that {outside}")


# ---------------------------------------------------------------- 11. deprecated fields

def check_deprecated(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    if r.get("apiVersion") == "ray.io/v1alpha1":
        yield _f("deprecated-field", r, ctx, "apiVersion",
                 f"apiVersion ray.io/v1alpha1 is deprecated (KubeRay {ctx.kuberay_version}; removed in 1.9)",
                 fix="use apiVersion ray.io/v1")
    spec = _d(r.get("spec"))
    for key in ("serviceUnhealthySecondThreshold", "deploymentUnhealthySecondThreshold"):
        if r.get("kind") == "RayService" and key in spec:
            yield _f("deprecated-field", r, ctx, f"spec.{key}",
                     f"{key} is deprecated since KubeRay 1.1.0 and unused by KubeRay {ctx.kuberay_version}")


# ---------------------------------------------------------------- 12. working_dir

_HASHED = re.compile(r"(?:^|[^0-9a-fA-F])[0-9a-fA-F]{12,}(?:[^0-9a-fA-F]|$)")


def _content_addressed(url: str) -> bool:
    if "://" not in url:
        return False
    path = url.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0]
    # The host counts too: Ray's own packages are gcs://_ray_pkg_<hash>.zip.
    return any(_HASHED.search(seg) for seg in path.split("/"))


def check_working_dir(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    for app_name, path, renv in runtime_envs(r):
        wd = renv.get("working_dir")
        if isinstance(wd, str) and not _content_addressed(wd):
            yield _f("working-dir-mutable", r, ctx, f"{path}.working_dir",
                     f"app {app_name} working_dir {wd} is not content-addressed")


# ---------------------------------------------------------------- 13. worker group order

def check_worker_group_order(r: dict, ctx: PolicyContext) -> Iterator[Finding]:
    base = ctx.base_worker_groups
    if base is None:
        return
    names = [g.name for g in groups(r) if not g.is_head]
    if names[:len(base)] != list(base):
        _, cpath = cluster_spec(r)
        yield _f("worker-group-order", r, ctx, f"{cpath}.workerGroupSpecs",
                 f"worker groups are [{', '.join(names)}] but must start with the base's [{', '.join(base)}]")


# ---------------------------------------------------------------- registry

_REGEN = "set both from the pin (versions.ray in raygitops.yaml) and run tools/regen"

POLICIES: tuple[Policy, ...] = (
    Policy("ray-version-mismatch", ERROR,
           "KubeRay fills defaults from rayVersion, and the images must run the Ray the serve config was built with.",
           _REGEN, check_ray_version, RAY_KINDS),
    Policy("container-resources", ERROR,
           "Without CPU and memory requests and limits Ray guesses its resources from the node and pods get evicted.",
           "set resources.requests and resources.limits for cpu and memory on every Ray container",
           check_container_resources, RAY_KINDS),
    Policy("ephemeral-storage-min", ERROR,
           "Ray spills objects and Aana writes files to local disk; too little ephemeral-storage gets pods evicted.",
           "raise resources.requests.ephemeral-storage to at least policies.ephemeral_storage_min (raygitops.yaml)",
           check_ephemeral_storage, RAY_KINDS),
    Policy("gpu-toleration", ERROR,
           "GPU nodes are tainted; a group requesting GPUs without a toleration stays Pending.",
           "add a toleration for the GPU taint, e.g. {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}",
           check_gpu_toleration, RAY_KINDS),
    Policy("gpu-image", WARNING,
           "A CPU rayproject/ray image has no CUDA, so a GPU pod cannot use its GPU.",
           "use the GPU image (ray-gpu-image in raygitops.yaml, e.g. rayproject/ray:<ver>-py311-gpu)",
           check_gpu_image, RAY_KINDS),
    Policy("gpu-not-available", ERROR,
           "A deployment asking for GPUs on a cluster without GPU groups never starts.",
           "add a GPU worker group (nvidia.com/gpu limit) or set num_gpus to 0",
           check_gpu_available, ("RayService",)),
    Policy("capacity", ERROR,
           "Serve replicas that do not fit the cluster's CPUs/GPUs stay pending; the RayService never becomes ready.",
           "raise maxReplicas or per-pod CPUs/GPUs of a worker group, or lower num_replicas / num_cpus / num_gpus",
           check_capacity, ("RayService",)),
    Policy("db-config", ERROR,
           "Aana parses DB_CONFIG at import in every replica; a malformed one fails every deployment.",
           'write DB_CONFIG as {"datastore_type": "postgresql", "datastore_config": {host, port, user, database}} '
           'or {"datastore_type": "sqlite", "datastore_config": {path}}',
           check_db_config, ("RayService",)),
    Policy("db-sqlite-non-dev", ERROR,
           "SQLite lives on one node's disk; on a multi-node cluster other replicas see another (or no) database.",
           "use postgresql in DB_CONFIG and include base/components/postgres",
           check_db_sqlite, ("RayService",)),
    Policy("db-password-literal", ERROR,
           "A password in Git or in the serve config is readable by anyone with the repo or the Ray dashboard.",
           "drop the password from DB_CONFIG (or write ${VAR}) and give pods DB_CONFIG__DATASTORE_CONFIG__PASSWORD "
           "from a Secret via valueFrom.secretKeyRef",
           check_db_password, WORKLOAD_KINDS + ("ConfigMap",)),
    Policy("secret-in-git", ERROR,
           "A Secret's data in Git is only base64-encoded, not encrypted.",
           "use an ExternalSecret or a SealedSecret",
           check_secret_in_git, ("Secret",)),
    Policy("aana-secret-default", ERROR,
           "Aana signs webhooks and calls paid APIs with these; a literal leaks with the repo, a default is guessable.",
           "set it from a Secret: container env valueFrom.secretKeyRef (or ${VAR} in env_vars)",
           check_aana_secrets, WORKLOAD_KINDS + ("ConfigMap",)),
    Policy("node-local-storage", ERROR,
           "Aana writes files under TMP_DATA_DIR (and SQLite's path); other nodes cannot read node-local disk.",
           "mount a ReadWriteMany PersistentVolumeClaim in every Ray group; point TMP_DATA_DIR (and SQLite) into it",
           check_node_local_storage, ("RayService",)),
    Policy("image-digest", ERROR,
           "A tag can be moved; only a digest pins what runs in this environment.",
           "pin the image as name:tag@sha256:<digest>",
           check_image_digest, WORKLOAD_KINDS),
    Policy("dashboard-exposed", ERROR,
           "The Ray dashboard accepts job submissions without authentication: exposing it is remote code execution.",
           "keep the dashboard ClusterIP-only and use kubectl port-forward svc/<name>-head-svc 8265",
           check_dashboard_exposed, RAY_KINDS + ("Service", "Ingress")),
    Policy("deprecated-field", WARNING,
           "Deprecated KubeRay fields are ignored or will stop being served.",
           "remove the field (the thresholds are unused) and use apiVersion ray.io/v1",
           check_deprecated, RAY_KINDS),
    Policy("working-dir-mutable", ERROR,
           "A working_dir URL that can change makes replicas run different code and rollbacks impossible.",
           "use the content-addressed zip tools/regen writes (working_dir.url with {hash} in raygitops.yaml)",
           check_working_dir, ("RayService",)),
    Policy("gcs-ft-required", ERROR,
           "Without GCS fault tolerance a head Pod failure loses the cluster's state and restarts every Serve app.",
           "include base/components/gcs-ft and set gcsFaultToleranceOptions.redisAddress in the overlay "
           "(or drop the environment from policies.gcs_ft_required in raygitops.yaml)",
           check_gcs_ft_required, ("RayService",)),
    Policy("gcs-ft-conflict", ERROR,
           "KubeRay rejects hand-made GCS fault tolerance settings (ray.io/ft-enabled, RAY_REDIS_ADDRESS, "
           "REDIS_PASSWORD, redis-password) beside gcsFaultToleranceOptions.",
           "configure GCS fault tolerance only through gcsFaultToleranceOptions (base/components/gcs-ft)",
           check_gcs_ft_conflict, RAY_KINDS),
    Policy("worker-group-order", ERROR,
           "Reordered worker groups roll a new RayCluster; a strategic-merge patch moves patched groups to the front.",
           "list every base group in base order in the patch (unchanged ones by groupName only); append new groups",
           check_worker_group_order, RAY_KINDS),
)
_BY_ID = {p.id: p for p in POLICIES}


def _severity(settings: PolicySettings, env: str, pid: str) -> str | None:
    """The configured severity of a policy in an environment (the env beats "*"), or None."""
    overrides = _d(settings.severity)
    for key in (env, "*"):
        value = _d(overrides.get(key)).get(pid)
        if value in (ERROR, WARNING, "off"):
            return value
    return None


def run_policies(resources: Sequence[dict], ctx: PolicyContext) -> list[Finding]:
    """Every policy over every resource, in resource then registry order; "off" drops a policy.

    Identical findings (one per app that shares a DB_CONFIG, say) are reported once.
    """
    out: dict[Finding, None] = {}
    for r in resources:
        if not isinstance(r, dict):
            continue
        for p in POLICIES:
            if r.get("kind") not in p.kinds:
                continue
            severity = _severity(ctx.settings, ctx.environment, p.id)
            if severity == "off":
                continue
            for f in p.check(r, ctx):
                out[replace(f, severity=severity) if severity else f] = None
    return list(out)
