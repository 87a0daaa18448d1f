-- KEYS: a person's answers (hash slot -> entry), the person; ARGV: slot, entry, until (unix
-- seconds), the generation the answer was built at. Stored only while that generation is the
-- person's (lua/generation.lua deletes the answers whenever it moves): an answer in the hash is
-- always of the current facts, which the lean read (adapters/store/reads.py) relies on.
-- A cache: not written to the AOF nor replicated (no fsync to wait for; lost on a restart or
-- a failover, which only costs a signature). The hash lives until its last entry's end.
-- (EXPIREAT ... GT is Redis 7; the embedded server is 6.2.)
redis.set_repl(redis.REPL_NONE)
if redis.call('EXISTS', KEYS[2]) == 0 or (redis.call('HGET', KEYS[2], 'g') or '') ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local at = tonumber(ARGV[3])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 or at > tonumber(redis.call('TIME')[1]) + ttl then redis.call('EXPIREAT', KEYS[1], at) end
return 1
