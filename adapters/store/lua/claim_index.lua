-- KEYS: the ID-number index; ARGV: a new person id. The first claim wins; returns the person id.
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
