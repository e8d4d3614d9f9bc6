-- Argo CD health of an argoproj.io/Application, as Argo CD's health docs give it
-- ("Argocd App"). Argo CD 1.8 stopped assessing child Applications, so without this the
-- root Application's sync waves would not wait for kuberay-crds and kuberay-operator to be
-- Healthy before the next wave: the operator and the RayServices could start too early.
local hs = {status = "Progressing", message = ""}
if obj.status ~= nil and obj.status.health ~= nil and obj.status.health.status ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then hs.message = obj.status.health.message end
end
return hs
