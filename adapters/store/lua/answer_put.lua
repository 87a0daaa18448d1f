-- KEYS: a person's answers (hash slot -> entry); ARGV: slot, entry, until (unix seconds).
-- A cache: not written to the AOF nor replicated (no fsync to wait for; lost on a restart or
-- a failover, which only costs a signature). The hash lives until its last entry's end.
-- (EXPIREAT ... GT is Redis 7; the embedded server is 6.2.)
redis.set_repl(redis.REPL_NONE)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local at = tonumber(ARGV[3])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 or at > tonumber(redis.call('TIME')[1]) + ttl then redis.call('EXPIREAT', KEYS[1], at) end
return 1
