-- POST a scan of a random pre-issued QR at a place never used before ("gate-<n>"), so every
-- scan is recorded (the same code at the same place again is not): $BENCH_PATH is
-- /api/v1/scans (as a checkpoint, $BENCH_CHECKPOINT_TOKEN) or the reference's /ref/scan.
dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/common.lua")

function init(args)
  seed()
  path = os.getenv("BENCH_PATH") or "/api/v1/scans"
  headers = {
    ["Authorization"] = "Bearer " .. (os.getenv("BENCH_CHECKPOINT_TOKEN") or ""),
    ["Content-Type"] = "application/json",
  }
  qrs = {}
  for i, row in ipairs(rows()) do qrs[i] = row.qr end
  n = math.random(1000000000)
end

function request()
  n = n + 1
  -- QR texts are base45 (0-9 A-Z space $%*+-./:) after the prefix: nothing to escape in JSON.
  return wrk.format("POST", path, headers,
    '{"qr": "' .. qrs[math.random(#qrs)] .. '", "place_id": "gate-' .. n .. '"}')
end

function check(body)
  return body:find('"valid":%s*true') ~= nil
end
