-- KEYS: person, markers, labs, changes, scans, visits, answers; ARGV: now. Decides and erases in one step, so a
-- marker written meanwhile is either seen (and kept) or arrives after (on a fresh record).
-- The person's own data goes: name, phone, self owner, history. The authority's facts stay.
-- Without any, the ID-number ciphertext goes too. Only the time of erasure is kept, so codes
-- issued before it scan as revoked. The ID-number index keeps pointing here: an application
-- or marking later simply creates the record again under the same id. Returns 1 if facts stayed.
--#include generation
redis.call('DEL', KEYS[4], KEYS[5], KEYS[6], KEYS[7])
local keep = redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1
if keep then
  redis.call('HDEL', KEYS[1], 'n', 'p', 'o', 'c', 'ns', 'a', 'ph')
else
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'r', ARGV[1])
touch(KEYS[1])
if keep then return 1 end
return 0
