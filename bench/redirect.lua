-- wrk script for redirect runs of `make bench` (scripts/bench).
--
--   wrk ... -s bench/redirect.lua http://127.0.0.1:PORT/ -- CODES_FILE [seq [START]]
--
-- init() reads the codes (one per line) and pre-formats one GET per code,
-- so request() only picks one: a random known code per request, or with
-- "seq" every code in turn from line START+1 on (the warm-up passes that
-- fill shorty's cache; a pass resumes where the previous one stopped).
-- Headers given with -H (e.g. 'Connection: close') are part of each
-- pre-formatted request. done() prints one JSON line for the driver.

local reqs = {}
local n = 0
local seq = false
local i = 0

function init(args)
	local path = args[1]
	if path == nil then
		error("usage: wrk ... -s redirect.lua URL -- CODES_FILE [seq]")
	end
	seq = (args[2] == "seq")
	i = tonumber(args[3] or "0") or 0
	local f = assert(io.open(path, "r"))
	for line in f:lines() do
		if #line > 0 then
			n = n + 1
			reqs[n] = wrk.format("GET", "/" .. line)
		end
	end
	f:close()
	if n == 0 then
		error("no codes in " .. path)
	end
	i = i % n
	math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
	if seq then
		i = i % n + 1
		return reqs[i]
	end
	return reqs[math.random(n)]
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
		'"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,' ..
		'"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
		summary.requests, summary.duration, summary.bytes,
		e.connect, e.read, e.write, e.status, e.timeout,
		latency:percentile(50), latency:percentile(90),
		latency:percentile(99), latency.max))
end
