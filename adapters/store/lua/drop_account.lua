-- KEYS: person; ARGV: account (12 raw bytes). Forgets that the account links to the person;
-- returns how many accounts still do.
--#include generation
local a = redis.call('HGET', KEYS[1], 'a')
if not a then return 0 end
local kept = {}
for k = 1, #a, 12 do
  local id = string.sub(a, k, k + 11)
  if id ~= ARGV[1] then kept[#kept + 1] = id end
end
if #kept == 0 then redis.call('HDEL', KEYS[1], 'a')
else redis.call('HSET', KEYS[1], 'a', table.concat(kept)) end
touch(KEYS[1])
return #kept
