"""Where each rollout rule comes from: upstream source, tag, file, function (and line at that tag).

    Rule("spec.suspend", OUTAGE, "...", SUSPEND_V1_7)     # diff/rollout.py cites these
    Abbreviations: rsc = ray-operator/controllers/ray/rayservice_controller.go, util = …/ray/utils/util.go,
    val = …/ray/utils/validation.go, svc = …/ray/common/service.go, features = ray-operator/pkg/features/features.go

Read from github.com/ray-project/kuberay at v1.1.1, v1.2.2, v1.5.x, v1.6.x and v1.7.0 (research notes:
/work/notes/kuberay-rules.md). Backports are named by the release that first has them.
"""
from __future__ import annotations

# --- the RayCluster hash and what KubeRay does with a difference ------------------------------
HASH_V1_1 = ("kuberay v1.1.1 rsc generateHashWithoutReplicasAndWorkersToDelete L1190 (mutes replicas and "
             "workersToDelete only), shouldPrepareNewRayCluster L524")
HASH_V1_7 = ("kuberay v1.7.0 util GenerateHashWithoutReplicasAndWorkersToDelete L645; rsc shouldPrepareNewCluster "
             "L1409, isClusterSpecHashEqual L1379")
MIN_MAX_V1_2 = "kuberay PR #2172 (commit aeb8b03df, v1.2.0) mutes minReplicas/maxReplicas in the cluster hash"
TOLERATIONS_V1_5_2 = ("kuberay PR #4569, in v1.5.2 by cherry-pick 59caac7e6 (#4751) and in v1.6.0: util "
                      "GenerateHashWithoutReplicasAndWorkersToDelete mutes tolerations/schedulingGates (v1.5.2 L652)")
UPGRADE_STRATEGY_V1_6 = ("kuberay PR #4185 (v1.6.0): util GenerateHashWithoutReplicasAndWorkersToDelete L662 mutes "
                         "rayClusterConfig.upgradeStrategy")
SUSPEND_V1_7 = ("kuberay PR #4841 (v1.7.0): rsc rayClusterSpecForHashing L1498 mutes rayClusterConfig.suspend, "
                "modifyRayCluster L1462 keeps the running cluster's")
SUSPEND_TOGGLE = ("kuberay #4739 in v1.5.2 and v1.6.1–v1.6.x (not v1.6.0, not v1.7.0): rsc shouldUpdateCluster "
                  "(v1.5.2 L1028, v1.6.2 L1140) 'Suspend toggles … must be applied in-place' before any hash check")
APPENDED_GROUP = ("kuberay v1.1.1 rsc shouldPrepareNewRayCluster L552 'new workergroups are added at the end, then "
                  "update the cluster'; v1.7.0 rsc shouldUpdateCluster L1351, isClusterSpecHashEqual(partial) L1379")
WHOLE_SPEC_COPY = ("kuberay v1.1.1 rsc updateRayClusterInstance L654 / v1.7.0 rsc modifyRayCluster L1463: "
                   "currentCluster.Spec = goalCluster.Spec (TODO at reconcileRayCluster L1222)")
RECREATE_PODS = ("kuberay raycluster_controller.go shouldRecreatePodsForUpgrade (v1.6.2 L1148, v1.7.0 L1463): with "
                 "rayClusterConfig.upgradeStrategy.type Recreate (v1.6.0+), a RayCluster whose hash changes has all "
                 "its pods deleted (not after an operator upgrade: the version check skips it)")
REPLICAS_RESET = ("kuberay v1.7.0 raycluster_controller.go reconcilePods L1221-L1254: with the autoscaler on, "
                  "KubeRay deletes no pod to meet replicas (the autoscaler decides); util "
                  "GetWorkerGroupDesiredReplicas L389")
NONE_STRATEGY = ("kuberay v1.7.0 rsc isZeroDowntimeUpgradeEnabled L868: upgradeStrategy.type None (or "
                 "ENABLE_ZERO_DOWNTIME=false without a type) → no new cluster; field since v1.3.0 (PR #2468)")
ZERO_DOWNTIME_ENV_V1_1 = "kuberay v1.1.1 rsc L398-L410: ENABLE_ZERO_DOWNTIME=false skips RolloutNew while a cluster runs"
NONE_REMOVED = ("kuberay v1.7.0 rsc shouldPrepareNewCluster L1409 compares Git with the running cluster's hash "
                "annotation (isClusterSpecHashEqual L1379), so every change blocked under None rolls out at once")

# --- incremental upgrade (NewClusterWithIncrementalUpgrade) -----------------------------------
INCREMENTAL_GATE = ("kuberay features RayServiceIncrementalUpgrade: v1.5.2 L52 and v1.6.2 L67 Alpha, off; v1.7.0 "
                    "L109 Beta, on (PR #5044); util IsIncrementalUpgradeEnabled (v1.7.0 L917); rsc "
                    "isZeroDowntimeUpgradeEnabled L868: with the gate off the type acts as None")
INCREMENTAL_SWITCH = ("kuberay v1.7.0 rsc Reconcile L258-L282 (reconcilePerClusterServeService L2278, "
                      "reconcileGateway L929, reconcileHTTPRoute L1152); svc BuildServeService L187 names the "
                      "serve Service after the cluster and L233 ignores spec.serveService")
INCREMENTAL_VALIDATION = ("kuberay val ValidateClusterUpgradeOptions (v1.5.2 L391, v1.7.0 L717); rsc v1.7.0 "
                          "Reconcile L156-L170 Ready=False ValidationFailed (v1.5.2 L123: an event, requeue)")
INCREMENTAL_CAPACITY = ("kuberay v1.7.0 rsc constructRayClusterForRayService L1529 (pending cluster without "
                        "replicas), reconcileServeTargetCapacity L1749 (at most maxSurgePercent extra)")

# --- the rest of the RayService -----------------------------------------------------------------
SERVE_SERVICE = ("kuberay rsc reconcileServices (v1.1.1 L978, v1.7.0 L1951): 'Only update the service if the "
                 "RayCluster switches', and then only its spec (oldSvc.Spec = newSvc.Spec)")
SUSPEND_SERVICE = ("kuberay v1.7.0 rsc handleSuspend L383, deleteRayServiceOwnedResources L472 (PR #4841); "
                   "types rayservice_types.go L125")
INITIALIZING_TIMEOUT = ("kuberay v1.5.0+ (PR #4143) rsc getInitializingTimeout/markFailedOnInitializingTimeout "
                        "(v1.7.0 L2188/L2229, v1.5.2 L1738/L1779): counted while Ready=False reason Initializing; "
                        "then terminal: clusters deleted, only delete+recreate recovers")
OPERATOR_VALIDATION = ("kuberay val ValidateRayServiceMetadata/validateInitializingTimeout (v1.7.0 L632/L651) "
                       "and ValidateRayServiceSpec L680; rsc validateRayService L333")
METADATA_COPY = ("kuberay v1.7.0 rsc constructRayClusterForRayService L1504-L1513: the RayService's labels and "
                 "annotations are copied onto the RayCluster when it is created or updated")
NOT_HASHED = "notes-kuberay-argocd.md §3 summary table: RayService fields outside rayClusterConfig are not hashed"
FIELDS_BY_VERSION = ("kuberay helm-chart/kuberay-operator/crds/ray.io_rayservices.yaml at v1.1.1…v1.7.0: the first "
                     "release whose CRD has the field")
CEL_RULES = ("kubernetes apiextensions-apiserver pkg/apiserver/schema/cel/validation.go (x-kubernetes-validations; "
             "transition rules compare with the stored object)")

# --- operator upgrades ---------------------------------------------------------------------------
OPERATOR_UPGRADE = ("kuberay PR #2320 (v1.2.1): rsc shouldUpdateCluster (v1.2.2 L539, v1.7.0 L1363) updates the "
                    "active RayCluster in place when its ray.io/kuberay-version annotation differs")
OPERATOR_DOWNGRADE = ("kuberay v1.1.1 rsc shouldPrepareNewRayCluster L524: no version check, the hash is "
                      "recomputed with v1.1's muting → a new cluster [inferred]")
OPERATOR_RESTART = ("kuberay rsc checkIfNeedSubmitServeApplications: the Serve config cache is in memory, so a "
                    "restarted operator re-submits serveConfigV2 (Serve ignores an identical config)")
CRD_APPLY = "argocd/kuberay-crds.yaml syncs helm-chart/kuberay-operator/crds at the release tag (ServerSideApply)"

# --- Ray Serve and Kubernetes ----------------------------------------------------------------------
SERVE_LIGHTWEIGHT = ("docs.ray.io serve/advanced-guides/inplace-updates (lightweight config updates); "
                     "Ray 2.46 ray/serve/_private/config.py DeploymentConfig update_type is not HeavyWeight")
SERVE_CODE_UPDATE = "docs.ray.io serve/advanced-guides/inplace-updates (code updates restart replicas)"
SERVE_GLOBAL = ("Ray 2.46 dashboard/modules/serve/serve_head.py validate_http_options: Serve ignores new HTTP options "
                "while it runs; schema.py: grpc_options port 'cannot be updated once Serve has started running'")
SERVE_DEPLOY = "docs.ray.io serve production-guide: the config is declarative; KubeRay re-submits serveConfigV2 on change"
K8S_APPLY = "Kubernetes: the object is applied as is; pods read env from ConfigMaps/Secrets only when they start"
K8S_JOB = "Kubernetes API: Job spec.template is immutable once created"
ARGOCD_HOOKS = ("argo-cd docs/user-guide/resource_hooks.md: hooks run on every sync; "
                "hook-delete-policy BeforeHookCreation deletes the previous one first")

# --- GCS fault tolerance ------------------------------------------------------------------------
GCS_FT = ("kuberay v1.7.0 util GenerateHashWithoutReplicasAndWorkersToDelete L645 hashes "
          "rayClusterConfig.gcsFaultToleranceOptions; common/pod.go configureRedisFT gives the new head "
          "RAY_REDIS_ADDRESS and RAY_external_storage_namespace = the new RayCluster's UID; raycluster_controller.go: "
          "the old cluster's Redis cleanup Job deletes its keys when it is deleted")
