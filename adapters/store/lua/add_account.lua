-- KEYS: person; ARGV: account. Notes that the account links to the person ("a": account ids,
-- comma-separated), so the person can be told about colour changes and removed once nobody
-- links to them. Written before the account's own link, so a crash leaves one too many, never
-- one too few. Returns 0 when the person does not exist.
if redis.call('HEXISTS', KEYS[1], 'i') == 0 then return 0 end
local a = redis.call('HGET', KEYS[1], 'a') or ''
for id in string.gmatch(a, '[^,]+') do
  if id == ARGV[1] then return 1 end
end
if a == '' then a = ARGV[1] else a = a .. ',' .. ARGV[1] end
redis.call('HSET', KEYS[1], 'a', a)
return 1
