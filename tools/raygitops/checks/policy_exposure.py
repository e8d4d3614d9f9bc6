"""The dashboard-exposed policy: no Service, Ingress or KubeRay setting that opens the Ray dashboard (8265).

    from raygitops.checks.policy_exposure import POLICIES      # dashboard-exposed
    findings = list(check_dashboard_exposed(RayServiceView(service), ctx))
"""
from __future__ import annotations

from typing import Iterator

from raygitops.checks.policy_base import Policy, PolicyContext, report
from raygitops.findings import Finding
from raygitops.model.rayservice import RAY_KINDS, RayServiceView, as_dict, as_list, label

_EXPOSED = ("LoadBalancer", "NodePort")
_OUTSIDE = "exposes the Ray dashboard (8265) outside the cluster"


def _dashboard_port(port: dict) -> bool:
    return (port.get("port") == 8265 or port.get("targetPort") in (8265, "dashboard")
            or port.get("name") == "dashboard")


def _exposing_service(svc: dict, path: str) -> list[str]:
    """Paths of the dashboard ports of a LoadBalancer/NodePort Service (path is the Service's)."""
    spec = as_dict(svc.get("spec"))
    if spec.get("type") not in _EXPOSED:
        return []
    prefix = f"{path}.spec" if path else "spec"
    return [f"{prefix}.ports[{label(p, 'name', i)}]" for i, p in enumerate(as_list(spec.get("ports")))
            if isinstance(p, dict) and _dashboard_port(p)]


def _ingress_backends(spec: dict) -> list[tuple[str, dict]]:
    out = [("spec.defaultBackend", as_dict(spec.get("defaultBackend")))]
    for i, rule in enumerate(as_list(spec.get("rules"))):
        for j, p in enumerate(as_list(as_dict(as_dict(rule).get("http")).get("paths"))):
            out.append((f"spec.rules[{i}].http.paths[{j}].backend", as_dict(as_dict(p).get("backend"))))
    return out


def check_dashboard_exposed(view: RayServiceView, ctx: PolicyContext) -> Iterator[Finding]:
    r = view.resource
    if view.kind == "Service":
        for path in _exposing_service(r, ""):
            yield report("dashboard-exposed", view, ctx, path,
                         f"{as_dict(r.get('spec')).get('type')} Service {_OUTSIDE}")
    elif view.kind == "Ingress":
        for path, backend in _ingress_backends(as_dict(r.get("spec"))):
            svc = as_dict(backend.get("service"))
            port = as_dict(svc.get("port"))
            # networking.k8s.io/v1 names service.port; v1beta1 had servicePort.
            target = port.get("number") or port.get("name") or backend.get("servicePort")
            if target in (8265, "dashboard"):
                name = svc.get("name") or backend.get("serviceName") or "?"
                yield report("dashboard-exposed", view, ctx, path, f"Ingress backend {name}:{target} {_OUTSIDE}")
    elif view.kind in RAY_KINDS:
        spec = as_dict(r.get("spec"))
        for path in _exposing_service(as_dict(spec.get("serveService")), "spec.serveService"):
            yield report("dashboard-exposed", view, ctx, path, f"serveService {_OUTSIDE}")
        for g in view.groups:
            if not g.is_head:
                continue
            if g.spec.get("serviceType") in _EXPOSED:
                yield report("dashboard-exposed", view, ctx, f"{g.path}.serviceType",
                             f"head service of type {g.spec['serviceType']} {_OUTSIDE}")
            for path in _exposing_service(as_dict(g.spec.get("headService")), f"{g.path}.headService"):
                yield report("dashboard-exposed", view, ctx, path, f"headService {_OUTSIDE}")
            # KubeRay then creates an Ingress to the head service's dashboard port (common/ingress.go).
            if g.spec.get("enableIngress") is True:
                yield report("dashboard-exposed", view, ctx, f"{g.path}.enableIngress",
                             f"enableIngress makes KubeRay create an Ingress that {_OUTSIDE}")


POLICIES = (Policy("dashboard-exposed", check_dashboard_exposed, RAY_KINDS + ("Service", "Ingress")),)
