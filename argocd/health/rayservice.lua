-- Argo CD health of a ray.io/RayService (argocd-cm key
-- resource.customizations.health.ray.io_RayService, set by argocd/kustomization.yaml).
-- Argo CD calls it with the object in the global `obj` and takes the returned table.
-- Argo CD opens only Lua's base, table and package libraries: no string library, so this
-- script compares whole strings and never calls string functions or methods.
--
-- KubeRay >= 1.3 reports status.conditions: Ready, UpgradeInProgress and (1.7)
-- RollbackInProgress. Older versions report only status.serviceStatus (the fallback below).

local hs = {status = "Progressing", message = "Waiting for KubeRay to report the RayService's status"}

-- Ready=False reasons that do not resolve by waiting: KubeRay stopped reconciling
-- (ValidationFailed, InitializingTimeout), or Serve was up and lost every endpoint.
local FAILED_READY_REASONS = {ValidationFailed = true, InitializingTimeout = true, ZeroServeEndpoints = true}
-- KubeRay < 1.3 status.serviceStatus values that mean failure.
local FAILED_SERVICE_STATUSES = {
  FailedToGetOrCreateRayCluster = true,
  FailedToGetServeDeploymentStatus = true,
  FailedToUpdateServingPodLabel = true,
  FailedToUpdateService = true,
}

local function find_condition(conditions, condition_type)
  if conditions == nil then return nil end
  for _, condition in ipairs(conditions) do
    if condition.type == condition_type then return condition end
  end
  return nil
end

local function describe(condition)
  local text = condition.message
  if text == nil or text == "" then text = condition.reason end
  if text == nil or text == "" then text = condition.type end
  return text
end

local status = obj.status
if status == nil then return hs end

local ready = find_condition(status.conditions, "Ready")

-- Before the generation check: on ValidationFailed KubeRay returns without updating
-- observedGeneration, so a bad spec would otherwise show as Progressing forever.
if ready ~= nil and ready.status == "False" and ready.reason ~= nil and FAILED_READY_REASONS[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.message = "KubeRay has not yet acted on the latest spec (generation " .. generation .. ")"
  return hs
end

for _, condition_type in ipairs({"UpgradeInProgress", "RollbackInProgress"}) do
  local moving = find_condition(status.conditions, condition_type)
  if moving ~= nil and moving.status == "True" then
    hs.message = condition_type .. ": " .. describe(moving)
    return hs
  end
end

if ready ~= nil then
  if ready.status == "True" then hs.status = "Healthy" end
  hs.message = describe(ready)
  return hs
end

-- KubeRay < 1.3: no conditions.
local service_status = status.serviceStatus
if service_status == "Running" then
  hs.status = "Healthy"
elseif service_status ~= nil and FAILED_SERVICE_STATUSES[service_status] then
  hs.status = "Degraded"
end
if service_status ~= nil and service_status ~= "" then hs.message = service_status end
return hs
