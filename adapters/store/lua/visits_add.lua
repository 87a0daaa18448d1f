-- KEYS: a person's visits, the person; ARGV: now - window (older ones go), the window, 1 to replace what is
-- there (the phone changed), then city, end pairs. A city keeps its latest end (GT); the key
-- expires one window after the latest visit, like the stays it came from.
--#include generation
if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) end
for i = 4, #ARGV, 2 do redis.call('ZADD', KEYS[1], 'GT', ARGV[i + 1], ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('EXPIREAT', KEYS[1], math.floor(tonumber(last[2])) + tonumber(ARGV[2])) end
touch(KEYS[2])
return (#ARGV - 3) / 2
