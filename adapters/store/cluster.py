"""The store client on a Redis Cluster (HEALTHCODE_REDIS_MODE=cluster): built on first use, and
shared with the rate limiter.

redis-py's RedisCluster reads the slot table from a node when it is built, and `limits`' own
cluster storage builds one when the limiter is set up: either would stop the app from starting
while the cluster is down, which a standalone store allows (bootstrap.open_store). So the client
is built on its first command, under a lock; until a build succeeds each use raises the build's
error (RedisClusterException, a STORE_ERRORS member: 503 store_unavailable) and the next one
tries again. The limiter counts through the same client (`healthcode+cluster://`), as it counts
through the standalone client's pool.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from limits.storage import RedisClusterStorage, Storage
from redis._parsers.encoders import Encoder
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import RedisClusterException

from adapters.store.durability import NonDurableStore


class DeferredCluster:
    """A RedisCluster, built when first used (attributes are the built client's)."""

    def __init__(self, build: Callable[[], RedisCluster]) -> None:
        self._build = build
        self._client: RedisCluster | None = None
        self._lock = threading.Lock()

    def cluster(self) -> RedisCluster:
        """The client, built now if it was not yet."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = self._build()
                    except RedisClusterException as exc:
                        # The durability check refused a node (adapters/store/durability.py).
                        if isinstance(exc.__cause__, NonDurableStore):
                            raise exc.__cause__ from None
                        raise
                client = self._client
        return client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cluster(), name)

    def register_script(self, script: str) -> Script:
        return Script(self, script)  # type: ignore[arg-type]  # EVALSHA through this, when run

    def get_encoder(self) -> Encoder:
        """redis-py's default encoder (bytes replies), which the built client has too."""
        return Encoder("utf-8", "strict", False)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class SharedClusterStorage(RedisClusterStorage):
    """`limits`' Redis Cluster storage on the service's own cluster client."""

    STORAGE_SCHEME = ["healthcode+cluster"]

    def __init__(self, uri: str, client: DeferredCluster, key_prefix: str = RedisClusterStorage.PREFIX,
                 wrap_exceptions: bool = False, **options: Any) -> None:
        Storage.__init__(self, uri, wrap_exceptions=wrap_exceptions, **options)
        self.key_prefix = key_prefix
        self.target_server = "redis"
        self.dependency = self.dependencies["redis"].module
        self.storage = client
        self.initialize_storage(uri)
