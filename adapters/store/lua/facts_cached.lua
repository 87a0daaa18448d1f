-- KEYS: person, markers, labs, visits, answers; ARGV: now, salt, slot. The facts (as facts.lua)
-- and a digest of them with the salt (policy, risk table, signing key: what lives outside the
-- person); when the slot holds an answer stored under that very digest and still reusable at
-- `now`, that answer instead of the facts. Not facts: the person's scan counter (q), and the
-- last colour recorded (c), which the first read of a colour writes and no answer shows.
local p = redis.call('HGETALL', KEYS[1])
local m = redis.call('HGETALL', KEYS[2])
local l = redis.call('ZRANGE', KEYS[3], 0, -1)
local v = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
local parts = {#ARGV[2] .. ':' .. ARGV[2]}
local function add(list, step, skip)
  for i = 1, #list, step do
    if not (skip and skip[list[i]]) then
      for j = i, i + step - 1 do parts[#parts + 1] = #list[j] .. ':' .. list[j] end
    end
  end
  parts[#parts + 1] = ';'
end
add(p, 2, {q = true, c = true})
add(m, 2, nil)
add(l, 1, nil)
add(v, 2, nil)
local digest = redis.sha1hex(table.concat(parts))
local entry = redis.call('HGET', KEYS[5], ARGV[3])
-- An entry: "<this digest>:<the link's>|<reuse until>|<issued at>|<expires at>|<answer>".
if entry and string.sub(entry, 1, 40) == digest then
  local bar = string.find(entry, '|', 1, true)
  local reuse = bar and tonumber(string.sub(entry, bar + 1, bar + 10))
  if reuse and reuse > tonumber(ARGV[1]) then return {digest, entry} end
end
return {digest, false, p, m, l, v}
