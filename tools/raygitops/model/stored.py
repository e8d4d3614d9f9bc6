"""A rendered resource as the cluster holds it and KubeRay compares it: the API server's normalisation,
then quantities in their canonical form.

    stored = stored_form(rayservice, registry.crd_schema)   # crd_schema(apiVersion, kind) → openAPIV3Schema | None
    stored_form(a, s) == stored_form(b, s)   # ⇒ nothing changes in the cluster (e.g. `1000m` vs `1`, protocol: TCP)
"""
from __future__ import annotations

from typing import Callable

from raygitops.model.normalise import normalise
from raygitops.model.quantity import canonicalise_quantities

SchemaOf = Callable[[str, str], "dict | None"]


def stored_form(resource: dict, schema_of: SchemaOf) -> dict:
    """The API server defaults a custom resource and drops its non-nullable nulls before storing it
    (model/normalise.py). It keeps a custom resource's quantity strings as written, but KubeRay hashes
    the parsed Go structs, and built-in kinds store quantities canonically anyway: so quantities are
    compared canonically everywhere (model/quantity.py says which fields are quantities)."""
    if not isinstance(resource, dict):
        return resource
    api_version, kind = resource.get("apiVersion"), resource.get("kind")
    schema = schema_of(api_version, kind) if isinstance(api_version, str) and isinstance(kind, str) else None
    normalised = normalise(resource, schema).obj if schema else resource
    return canonicalise_quantities(normalised)
