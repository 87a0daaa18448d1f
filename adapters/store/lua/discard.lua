-- KEYS: person, markers, labs, changes, scans, visits, answers. Removes a person nobody links to and no fact
-- names (a refused first application, the last relative gone): record and history. Returns 1
-- if removed, 0 if an account or a fact still holds it.
if redis.call('HEXISTS', KEYS[1], 'a') == 1 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
return 1
