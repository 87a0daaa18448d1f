-- A floor: one Redis GET alone (bench/reference_app.py). Same Lua hooks as the other targets.
dofile((os.getenv("BENCH_LUA_DIR") or "bench") .. "/common.lua")

function init(args)
  seed()
  req = wrk.format("GET", "/bench/floor/redis-get")
end

function request()
  return req
end

function check(body)
  return body:find('"ok"', 1, true) ~= nil
end
