-- GET /api/v1/travel/card with a pre-minted travel token ($BENCH_TRAVEL_TOKENS, one a line):
-- each connection walks the shuffled tokens in turn from its own offset, so consecutive requests
-- read different phones. Good only when it is a 2xx card that lists at least one city.
dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/common.lua")

function init(args)
  seed()
  reqs = {}
  local path = assert(os.getenv("BENCH_TRAVEL_TOKENS"), "BENCH_TRAVEL_TOKENS is not set")
  for token in io.lines(path) do
    reqs[#reqs + 1] = wrk.format("GET", "/api/v1/travel/card", { ["Authorization"] = "Bearer " .. token })
  end
  if #reqs == 0 then error("no travel tokens") end
  for i = #reqs, 2, -1 do
    local j = math.random(i)
    reqs[i], reqs[j] = reqs[j], reqs[i]
  end
  next_req = math.random(#reqs)
end

function request()
  next_req = next_req % #reqs + 1
  return reqs[next_req]
end

function check(body)
  -- a real card: its cities list holds at least one city with a code and a name
  return body:find('"cities":%s*%[%s*{') ~= nil and body:find('"phone_masked"', 1, true) ~= nil
end
