-- KEYS: person; ARGV: expected name ciphertext ('' for none), new ciphertext ('' deletes), source.
--#include generation
if (redis.call('HGET', KEYS[1], 'n') or '') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'n', 'ns')
else redis.call('HSET', KEYS[1], 'n', ARGV[2], 'ns', ARGV[3]) end
touch(KEYS[1])
return 1
