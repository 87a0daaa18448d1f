-- KEYS: person, markers, labs, visits. Everything a colour needs, as one command (one hash tag).
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('ZRANGE', KEYS[3], 0, -1),
        redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')}
