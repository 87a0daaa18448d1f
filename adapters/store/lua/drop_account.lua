-- KEYS: person; ARGV: account. Forgets that the account links to the person; returns how many
-- accounts still do.
local a = redis.call('HGET', KEYS[1], 'a')
if not a then return 0 end
local kept = {}
for id in string.gmatch(a, '[^,]+') do
  if id ~= ARGV[1] then kept[#kept + 1] = id end
end
if #kept == 0 then redis.call('HDEL', KEYS[1], 'a')
else redis.call('HSET', KEYS[1], 'a', table.concat(kept, ',')) end
return #kept
