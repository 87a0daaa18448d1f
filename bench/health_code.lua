-- (b) GET /api/v1/persons/{id}/health-code as a random pre-loaded person, with that person's token.
dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/common.lua")

function init(args)
  seed()
  reqs = {}
  for i, row in ipairs(rows()) do
    reqs[i] = wrk.format("GET", "/api/v1/persons/" .. row.pid .. "/health-code",
      { ["Authorization"] = "Bearer " .. row.token })
  end
end

function request()
  return reqs[math.random(#reqs)]
end

function check(body)
  return body:find('"qr"', 1, true) ~= nil
end
