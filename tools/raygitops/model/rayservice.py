"""A read-only view over one rendered resource as KubeRay and Ray Serve read it: a RayService (or RayCluster,
RayJob), and the pod templates of any workload.

    view = RayServiceView(rayservice, node)   # node: the composed YAML document, for lines (optional)
    [g.name for g in view.groups], view.serve_config, [d.var for d in view.db_configs], view.line_of(path)

Paths use the repository's one syntax (DEVELOPERS.md): dotted keys, list items by name, and ':' into
the YAML a string holds, e.g. spec.serveConfigV2:applications[main].runtime_env.env_vars.DB_CONFIG.
Rendered input may have any shape: nothing here raises, the unexpected reads as absent. Everything
is computed once per view and shared: read it, never change it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import yaml

from raygitops.findings import resource_id
from raygitops.generate.serveconfig import serve_config_of
from raygitops.model.dbconfig import DB_VARS, ParsedDbConfig, parse_db_config
from raygitops.versions import parse_ray_image
from raygitops.yamlio import line_of_path

RAY_KINDS = ("RayService", "RayCluster", "RayJob")
WORKLOAD_KINDS = RAY_KINDS + ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
SERVE_PATH = "spec.serveConfigV2"
UNBOUNDED = 2147483647   # the CRD default of workerGroupSpecs[].maxReplicas
_RAY_CONTAINER_NAMES = ("ray-head", "ray-worker")
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


# --- safe access ------------------------------------------------------------------------------

def as_dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def as_list(x: Any) -> list:
    return x if isinstance(x, list) else []


def number(x: Any) -> float | None:
    """A finite number from an int, float or numeric string (rayStartParams are strings)."""
    if isinstance(x, bool) or not isinstance(x, (int, float, str)):
        return None
    try:
        v = float(x)
    except (ValueError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def label(item: dict, key: str, index: int) -> str:
    """How a path names a list item: by its name, else by its index."""
    name = item.get(key)
    return name if isinstance(name, str) and name else str(index)


_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?")
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def parse_quantity(q: Any) -> float | None:
    """A Kubernetes quantity ("95Gi", "500m", "1e3", 2) as a number, or None when unreadable."""
    if isinstance(q, (int, float)) and not isinstance(q, bool):
        return number(q)
    m = _QUANTITY.fullmatch(q.strip()) if isinstance(q, str) else None
    if not m:
        return None
    try:
        v = float(m[1]) * (_SUFFIX[m[2]] if m[2] else 10.0 ** int(m[3]) if m[3] else 1)
    except (OverflowError, ValueError):   # 1e999…, or an exponent past int()'s digit limit
        return None
    return v if math.isfinite(v) else None


# --- pods ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Container:
    path: str
    spec: dict
    # KubeRay's autoscaler, which it adds to the head pod when enableInTreeAutoscaling is true; spec is
    # autoscalerOptions, whose image, env, envFrom, resources… replace the sidecar's own
    # (kuberay v1.7.0 ray-operator/controllers/ray/common/pod.go DefaultHeadPodTemplate,
    # mergeAutoscalerOverrides; the same in v1.1.1). Without an image it runs the head's image.
    sidecar: bool = False

    @property
    def name(self) -> Any:
        return "autoscaler" if self.sidecar else self.spec.get("name")

    @cached_property
    def env(self) -> dict[str, dict]:
        return {e["name"]: e for e in as_list(self.spec.get("env"))
                if isinstance(e, dict) and isinstance(e.get("name"), str)}


def _containers(pod: dict, pod_path: str, keys: tuple[str, ...] = ("containers",)) -> tuple[Container, ...]:
    return tuple(Container(f"{pod_path}.{key}[{label(c, 'name', i)}]", c)
                 for key in keys for i, c in enumerate(as_list(pod.get(key))) if isinstance(c, dict))


@dataclass(frozen=True)
class Group:
    name: str        # "head" or the worker groupName
    path: str        # of the group spec
    spec: dict
    is_head: bool
    autoscaler: Container | None = None   # the head's sidecar

    @property
    def pod(self) -> dict:
        return as_dict(as_dict(self.spec.get("template")).get("spec"))

    @property
    def pod_path(self) -> str:
        return f"{self.path}.template.spec"

    @cached_property
    def containers(self) -> tuple[Container, ...]:
        """spec.containers of the pod template."""
        return _containers(self.pod, self.pod_path)

    @cached_property
    def all_containers(self) -> tuple[Container, ...]:
        """Init, regular and ephemeral containers, and the autoscaler sidecar of the head."""
        return _containers(self.pod, self.pod_path, _CONTAINER_LISTS) + ((self.autoscaler,) if self.autoscaler else ())

    @cached_property
    def ray_containers(self) -> tuple[Container, ...]:
        """The first container, any named ray-head/ray-worker, and any running a Ray image."""
        first = self.containers[0] if self.containers else None
        return tuple(c for c in self.containers if c is first or c.name in _RAY_CONTAINER_NAMES
                     or parse_ray_image(c.spec.get("image")) is not None)

    @property
    def main_container(self) -> dict:
        # KubeRay runs `ray start` in containers[0] and derives num-cpus/num-gpus from it.
        return self.containers[0].spec if self.containers else {}

    def pod_count(self, at_max: bool) -> float:
        """Pods a group can run: the head 1; workers at maxReplicas, or `replicas` as KubeRay clamps it
        (kuberay v1.7.0 ray-operator/controllers/ray/utils/util.go GetWorkerGroupDesiredReplicas)."""
        if self.is_head:
            return 1
        s = self.spec
        lo = number(s.get("minReplicas")) or 0
        hi = number(s.get("maxReplicas"))
        hi = UNBOUNDED if hi is None else hi
        n = hi if at_max else min(max(number(s.get("replicas")) or lo, lo), hi)
        hosts = number(s.get("numOfHosts"))
        return max(n, 0) * (hosts if hosts is not None and hosts > 0 else 1)

    def ray_resource(self, kind: str) -> float | None:
        """CPUs ("cpu") or GPUs ("gpu") Ray sees in one pod; None when Ray would guess (no CPU limit)."""
        param = as_dict(self.spec.get("rayStartParams")).get(f"num-{kind}s")
        if param is not None and number(param) is not None:
            return number(param)
        res = as_dict(self.main_container.get("resources"))
        for section in ("limits", "requests"):
            values = as_dict(res.get(section))
            if kind == "cpu":
                q = parse_quantity(values.get("cpu"))
                if q:   # KubeRay skips a zero limit, and rounds a fractional one up (Quantity.Value)
                    return float(math.ceil(q - 1e-9))
            else:
                gpus = [parse_quantity(v) for k, v in values.items() if isinstance(k, str) and k.endswith("gpu")]
                if any(q is not None for q in gpus):
                    return sum(q for q in gpus if q is not None)
        return None if kind == "cpu" else 0.0

    @property
    def requests_gpu(self) -> bool:
        return any((parse_quantity(as_dict(as_dict(c.spec.get("resources")).get(s)).get("nvidia.com/gpu")) or 0) > 0
                   for c in self.containers for s in ("limits", "requests"))


@dataclass(frozen=True)
class PodTemplate:
    path: str
    spec: dict
    group: Group | None                 # the Ray group it belongs to; None for other workloads
    containers: tuple[Container, ...]   # init, regular, ephemeral and sidecar


# --- the serve config -------------------------------------------------------------------------

@dataclass(frozen=True)
class Deployment:
    app: str
    name: str
    path: str
    spec: dict

    @property
    def max_replicas(self) -> float | None:
        n = self.spec.get("num_replicas")
        auto = self.spec.get("autoscaling_config")
        if isinstance(auto, dict) or n == "auto":
            # Serve's defaults: max_replicas 1 for an autoscaling_config, 100 for num_replicas "auto".
            return number(as_dict(auto).get("max_replicas", 100 if n == "auto" else 1))
        return 1 if n is None else number(n)

    def actor_resource(self, kind: str) -> float | None:
        # Serve reserves 1 CPU per replica when num_cpus is unset (ray/serve/_private/config.py).
        value = as_dict(self.spec.get("ray_actor_options")).get(f"num_{kind}s")
        return (1.0 if kind == "cpu" else 0.0) if value is None else number(value)


@dataclass(frozen=True)
class ServeApp:
    name: str
    path: str
    spec: dict

    @cached_property
    def deployments(self) -> tuple[Deployment, ...]:
        return tuple(Deployment(self.name, label(d, "name", i), f"{self.path}.deployments[{label(d, 'name', i)}]", d)
                     for i, d in enumerate(as_list(self.spec.get("deployments"))) if isinstance(d, dict))

    @property
    def env_vars(self) -> dict:
        return as_dict(as_dict(self.spec.get("runtime_env")).get("env_vars"))


def app_runtime_envs(app: dict, app_path: str = "") -> list[tuple[str, dict]]:
    """(path, runtime_env) of an app and of every deployment's ray_actor_options, in any serve config dict."""
    out = [(f"{app_path}.runtime_env", app["runtime_env"])] if isinstance(app.get("runtime_env"), dict) else []
    for i, dep in enumerate(as_list(app.get("deployments"))):
        renv = as_dict(as_dict(dep).get("ray_actor_options")).get("runtime_env")
        if isinstance(renv, dict):
            out.append((f"{app_path}.deployments[{label(dep, 'name', i)}].ray_actor_options.runtime_env", renv))
    return out


@dataclass(frozen=True)
class RuntimeEnv:
    app: str
    path: str
    spec: dict

    @property
    def env_vars(self) -> dict:
        return as_dict(self.spec.get("env_vars"))


@dataclass(frozen=True)
class DbConfigSetting:
    """One DB_CONFIG (or API_SERVICE_DB_CONFIG) of a runtime_env, parsed, beside that env's other vars."""
    var: str
    path: str
    parsed: ParsedDbConfig
    env_vars: dict


# --- the view ---------------------------------------------------------------------------------

class RayServiceView:
    def __init__(self, resource: dict, node: yaml.Node | None = None):
        self.resource = resource
        self.node = node   # the composed document, when the resource was read from a file
        self.kind = resource.get("kind")
        self.resource_id = resource_id(resource)

    def line_of(self, path: str) -> int | None:
        """The line of a path in the file the resource came from (None when rendered by kustomize)."""
        return line_of_path(self.node, path) if self.node is not None else None

    @cached_property
    def _cluster(self) -> tuple[dict, str]:
        spec = as_dict(self.resource.get("spec"))
        if self.kind == "RayService":
            return as_dict(spec.get("rayClusterConfig")), "spec.rayClusterConfig"
        if self.kind == "RayJob":
            return as_dict(spec.get("rayClusterSpec")), "spec.rayClusterSpec"
        return (spec, "spec") if self.kind == "RayCluster" else ({}, "")

    @property
    def cluster_spec(self) -> dict:
        """The RayCluster spec inside a RayService/RayCluster/RayJob ({} for other kinds)."""
        return self._cluster[0]

    @property
    def cluster_path(self) -> str:
        return self._cluster[1]

    @property
    def autoscaling(self) -> bool:
        return self.cluster_spec.get("enableInTreeAutoscaling") is True

    @cached_property
    def groups(self) -> tuple[Group, ...]:
        """The head group, then the worker groups in order."""
        cs, base = self._cluster
        out = []
        if isinstance(cs.get("headGroupSpec"), dict):
            options = cs.get("autoscalerOptions")
            sidecar = (Container(f"{base}.autoscalerOptions", as_dict(options), sidecar=True)
                       if self.autoscaling else None)
            out.append(Group("head", f"{base}.headGroupSpec", cs["headGroupSpec"], True, sidecar))
        for i, g in enumerate(as_list(cs.get("workerGroupSpecs"))):
            if isinstance(g, dict):
                out.append(Group(label(g, "groupName", i), f"{base}.workerGroupSpecs[{label(g, 'groupName', i)}]",
                                 g, False))
        return tuple(out)

    @property
    def worker_names(self) -> list[str]:
        return [g.name for g in self.groups if not g.is_head]

    @cached_property
    def pod_templates(self) -> tuple[PodTemplate, ...]:
        """Every pod template of a Ray resource (one per group) or of a workload."""
        if self.kind in RAY_KINDS:
            return tuple(PodTemplate(g.pod_path, g.pod, g, g.all_containers) for g in self.groups)
        spec = as_dict(self.resource.get("spec"))
        if self.kind == "Pod":
            path, pod = "spec", spec
        elif self.kind == "CronJob":
            path = "spec.jobTemplate.spec.template.spec"
            pod = as_dict(as_dict(as_dict(as_dict(spec.get("jobTemplate")).get("spec")).get("template")).get("spec"))
        elif self.kind in WORKLOAD_KINDS:
            path, pod = "spec.template.spec", as_dict(as_dict(spec.get("template")).get("spec"))
        else:
            return ()
        return (PodTemplate(path, pod, None, _containers(pod, path, _CONTAINER_LISTS)),)

    @property
    def containers(self) -> list[Container]:
        """Every container of every pod template, the autoscaler sidecar included."""
        return [c for t in self.pod_templates for c in t.containers]

    @property
    def serve_config(self) -> dict | None:
        """spec.serveConfigV2, parsed once per distinct text; None when not a readable mapping."""
        return serve_config_of(self.resource)

    @cached_property
    def apps(self) -> tuple[ServeApp, ...]:
        return tuple(ServeApp(label(a, "name", i), f"{SERVE_PATH}:applications[{label(a, 'name', i)}]", a)
                     for i, a in enumerate(as_list(as_dict(self.serve_config).get("applications")))
                     if isinstance(a, dict))

    @cached_property
    def runtime_envs(self) -> tuple[RuntimeEnv, ...]:
        """At app level and in every deployment's ray_actor_options."""
        return tuple(RuntimeEnv(a.name, path, renv)
                     for a in self.apps for path, renv in app_runtime_envs(a.spec, a.path))

    @cached_property
    def env_var_settings(self) -> tuple[tuple[str, str, Any], ...]:
        """(name, path, value) of every runtime_env env var."""
        return tuple((k, f"{r.path}.env_vars.{k}", v) for r in self.runtime_envs
                     for k, v in r.env_vars.items() if isinstance(k, str))

    @cached_property
    def db_configs(self) -> tuple[DbConfigSetting, ...]:
        return tuple(DbConfigSetting(var, f"{r.path}.env_vars.{var}", parse_db_config(r.env_vars[var]), r.env_vars)
                     for r in self.runtime_envs for var in DB_VARS if isinstance(r.env_vars.get(var), str))
