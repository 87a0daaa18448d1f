"""Must-survive writes acknowledged only once a replica has them (DESIGN §7, README Durability).

Replication in Redis is asynchronous: a master answers a write before its replica has it, and a
failover promotes the replica, losing what had not reached it. `WAIT n timeout` answers how many
replicas have every write sent *on that connection* so far. So the WAIT must follow the write on
the very connection that carried it: `AcknowledgingConnection` does that — after the reply to a
write sent while `acknowledging(...)` is in force, it sends WAIT on the same socket and reads the
count. It works the same for a standalone server and for a cluster node (redis-py's cluster
client sends a keyed command on a connection to the slot's master, and follows a MOVED there).

Fewer replicas than asked for within the timeout: `NotReplicated`, which the app answers as 503
store_unavailable. The write may still be on the master (and reach the replica later): every
must-survive write is safe to send again (create never overwrites, claims return the first
claimer, links answer "exists", markers and lab results carry their own ids or are sets).

Pipelines are not acknowledged this way (their replies are read in a batch): the stores send
must-survive writes as single commands or single scripts.
"""
from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import redis
from redis.commands.cluster import READ_COMMANDS
from redis.commands.core import Script
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection

T = TypeVar("T")

# (replicas, timeout in ms) for the commands sent in this context, or None. A contextvar: each
# thread (gunicorn's gthread worker) has its own.
_WANTED: ContextVar[tuple[int, int] | None] = ContextVar("healthcode_acknowledge", default=None)

# Commands that change nothing, or that are the connection's own business: no WAIT after them.
_NO_WAIT = frozenset(READ_COMMANDS) | {
    "PING", "WAIT", "WAITAOF", "SCRIPT", "CONFIG", "CLIENT", "INFO", "CLUSTER", "READONLY", "READWRITE",
    "ASKING", "HELLO", "AUTH", "SELECT", "ECHO", "COMMAND", "TIME", "MULTI", "EXEC", "DISCARD", "WATCH",
    "UNWATCH",
}


class NotReplicated(redis.RedisError):
    """A must-survive write reached its master but not enough replicas in time: not acknowledged."""


def _is_write(command: Any) -> bool:
    name = command.decode() if isinstance(command, bytes) else str(command)
    return name.split(" ", 1)[0].upper() not in _NO_WAIT


class _WaitAfterWrite:
    """Connection mixin: WAIT after a write sent while `acknowledging` is in force."""

    _wanted: tuple[int, int] | None = None

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        # The flag is set once the command is out: sending may first run a health-check PING
        # or the connect handshake on this connection, whose replies must not be followed by WAIT.
        super().send_command(*args, **kwargs)  # type: ignore[misc]
        wanted = _WANTED.get()
        self._wanted = wanted if wanted is not None and _is_write(args[0]) else None

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        wanted, self._wanted = self._wanted, None
        reply = super().read_response(*args, **kwargs)  # type: ignore[misc]
        if wanted is not None:  # an error reply raised above: nothing was written, nothing to wait for
            replicas, timeout_ms = wanted
            super().send_command("WAIT", replicas, timeout_ms)  # type: ignore[misc]
            acknowledged = int(super().read_response())  # type: ignore[misc]
            if acknowledged < replicas:
                raise NotReplicated(f"{acknowledged} of {replicas} replicas acknowledged the write "
                                    f"within {timeout_ms} ms")
        return reply

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        self._wanted = None
        super().disconnect(*args, **kwargs)  # type: ignore[misc]


class AcknowledgingConnection(_WaitAfterWrite, Connection):
    """TCP."""


class AcknowledgingSSLConnection(_WaitAfterWrite, SSLConnection):
    """TLS (rediss://)."""


class AcknowledgingUnixConnection(_WaitAfterWrite, UnixDomainSocketConnection):
    """A unix socket (unix://)."""


def connection_class(url: str) -> type[Connection | UnixDomainSocketConnection]:
    """The acknowledging connection class for a Redis URL's scheme."""
    if url.startswith("rediss://"):
        return AcknowledgingSSLConnection
    if url.startswith("unix://"):
        return AcknowledgingUnixConnection
    return AcknowledgingConnection


class _Acknowledged:
    """The store client, every command of which is acknowledged by replicas (a view: same pool)."""

    def __init__(self, client: Any, wanted: tuple[int, int]) -> None:
        self._client = client
        self._wanted = wanted

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr
        wanted = self._wanted

        def call(*args: Any, **kwargs: Any) -> Any:
            token = _WANTED.set(wanted)
            try:
                return attr(*args, **kwargs)
            finally:
                _WANTED.reset(token)
        return call

    def register_script(self, script: str) -> Script:
        # Bound to the view, so that the script's EVALSHA goes through it.
        return Script(self, script)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"acknowledged by {self._wanted[0]} replicas: {self._client!r}"


def acknowledging(client: T, replicas: int, timeout_ms: int) -> T:
    """`client` as the must-survive stores use it: each write followed by WAIT `replicas`
    `timeout_ms` on its own connection (the client must use an `AcknowledgingConnection`); the
    client itself when no replica is asked for."""
    if replicas <= 0:
        return client
    view: Callable[..., Any] = _Acknowledged
    return view(client, (replicas, timeout_ms))


def acknowledged(client: Any) -> bool:
    """Whether `client` is a view whose writes wait for replicas."""
    return isinstance(client, _Acknowledged)
