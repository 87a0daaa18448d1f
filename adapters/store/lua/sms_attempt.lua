-- KEYS: the phone's SMS code; ARGV: the keyed hash of the code tried, the most tries. 'ok' (the
-- code is used up), 'wrong', 'none' (no code, or expired), 'exhausted' (too many: the code goes).
local h = redis.call('HGET', KEYS[1], 'h')
if not h then return 'none' end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
if h == ARGV[1] and n <= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]); return 'ok' end
if n >= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]); return 'exhausted' end
return 'wrong'
