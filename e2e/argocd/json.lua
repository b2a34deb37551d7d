-- A small, strict JSON decoder for the Argo CD test fixtures (Lua has no JSON or YAML parser built in).
-- Objects become tables, arrays become sequences, null becomes nil (as in Argo CD's own conversion), numbers
-- without fraction or exponent become Lua integers. Errors name the byte offset.
local M = {}

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function fail(pos, what)
  error(string.format("json: %s at byte %d", what, pos), 0)
end

local function skip(s, pos)
  return s:find("[^ \t\r\n]", pos) or #s + 1
end

local function utf8_char(code)
  return utf8.char(code)
end

local decode_value

local function decode_string(s, pos)
  -- pos is at the opening quote
  local out = {}
  local i = pos + 1
  while true do
    local c = s:sub(i, i)
    if c == "" then
      fail(pos, "unterminated string")
    elseif c == '"' then
      return table.concat(out), i + 1
    elseif c == "\\" then
      local e = s:sub(i + 1, i + 1)
      if escapes[e] then
        out[#out + 1] = escapes[e]
        i = i + 2
      elseif e == "u" then
        local hex = s:sub(i + 2, i + 5)
        if not hex:match("^%x%x%x%x$") then
          fail(i, "bad \\u escape")
        end
        local code = tonumber(hex, 16)
        i = i + 6
        if code >= 0xD800 and code <= 0xDBFF then
          local low = s:match("^\\u(%x%x%x%x)", i)
          if not low then
            fail(i, "lone high surrogate")
          end
          code = 0x10000 + (code - 0xD800) * 0x400 + (tonumber(low, 16) - 0xDC00)
          i = i + 6
        end
        out[#out + 1] = utf8_char(code)
      else
        fail(i, "bad escape")
      end
    elseif c:byte() < 0x20 then
      fail(i, "control character in string")
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
end

local function decode_number(s, pos)
  -- JSON grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [-+]? [0-9]+)?
  local int = s:match("^-?0", pos) or s:match("^-?[1-9]%d*", pos)
  if not int then
    fail(pos, "bad number")
  end
  local i = pos + #int
  local frac = s:match("^%.%d+", i) or ""
  i = i + #frac
  local exp = s:match("^[eE][-+]?%d+", i) or ""
  i = i + #exp
  if s:match("^[%d.eE]", i) then
    fail(pos, "bad number")
  end
  local text = int .. frac .. exp
  local n
  if frac == "" and exp == "" then
    n = math.tointeger(tonumber(text))
  end
  if n == nil then
    n = tonumber(text)
  end
  return n, i
end

local function decode_array(s, pos)
  local arr = {}
  local n = 0
  pos = skip(s, pos + 1)
  if s:sub(pos, pos) == "]" then
    return arr, pos + 1
  end
  while true do
    local v
    v, pos = decode_value(s, pos)
    n = n + 1
    arr[n] = v
    pos = skip(s, pos)
    local c = s:sub(pos, pos)
    if c == "]" then
      return arr, pos + 1
    elseif c ~= "," then
      fail(pos, "expected , or ] in array")
    end
    pos = skip(s, pos + 1)
  end
end

local function decode_object(s, pos)
  local obj = {}
  pos = skip(s, pos + 1)
  if s:sub(pos, pos) == "}" then
    return obj, pos + 1
  end
  while true do
    if s:sub(pos, pos) ~= '"' then
      fail(pos, "expected a string key")
    end
    local key
    key, pos = decode_string(s, pos)
    pos = skip(s, pos)
    if s:sub(pos, pos) ~= ":" then
      fail(pos, "expected :")
    end
    local v
    v, pos = decode_value(s, skip(s, pos + 1))
    obj[key] = v
    pos = skip(s, pos)
    local c = s:sub(pos, pos)
    if c == "}" then
      return obj, pos + 1
    elseif c ~= "," then
      fail(pos, "expected , or } in object")
    end
    pos = skip(s, pos + 1)
  end
end

decode_value = function(s, pos)
  pos = skip(s, pos)
  local c = s:sub(pos, pos)
  if c == "{" then
    return decode_object(s, pos)
  elseif c == "[" then
    return decode_array(s, pos)
  elseif c == '"' then
    return decode_string(s, pos)
  elseif c == "-" or c:match("%d") then
    return decode_number(s, pos)
  elseif s:sub(pos, pos + 3) == "true" then
    return true, pos + 4
  elseif s:sub(pos, pos + 4) == "false" then
    return false, pos + 5
  elseif s:sub(pos, pos + 3) == "null" then
    return nil, pos + 4
  end
  fail(pos, "unexpected " .. (c == "" and "end of input" or ("'" .. c .. "'")))
end

function M.decode(s)
  local v, pos = decode_value(s, 1)
  pos = skip(s, pos)
  if pos <= #s then
    fail(pos, "trailing data")
  end
  return v
end

return M
