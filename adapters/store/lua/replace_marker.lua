-- KEYS: markers, person; ARGV: marker id, the status it must have, the marker's new value. Compare-and-set
-- (pending → active on approval, pending → lapsed): 1 if replaced.
--#include generation
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
if cjson.decode(v).status ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
touch(KEYS[2])
return 1
