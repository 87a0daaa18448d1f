"""What a store outage looks like, and recovering from one."""
from __future__ import annotations

import redis
from redis import exceptions

from adapters.store.durability import NonDurableStore
from adapters.store.embedded import EmbeddedRedis
from adapters.store.layout import LayoutMismatch
from adapters.store.near import close_for
from adapters.store.replication import NotReplicated

# The exceptions that mean "the store cannot be reached or used now": 503, never 500.
# A cluster adds its own: a slot without a master (CLUSTERDOWN, MASTERDOWN, a slot not covered),
# redirections that did not settle (MOVED/ASK beyond redis-py's 16 hops, TRYAGAIN while a slot
# migrates), and RedisClusterException, which redis-py raises when no node answers for the slot
# table ("Redis Cluster cannot be connected"). A must-survive write no replica acknowledged in
# time is NotReplicated.
STORE_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, redis.ReadOnlyError, NonDurableStore,
    LayoutMismatch, NotReplicated, exceptions.ClusterError, exceptions.AskError, exceptions.TryAgainError,
    exceptions.RedisClusterException,
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
        close_for(self.client)  # the near cache's tracking connections
        self.client.close()
