"""Refusing a production store that can lose acknowledged writes (README, Durability).

The check runs on every new connection, before the app sends anything through it: at start-up
when Redis is there, otherwise on the first request that reaches it, and again on each
reconnect, so a Redis restarted with other settings is caught too (a live `CONFIG SET` on an
open connection is not: that is the operator's own decision). A refused connection is closed at
once, so nothing is ever written through it.
"""
from __future__ import annotations

import logging
from typing import Any

import redis

log = logging.getLogger("healthcode")

# appendfsync always, and not suspended while the AOF is being rewritten.
REQUIRED = {"appendonly": "yes", "appendfsync": "always", "no-appendfsync-on-rewrite": "no"}


class NonDurableStore(redis.RedisError):
    """The store's persistence settings can lose acknowledged writes; the app will not use it."""


def refuse_non_durable(connection: Any) -> None:
    """redis-py `redis_connect_func`: the usual handshake, then the persistence settings."""
    connection.on_connect()
    check_durable(connection)


def check_durable(connection: Any) -> None:
    """The persistence settings of the server at the other end of `connection` (the cluster
    client calls it after its own handshake, on every node it connects to)."""
    settings = {}
    for name in REQUIRED:
        connection.send_command("CONFIG", "GET", name)
        try:
            settings[name] = _config_value(connection.read_response(), name)
        except redis.ResponseError:  # managed Redis without CONFIG: the operator vouches for it
            log.warning("cannot read the store's persistence settings (CONFIG denied)")
            return
    if settings != REQUIRED:
        message = (
            "the Redis server must run with appendonly yes, appendfsync always and "
            "no-appendfsync-on-rewrite no, or acknowledged "
            f"writes can be lost (it has {settings}); set HEALTHCODE_ALLOW_NON_DURABLE_STORE=1 to override"
        )
        log.error("refusing the store: %s", message)
        raise NonDurableStore(message)


def _config_value(reply: Any, name: str) -> str | None:
    """CONFIG GET's reply: a flat [name, value] list (RESP2) or a map (RESP3)."""
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
    for key, value in pairs:
        if _text(key) == name:
            return _text(value)
    return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
