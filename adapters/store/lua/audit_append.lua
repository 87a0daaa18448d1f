-- KEYS: the audit log (list), its head; ARGV: the head the entries were chained from ("seq|hash",
-- '' for an empty trail), the new head, then the entries (JSON). Appends them only if the head
-- is still the one they were chained from: 1 if appended, 0 if another append came first.
local head = redis.call('GET', KEYS[2]) or ''
if head ~= ARGV[1] then return 0 end
for i = 3, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
redis.call('SET', KEYS[2], ARGV[2])
return 1
