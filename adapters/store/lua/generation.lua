-- touch(person): moves the person's generation ('g' in the person hash). Included (--#include
-- generation) by every script that writes what a health-code answer is built from: the person
-- hash (but its scan counter 'q' and last colour 'c'), the markers, the lab results, the visits.
-- It moves in the same script as the write, and the person's answers kept for reuse go with it
-- (the hash of the same hash tag, <person>:cc): an answer is stored only while the generation
-- it was built at is the current one (lua/answer_put.lua), so no answer outlives a write to the
-- facts it was built from (adapters/store/reads.py). A record without a generation (new, or
-- written before generations) starts from the server's time in microseconds: a record erased
-- and made again never repeats a generation an old answer holds. No record: only the answers go.
local function touch(person)
  redis.call('DEL', person .. ':cc')
  if redis.call('EXISTS', person) == 0 then return end
  if redis.call('HINCRBY', person, 'g', 1) == 1 then
    local t = redis.call('TIME')
    redis.call('HSET', person, 'g', t[1] .. string.format('%06d', tonumber(t[2])))
  end
end
