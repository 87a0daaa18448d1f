-- Shared by the bench/*.lua wrk scripts (loaded with dofile; see bench/run.py).
--
-- * rows(): the pre-loaded persons from $BENCH_DATA, one "person_id<TAB>token<TAB>qr" a line;
-- * response(): counts every response, and counts it as good only when it is a 2xx whose body
--   (and headers) pass the script's check(body, headers) (a 200 {"valid": false} scan is NOT a
--   good response);
-- * tally: a table a script may count things in (tally.name = n), summed over threads;
-- * done(): prints one machine-readable line, read by bench/run.py:
--     BENCH_CHECK good=<n> bad=<n> socket_errors=<n> statuses=<code:count,...> tally=<name:n,...>
--       sample=<first bad body>
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_id", #threads)
end

good, bad, statuses, sample, tally = 0, 0, {}, "", {}

function count(name, n)
  tally[name] = (tally[name] or 0) + (n or 1)
end

function rows()
  local path = os.getenv("BENCH_DATA")
  local out = {}
  if not path then return out end
  for line in io.lines(path) do
    local pid, token, qr = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)$")
    if pid then out[#out + 1] = { pid = pid, token = token, qr = qr } end
  end
  if #out == 0 then error("no rows in " .. path) end
  return out
end

function seed()
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 200 and status < 300 and check(body or "", headers or {}) then
    good = good + 1
  else
    bad = bad + 1
    if sample == "" then
      sample = tostring(status) .. " " .. (why or "") .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local g, b, merged, tallied, first = 0, 0, {}, {}, ""
  for _, t in ipairs(threads) do
    g = g + t:get("good")
    b = b + t:get("bad")
    for code, n in pairs(t:get("statuses")) do merged[code] = (merged[code] or 0) + n end
    for name, n in pairs(t:get("tally")) do tallied[name] = (tallied[name] or 0) + n end
    if first == "" then first = t:get("sample") end
  end
  local parts, counted = {}, {}
  for code, n in pairs(merged) do parts[#parts + 1] = code .. ":" .. n end
  for name, n in pairs(tallied) do counted[#counted + 1] = name .. ":" .. n end
  table.sort(parts)
  table.sort(counted)
  local e = summary.errors
  io.write(string.format("BENCH_CHECK good=%d bad=%d socket_errors=%d statuses=%s tally=%s sample=%s\n",
    g, b, e.connect + e.read + e.write + e.timeout, table.concat(parts, ","), table.concat(counted, ","),
    (first:gsub("[\r\n\t]", " "))))
end
