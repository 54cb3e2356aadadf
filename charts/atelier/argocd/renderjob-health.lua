-- Argo CD resource health check for atelier.dev/RenderJob (resource.customizations.health.atelier.dev_RenderJob).
-- It owns one decision: how a RenderJob's status maps onto Argo CD's health states. Argo CD runs it
-- with the live object in `obj` and expects a table {status, message} back. The order matters:
--   1. no status yet, or a status older than the spec (observedGeneration < generation): Progressing,
--      because the operator has not looked at this version of the job; nothing else can be trusted;
--   2. Failed phase or a True Failed condition, or Accepted=False (the operator rejected the spec): Degraded;
--   3. Succeeded: Healthy, unless a Settled condition is not True yet (Progressing while escrows settle);
--   4. Suspended (phase, or spec.suspend while shards drain): Suspended;
--   5. Pending and Running: Progressing, with the shard progress as the message.
-- Tested with fengari against sample objects in cdk8s/argocd-health.test.ts.
local hs = {}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function nonEmpty(s)
  return s ~= nil and s ~= ""
end

local function progress(status)
  if nonEmpty(status.progress) then
    return status.progress .. " shards succeeded"
  end
  local shards = status.shards
  if shards ~= nil and shards.total ~= nil then
    return string.format("%d/%d shards succeeded", math.floor(shards.succeeded or 0), math.floor(shards.total))
  end
  return nil
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = string.format("waiting for the operator to observe generation %d", math.floor(generation))
  return hs
end

local failed = condition(status, "Failed")
local accepted = condition(status, "Accepted")
if status.phase == "Failed" or (failed ~= nil and failed.status == "True") then
  hs.status = "Degraded"
  if failed ~= nil and failed.status == "True" and nonEmpty(failed.message) then
    hs.message = failed.message
  elseif accepted ~= nil and accepted.status == "False" and nonEmpty(accepted.message) then
    hs.message = "spec rejected: " .. accepted.message
  else
    hs.message = "the job failed"
  end
  return hs
end
if accepted ~= nil and accepted.status == "False" then
  hs.status = "Degraded"
  hs.message = "spec rejected: " .. (accepted.message or accepted.reason or "invalid")
  return hs
end

if status.phase == "Succeeded" then
  -- A settled job (spec.settlement.enabled) is done only once its escrows are released or refunded.
  local settled = condition(status, "Settled")
  if settled ~= nil and settled.status ~= "True" then
    hs.status = "Progressing"
    hs.message = "settling: " .. (settled.message or settled.reason or "escrows open")
    return hs
  end
  hs.status = "Healthy"
  local complete = condition(status, "Complete")
  if complete ~= nil and nonEmpty(complete.message) then
    hs.message = complete.message
  else
    hs.message = progress(status) or "all shards succeeded"
  end
  return hs
end

if status.phase == "Suspended" or (obj.spec ~= nil and obj.spec.suspend == true) then
  hs.status = "Suspended"
  local p = progress(status)
  hs.message = "suspended" .. (p and (": " .. p) or "")
  return hs
end

hs.status = "Progressing"
local p = progress(status)
if status.phase == "Pending" then
  local scheduled = condition(status, "Scheduled")
  if scheduled ~= nil and scheduled.status == "False" and nonEmpty(scheduled.message) then
    hs.message = "pending: " .. scheduled.message
  else
    hs.message = "pending" .. (p and (": " .. p) or "")
  end
else
  hs.message = (status.phase or "Running") .. (p and (": " .. p) or "")
end
return hs
