-- KEYS: scans; ARGV: old member, new member, at. Replaces an entry only if it is still there.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2]) end
return 1
