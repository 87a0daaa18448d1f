-- KEYS: a phone's stays; ARGV: now - window (older ones go), the window, then score, member
-- pairs (score = the stay's end). The key expires one window after its latest stay ended: no
-- trip data outlives the window (travel card: 14 days), whether more arrives or not.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
for i = 3, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('EXPIREAT', KEYS[1], math.floor(tonumber(last[2])) + tonumber(ARGV[2])) end
return #ARGV / 2 - 1
