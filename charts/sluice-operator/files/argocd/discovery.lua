-- Argo CD action discovery for sluice.dev/StreamJob: which custom actions the UI offers, enabled per state.
-- Nonce bumps ask the operator for a one-off savepoint or restart; spec.state suspends (stop with a savepoint,
-- remove the pods) and resumes (restore from it).
local actions = {}
local spec = obj.spec or {}
local lifecycle = (obj.status or {}).lifecycleState
local suspended = spec.state == "suspended"
-- A savepoint needs running workers to take it.
local running = lifecycle == "RUNNING" or lifecycle == "STABLE"

actions["savepoint"] = { ["disabled"] = suspended or not running, ["iconClass"] = "fa fa-fw fa-save" }
actions["restart"] = { ["disabled"] = suspended, ["iconClass"] = "fa fa-fw fa-redo" }
actions["suspend"] = { ["disabled"] = suspended, ["iconClass"] = "fa fa-fw fa-pause" }
actions["resume"] = { ["disabled"] = not suspended, ["iconClass"] = "fa fa-fw fa-play" }
return actions
