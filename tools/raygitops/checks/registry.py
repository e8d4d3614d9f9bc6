"""Every check tools/validate runs, as data: id, family, severity, pack, description, remediation (as kube-linter's).

    f = finding("capacity", "serve config asks for 9 CPUs …", file="overlays/prod", path="spec.serveConfigV2")
    [c.id for c in CHECKS if is_enabled(c.id, packs=("aana",))]      # tools/validate --list-checks prints CHECKS

A finding is made only through `finding()`, which refuses an id that is not registered here, so
`--list-checks` (and the README's table, generated from it) names every id a finding can carry.
A check of a pack other than "generic" runs only when raygitops.yaml lists the pack under `checks.packs`.
"""
from __future__ import annotations

from dataclasses import dataclass

from raygitops.findings import ERROR, INFO, WARNING, Finding

GENERIC = "generic"   # any Ray Serve repository on KubeRay
AANA = "aana"         # Aana's settings: DB_CONFIG, TMP_DATA_DIR, the HMAC secret and tokens
PACKS = (GENERIC, AANA)


@dataclass(frozen=True)
class Check:
    id: str
    family: str
    severity: str      # the default; a policy may report one finding softer (see its description)
    pack: str
    description: str   # one line: what must hold, and why
    remediation: str


def _c(id_: str, family: str, severity: str, description: str, remediation: str, pack: str = GENERIC) -> Check:
    return Check(id_, family, severity, pack, description, remediation)


_REGEN = "set both from the pin (versions.ray in raygitops.yaml) and run tools/regen"

CHECKS: tuple[Check, ...] = (
    # -- reading the input
    _c("yaml", "input", ERROR, "Every file (and stdin) is valid YAML without repeated keys.",
       "fix the YAML syntax; keep one of the repeated keys"),
    _c("kustomize", "input", ERROR,
       "Every overlay builds with kustomize, and every overlays/<env> that Argo CD would deploy has a kustomization.",
       "fix what kustomize names (kubectl kustomize overlays/<env> shows it), or restore the kustomization.yaml"),
    _c("regen-stale", "input", ERROR,
       "overlays/<env>/generated/ was made from the current raygitops.yaml, apps/ and serve.yaml.",
       "run tools/regen and commit the result"),
    # -- schemas
    _c("schema", "schema", ERROR,
       "Every resource matches its Kubernetes or CRD schema, strictly: unknown fields are errors.",
       "fix the field the finding names (the message says what the schema expects)"),
    _c("schema-null-dropped", "schema", INFO,
       "A null in a field that is not nullable: the API server drops it before it validates and stores the object.",
       "remove the empty key, or give it a value"),
    _c("schema-deprecated-version", "schema", WARNING, "The resource's apiVersion is not deprecated by its CRD.",
       "move to a served, non-deprecated version"),
    _c("cel-rule", "schema", ERROR,
       "Every custom resource passes its CRD's validation rules (x-kubernetes-validations, CEL) that need no old "
       "object: else the API server rejects it and Argo CD's sync fails. Rules with oldSelf are tools/diff's.",
       "change the value so that the CRD's rule holds (the message is the rule's own)"),
    # -- the serve config inside a RayService
    _c("serve-missing", "serve", ERROR, "Every RayService has a serveConfigV2.",
       "run tools/regen and include overlays/<env>/generated"),
    _c("serve-yaml", "serve", ERROR, "serveConfigV2 is a YAML mapping without repeated keys (Ray keeps the last one).",
       "run tools/regen instead of editing the string"),
    _c("serve-unknown-key", "serve", ERROR, "The serve config has no key that Ray would ignore silently.",
       "fix the spelling or remove it"),
    _c("serve-duplicate-app", "serve", ERROR, "Every application of the serve config has its own name.",
       "give every application its own name"),
    _c("serve-duplicate-route", "serve", ERROR, "Every application of the serve config has its own route_prefix.",
       "give every application its own route_prefix"),
    _c("serve-schema", "serve", ERROR,
       "The serve config passes Ray's ServeDeploySchema and what Ray checks only at deploy (routes, autoscaling "
       "bounds, replica and actor options, env var names), with each value of its field's own type.",
       "fix the value (Ray rejects it when it deploys the config)"),
    _c("serve-not-generated", "serve", ERROR,
       "An overlay's serveConfigV2 is the one tools/regen generated: a patch that replaces it is never regenerated.",
       "remove that patch; change overlays/<env>/serve.yaml and run tools/regen"),
    _c("serve-import-path", "serve", ERROR,
       "Every import_path names code in apps/ (what the working_dir zip ships), or a module under external_imports.",
       "fix import_path, or list the module under external_imports in raygitops.yaml when the image holds it"),
    # -- policies: versions and pins
    _c("ray-version-mismatch", "versions", ERROR,
       "rayVersion, the Ray images and the ray[serve] pin agree with versions.ray: KubeRay fills defaults from "
       "rayVersion, and the images must run the Ray the serve config was built with.", _REGEN),
    _c("image-digest", "versions", ERROR,
       "Images are pinned by digest in the environments of policies.require_digest: a tag can be moved.",
       "pin the image as name:tag@sha256:<digest>"),
    _c("working-dir-mutable", "versions", ERROR,
       "Every working_dir URL is content-addressed: one that can change makes replicas run different code.",
       "use the content-addressed zip tools/regen writes (working_dir.url with {hash} in raygitops.yaml)"),
    # -- policies: resources
    _c("container-resources", "resources", ERROR,
       "Every Ray container sets CPU and memory requests and limits, and the autoscaler sidecar "
       "(autoscalerOptions.resources) ephemeral-storage too: else Ray guesses from the node and pods get evicted.",
       "set resources.requests and resources.limits for cpu and memory on every Ray container "
       "(autoscalerOptions.resources: cpu, memory and ephemeral-storage)"),
    _c("ephemeral-storage-min", "resources", ERROR,
       "Every Ray container requests at least policies.ephemeral_storage_min of ephemeral-storage: Ray spills "
       "objects to local disk.",
       "raise resources.requests.ephemeral-storage to at least policies.ephemeral_storage_min (raygitops.yaml)"),
    _c("gpu-toleration", "resources", ERROR,
       "A group that requests GPUs tolerates the GPU-node taint (policies.gpu_toleration_keys), or it stays Pending.",
       "add a toleration for the GPU taint, e.g. {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}"),
    _c("gpu-image", "resources", WARNING,
       "A group that requests GPUs runs a GPU image: a CPU rayproject/ray has no CUDA.",
       "use the GPU image (ray-gpu-image in raygitops.yaml, e.g. rayproject/ray:<ver>-py311-gpu)"),
    _c("gpu-not-available", "resources", ERROR,
       "A deployment that asks for GPUs runs on a cluster with a GPU group, or it never starts.",
       "add a GPU worker group (nvidia.com/gpu limit) or set num_gpus to 0"),
    _c("capacity", "resources", ERROR,
       "The Serve replicas fit the cluster's CPUs and GPUs at maxReplicas (and, without autoscaling, a warning at "
       "replicas): else the RayService never becomes ready.",
       "raise maxReplicas or per-pod CPUs/GPUs of a worker group, or lower num_replicas / num_cpus / num_gpus"),
    # -- policies: secrets and exposure
    _c("secret-in-git", "secrets", ERROR, "No Secret with data in Git: base64 is not encryption.",
       "use an ExternalSecret or a SealedSecret"),
    _c("secret-literal", "secrets", ERROR,
       "No credential is written out in a manifest: a setting named like a password, secret, token or key "
       "(env values, arguments, serve env vars and user_config, ConfigMap data), or a URL with a password.",
       "read it from a Secret (valueFrom.secretKeyRef, or ${VAR} in serve env_vars)"),
    _c("dashboard-exposed", "exposure", ERROR,
       "The Ray dashboard (8265) stays inside the cluster: it runs submitted jobs without authentication.",
       "keep the dashboard ClusterIP-only and use kubectl port-forward svc/<name>-head-svc 8265"),
    # -- policies: KubeRay's API
    _c("deprecated-field", "kuberay", WARNING,
       "No deprecated KubeRay field or apiVersion: they are ignored or will stop being served.",
       "remove the field (the thresholds are unused) and use apiVersion ray.io/v1"),
    _c("worker-group-order", "kuberay", ERROR,
       "Overlays keep base's worker groups first and in order: reordered groups roll a new RayCluster.",
       "list every base group in base order in the patch (unchanged ones by groupName only); append new groups"),
    # -- policies: high availability (checks/policy_ha.py)
    _c("gcs-ft-required", "availability", ERROR,
       "Environments in policies.gcs_ft_required (prod by default) have GCS fault tolerance with an external Redis "
       "and its password from a Secret: without it a head Pod failure restarts every Serve application.",
       "include base/components/gcs-ft and set gcsFaultToleranceOptions.redisAddress in the overlay "
       "(or drop the environment from policies.gcs_ft_required in raygitops.yaml)"),
    _c("gcs-ft-conflict", "availability", ERROR,
       "GCS fault tolerance is set only through gcsFaultToleranceOptions: KubeRay rejects ray.io/ft-enabled, "
       "RAY_REDIS_ADDRESS, REDIS_PASSWORD or redis-password set by hand beside it (the annotation alone warns: "
       "deprecated).",
       "configure GCS fault tolerance only through gcsFaultToleranceOptions (base/components/gcs-ft)"),
    # -- the Aana pack
    _c("db-config", "aana-database", ERROR,
       "DB_CONFIG is JSON that Aana's DbSettings accepts: a known datastore with the fields it needs and no others, "
       "no other keys, whole numbers for port and the pool settings. Aana parses it in every replica.",
       'write DB_CONFIG as {"datastore_type": "postgresql", "datastore_config": {host, port, user, database}} '
       'or {"datastore_type": "sqlite", "datastore_config": {path}}', AANA),
    _c("db-sqlite-non-dev", "aana-database", ERROR,
       "Only dev environments (policies.dev_environments) use SQLite: it lives on one node's disk.",
       "use postgresql in DB_CONFIG and include base/components/postgres", AANA),
    _c("db-password-literal", "aana-database", ERROR,
       "No database password is written out; with PostgreSQL every Ray container gets it from a Secret.",
       "drop the password from DB_CONFIG (or write ${VAR}) and give pods DB_CONFIG__DATASTORE_CONFIG__PASSWORD "
       "from a Secret via valueFrom.secretKeyRef", AANA),
    _c("aana-secret-default", "aana-secrets", ERROR,
       "The HMAC secret, Lago key and Hugging Face tokens are neither literals nor Aana's public default, and every "
       "Aana app gets WEBHOOK__HMAC_SECRET (unset means the default 'webhook_secret'; a warning in dev).",
       "set it from a Secret: container env valueFrom.secretKeyRef (base/components/aana-webhook) or ${VAR} in "
       "env_vars", AANA),
    _c("node-local-storage", "aana-storage", ERROR,
       "TMP_DATA_DIR (and a SQLite file) is on shared storage when the cluster has workers (a warning in dev).",
       "mount a ReadWriteMany PersistentVolumeClaim in every Ray group; point TMP_DATA_DIR (and SQLite) into it",
       AANA),
    _c("aana-fastapi-pin", "aana-versions", ERROR,
       "With an Aana app configured, pyproject.toml pins the fastapi series Ray's @serve.ingress works with, within "
       "Aana's requirement, and requirements-aana.txt pins no other fastapi, starlette or ray.",
       "pin fastapi (and starlette) in pyproject.toml to the series for versions.ray (fastapi==0.115.* for Ray 2.46); "
       "keep them out of requirements-aana.txt", AANA),
)
BY_ID: dict[str, Check] = {c.id: c for c in CHECKS}


def check(check_id: str) -> Check:
    """The registered check; an unknown id is a bug in the check that reports it."""
    try:
        return BY_ID[check_id]
    except KeyError:
        raise ValueError(f"no check '{check_id}' in raygitops/checks/registry.py: register it there") from None


def restore(entry: dict) -> Finding:
    """A Finding read back from a cache (checks/result_cache.py): its id must still be registered."""
    check(entry["id"])
    return Finding(**entry)


def finding(check_id: str, message: str, *, severity: str | None = None, fix: str | None = None,
            file: str | None = None, line: int | None = None, resource: str = "", path: str = "") -> Finding:
    """A Finding of a registered check: its severity and remediation unless the check says otherwise."""
    registered = check(check_id)
    severity = severity or registered.severity
    if severity not in (ERROR, WARNING, INFO):
        raise ValueError(f"severity {severity!r} of {check_id} is not {ERROR}, {WARNING} or {INFO}")
    return Finding(id=check_id, severity=severity, message=message, fix=fix or registered.remediation,
                   file=file, line=line, resource=resource, path=path)


def is_enabled(check_id: str, packs: tuple[str, ...] | list[str]) -> bool:
    """Generic checks always run; a pack's checks when raygitops.yaml's checks.packs lists the pack."""
    pack = check(check_id).pack
    return pack == GENERIC or pack in packs
