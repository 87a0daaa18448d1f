-- KEYS: the risk table, its log, its version (one hash tag); ARGV: area code, its JSON, how many
-- log entries are kept. Sets the area, logs it, moves the version; returns the previous JSON or
-- false. One script rather than MULTI, so that WAIT follows it (adapters/store/replication.py).
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
redis.call('INCR', KEYS[3])
return previous
