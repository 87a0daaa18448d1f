-- A plain GET of the path on wrk's command line: (a) the bare endpoint /healthz, and the
-- --floors endpoints of bench/reference_app.py. No store, no auth. Same Lua hooks as the other targets.
dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/common.lua")

function init(args)
  seed()
  req = wrk.format("GET", wrk.path)
end

function request()
  return req
end

function check(body)
  return body:find('"ok"', 1, true) ~= nil
end
