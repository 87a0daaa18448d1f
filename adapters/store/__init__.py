"""Redis repositories: every store port of the core on one client."""
from __future__ import annotations

import redis

from adapters.store.facts import RedisFactRecords, RedisHistoryLog
from adapters.store.layout import IndexLayout
from adapters.store.persons import RedisAccountLinks, RedisPersons
from adapters.store.reads import RedisPersonReads
from adapters.store.tokens import RedisCredentialStore, RedisSessionStore
from core.wiring import Stores


def redis_stores(client: redis.Redis, layout: IndexLayout | None = None) -> Stores:
    """The core's store ports on `client`."""
    persons = RedisPersons(client, layout)
    return Stores(
        persons=persons,
        details=persons,
        links=RedisAccountLinks(client),
        facts=RedisFactRecords(client),
        history=RedisHistoryLog(client),
        reads=RedisPersonReads(client),
        sessions=RedisSessionStore(client),
        credentials=RedisCredentialStore(client),
    )
