-- Tests the Argo CD health check and custom actions for sluice.dev/StreamJob (the chart's files/argocd/) with a real
-- Lua interpreter against the fixture objects in fixtures/*.json.
--
--   lua5.4 testbed/argocd/test.lua [fixture.json ...]     (run from anywhere; no arguments = every fixture)
--
-- Each fixture holds a StreamJob (`object`) and what to expect: the health status and a message fragment, and
-- which actions discovery enables. Every action is run on every fixture and must change exactly its own field
-- (a nonce + 1, or spec.state), nothing else. Scripts run in a sandbox with only what Argo CD's gopher-lua
-- (Lua 5.1: base and table libraries) offers, and are linted for what it would reject. Exits non-zero on failure.
local here = (arg and arg[0] or "test.lua"):match("^(.*)/[^/]*$") or "."
local root = here .. "/../.."
local ARGO = root .. "/charts/sluice-operator/files/argocd"
local cjson = require("cjson") -- Debian's lua-cjson (scripts/prereqs.sh installs it)

-- JSON as Argo CD hands objects to the scripts: null becomes nil (absent). lua-cjson decodes every number as
-- a float; Kubernetes' integer fields (nonces, counts) become Lua integers again, so an action that turns a
-- nonce into a float is still caught.
local function normalize(v)
  if v == cjson.null then
    return nil
  elseif type(v) == "number" then
    return math.tointeger(v) or v
  elseif type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do
      out[k] = normalize(x)
    end
    return out
  end
  return v
end

local json = {
  decode = function(s)
    return normalize(cjson.decode(s))
  end,
}

local failures, checks = 0, 0
local function check(ok, what)
  checks = checks + 1
  if not ok then
    failures = failures + 1
    io.stderr:write("FAIL: " .. what .. "\n")
  end
end

local function read(path)
  local f, err = io.open(path, "r")
  if not f then
    error("cannot open " .. tostring(err), 0)
  end
  local s = f:read("a")
  f:close()
  return s
end

local ACTIONS = { "savepoint", "restart", "suspend", "resume" }
local SCRIPTS = { health = ARGO .. "/health.lua", discovery = ARGO .. "/discovery.lua" }
for _, a in ipairs(ACTIONS) do
  SCRIPTS[a] = ARGO .. "/actions/" .. a .. "/action.lua"
end

-- What Argo CD's Lua VM gives a script (util/lua in Argo CD): gopher-lua with only the base, package and table
-- libraries and a reduced os; string and math are opened only with `useOpenLibs`, which these scripts do not
-- need. (Lua 5.4's string metatable cannot be hidden here, so the lint below rejects method calls instead.)
local function sandbox(obj)
  return {
    obj = obj,
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall, select = select,
    tonumber = tonumber, tostring = tostring, type = type, unpack = table.unpack,
    table = table,
  }
end

local function deepcopy(v)
  if type(v) ~= "table" then
    return v
  end
  local t = {}
  for k, x in pairs(v) do
    t[k] = deepcopy(x)
  end
  return t
end

-- Paths (a.b.c) where two values differ, sorted.
local function diff(a, b, path, out)
  out = out or {}
  -- A table that appears (a missing spec created by an action) is compared against an empty one, so only its
  -- leaves count as changes.
  if type(a) == "table" and b == nil then
    b = {}
  elseif a == nil and type(b) == "table" then
    a = {}
  end
  if type(a) == "table" and type(b) == "table" then
    local keys = {}
    for k in pairs(a) do
      keys[k] = true
    end
    for k in pairs(b) do
      keys[k] = true
    end
    for k in pairs(keys) do
      diff(a[k], b[k], path and (path .. "." .. tostring(k)) or tostring(k), out)
    end
  elseif a ~= b or math.type(a) ~= math.type(b) then
    out[#out + 1] = path or "<root>"
  end
  table.sort(out)
  return out
end

local function run(name, obj)
  local chunk, err = load(read(SCRIPTS[name]), "@" .. SCRIPTS[name], "t", sandbox(obj))
  if not chunk then
    error(err, 0)
  end
  return chunk()
end

-- Syntax gopher-lua (Lua 5.1) rejects: integer division, bitwise operators, goto/labels, attribs; libraries
-- Argo CD does not open (string, math, io, os beyond time/date) and method calls on strings. Strings and
-- comments are removed first so prose does not trip the lint.
local function lint(name)
  local code = read(SCRIPTS[name]):gsub("%-%-[^\n]*", ""):gsub('"[^"\n]*"', '""'):gsub("'[^'\n]*'", "''")
  for _, bad in ipairs({ "//", "goto", "::", "<const>", "<close>", "&", "|", "<<", ">>", "~[^=]",
    "string%.", "math%.", "utf8%.", "io%.", "os%.", "require", "load", "dofile", ":%s*[%a_][%w_]*%s*[%(\"'{]" }) do
    check(not code:find(bad), name .. ": uses `" .. bad:gsub("%%", "") .. "` (not available in Argo CD's Lua)")
  end
end

-- What each action must change, given the object before it ran: {path = expected value}.
local function expected_change(action, before)
  local spec = before.spec or {}
  if action == "savepoint" then
    return { ["spec.savepointTriggerNonce"] = (spec.savepointTriggerNonce or 0) + 1 }
  elseif action == "restart" then
    return { ["spec.restartNonce"] = (spec.restartNonce or 0) + 1 }
  elseif action == "suspend" then
    return spec.state ~= "suspended" and { ["spec.state"] = "suspended" } or {}
  else
    return spec.state ~= "running" and { ["spec.state"] = "running" } or {}
  end
end

local function get(obj, path)
  local v = obj
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" then
      return nil
    end
    v = v[part]
  end
  return v
end

-- Checks that `after` differs from `before` exactly at the expected paths, with the expected values. Returns
-- the list of problems (empty = fine) so the checker itself can be tested.
local function action_problems(action, before, after)
  local problems = {}
  if type(after) ~= "table" then
    return { action .. " returned " .. type(after) .. ", not the object" }
  end
  local want = expected_change(action, before)
  local changed = diff(before, after)
  local seen = {}
  for _, p in ipairs(changed) do
    -- A missing spec created empty shows up as its new leaf, which must be one of the expected paths.
    if want[p] == nil then
      problems[#problems + 1] = action .. " changed " .. p .. " (must not)"
    end
    seen[p] = true
  end
  for p, v in pairs(want) do
    if not seen[p] then
      problems[#problems + 1] = action .. " did not change " .. p
    elseif get(after, p) ~= v or math.type(get(after, p)) ~= math.type(v) then
      problems[#problems + 1] = string.format("%s set %s = %s, want %s", action, p, tostring(get(after, p)), tostring(v))
    end
  end
  return problems
end

local function fixture_files()
  if #arg > 0 then
    return arg
  end
  local files = {}
  local p = assert(io.popen('ls "' .. here .. '/fixtures/"*.json'))
  for line in p:lines() do
    files[#files + 1] = line
  end
  p:close()
  return files
end

for name in pairs(SCRIPTS) do
  lint(name)
end

-- The checker must catch an action that touches anything else (here: a label) or bumps by the wrong amount.
do
  local before = { metadata = { labels = { a = "b" } }, spec = { restartNonce = 1 } }
  local sneaky = deepcopy(before)
  sneaky.spec.restartNonce = 2
  sneaky.metadata.labels.a = "c"
  check(#action_problems("restart", before, sneaky) == 1, "checker misses an extra change")
  local wrong = deepcopy(before)
  wrong.spec.restartNonce = 3
  check(#action_problems("restart", before, wrong) == 1, "checker misses a wrong nonce value")
  local float = deepcopy(before)
  float.spec.restartNonce = 2.0
  check(#action_problems("restart", before, float) == 1, "checker misses a nonce that became a float")
end

-- The fixture decoding: values, escapes, null as absent, integral numbers as integers, and rejection of
-- malformed input.
do
  local v = json.decode('{"a": [1, 2.5, -3e2, "x\\u00e9\\n"], "b": null, "c": true, "d": {}}')
  check(v.a[1] == 1 and math.type(v.a[1]) == "integer", "json: 1 is not the integer 1")
  check(v.a[2] == 2.5 and math.type(v.a[2]) == "float", "json: 2.5")
  check(v.a[3] == -300 and math.type(v.a[3]) == "integer", "json: -3e2 is not the integer -300")
  check(v.a[4] == "x\u{e9}\n", "json: string escapes")
  check(v.b == nil and v.c == true and next(v.d) == nil, "json: null/true/{}")
  for _, bad in ipairs({ "{", '{"a" 1}', "[1,]", '"\\q"', "[1] x", "tru" }) do
    check(not pcall(json.decode, bad), "json: accepts malformed " .. bad)
  end
end

local statuses = {}
local files = fixture_files()
check(#files > 0, "no fixtures found")
for _, file in ipairs(files) do
  local ok, err = pcall(function()
    local case = json.decode(read(file))
    local label = file:match("([^/]+)%.json$") or file
    local want = case.expect

    local hs = run("health", deepcopy(case.object))
    check(type(hs) == "table", label .. ": health returned " .. type(hs))
    hs = hs or {}
    statuses[hs.status or "?"] = true
    check(hs.status == want.health.status,
      string.format("%s: health %s, want %s (%s)", label, tostring(hs.status), want.health.status, tostring(hs.message)))
    check(type(hs.message) == "string" and hs.message:find(want.health.messageContains, 1, true) ~= nil,
      string.format("%s: health message %q lacks %q", label, tostring(hs.message), want.health.messageContains))

    local offered = run("discovery", deepcopy(case.object)) or {}
    for _, a in ipairs(ACTIONS) do
      check(offered[a] ~= nil, label .. ": discovery does not list " .. a)
      local enabled = offered[a] ~= nil and not offered[a].disabled
      check(enabled == want.actionsEnabled[a],
        string.format("%s: action %s enabled=%s, want %s", label, a, tostring(enabled), tostring(want.actionsEnabled[a])))
      check(offered[a] == nil or type(offered[a].iconClass) == "string", label .. ": action " .. a .. " has no icon")

      local before = deepcopy(case.object)
      local after = run(a, deepcopy(case.object))
      for _, problem in ipairs(action_problems(a, before, after)) do
        check(false, label .. ": " .. problem)
      end
      -- Applying the action's result again must keep converging (suspend twice = suspended once).
      if a == "suspend" or a == "resume" then
        local again = run(a, deepcopy(after))
        check(#diff(after, again) == 0, label .. ": " .. a .. " is not idempotent")
      end
    end
    for a in pairs(offered) do
      check(want.actionsEnabled[a] ~= nil, label .. ": discovery offers an unexpected action " .. tostring(a))
    end
  end)
  check(ok, file .. ": " .. tostring(err))
end
for _, s in ipairs({ "Healthy", "Progressing", "Degraded", "Suspended" }) do
  check(statuses[s], "no fixture produces health " .. s)
end

print(string.format("argocd lua: %d fixtures, %d checks, %d failed", #files, checks, failures))
os.exit(failures == 0 and 0 or 1)
