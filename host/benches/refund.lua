-- wrk script: one refund per request through `payops serve`, each with an
-- order and Idempotency-Key of its own; the token is the benchmark's.
-- docs/performance.md ("Measuring by hand") shows how it is run.
local n = 0
local tid = 0
setup = function(thread) tid = tid + 1; thread:set("tid", tid) end
request = function()
  n = n + 1
  local order = "W" .. tid .. "-" .. os.time() .. "-" .. n
  local body = '{"order_ref":"' .. order .. '","amount":1}'
  wrk.headers["Authorization"] = "Bearer bench-token-0123456789"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Idempotency-Key"] = "k-" .. order
  return wrk.format("POST", "/v1/accounts/esnek/operations/refund", nil, body)
end
response = function(status, headers, body)
  if status ~= 200 then print(status, body) end
end
