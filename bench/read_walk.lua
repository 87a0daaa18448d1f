-- GET a person's health code, each request the next person of $BENCH_DATA (from a random
-- start): no person is read twice until the walk wraps. $BENCH_PATH is the path before the
-- person id ("/api/v1/persons/" by default; the references' "/ref/read/", "/ref/repeat/"),
-- $BENCH_SUFFIX after; $BENCH_ROWS walks only the first n persons (the refresh storm).
-- $BENCH_EXPECT says what the app's answers must be:
--   fresh   a cold read: no person read twice (tally.repeats counts reads past the persons this
--           run may read: all of them, or with $BENCH_START those from there on, which the
--           server has never been asked for: bench/run.py moves that cursor on by tally.issued
--           after each run and fails a cold run with any repeat, since the cache could have
--           answered those or stored theirs), and every answer signed for this request: Age: 0,
--           or 1 when the second turned between signing and answering (tally.age_1); Age >= 2 is a bad response
--           (the answers are deleted after the warm-up: bench/run.py);
--   cached  a refresh storm: tally.hits counts answers served again (Age >= 1), for the report.
dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/common.lua")

function init(args)
  seed()
  local prefix = os.getenv("BENCH_PATH") or "/api/v1/persons/"
  local suffix = os.getenv("BENCH_SUFFIX") or "/health-code"
  local limit = tonumber(os.getenv("BENCH_ROWS") or "0")
  expect = os.getenv("BENCH_EXPECT") or ""
  reqs = {}
  for i, row in ipairs(rows()) do
    if limit > 0 and i > limit then break end
    reqs[i] = wrk.format("GET", prefix .. row.pid .. suffix, { ["Authorization"] = "Bearer " .. row.token })
  end
  walk = math.random(#reqs)
  unread = #reqs  -- the persons this thread may read before it repeats one
  local start = tonumber(os.getenv("BENCH_START") or "")
  if start then
    -- A cold run's cursor (bench/run.py): the persons from `start` on were never read by this
    -- server; each wrk thread takes its own share of them.
    local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
    unread = math.floor((#reqs - start) / threads)
    walk = start + ((thread_id or 1) - 1) * unread
  end
  issued = 0
  random_pick = os.getenv("BENCH_PICK") == "random"
end

function request()
  if random_pick then return reqs[math.random(#reqs)] end
  issued = issued + 1
  count("issued")
  if expect == "fresh" and issued > unread then count("repeats") end
  walk = walk % #reqs + 1
  return reqs[walk]
end

function check(body, headers)
  if not body:find('"qr"', 1, true) then return false end
  local age = headers["Age"] or headers["age"]
  if expect == "fresh" and age == "1" then count("age_1") end
  if expect == "fresh" and age ~= "0" and age ~= "1" then
    count("not_fresh")
    why = "(cold run, Age: " .. tostring(age) .. ") "
    return false
  end
  if expect == "cached" and tonumber(age or "0") >= 1 then count("hits") end
  return true
end
