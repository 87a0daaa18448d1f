"""What a store outage looks like, and recovering from one."""
from __future__ import annotations

import redis

from adapters.store.durability import NonDurableStore
from adapters.store.embedded import EmbeddedRedis
from adapters.store.layout import LayoutMismatch

# The exceptions that mean "the store cannot be reached or used now": 503, never 500.
STORE_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, redis.ReadOnlyError, NonDurableStore,
    LayoutMismatch,
)


class RedisStoreHealth:
    """StoreHealth of the one Redis client, restarting the embedded server when it died."""

    errors = STORE_ERRORS

    def __init__(self, client: redis.Redis, embedded: EmbeddedRedis | None) -> None:
        self.client = client
        self.embedded = embedded

    def ping(self) -> None:
        self.client.ping()

    def recover(self) -> None:
        if self.embedded is not None:
            self.embedded.ensure_running()

    def close(self) -> None:
        self.client.close()
