"""Redis repositories: every store port of the core on one client."""
from __future__ import annotations

import redis

from adapters.store.facts import RedisFactRecords, RedisHistoryLog
from adapters.store.layout import IndexLayout
from adapters.store.persons import RedisAccountLinks, RedisPersons
from adapters.store.reads import RedisPersonReads
from adapters.store.tokens import RedisCredentialStore, RedisSessionStore
from core.wiring import Stores


def redis_stores(client: redis.Redis, layout: IndexLayout | None = None,
                 must_survive: redis.Redis | None = None, near_cache: bool = False) -> Stores:
    """The core's store ports on `client`; persons, links and facts on `must_survive` (the
    client whose writes wait for a replica: bootstrap.must_survive), when given. `near_cache`:
    the refresh's reads kept per thread (adapters/store/near.py)."""
    durable = must_survive or client
    persons = RedisPersons(durable, layout)
    return Stores(
        persons=persons,
        details=persons,
        links=RedisAccountLinks(durable),
        facts=RedisFactRecords(durable),
        history=RedisHistoryLog(client),
        reads=RedisPersonReads(client, near_cache),
        sessions=RedisSessionStore(client),
        credentials=RedisCredentialStore(durable),
    )
