-- KEYS: account links; ARGV: person id (raw), relation ('s' self, 'f' family), encoded link, max family.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'exists' end
local family = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  local rel = string.match(v, '^(%a+)|')
  if rel == ARGV[2] and rel == 's' then return 'self_taken' end
  if rel == 'f' then family = family + 1 end
end
if ARGV[2] == 'f' and family >= tonumber(ARGV[4]) then return 'family_full' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 'ok'
