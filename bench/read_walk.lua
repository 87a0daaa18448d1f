-- GET a person's health code, each request the next person of $BENCH_DATA (from a random
-- start): no person is read twice until the walk wraps. $BENCH_PATH is the path before the
-- person id ("/api/v1/persons/" by default; the reference's "/ref/read/"), $BENCH_SUFFIX after.
dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/common.lua")

function init(args)
  seed()
  local prefix = os.getenv("BENCH_PATH") or "/api/v1/persons/"
  local suffix = os.getenv("BENCH_SUFFIX") or "/health-code"
  local limit = tonumber(os.getenv("BENCH_ROWS") or "0")
  reqs = {}
  for i, row in ipairs(rows()) do
    if limit > 0 and i > limit then break end
    reqs[i] = wrk.format("GET", prefix .. row.pid .. suffix, { ["Authorization"] = "Bearer " .. row.token })
  end
  walk = math.random(#reqs)
  random_pick = os.getenv("BENCH_PICK") == "random"
end

function request()
  if random_pick then return reqs[math.random(#reqs)] end
  walk = walk % #reqs + 1
  return reqs[walk]
end

function check(body)
  return body:find('"qr"', 1, true) ~= nil
end
