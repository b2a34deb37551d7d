-- Argo CD health check for sluice.dev/StreamJob.
-- Input: the live object as `obj`. Output: { status = Healthy|Progressing|Degraded|Suspended|Unknown, message }.
-- Runs in Argo CD's Lua 5.1 sandbox (gopher-lua: base and table libraries only, no string or math) and is
-- tested with Lua 5.4 (testbed/argocd/test.lua): no string methods, no integer-only operators.
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

-- "Reason: message" of a condition, or the fallback when the condition says nothing.
local function explain(c, fallback)
  if c == nil then
    return fallback
  end
  local text = c.message
  if text == nil or text == "" then
    text = fallback
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.reason .. ": " .. text
  end
  return text
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

local status = obj.status
local spec = obj.spec or {}
local generation = (obj.metadata or {}).generation

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to pick up the StreamJob"
  return hs
end

-- Everything below describes the generation the operator last acted on; a newer spec is not reflected yet.
local observed = status.observedGeneration
if observed == nil or (generation ~= nil and observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile generation " .. tostring(generation) ..
    " (observed " .. tostring(observed) .. ")"
  return hs
end

local state = status.lifecycleState
local ready = condition(status, "Ready")
local progressing = condition(status, "Progressing")
local degraded = condition(status, "Degraded")

if state == "FAILED" then
  hs.status = "Degraded"
  hs.message = "FAILED: " .. explain(degraded, "the job failed; see the StreamJob's events")
  return hs
end
-- A rollback means the desired spec did not become ready: the job runs (or will run) the last stable spec.
if state == "ROLLING_BACK" or state == "ROLLED_BACK" then
  hs.status = "Degraded"
  hs.message = state .. ": " .. explain(degraded, "the new spec was not ready in time; running the last stable spec")
  return hs
end
if is_true(degraded) then
  hs.status = "Degraded"
  hs.message = explain(degraded, "degraded")
  return hs
end

if spec.state == "suspended" then
  if state == "SUSPENDED" then
    hs.status = "Suspended"
    hs.message = explain(ready, "Suspended (stopped with a savepoint)")
  else
    hs.status = "Progressing"
    hs.message = "Suspending: stopping with a savepoint (lifecycle " .. tostring(state) .. ")"
  end
  return hs
end
if state == "SUSPENDED" then
  hs.status = "Progressing"
  hs.message = "Resuming from the suspend savepoint"
  return hs
end

if state == "CREATED" or state == "DEPLOYING" or state == "UPGRADING" then
  hs.status = "Progressing"
  hs.message = state .. ": " .. explain(progressing, "in progress")
  return hs
end

if state == "RUNNING" or state == "STABLE" then
  if is_true(progressing) then
    hs.status = "Progressing"
    hs.message = state .. ": " .. explain(progressing, "in progress")
  elseif is_true(ready) then
    hs.status = "Healthy"
    hs.message = state .. ": " .. explain(ready, "all workers ready")
  else
    hs.status = "Progressing"
    hs.message = state .. ": waiting for the workers to be ready (" .. explain(ready, "no Ready condition yet") .. ")"
  end
  return hs
end

if state == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a lifecycle state"
  return hs
end
hs.status = "Unknown"
hs.message = "Unrecognized lifecycle state " .. tostring(state)
return hs
