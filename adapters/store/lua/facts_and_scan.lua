-- KEYS: person, markers, labs, visits, scans; ARGV: at, member, retention, issued_at of the scanned
-- code, the most scans kept, the place. The facts, and the scan recorded: only for a person who
-- has applied and whose data was not erased after the code was issued, and only once per code
-- and place (a gate scanning the same screen again adds nothing). The fifth reply is the
-- stored member (to amend it), or false.
local facts = {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('ZRANGE', KEYS[3], 0, -1),
               redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')}
local p = redis.call('HMGET', KEYS[1], 'n', 'r')
facts[5] = false
if not p[1] then return facts end
if p[2] and tonumber(ARGV[4]) < tonumber(p[2]) then return facts end
for _, seen in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], ARGV[4], '+inf')) do
  local doc = cjson.decode(string.sub(seen, string.find(seen, '|', 1, true) + 1))
  if doc.iat == tonumber(ARGV[4]) and doc.place == ARGV[6] then return facts end
end
local seq = redis.call('HINCRBY', KEYS[1], 'q', 1)
local member = string.format('%012d|', seq) .. ARGV[2]
redis.call('ZADD', KEYS[5], ARGV[1], member)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[3]))
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -(tonumber(ARGV[5]) + 1))
redis.call('EXPIRE', KEYS[5], ARGV[3])
facts[5] = member
return facts
