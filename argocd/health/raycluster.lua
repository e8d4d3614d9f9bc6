-- Argo CD health of a ray.io/RayCluster (argocd-cm key
-- resource.customizations.health.ray.io_RayCluster). RayClusters here are made by KubeRay
-- from a RayService, so this shows in the resource tree; the Application's health comes
-- from the RayService (rayservice.lua). Only Lua's base and table libraries are available.
--
-- status.state: ready | failed (deprecated in 1.7) | suspended, and unhealthy before 1.2.
-- status.conditions (KubeRay >= 1.2): HeadPodReady, RayClusterProvisioned, ReplicaFailure,
-- RayClusterSuspending, RayClusterSuspended.

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

local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.message = "KubeRay has not yet acted on the latest spec (generation " .. generation .. ")"
  return hs
end

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

local suspended = find_condition(conditions, "RayClusterSuspended")
if is_true(suspended) or state == "suspended" then
  hs.status = "Suspended"
  hs.message = describe(suspended, "suspended")
  return hs
end
local suspending = find_condition(conditions, "RayClusterSuspending")
if is_true(suspending) then
  hs.message = describe(suspending, "suspending")
  return hs
end

local head = find_condition(conditions, "HeadPodReady")
if head ~= nil and head.status ~= "True" then
  hs.message = describe(head, "head Pod not ready")
  return hs
end
if state == "ready" or is_true(find_condition(conditions, "RayClusterProvisioned")) then
  hs.status = "Healthy"
  hs.message = describe(head, "ready")
  return hs
end
if state ~= nil and state ~= "" then hs.message = state end
return hs
