-- KEYS: person; ARGV: account (12 raw bytes), the link's linked_at. Returns the owner (raw), or '' when the person
-- was erased since (a stale link).
--#include generation
if redis.call('HEXISTS', KEYS[1], 'n') == 0 then return '' end
if tonumber(ARGV[2]) < tonumber(redis.call('HGET', KEYS[1], 'r') or '0') then return '' end
local o = redis.call('HGET', KEYS[1], 'o')
if o then return o end
redis.call('HSET', KEYS[1], 'o', ARGV[1])
touch(KEYS[1])
return ARGV[1]
