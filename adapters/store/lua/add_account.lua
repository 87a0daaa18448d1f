-- KEYS: person; ARGV: account (12 raw bytes). Notes that the account links to the person ("a":
-- the account ids, raw, concatenated), so the person can be told about colour changes and removed
-- once nobody links to them. Written before the account's own link, so a crash leaves one too
-- many, never one too few. Returns 0 when the person does not exist.
--#include generation
if redis.call('HEXISTS', KEYS[1], 'i') == 0 then return 0 end
local a = redis.call('HGET', KEYS[1], 'a') or ''
for k = 1, #a, 12 do
  if string.sub(a, k, k + 11) == ARGV[1] then return 1 end
end
redis.call('HSET', KEYS[1], 'a', a .. ARGV[1])
touch(KEYS[1])
return 1
