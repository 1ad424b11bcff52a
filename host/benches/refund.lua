-- wrk script: one refund per request through `payops serve`, each with an
-- order and Idempotency-Key of its own; the token is the benchmark's.
-- docs/performance.md ("Measuring by hand") shows how it is run.
--
-- Each thread gets a prefix of its own (48 random bits from the kernel), so
-- two threads, or two runs started in the same second, do not repeat a key;
-- an order reference stays within EsnekPOS's 24 characters.
-- (`setup` runs in wrk's main Lua state; `thread:set` makes a global of the
-- thread's own state, which a chunk-level `local` of the same name would
-- hide.)
setup = function(thread)
  local f = assert(io.open("/proc/sys/kernel/random/uuid"))
  thread:set("prefix", (f:read("*l"):gsub("-", "")):sub(1, 12))
  f:close()
end
local n = 0
request = function()
  n = n + 1
  local order = "W" .. prefix .. "-" .. n
  local body = '{"order_ref":"' .. order .. '","amount":1}'
  wrk.headers["Authorization"] = "Bearer bench-token-0123456789"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Idempotency-Key"] = "k-" .. order
  return wrk.format("POST", "/v1/accounts/esnek/operations/refund", nil, body)
end
response = function(status, headers, body)
  if status ~= 200 or not body:find('"succeeded"', 1, true) then print(status, body) end
end
