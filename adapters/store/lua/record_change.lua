-- KEYS: person, changes; ARGV: expected last colour ('' for none), new colour, at, member,
-- retention. History members are "<sequence>|<json>": same-second entries keep their order.
local last = redis.call('HGET', KEYS[1], 'c') or ''
if last ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[2])
local seq = redis.call('HINCRBY', KEYS[1], 'q', 1)
redis.call('ZADD', KEYS[2], ARGV[3], string.format('%012d|', seq) .. ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[5]))
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
