"""The store's Lua scripts, read once from lua/*.lua and registered on a client; the batches
the hot paths and the feeds send.

Each script touches the keys of one hash tag only (Redis Cluster). A batch may span slots: on a
cluster it goes out as one packed write per master that holds some of its slots (redis-py's
cluster pipeline refuses EVALSHA), read back in the order given.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script

from adapters.store.cluster import DeferredCluster

_hiredis_pack: Callable[[Any], bytes] | None
try:  # redis[hiredis]: the C packer; redis-py's own wrapper around it costs ~3 us a command
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is a dependency
    _hiredis_pack = None

try:  # what redis-py's hiredis reader returns while a reply is incomplete
    from redis._parsers.hiredis import NOT_ENOUGH_DATA as _NOT_ENOUGH_DATA
except ImportError:  # pragma: no cover - another redis-py
    _NOT_ENOUGH_DATA = False

LUA = Path(__file__).resolve().parent / "lua"


@cache
def source(name: str) -> str:
    """The text of lua/<name>.lua, read once per process, each `--#include <other>` line replaced
    by the text of lua/<other>.lua (its local functions: lua/generation.lua's touch())."""
    lines = (LUA / f"{name}.lua").read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(source(line.split()[1]) if line.startswith("--#include ") else line for line in lines)


def register(client: redis.Redis, name: str) -> Script:
    """The script as a callable on `client` (EVALSHA, loading it when Redis lost it)."""
    return client.register_script(source(name))


def is_cluster(client: object) -> bool:
    """Whether `client` talks to a Redis Cluster (HEALTHCODE_REDIS_MODE=cluster). Asked on every
    round trip: the answer is kept by type (isinstance against RedisCluster runs typing's
    Protocol check, ~1 us)."""
    kind = type(client)
    known = _CLUSTER_TYPES.get(kind)
    if known is None:
        known = _CLUSTER_TYPES[kind] = isinstance(client, RedisCluster | DeferredCluster)
    return known


_CLUSTER_TYPES: dict[type, bool] = {}


class _Batch:
    """What run_pipeline's builders call (evalsha, hget), recorded as commands."""

    def __init__(self) -> None:
        self.commands: list[tuple[Any, ...]] = []

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> None:
        self.commands.append(("EVALSHA", sha, numkeys, *keys_and_args))

    def hget(self, key: str, field: str) -> None:
        self.commands.append(("HGET", key, field))

    def hsetnx(self, key: str, field: Any, value: Any) -> None:
        self.commands.append(("HSETNX", key, field, value))

    def hset(self, key: str, field: Any = None, value: Any = None, mapping: dict[Any, Any] | None = None) -> None:
        pairs = ([field, value] if field is not None else []) + [x for kv in (mapping or {}).items() for x in kv]
        self.commands.append(("HSET", key, *pairs))


# This process's id, as os.getpid() (a system call on every round trip otherwise: glibc no longer
# caches it), kept up to date in a forked child.
_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))

_HELD = "_healthcode_held"  # on a pool: thread id -> (pid, the connection that thread keeps)
_held_lock = threading.Lock()


def _connection(pool: Any) -> Any:
    """The hot round trips' connection: one per thread and pool, taken from the pool once and kept
    (as redis-py's single_connection_client keeps one), not got and released per round trip.

    redis-py 8's get_connection + release cost ~50 us a round trip on this machine (a poll of the
    socket for unread data, connection-count metrics, two lock passes), a sixth of a cold read.
    The poll guards against a connection left with unread replies; here every round trip reads
    all its replies or drops the connection (_dirty), so none is left out of step. The held
    connections live on the pool (closing the pool closes them); when a thread takes its first,
    those of threads that have ended go back to the pool (a server with a thread per request
    keeps as many as it has threads alive; a thread started outside the threading module counts
    as alive for good: its end cannot be seen). A forked child (the pool resets itself) takes its
    own."""
    held: dict[int, tuple[int, Any]] | None = pool.__dict__.get(_HELD)
    me, pid = threading.get_ident(), _pid[0]
    entry = held.get(me) if held is not None else None
    if entry is not None and entry[0] == pid:
        return entry[1]
    # A thread the threading module did not start (granian's, uWSGI's workers) is listed by
    # threading.enumerate() only once it has a Thread object: current_thread() gives it one (a
    # dummy, never deleted), so no other thread takes its connection back as an ended thread's.
    threading.current_thread()
    with _held_lock:
        held = pool.__dict__.setdefault(_HELD, {})
        alive = {thread.ident for thread in threading.enumerate()}
        for ident in [i for i, (p, _) in held.items() if i not in alive or p != pid or i == me]:
            owner, connection = held.pop(ident)
            if owner == pid:  # another process's connection is not this pool's to take back
                pool.release(connection)
        connection = pool.get_connection()
        held[me] = (pid, connection)
    return connection


_SKIPS = "_healthcode_skips_replies"  # on a pool: whether its server honours CLIENT REPLY SKIP


def _skips_replies(pool: Any, connection: Any) -> bool:
    """Whether the pool's server honours CLIENT REPLY SKIP, found once per pool: where it does not
    (an ACL without CLIENT, a renamed command, a proxy), the replies send_unanswered does not
    read would come back and put every later round trip on the connection out of step. Probed
    with SKIP, ECHO 1, ECHO 2: only "2" comes back where SKIP works; anything else and the
    connection is dropped (with whatever it still holds) and SKIP is never used on this pool."""
    known: bool | None = pool.__dict__.get(_SKIPS)
    if known is not None:
        return known
    try:
        connection.send_packed_command(connection.pack_commands(
            [("CLIENT", "REPLY", "SKIP"), ("ECHO", "1"), ("ECHO", "2")]), False)
        first = _read_reply(connection)
    except redis.exceptions.ResponseError:
        first = None
    except BaseException:
        _dirty(connection)
        raise
    works = first == b"2" or first == "2"
    if not works:
        _dirty(connection)
    pool.__dict__[_SKIPS] = works
    return works


def _pool(client: Any, key: str) -> Any:
    """The connection pool of `key`'s server: the client's, or on a cluster its slot's master's."""
    if is_cluster(client):
        node = client.nodes_manager.get_node_from_slot(client.keyslot(key))
        return client.get_redis_connection(node).connection_pool
    return client.connection_pool


def _dirty(connection: Any) -> None:
    """A round trip stopped half-way (replies may be unread): drop the socket (the next one
    reconnects), so that no later round trip reads this one's replies."""
    connection.disconnect()


def cluster_batch(client: Any, build: Callable[[Any], object], scripts: tuple[Script, ...]) -> list[Any]:
    """What `build` calls (evalsha, hget, hset, hsetnx), sent to a cluster as one packed write per
    master (redis-py's cluster pipeline refuses EVALSHA). Only a command answered MOVED, ASK,
    TRYAGAIN, CLUSTERDOWN or NOSCRIPT (not run) is sent again, so plain writes run once, unless a
    connection is lost on the way (then the batch goes again: for batches safe to repeat)."""
    batch = _Batch()
    build(batch)
    return _cluster_round_trip(client, batch.commands, scripts)


def run_pipeline(client: redis.Redis, build: Callable[[Any], object], scripts: tuple[Script, ...]) -> list[Any]:
    """Run a pipeline of EVALSHAs (and reads); load `scripts` if Redis lost them, and run it again.

    Only for pipelines whose writes are all EVALSHAs of `scripts`: when Redis lost them, none of
    those ran, but a plain write in the same pipeline did, and would run twice.

    EVALSHA directly: Script objects in a pipeline make redis-py send SCRIPT EXISTS first,
    a second round trip on every read.
    """
    if is_cluster(client):
        return cluster_batch(client, build, scripts)
    batch = _Batch()
    build(batch)
    # As read_round_trip: one packed write, replies from the parser; a lost script is loaded
    # and the batch sent again (none of its EVALSHAs ran), a stale connection retried once, as
    # redis-py's pipeline retries it.
    return read_round_trip(client, batch.commands, scripts)


def send_unanswered(client: Any, key: str, command: tuple[Any, ...]) -> bool:
    """`command` (on `key`'s slot) sent after CLIENT REPLY SKIP: written, never waited for.

    For writes whose loss costs nothing but a later miss (the answer cache): no round trip, no
    reply to read. Nothing comes back, an error reply included, so a script goes as EVAL with
    its text (EVALSHA's NOSCRIPT would go unseen). False when the write could not be sent (the
    connection was lost: it is dropped, the next user gets a fresh one)."""
    pool = _pool(client, key)
    connection = _connection(pool)
    try:
        skips = _skips_replies(pool, connection)
    except (*_STALE, redis.exceptions.RedisError):  # the probe's connection was lost (and dropped)
        return False
    # Where the server skips replies, SKIP goes first and nothing is read; else a plain round trip.
    commands = [("CLIENT", "REPLY", "SKIP"), command] if skips else [command]
    try:
        connection.send_packed_command(
            [b"".join(map(_hiredis_pack, commands))] if _hiredis_pack else connection.pack_commands(commands), False)
        if not skips:
            _read_reply(connection)
        return True
    except (*_STALE, redis.exceptions.RedisError):
        _dirty(connection)
        return False
    except BaseException:
        _dirty(connection)
        raise


_STALE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
# The classes of replies that are plainly data (RESP2's, and most of RESP3's): checked first, by
# identity of the class, where an error or a push needs an isinstance each (a reply each: ~1 us a
# cached read of checks that never hit).
_PLAIN = frozenset({bytes, int, list, type(None)})


def _read_replies(connection: Any, count: int) -> tuple[list[Any], Exception | None]:
    """`count` replies, straight from the connection's hiredis reader: a loop of Reader.gets(),
    the socket read only when the reader needs more (once, for a round trip's replies), where
    the parser's read_response per reply costs ~1 us of checks each (11 replies on a cold read).
    Error replies come back as their exceptions (not raised), the first of them also on its own
    (None: no error); a lost connection raises (_STALE). Any other parser (no hiredis, another
    redis-py): one _read_reply each."""
    parser: Any = getattr(connection, "_parser", None)
    reader = getattr(parser, "_reader", None)
    fill = getattr(parser, "read_from_socket", None)
    if parser is None or reader is None or fill is None or not hasattr(reader, "gets"):
        each = [_reply_or_error(connection) for _ in range(count)]
        return each, next((r for r in each if isinstance(r, redis.exceptions.ResponseError)), None)
    push = getattr(parser, "_hiredis_PushNotificationType", None)
    replies: list[Any] = []
    error: Exception | None = None
    try:
        while len(replies) < count:
            reply = reader.gets()
            if reply.__class__ in _PLAIN:  # no error, no push (a push is a list's subclass): the usual case
                replies.append(reply)
                continue
            if reply is _NOT_ENOUGH_DATA or reply is False:
                fill()
                continue
            if isinstance(reply, redis.exceptions.ConnectionError):
                raise reply
            if push is not None and isinstance(reply, push):  # RESP3 push (none subscribed): not a reply
                parser.handle_push_response(reply)
                continue
            if error is None and isinstance(reply, redis.exceptions.ResponseError):
                error = reply
            replies.append(reply)
    except TimeoutError:
        connection.disconnect()
        raise redis.exceptions.TimeoutError("timeout reading a reply") from None
    except OSError as exc:
        connection.disconnect()
        raise redis.exceptions.ConnectionError(f"reading a reply: {type(exc).__name__}") from None
    except redis.exceptions.ConnectionError:
        connection.disconnect()
        raise
    return replies, error


def _reply_or_error(connection: Any) -> Any:
    try:
        return _read_reply(connection)
    except redis.exceptions.ResponseError as exc:
        return exc


def _read_reply(connection: Any) -> Any:
    """One reply, from the connection's parser itself: Connection.read_response adds ~2 us a
    reply of bookkeeping (an error text built per call, events), 11 replies on a cached read. An
    error reply comes back as its exception (not raised); a socket failure raises (as _STALE)."""
    parser = getattr(connection, "_parser", None)
    if parser is None:  # pragma: no cover - another redis-py
        return connection.read_response()
    try:
        return parser.read_response()
    except TimeoutError:  # socket.timeout: as Connection.read_response says it
        connection.disconnect()
        raise redis.exceptions.TimeoutError("timeout reading a reply") from None
    except OSError as exc:
        connection.disconnect()
        raise redis.exceptions.ConnectionError(f"reading a reply: {type(exc).__name__}") from None


def read_round_trip(client: redis.Redis, commands: Sequence[tuple[Any, ...]], scripts: tuple[Script, ...]) -> list[Any]:
    """Commands that only read, sent in one write and answered in one read of the socket.

    A pipeline without redis-py's per-command layers (command stack, callbacks, events): about
    half its CPU on the hot read. Replies are raw (no response callbacks: GET, HGET and EVALSHA
    have none anyway). Reads only: a stale connection (the server restarted) is retried once
    on a fresh one; a lost script is loaded and the whole round trip sent again.
    """
    if is_cluster(client):
        return _cluster_round_trip(client, commands, scripts)
    pool = client.connection_pool
    packed: Any = None
    if _hiredis_pack is not None:
        packed = [b"".join([_hiredis_pack(command) for command in commands])]
    for attempt in range(3):
        connection = _connection(pool)
        try:
            connection.send_packed_command(packed if packed is not None else connection.pack_commands(commands),
                                           False)
            replies, error = _read_replies(connection, len(commands))  # all of them: the connection stays in step
        except _STALE:
            _dirty(connection)
            if attempt:
                raise
            continue
        except BaseException:
            _dirty(connection)
            raise
        if error is None:
            return replies
        if isinstance(error, redis.exceptions.NoScriptError) and attempt < 2:
            for script in scripts:
                client.script_load(script.script)
            continue
        raise error
    raise AssertionError("unreachable")


# Replies that mean "not run here, try again": the slot moved (MOVED: a failover, a resharding),
# is moving (ASK), or the cluster is between states (TRYAGAIN, CLUSTERDOWN).
_ELSEWHERE = (redis.exceptions.AskError, redis.exceptions.TryAgainError, redis.exceptions.ClusterDownError)
_CLUSTER_ATTEMPTS = 4


def _units(commands: Sequence[tuple[Any, ...]]) -> list[list[int]]:
    """The batch's indexes in units that go to one node together: a command, or a MULTI … EXEC
    block (one hash tag: Redis refuses a transaction across slots)."""
    units: list[list[int]] = []
    block: list[int] | None = None
    for index, command in enumerate(commands):
        name = str(command[0]).upper()
        if name == "MULTI":
            block = [index]
        elif block is not None:
            block.append(index)
            if name == "EXEC":
                units.append(block)
                block = None
        else:
            units.append([index])
    if block is not None:
        raise ValueError("MULTI without EXEC")
    return units


def _unit_slot(client: Any, commands: Sequence[tuple[Any, ...]], unit: list[int]) -> int:
    slots = {client.determine_slot(*commands[i]) for i in unit if str(commands[i][0]).upper() not in ("MULTI", "EXEC")}
    if len(slots) != 1:  # a bug, not an outage: a 500, not a 503
        raise redis.exceptions.ClusterCrossSlotError("a MULTI block of a batch spans hash slots")
    return int(slots.pop())


def _cluster_round_trip(client: Any, commands: Sequence[tuple[Any, ...]], scripts: tuple[Script, ...]) -> list[Any]:
    """`commands` on a cluster: one packed write to each master that holds some of their slots,
    all written before any is read; replies in the order of `commands`. A MULTI … EXEC block
    goes to its slot's master whole.

    A command answered MOVED/ASK/TRYAGAIN/CLUSTERDOWN was not run (in a block, EXEC then
    discards it all): its unit goes again to the slot's master once the slot table is refreshed.
    A lost script (a promoted replica has an empty script cache) is loaded on every master and
    its unit goes again. A connection lost on the way (a master down) refreshes the slot table
    and sends the batch again, as read_round_trip does a stale connection: every batch sent
    here is safe to send twice (reads, idempotent feeds, a scan recorded once per code and
    place). After the last attempt the error is raised (STORE_ERRORS: 503 store_unavailable).
    """
    replies: list[Any] = [None] * len(commands)
    todo = _units(commands)
    manager = client.nodes_manager
    for attempt in range(_CLUSTER_ATTEMPTS):
        last = attempt == _CLUSTER_ATTEMPTS - 1
        by_node: dict[str, tuple[Any, list[int]]] = {}
        for unit in todo:
            node = manager.get_node_from_slot(_unit_slot(client, commands, unit))
            by_node.setdefault(node.name, (node, []))[1].extend(unit)
        taken: list[Any] = []
        try:
            sent: list[tuple[Any, list[int]]] = []
            for node, indexes in by_node.values():
                connection = _connection(client.get_redis_connection(node).connection_pool)
                taken.append(connection)
                connection.send_packed_command(connection.pack_commands([commands[i] for i in indexes]), False)
                sent.append((connection, indexes))
            for connection, indexes in sent:
                for index in indexes:  # every reply is read, so the connection stays in step
                    try:
                        replies[index] = connection.read_response()
                    except redis.exceptions.ResponseError as exc:
                        replies[index] = exc
        except _STALE:
            for connection in taken:
                _dirty(connection)
            if last:
                raise
            manager.initialize()
            continue
        except BaseException:
            for connection in taken:
                _dirty(connection)
            raise
        retry = _ELSEWHERE + (redis.exceptions.NoScriptError,)
        again = [unit for unit in todo if any(isinstance(replies[i], retry) for i in unit)]
        if not again:
            break
        errors = [replies[i] for unit in again for i in unit if isinstance(replies[i], retry)]
        if last:
            raise errors[0]
        moved = [exc for exc in errors if isinstance(exc, redis.exceptions.MovedError)]
        if moved:
            manager.move_slot(moved[0])
        if any(not isinstance(exc, redis.exceptions.MovedError | redis.exceptions.NoScriptError) for exc in errors):
            time.sleep(0.05 * (attempt + 1))  # the cluster is settling: give it a moment
            manager.initialize()
        if any(isinstance(exc, redis.exceptions.NoScriptError) for exc in errors):
            for script in scripts:
                client.script_load(script.script)  # on every master
        todo = again
    for reply in replies:
        if isinstance(reply, redis.exceptions.ResponseError):
            raise reply
    return replies
