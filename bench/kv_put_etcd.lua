-- POST /v3/kv/put {"key": base64("bench/<n>"), "value": base64 of 64 bytes}.
local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function enc(s)
  return ((s:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return b64:sub(c + 1, c + 1)
  end) .. ({ '', '==', '=' })[#s % 3 + 1])
end
local keys = {}
for i = 0, 9999 do keys[i] = enc("bench/" .. i) end
local value = enc(string.rep("x", 64))
local n = 0
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = (n + 1) % 10000
  return wrk.format("POST", "/v3/kv/put", nil,
    '{"key":"' .. keys[n] .. '","value":"' .. value .. '"}')
end
