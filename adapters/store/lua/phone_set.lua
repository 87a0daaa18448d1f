-- KEYS: person; ARGV: the phone's ciphertext, its hash (16 raw bytes). Sets the person's phone.
--#include generation
redis.call('HSET', KEYS[1], 'p', ARGV[1], 'ph', ARGV[2])
touch(KEYS[1])
return 1
