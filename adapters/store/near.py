"""The refresh's keys kept in each worker thread, exact by Redis's client-side caching.

A refresh (a page reloading, a person retrying under load: the storm that collapsed 粤康码 on
2022-01-10) reads five things that rarely change: the session, the account's link to the
person, the policy and risk-table versions and the answer kept for the slot
(RedisPersonReads.load_answer). This keeps what such a read found, per worker thread, and serves
it again after one PING instead of the read, for as long as nothing it was built from changed.

Exact, not eventually consistent: each thread reads through its own RESP3 connection with
CLIENT TRACKING ON (https://redis.io/docs/latest/develop/reference/client-side-caching/), so
Redis remembers which keys that connection read and, when any of them is written, deleted,
expired or flushed, queues an invalidation message on that same connection. Redis answers a
connection's commands in order, and the message is queued when the write runs, so a write that
ran before this read's PING has its invalidation before the PONG: by the PONG, everything
written before the request arrived has dropped what it touched. That is the one round trip the
hit still makes, and why redis-py's own client-side cache (which looks for messages already
received instead, and needs Redis 7.4) is not used here.

What else could make a kept read wrong is bounded locally:
- time: the session's key expires (Redis reports an expiry only when it removes the key, which
  may be later), so each entry keeps the session's remaining time (PTTL, read with it) from
  before its read was sent; the answer's own reuse time is checked by the caller;
- a lost connection: everything the thread kept goes with it (messages may have been lost);
- an invalidation that arrives while a read is being answered: what that read found is
  returned but not kept (its key may have been written after Redis read it);
- a message for everything (FLUSHDB, FLUSHALL, the tracking table full): all goes.

Costs: Redis keeps a tracking entry per key read (bounded by its `tracking-table-max-keys`;
an entry goes at the key's next write or expiry, the session's and the answer's within their
lifetimes); each thread keeps at most MAX_ENTRIES reads (~1 KB each: the answer's body) and
forgets them all at once when full. Off a cluster only (one connection per thread here; on a
cluster it would be one per master), and `HEALTHCODE_NEAR_CACHE=0` turns it off. A server or
proxy that refuses RESP3 or CLIENT TRACKING turns it off for the process (logged once).
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import redis

from adapters.store import scripts

log = logging.getLogger(__name__)

_Push: Any
try:
    from hiredis import PushNotification as _Push
except ImportError:  # pragma: no cover - hiredis is a dependency; without it, no near cache
    _Push = None
try:  # what redis-py's hiredis reader returns while a reply is incomplete
    from redis._parsers.hiredis import NOT_ENOUGH_DATA as _NOT_ENOUGH_DATA
except ImportError:  # pragma: no cover - another redis-py: no near cache
    _Push = None

_PING = [b"*1\r\n$4\r\nPING\r\n"]  # as send_packed_command takes it
MAX_ENTRIES = 2048  # per thread
_STALE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
_ALL = object()  # an invalidation of every key (a flush)


class _Thread:
    """One thread's tracking connection and what it keeps: entries by their key, and for each
    Redis key the entries read from it."""

    __slots__ = ("pid", "connection", "reader", "fill", "entries", "by_key", "seen", "__weakref__")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.connection: Any = None
        self.reader: Any = None
        self.fill: Any = None
        self.entries: dict[Any, tuple[Any, str, float]] = {}  # key -> (value, tag, until: wall clock)
        self.by_key: dict[bytes, set[Any]] = {}
        self.seen: list[Any] | None = None  # during a read(): the keys invalidated meanwhile


# Each pool's near caches, closed with it (close_for).
_CACHES: weakref.WeakKeyDictionary[Any, weakref.WeakSet[NearCache]] = weakref.WeakKeyDictionary()


def close_for(client: redis.Redis) -> None:
    """Close the tracking connections of every near cache on `client`'s pool (the store is
    closing: RedisStoreHealth.close)."""
    pool = getattr(client, "connection_pool", None)
    for near in list(_CACHES.get(pool, ())) if pool is not None else []:
        near.close()


class NearCache:
    """Per-thread kept reads of one Redis (not a cluster) behind one connection pool."""

    def __init__(self, client: redis.Redis, max_entries: int = MAX_ENTRIES) -> None:
        self._pool = client.connection_pool
        _CACHES.setdefault(self._pool, weakref.WeakSet()).add(self)
        self._max = max_entries
        self._local = threading.local()
        # Every live thread's, to close them all: an ended thread's goes with its thread-local
        # (and its connection with it: redis-py's connections disconnect when collected).
        self._threads: weakref.WeakSet[_Thread] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.enabled = _Push is not None
        self.globals: frozenset[bytes] = frozenset()  # keys every entry depends on (the versions)
        self.hits = 0  # reads served again (not exact under threads: for tests and curiosity)

    # -- the hit ------------------------------------------------------------------------------

    def get(self, key: Any, tag: str, wall: float) -> Any:
        """The value kept under `key` if it was kept with `tag` and is still exact: one PING
        first, whose invalidations drop what they touch. None when nothing is kept (or it just
        went); the connection lost: None, and the thread keeps nothing."""
        mine: _Thread | None = getattr(self._local, "t", None)
        if mine is None or mine.pid != scripts._pid[0]:
            return None
        kept = mine.entries.get(key)
        if kept is None or kept[2] <= wall or kept[1] is not tag and kept[1] != tag:
            return None
        try:
            mine.connection.send_packed_command(_PING, False)
            (pong,) = self._replies(mine, 1)
        except _STALE:
            self._drop(mine)
            return None
        except BaseException:
            self._drop(mine)
            raise
        if isinstance(pong, redis.exceptions.RedisError):  # the server is not itself (LOADING, ...)
            self._drop(mine)
            return None
        kept = mine.entries.get(key)
        if kept is None:
            return None
        self.hits += 1
        return kept[0]

    # -- the read that fills it ---------------------------------------------------------------

    def read(self, commands: Sequence[tuple[Any, ...]]) -> tuple[list[Any], tuple[Any, ...]] | None:
        """The replies of `commands` (reads only) on this thread's tracking connection, and the
        keys invalidated while they were answered (for keep()). None when there is no tracking
        connection to be had (turned off for the process): read elsewhere. A connection lost is
        retried once on a fresh one, as scripts.read_round_trip does."""
        if not self.enabled:
            return None
        packed = b"".join([scripts._hiredis_pack(command) for command in commands])  # type: ignore[misc]
        for attempt in range(2):
            mine = self._mine()
            if mine is None:
                return None
            mine.seen = []
            try:
                mine.connection.send_packed_command([packed], False)
                replies = self._replies(mine, len(commands))
            except _STALE:
                mine.seen = None
                self._drop(mine)
                if attempt:
                    raise
                continue
            except BaseException:
                mine.seen = None
                self._drop(mine)
                raise
            seen, mine.seen = tuple(mine.seen), None
            error = next((r for r in replies if isinstance(r, redis.exceptions.ResponseError)), None)
            if error is not None:
                raise error
            return replies, seen
        raise AssertionError("unreachable")

    def keep(self, key: Any, tag: str, value: Any, keys: Sequence[bytes], until: float,
             seen: tuple[Any, ...]) -> bool:
        """Keep `value`, read just now from `keys` by read() (which gave `seen`), under `key` with
        `tag`, until the wall-clock time `until` at most, for as long as none of `keys` nor the
        globals is written. Not kept (False) if one of them was invalidated while the read was
        answered: Redis may have read it before that write."""
        mine: _Thread | None = getattr(self._local, "t", None)
        if mine is None or mine.connection is None or mine.pid != scripts._pid[0]:
            return False
        if seen and (_ALL in seen or any(name in seen for name in keys)):
            return False
        if len(mine.entries) >= self._max or len(mine.by_key) >= 4 * self._max:
            mine.entries.clear()
            mine.by_key.clear()
        mine.entries[key] = (value, tag, until)
        for name in keys:
            if name not in self.globals:
                mine.by_key.setdefault(name, set()).add(key)
        return True

    # -- connections and messages ----------------------------------------------------------------

    def _mine(self) -> _Thread | None:
        mine: _Thread | None = getattr(self._local, "t", None)
        pid = scripts._pid[0]
        if mine is None or mine.pid != pid:  # first use in this thread, or a forked child
            mine = self._local.t = _Thread(pid)
            with self._lock:
                self._threads.add(mine)
        if mine.connection is None:
            try:
                self._connect(mine)
            except _STALE:
                raise
            except redis.exceptions.RedisError as exc:  # no RESP3, no CLIENT TRACKING: off for good
                self.enabled = False
                log.warning("near cache off: the server refused a tracking connection (%s)", type(exc).__name__)
                return None
        return mine

    def _connect(self, mine: _Thread) -> None:
        pool = self._pool
        connection = pool.connection_class(**{**pool.connection_kwargs, "protocol": 3})
        try:
            connection.connect()
            connection.send_command("CLIENT", "TRACKING", "ON")
            reply = connection.read_response()
            if reply not in (b"OK", "OK"):
                raise redis.exceptions.ResponseError("CLIENT TRACKING ON was not OK")
            parser = connection._parser
            reader, fill = getattr(parser, "_reader", None), getattr(parser, "read_from_socket", None)
            if reader is None or fill is None:  # pragma: no cover - hiredis is a dependency
                raise redis.exceptions.ResponseError("no hiredis reader")
        except BaseException:
            connection.disconnect()
            raise
        mine.connection, mine.reader, mine.fill = connection, reader, fill

    def _replies(self, mine: _Thread, count: int) -> list[Any]:
        """`count` replies from the thread's connection, every invalidation before and among
        them applied as it comes."""
        reader, fill = mine.reader, mine.fill
        replies: list[Any] = []
        try:
            while len(replies) < count:
                reply = reader.gets()
                if reply is _NOT_ENOUGH_DATA:
                    fill()
                elif reply.__class__ is _Push:
                    self._invalidate(mine, reply)
                elif isinstance(reply, redis.exceptions.ConnectionError):
                    raise reply
                else:
                    replies.append(reply)
        except TimeoutError:
            raise redis.exceptions.TimeoutError("timeout reading a reply") from None
        except OSError as exc:
            raise redis.exceptions.ConnectionError(f"reading a reply: {type(exc).__name__}") from None
        return replies

    def _invalidate(self, mine: _Thread, push: list[Any]) -> None:
        if len(push) < 2 or push[0] not in (b"invalidate", "invalidate"):
            return  # another kind of message: nothing of ours
        names = push[1]
        if names is None or any(name in self.globals for name in names):
            mine.entries.clear()
            mine.by_key.clear()
            if mine.seen is not None:
                mine.seen.append(_ALL)
            return
        entries, by_key, seen = mine.entries, mine.by_key, mine.seen
        for name in names:
            if seen is not None:
                seen.append(name)
            for key in by_key.pop(name, ()):
                entries.pop(key, None)

    def _drop(self, mine: _Thread) -> None:
        """The connection failed: it goes, and with it all the thread kept."""
        mine.entries.clear()
        mine.by_key.clear()
        connection, mine.connection = mine.connection, None
        if connection is not None:
            connection.disconnect()

    def close(self) -> None:
        """Every thread's tracking connection closed (the store is closing)."""
        with self._lock:
            threads = list(self._threads)
        for mine in threads:
            if mine.pid == scripts._pid[0]:
                self._drop(mine)
