-- One wrk scenario for bench/run.py: optional unique POST bodies, and a JSON summary line.
--
-- Environment (all optional):
--   BENCH_METHOD         GET (default) or POST, PUT, ...
--   BENCH_BODY           a body template: every {unique} is replaced per request by a
--                        token unique across threads, requests and runs (BENCH_RUN_ID)
--   BENCH_UNIQUE_HEADER  a header that carries the same unique token (Idempotency-Key)
--   BENCH_PATHS_FILE     a file of request paths, one a line, requested in turn (the
--                        URL's own path is then only where the first request goes)
-- Fixed headers come from wrk's own -H options.

local method = os.getenv("BENCH_METHOD") or "GET"
local body_template = os.getenv("BENCH_BODY")
local unique_header = os.getenv("BENCH_UNIQUE_HEADER")
local run_id = os.getenv("BENCH_RUN_ID") or "0"
local paths_file = os.getenv("BENCH_PATHS_FILE")
local paths = nil
if paths_file ~= nil then
  paths = {}
  for line in io.lines(paths_file) do
    if line ~= "" then
      table.insert(paths, line)
    end
  end
end
local threads = {}
local counter = 0

wrk.method = method

function setup(thread)
  table.insert(threads, thread)
  -- Becomes a global of that thread's Lua state before its init() runs.
  thread:set("thread_number", #threads)
end

if paths ~= nil and body_template == nil then
  -- Only defined when needed: without request(), wrk sends one pre-built request (faster).
  function request()
    counter = counter + 1
    return wrk.format(method, paths[1 + counter % #paths])
  end
end

if body_template ~= nil then
  function request()
    counter = counter + 1
    local unique = string.format("%s-%d-%d", run_id, thread_number or 0, counter)
    local headers = {}
    for name, value in pairs(wrk.headers) do
      headers[name] = value
    end
    if unique_header ~= nil then
      headers[unique_header] = unique
    end
    local body = (string.gsub(body_template, "{unique}", unique))
    return wrk.format(method, nil, headers, body)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, ' ..
    '"read": %d, "write": %d, "status": %d, "timeout": %d, "p50_us": %d, ' ..
    '"p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
