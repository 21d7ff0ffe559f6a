-- wrk script for the create run of `make bench` (scripts/bench).
--
--   wrk ... -s bench/create.lua http://127.0.0.1:PORT/ -- API_KEY URL_PREFIX
--
-- Each request is POST /rest/v3/short-urls with a distinct longUrl
-- (URL_PREFIX .. thread number .. "/" .. counter) and findIfExists false,
-- so every request makes a new link. response() counts answers by status
-- (anything but 200 is a failed create); done() prints one JSON line.

-- Globals (not locals) where the main Lua state reads them back per
-- thread in done(): tid is set by setup(), counter/ok/bad are read.
local key, prefix
local threads = {}
counter = 0
tid = 0

function setup(thread)
	table.insert(threads, thread)
	thread:set("tid", #threads)
end

function init(args)
	key = args[1]
	prefix = args[2]
	if key == nil or prefix == nil then
		error("usage: wrk ... -s create.lua URL -- API_KEY URL_PREFIX")
	end
	ok, bad = 0, 0
	wrk.method = "POST"
	wrk.path = "/rest/v3/short-urls"
	wrk.headers["X-Api-Key"] = key
	wrk.headers["Content-Type"] = "application/json"
end

function request()
	counter = counter + 1
	local body = '{"longUrl":"' .. prefix .. tid .. "/" .. counter ..
		'","findIfExists":false}'
	return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
	if status == 200 then
		ok = ok + 1
	else
		bad = bad + 1
		if bad <= 3 then
			io.stderr:write("create.lua: status " .. status .. ": " ..
				string.sub(body or "", 1, 300) .. "\n")
		end
	end
end

function done(summary, latency, requests)
	local ok_total, bad_total, sent = 0, 0, 0
	for _, t in ipairs(threads) do
		ok_total = ok_total + (t:get("ok") or 0)
		bad_total = bad_total + (t:get("bad") or 0)
		sent = sent + (t:get("counter") or 0)
	end
	local e = summary.errors
	io.write(string.format(
		'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
		'"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,' ..
		'"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
		'"ok":%d,"bad":%d,"sent":%d}\n',
		summary.requests, summary.duration, summary.bytes,
		e.connect, e.read, e.write, e.status, e.timeout,
		latency:percentile(50), latency:percentile(90),
		latency:percentile(99), latency.max, ok_total, bad_total, sent))
end
