-- KEYS: the ID-number index; ARGV: the person id. Drops the index entry if it still names that
-- person (a concurrent first claim of the same number may have made another).
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]); return 1 end
return 0
