-- KEYS: a bucket of the ID-number index; ARGV: the field, the person id (raw). Drops the entry
-- if it still names that person (a concurrent first claim of the same number may have made another).
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]); return 1 end
return 0
