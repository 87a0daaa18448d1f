-- KEYS: a bucket of the phone index (hash: rest of a phone hash -> person ids, 12 raw bytes each,
-- concatenated); ARGV: the field, 'add' or 'remove', the person id (raw). Buckets of
-- adapters/store/layout.py: a compact listpack hash instead of a set key per phone (~230 B each).
local ids = redis.call('HGET', KEYS[1], ARGV[1]) or ''
local kept, found = {}, false
for k = 1, #ids, 12 do
  local id = string.sub(ids, k, k + 11)
  if id == ARGV[3] then found = true else kept[#kept + 1] = id end
end
if ARGV[2] == 'add' then
  if found then return 0 end
  kept[#kept + 1] = ARGV[3]
elseif not found then
  return 0
end
if #kept == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], table.concat(kept)) end
return 1
