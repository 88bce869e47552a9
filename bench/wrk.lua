-- wrk.lua: the request and the report for every bench/run scenario.
--
-- The request is fixed for the whole run (method, body, bearer token from
-- the environment), so wrk builds it once and no Lua runs per request;
-- except with BENCH_FRESH_MAC=1, where each request is a registration of
-- a MAC never sent before (02:xx:..., locally administered, xx the wrk
-- thread), so no earlier key of the same machine has to be expired.
-- done() prints one machine-readable line that bench/run parses:
--   BENCH requests=N non2xx=N errors=N duration_us=N bytes=N p50_us=N p99_us=N

local method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
local token = os.getenv("BENCH_TOKEN")
local fresh = os.getenv("BENCH_FRESH_MAC") == "1"

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

-- Runs in the main state: numbers each thread.
local threads = 0
function setup(thread)
	thread:set("thread_no", threads)
	threads = threads + 1
end

local sent = 0
if fresh then
	request = function()
		local n = sent
		sent = sent + 1
		local mac = string.format("02:%02x:%02x:%02x:%02x:%02x",
		    (thread_no or 0) % 256, math.floor(n / 16777216) % 256,
		    math.floor(n / 65536) % 256, math.floor(n / 256) % 256,
		    n % 256)
		return wrk.format(nil, nil, nil,
		    string.format('{"hostname":"bench-node","mac":"%s"}', mac))
	end
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
