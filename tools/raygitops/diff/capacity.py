"""What a rollover costs: the requests of the old and the new RayCluster while both run.

    capacity = rollover_capacity(old_service, new_service, incremental=False)   # RolloverCapacity
    capacity.describe()   # "capacity during the rollover (both clusters run until the switch): old …; new …"
"""
from __future__ import annotations

from dataclasses import dataclass

from raygitops.model.rayservice import RayServiceView, parse_quantity


def _int(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def desired_replicas(spec: dict, start_small: bool = False) -> int:
    """kuberay v1.7.0 util GetWorkerGroupDesiredReplicas L389: replicas kept within min/maxReplicas, times
    numOfHosts; a suspended group has none. `start_small`: the pending cluster of an incremental upgrade, made
    without replicas (rsc constructRayClusterForRayService L1529), so it starts at minReplicas."""
    if spec.get("suspend") is True:
        return 0
    low, high = _int(spec.get("minReplicas"), 0), _int(spec.get("maxReplicas"), 2**31 - 1)
    replicas = None if start_small else spec.get("replicas")
    wanted = low if not isinstance(replicas, int) or replicas < low else min(replicas, high)
    return wanted * _int(spec.get("numOfHosts"), 1)


def cluster_requests(service: dict | None, start_small: bool = False) -> dict[str, float]:
    """CPU, memory and GPU requests of the head plus every worker group × its desired replicas
    (an unreadable quantity counts as 0)."""
    total: dict[str, float] = {}
    for group in RayServiceView(service or {}).groups:
        count = 1 if group.is_head else desired_replicas(group.spec, start_small)
        for container in group.containers:
            resources = container.spec.get("resources") or {}
            # Kubernetes defaults a missing request to its limit.
            requested = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
            for resource, value in requested.items():
                if resource in ("cpu", "memory") or resource.endswith("gpu"):
                    total[resource] = total.get(resource, 0.0) + count * (parse_quantity(value) or 0.0)
    return total


def format_requests(requests: dict[str, float]) -> str:
    def one(resource: str, amount: float) -> str:
        if resource == "memory":
            return f"memory {amount / 2**30:.4g}Gi"
        return f"{resource} {amount:.4g}"
    order = sorted(requests, key=lambda r: (r != "cpu", r != "memory", r))
    return ", ".join(one(r, requests[r]) for r in order) or "nothing requested"


def add_requests(*parts: dict[str, float]) -> dict[str, float]:
    total: dict[str, float] = {}
    for part in parts:
        for resource, amount in part.items():
            total[resource] = total.get(resource, 0.0) + amount
    return total


@dataclass(frozen=True)
class RolloverCapacity:
    old: dict[str, float]
    new: dict[str, float]            # incremental: what the new cluster starts with
    incremental: bool = False
    max_surge_percent: int = 100

    @property
    def together(self) -> dict[str, float]:
        return add_requests(self.old, self.new)

    def describe(self) -> str:
        if not self.incremental:
            return (f"capacity during the rollover (both clusters run until the switch): old {format_requests(self.old)}; "
                    f"new {format_requests(self.new)}; together {format_requests(self.together)}")
        return (f"capacity during the incremental upgrade: old {format_requests(self.old)}; the new cluster starts at "
                f"its head and minReplicas, {format_requests(self.new)} (together {format_requests(self.together)}), "
                f"then grows through the autoscaler as traffic moves, by at most maxSurgePercent="
                f"{self.max_surge_percent}% of the serving capacity: never doubled at once")

    def to_json(self) -> dict:
        return {"old": self.old, "new": self.new, "together": self.together, "incremental": self.incremental,
                **({"max_surge_percent": self.max_surge_percent} if self.incremental else {})}


def _max_surge(service: dict | None) -> int:
    options = (((service or {}).get("spec") or {}).get("upgradeStrategy") or {}).get("clusterUpgradeOptions") or {}
    return _int(options.get("maxSurgePercent"), 100)


def rollover_capacity(pairs: list[tuple[dict | None, dict | None, bool]]) -> RolloverCapacity | None:
    """(old service, new service, incremental) per RayService rolling a new cluster, summed."""
    if not pairs:
        return None
    incremental = all(inc for _, _, inc in pairs)
    old = add_requests(*(cluster_requests(before) for before, _, _ in pairs))
    new = add_requests(*(cluster_requests(after, start_small=inc) for _, after, inc in pairs))
    surge = max((_max_surge(after) for _, after, inc in pairs if inc), default=100)
    return RolloverCapacity(old, new, incremental, surge)
