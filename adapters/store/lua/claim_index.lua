-- KEYS: a bucket of the ID-number index; ARGV: the field (the rest of the ID-number hash), a new
-- person id (raw). The first claim wins; returns the person id (raw).
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then return v end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]
