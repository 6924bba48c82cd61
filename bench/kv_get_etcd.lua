wrk.headers["Content-Type"] = "application/json"
request = function()
  -- base64("bench/key")
  return wrk.format("POST", "/v3/kv/range", nil, '{"key":"YmVuY2gva2V5"}')
end
