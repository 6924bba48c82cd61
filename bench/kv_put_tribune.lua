-- PUT /v1/kv/bench/<n> with a 64-byte body, n cycling over 10,000 keys.
local n = 0
local body = string.rep("x", 64)
request = function()
  n = (n + 1) % 10000
  return wrk.format("PUT", "/v1/kv/bench/" .. n, nil, body)
end
