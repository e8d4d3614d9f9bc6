-- Argo CD health of a ray.io/RayCluster (argocd-cm key
-- resource.customizations.health.ray.io_RayCluster). RayClusters here are made by KubeRay
-- from a RayService, so this shows in the resource tree; the Application's health comes
-- from the RayService (rayservice.lua). Only Lua's base and table libraries are available
-- (see rayservice.lua).
--
-- status.state: ready | failed (deprecated in 1.7) | suspended, and unhealthy before 1.2.
-- status.conditions (KubeRay >= 1.2): HeadPodReady, RayClusterProvisioned, ReplicaFailure,
-- RayClusterSuspending, RayClusterSuspended. spec.suspend: RayCluster's own suspend (a
-- RayService's spec.suspend deletes its RayClusters instead).

local hs = {status = "Progressing", message = "Waiting for KubeRay to report the RayCluster's status"}

local function find_condition(conditions, condition_type)
  if conditions == nil then return nil end
  for _, condition in ipairs(conditions) do
    if condition.type == condition_type then return condition end
  end
  return nil
end

local function is_true(condition) return condition ~= nil and condition.status == "True" end

local function describe(condition, fallback)
  if condition ~= nil and condition.message ~= nil and condition.message ~= "" then return condition.message end
  if condition ~= nil and condition.reason ~= nil and condition.reason ~= "" then return condition.reason end
  return fallback
end

local status = obj.status
if status == nil then return hs end
local conditions = status.conditions
local state = status.state
local spec = obj.spec or {}

-- A Pod that cannot be created or deleted (quota, invalid template) does not fix itself.
local failure = find_condition(conditions, "ReplicaFailure")
if is_true(failure) then
  hs.status = "Degraded"
  hs.message = describe(failure, "ReplicaFailure")
  return hs
end
if state == "failed" or state == "unhealthy" then
  hs.status = "Degraded"
  hs.message = status.reason or state
  return hs
end

-- Suspended only while spec.suspend says so: once it is false again, KubeRay recreates the Pods
-- and the state stays "suspended" until they run (calculateStatus, raycluster_controller.go
-- @v1.7.0 L2017-2021 and L2084-2091; @v1.1.1 L1278-1289).
local suspended = find_condition(conditions, "RayClusterSuspended")
if is_true(suspended) or state == "suspended" then
  if spec.suspend == true then
    hs.status = "Suspended"
    hs.message = describe(suspended, "suspended")
  else
    hs.message = "Resuming: spec.suspend is false, so KubeRay creates the Pods again"
  end
  return hs
end
local suspending = find_condition(conditions, "RayClusterSuspending")
if is_true(suspending) then
  hs.message = describe(suspending, "suspending")
  return hs
end

local head = find_condition(conditions, "HeadPodReady")
local is_ready = state == "ready" or is_true(find_condition(conditions, "RayClusterProvisioned"))

-- KubeRay writes a RayCluster's status only when something other than observedGeneration
-- changed (inconsistentRayClusterStatus, raycluster_controller.go@v1.1.1 L390-420;
-- utils/consistency.go@v1.7.0 L10-34, whose conditions carry no observedGeneration). After a
-- spec change that alters nothing it reports (a Pod template change, which KubeRay applies only
-- to Pods it creates later), observedGeneration stays behind for good, so a ready cluster is
-- not held at Progressing.
local generation = obj.metadata.generation
local observed = status.observedGeneration or 0
if generation ~= nil and observed < generation and not (is_ready and (head == nil or head.status == "True")) then
  hs.message = "KubeRay has not yet acted on the latest spec (generation " .. generation .. ")"
  return hs
end

if head ~= nil and head.status ~= "True" then
  hs.message = describe(head, "head Pod not ready")
  return hs
end
if is_ready then
  hs.status = "Healthy"
  hs.message = describe(head, "ready")
  return hs
end
if state ~= nil and state ~= "" then hs.message = state end
return hs
