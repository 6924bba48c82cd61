request = function()
  return wrk.format("GET", "/v1/kv/bench/key")
end
