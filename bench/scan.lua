-- (c) POST /api/v1/scans with a random pre-issued QR, as a checkpoint ($BENCH_CHECKPOINT_TOKEN).
dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/common.lua")

function init(args)
  seed()
  local headers = {
    ["Authorization"] = "Bearer " .. assert(os.getenv("BENCH_CHECKPOINT_TOKEN"), "BENCH_CHECKPOINT_TOKEN"),
    ["Content-Type"] = "application/json",
  }
  reqs = {}
  for i, row in ipairs(rows()) do
    -- QR texts are base45 (0-9 A-Z space $%*+-./:) after the prefix: nothing to escape in JSON.
    reqs[i] = wrk.format("POST", "/api/v1/scans", headers,
      '{"qr": "' .. row.qr .. '", "place_id": "gate-1"}')
  end
end

function request()
  return reqs[math.random(#reqs)]
end

function check(body)
  -- A scan answers 200 even for a rejected code: only "valid": true counts as good.
  return body:find('"valid":%s*true') ~= nil
end
