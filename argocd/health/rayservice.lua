-- Argo CD health of a ray.io/RayService (argocd-cm key
-- resource.customizations.health.ray.io_RayService, set by argocd/kustomization.yaml).
-- Argo CD calls it with the object in the global `obj` and takes the returned table.
-- Argo CD opens only Lua's base, table and package libraries (and os.time/os.date): no string
-- library, so this script compares whole strings, joins them with `..`, and never calls
-- string functions or methods.
--
-- Sources: KubeRay ray-operator/controllers/ray/rayservice_controller.go ("controller@<tag>")
-- and ray-operator/apis/ray/v1/rayservice_types.go, at v1.1.1 and v1.7.0. The status objects
-- in tests/unit/test_health_lua.py are built from the same lines.
--
-- KubeRay's Ready condition means only "more than zero serve endpoints" (calculateConditions,
-- controller@v1.7.0 L795-798), so the Serve applications' own statuses decide: those of
-- status.activeServiceStatus and of status.pendingServiceStatus, the cluster KubeRay is
-- bringing up (on a first deploy and during an upgrade). KubeRay >= 1.3 also writes
-- status.conditions (Ready, UpgradeInProgress; RollbackInProgress, Suspending and Suspended
-- in 1.7); older versions write only status.serviceStatus.
--
-- A gap no status field closes (controller@v1.7.0 reconcileServe L2043-2051): on an in-place
-- Serve update KubeRay reads the applications' statuses before it submits the new config, and
-- writes those with the new observedGeneration. For one reconcile (2 s) the old RUNNING
-- statuses stand for the new config.

local hs = {status = "Progressing", message = "Waiting for KubeRay to report the RayService's status"}

-- Ready=False reasons that do not resolve by waiting: KubeRay stopped reconciling
-- (ValidationFailed, InitializingTimeout), or Serve was up and lost every endpoint.
local FAILED_READY_REASONS = {ValidationFailed = true, InitializingTimeout = true, ZeroServeEndpoints = true}
-- KubeRay < 1.3 status.serviceStatus values that mean failure (FailedToGetServeDeploymentStatus
-- has its own message below).
local FAILED_SERVICE_STATUSES = {
  FailedToGetOrCreateRayCluster = true,
  FailedToUpdateServingPodLabel = true,
  FailedToUpdateService = true,
}
-- Ray Serve application statuses that are failures (ApplicationStatusEnum, rayservice_types.go).
local FAILED_APP_STATUSES = {DEPLOY_FAILED = true, UNHEALTHY = true}

local function find_condition(conditions, condition_type)
  if conditions == nil then return nil end
  for _, condition in ipairs(conditions) do
    if condition.type == condition_type then return condition end
  end
  return nil
end

local function is_true(condition) return condition ~= nil and condition.status == "True" end

local function describe(condition)
  local text = condition.message
  if text == nil or text == "" then text = condition.reason end
  if text == nil or text == "" then text = condition.type end
  return text
end

-- One cluster's applications (status.*ServiceStatus.applicationStatuses, a map by name), in name
-- order: Lua's pairs has none, and the message must not change from one evaluation to the next.
local function add_applications(service_status, role, into)
  if service_status == nil or service_status.applicationStatuses == nil then return end
  local names = {}
  for name in pairs(service_status.applicationStatuses) do table.insert(names, name) end
  table.sort(names)
  for _, name in ipairs(names) do
    local app = service_status.applicationStatuses[name]
    table.insert(into, {name = name, status = app.status or "", message = app.message or "",
                        role = role, cluster = service_status.rayClusterName or ""})
  end
end

local function where(app)
  local state = app.status
  if state == "" then state = "without a status" end
  local text = "application " .. app.name .. " is " .. state .. " on the " .. app.role .. " RayCluster"
  if app.cluster ~= "" then text = text .. " " .. app.cluster end
  return text
end

local status = obj.status
if status == nil then return hs end
local conditions = status.conditions
local has_conditions = conditions ~= nil and #conditions > 0
local ready = find_condition(conditions, "Ready")

-- 1. KubeRay gave up. Before the generation check: on ValidationFailed KubeRay returns without
-- updating observedGeneration (Reconcile, controller@v1.7.0 L155-169).
if ready ~= nil and ready.status == "False" and ready.reason ~= nil and FAILED_READY_REASONS[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

-- 2. spec.suspend (1.7, handleSuspend L383-465): Suspending=True while KubeRay deletes the
-- clusters and Services, then Suspended=True. Before the generation check: KubeRay does not
-- reconcile a suspended RayService, so an edit made meanwhile leaves observedGeneration behind.
local suspended = find_condition(conditions, "Suspended")
if is_true(suspended) then
  if obj.spec ~= nil and obj.spec.suspend == true then
    hs.status = "Suspended"
    hs.message = describe(suspended)
  else  -- spec.suspend is false again: KubeRay's next reconcile resumes it (L390-405)
    hs.message = "Resuming: spec.suspend is false, so KubeRay creates the RayCluster again"
  end
  return hs
end
local suspending = find_condition(conditions, "Suspending")
if is_true(suspending) then
  hs.message = "Suspending: " .. describe(suspending)
  return hs
end

-- The applications. During a rollback (1.7) the pending cluster is being phased out and gets
-- no new Serve config (reconcileServe L2034-2040), so its applications no longer count.
local applications = {}
add_applications(status.activeServiceStatus, "active", applications)
if not is_true(find_condition(conditions, "RollbackInProgress")) then
  add_applications(status.pendingServiceStatus, "pending", applications)
end
local failed, waiting = {}, {}
for _, app in ipairs(applications) do
  if FAILED_APP_STATUSES[app.status] then
    table.insert(failed, app)
  elseif app.status ~= "RUNNING" then
    table.insert(waiting, app)
  end
end
local pending_cluster = ""
if status.pendingServiceStatus ~= nil and status.pendingServiceStatus.rayClusterName ~= nil then
  pending_cluster = status.pendingServiceStatus.rayClusterName
end

-- 3. Has KubeRay acted on the latest spec? KubeRay < 1.3 writes the status only when
-- serviceStatus, the endpoints or the applications change, never for observedGeneration alone
-- (inconsistentRayServiceStatuses, controller@v1.1.1 L219 and L304-327): after a spec change
-- that needs no action (worker replicas, which 1.1.1 ignores: shouldPrepareNewRayCluster
-- L535-550) it stays behind for good. There, a settled status is the answer: no pending
-- cluster, and every application RUNNING, or one failed. (>= 1.3 writes it on every reconcile
-- that gets as far as calculateStatus: the conditions carry it, controller@v1.7.0 L653 and
-- L820-829.)
local generation = obj.metadata.generation
local observed = status.observedGeneration or 0
if generation ~= nil and observed < generation then
  local settled = not has_conditions and pending_cluster == "" and #applications > 0 and
    (#failed > 0 or (#waiting == 0 and status.serviceStatus == "Running"))
  if not settled then
    hs.message = "KubeRay has not yet acted on the latest spec (generation " .. generation .. ")"
    return hs
  end
end

-- 4. A failed application, on the active cluster or on the one being brought up.
if #failed > 0 then
  local app = failed[1]
  hs.status = "Degraded"
  hs.message = where(app)
  if app.message ~= "" then hs.message = hs.message .. ": " .. app.message end
  if #failed > 1 then hs.message = hs.message .. " (and " .. (#failed - 1) .. " more failed)" end
  return hs
end

local function and_waiting(text)
  if #waiting == 0 then return text end
  return text .. "; " .. where(waiting[1])
end

-- Serving: Healthy only once every application is RUNNING.
local function serving(note)
  if #waiting > 0 then
    hs.message = and_waiting(note)
  elseif #applications == 0 then
    hs.message = note .. "; KubeRay has not reported the Serve applications' statuses yet"
  else
    hs.status = "Healthy"
    hs.message = "All " .. #applications .. " Serve applications RUNNING (" .. note .. ")"
  end
  return hs
end

-- 5. KubeRay >= 1.3.
for _, condition_type in ipairs({"RollbackInProgress", "UpgradeInProgress"}) do
  local moving = find_condition(conditions, condition_type)
  if is_true(moving) then
    hs.message = and_waiting(condition_type .. ": " .. describe(moving))
    return hs
  end
end
if ready ~= nil then
  if ready.status == "True" then return serving(describe(ready)) end
  hs.message = and_waiting(describe(ready))
  return hs
end

-- 6. KubeRay < 1.3: status.serviceStatus only.
local service_status = status.serviceStatus or ""
if service_status == "FailedToGetServeDeploymentStatus" then
  -- Written when the dashboard does not answer (reconcileServe, controller@v1.1.1 L1096-1098).
  -- That also happens while a new head Pod's dashboard starts, and no status field tells the
  -- two apart: updateState (L366-373) writes no timestamp, and the applications' statuses
  -- stay as they were.
  hs.status = "Degraded"
  hs.message = "FailedToGetServeDeploymentStatus: KubeRay cannot read the Serve applications' statuses from " ..
    "the Ray dashboard. Transient while a new head Pod's dashboard starts; a failure if it persists"
  return hs
end
if FAILED_SERVICE_STATUSES[service_status] then
  hs.status = "Degraded"
  hs.message = service_status
  return hs
end
if pending_cluster ~= "" then
  hs.message = and_waiting(service_status .. ": bringing up the pending RayCluster " .. pending_cluster)
  return hs
end
if service_status == "Running" then return serving(service_status) end
if service_status ~= "" then hs.message = and_waiting(service_status) end
return hs
