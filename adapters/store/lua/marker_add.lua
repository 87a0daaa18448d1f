-- KEYS: markers, person; ARGV: marker id, the marker's value. Sets the marker.
--#include generation
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
touch(KEYS[2])
return 1
