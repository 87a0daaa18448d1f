-- KEYS: a person's lab results, the person; ARGV: the result's member, its sampling time, how many are kept.
-- Adds it (the same result again is the same member) and keeps the latest; 1 if it was new.
-- A script rather than MULTI: a must-survive write is one command, so that WAIT follows it on
-- its own connection (adapters/store/replication.py).
--#include generation
local added = redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
touch(KEYS[2])
return added
