-- KEYS: account links; ARGV: person id. The claims are settled by now: the link shrinks to
-- "relation|1|linked_at|notice". A value with claims is longer than hash-max-listpack-value (64),
-- which turned the hash into a hashtable, and Redis never turns it back: rebuild the hash, so
-- a verified account's links stay a compact listpack.
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local rel, _, ts, notice = string.match(v, '^(%a+)|(%d)|(%d+)|([^|]*)')
local link = rel .. '|1|' .. ts .. '|' .. notice
if #v == #link then
  redis.call('HSET', KEYS[1], ARGV[1], link)
  return 1
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] == ARGV[1] then all[i + 1] = link end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(all))
return 1
