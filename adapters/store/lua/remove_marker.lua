-- KEYS: markers, person; ARGV: marker id. Returns the removed marker, or nil.
--#include generation
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  redis.call('HDEL', KEYS[1], ARGV[1])
  touch(KEYS[2])
end
return v
