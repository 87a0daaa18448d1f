-- KEYS: person; ARGV: field, value, ... Writes a new record; never overwrites one.
--#include generation
if redis.call('HEXISTS', KEYS[1], 'i') == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
touch(KEYS[1])
return 1
