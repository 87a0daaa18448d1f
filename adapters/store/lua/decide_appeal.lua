-- KEYS: the person's appeals; ARGV: appeal id, its decided value. Only an open appeal is decided.
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
if cjson.decode(v).status ~= 'open' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
