-- After `acquire` (limits' sliding-window script) and `facts_and_scan` (lua/facts_and_scan.lua),
-- made local functions by reads.admit_and_scan_script. KEYS: facts_and_scan's five, then each
-- window's previous and current counter; ARGV: facts_and_scan's six, then each window's limit
-- and length in seconds. Every window counts the scan (one refusing does not stop the others,
-- as in the limiter's own round trip); the counts stay in memory (not in the AOF, not on the
-- replicas). Admitted by all: facts_and_scan's five replies. Else one reply, each window's 1/0,
-- and nothing else read or written.
local windows = (#KEYS - 5) / 2
local admitted, all = {}, true
redis.set_repl(redis.REPL_NONE)
for i = 1, windows do
  local ok = acquire({KEYS[4 + 2 * i], KEYS[5 + 2 * i]}, {ARGV[5 + 2 * i], ARGV[6 + 2 * i], 1})
  admitted[i] = ok and 1 or 0
  all = all and ok
end
redis.set_repl(redis.REPL_ALL)
if not all then return {admitted} end
return facts_and_scan({KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]},
                      {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]})
