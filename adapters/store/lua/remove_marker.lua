-- KEYS: markers; ARGV: marker id. Returns the removed marker, or nil.
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
