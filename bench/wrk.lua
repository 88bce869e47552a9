-- wrk.lua: the request and the report for every bench/run scenario.
--
-- The request is fixed for the whole run (method, body, bearer token from
-- the environment), so wrk builds it once and no Lua runs per request.
-- done() prints one machine-readable line that bench/run parses:
--   BENCH requests=N non2xx=N errors=N duration_us=N bytes=N p50_us=N p99_us=N

local method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
local token = os.getenv("BENCH_TOKEN")

if method and method ~= "" then
	wrk.method = method
end
if body and body ~= "" then
	wrk.body = body
	wrk.headers["Content-Type"] = "application/json"
end
if token and token ~= "" then
	wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
	    "BENCH requests=%d non2xx=%d errors=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d\n",
	    summary.requests, e.status,
	    e.connect + e.read + e.write + e.timeout,
	    summary.duration, summary.bytes,
	    latency:percentile(50), latency:percentile(99)))
end
