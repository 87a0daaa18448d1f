"""The store's Lua scripts, read once from lua/*.lua and registered on a client; the batches
the hot paths and the feeds send.

Each script touches the keys of one hash tag only (Redis Cluster). A batch may span slots: on a
cluster it goes out as one packed write per master that holds some of its slots (redis-py's
cluster pipeline refuses EVALSHA), read back in the order given.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script

from adapters.store.cluster import DeferredCluster

LUA = Path(__file__).resolve().parent / "lua"


@cache
def source(name: str) -> str:
    """The text of lua/<name>.lua, read once per process."""
    return (LUA / f"{name}.lua").read_text(encoding="utf-8")


def register(client: redis.Redis, name: str) -> Script:
    """The script as a callable on `client` (EVALSHA, loading it when Redis lost it)."""
    return client.register_script(source(name))


def is_cluster(client: object) -> bool:
    """Whether `client` talks to a Redis Cluster (HEALTHCODE_REDIS_MODE=cluster)."""
    return isinstance(client, RedisCluster | DeferredCluster)


class _Batch:
    """What run_pipeline's builders call (evalsha, hget), recorded as commands for a cluster."""

    def __init__(self) -> None:
        self.commands: list[tuple[Any, ...]] = []

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> None:
        self.commands.append(("EVALSHA", sha, numkeys, *keys_and_args))

    def hget(self, key: str, field: str) -> None:
        self.commands.append(("HGET", key, field))


def run_pipeline(client: redis.Redis, build: Callable[[Any], object], scripts: tuple[Script, ...]) -> list[Any]:
    """Run a pipeline of EVALSHAs and plain commands; load `scripts` if Redis lost them.

    EVALSHA directly: Script objects in a pipeline make redis-py send SCRIPT EXISTS first,
    a second round trip on every read.
    """
    if is_cluster(client):
        batch = _Batch()
        build(batch)
        return _cluster_round_trip(client, batch.commands, scripts)
    for attempt in (1, 2):
        pipe = client.pipeline(transaction=False)
        build(pipe)
        try:
            return pipe.execute()
        except redis.exceptions.NoScriptError:
            if attempt == 2:
                raise
            # Redis restarted or flushed its scripts: nothing ran; load them and go again.
            for script in scripts:
                client.script_load(script.script)
    raise AssertionError("unreachable")


_STALE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


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
    for attempt in range(3):
        connection = pool.get_connection()
        try:
            connection.send_packed_command(connection.pack_commands(commands), False)
            replies: list[Any] = []
            error: redis.exceptions.ResponseError | None = None
            for _ in commands:  # every reply is read, so the connection stays in step
                try:
                    replies.append(connection.read_response())
                except redis.exceptions.ResponseError as exc:
                    replies.append(exc)
                    error = error or exc
        except _STALE:
            connection.disconnect()
            if attempt:
                raise
            continue
        finally:
            pool.release(connection)
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


def _cluster_round_trip(client: Any, commands: Sequence[tuple[Any, ...]], scripts: tuple[Script, ...]) -> list[Any]:
    """`commands` on a cluster: one packed write to each master that holds some of their slots,
    all written before any is read; replies in the order of `commands`.

    A command answered MOVED/ASK/TRYAGAIN/CLUSTERDOWN was not run: it goes again to the slot's
    master once the slot table is refreshed. A lost script (a promoted replica has an empty
    script cache) is loaded on every master and its commands go again. A connection lost on the
    way (a master down) refreshes the slot table and sends the batch again, as read_round_trip
    does a stale connection: every batch sent here is safe to send twice (reads, idempotent
    feeds, a scan recorded once per code and place). After the last attempt the error is raised
    (STORE_ERRORS: 503 store_unavailable).
    """
    replies: list[Any] = [None] * len(commands)
    todo = list(range(len(commands)))
    manager = client.nodes_manager
    for attempt in range(_CLUSTER_ATTEMPTS):
        last = attempt == _CLUSTER_ATTEMPTS - 1
        by_node: dict[str, tuple[Any, list[int]]] = {}
        for index in todo:
            node = manager.get_node_from_slot(client.determine_slot(*commands[index]))
            by_node.setdefault(node.name, (node, []))[1].append(index)
        taken: list[tuple[Any, Any]] = []
        try:
            sent: list[tuple[Any, list[int]]] = []
            for node, indexes in by_node.values():
                pool = client.get_redis_connection(node).connection_pool
                connection = pool.get_connection()
                taken.append((pool, connection))
                connection.send_packed_command(connection.pack_commands([commands[i] for i in indexes]), False)
                sent.append((connection, indexes))
            for connection, indexes in sent:
                for index in indexes:  # every reply is read, so the connection stays in step
                    try:
                        replies[index] = connection.read_response()
                    except redis.exceptions.ResponseError as exc:
                        replies[index] = exc
        except _STALE:
            for _, connection in taken:
                connection.disconnect()
            if last:
                raise
            manager.initialize()
            continue
        finally:
            for pool, connection in taken:
                pool.release(connection)
        again = [i for i in todo if isinstance(replies[i], _ELSEWHERE + (redis.exceptions.NoScriptError,))]
        if not again:
            break
        if last:
            raise replies[again[0]]
        moved = [replies[i] for i in again if isinstance(replies[i], redis.exceptions.MovedError)]
        if moved:
            manager.move_slot(moved[0])
        if len(moved) < len(again) and any(not isinstance(replies[i], redis.exceptions.NoScriptError) for i in again):
            time.sleep(0.05 * (attempt + 1))  # the cluster is settling: give it a moment
            manager.initialize()
        if any(isinstance(replies[i], redis.exceptions.NoScriptError) for i in again):
            for script in scripts:
                client.script_load(script.script)  # on every master
        todo = again
    for reply in replies:
        if isinstance(reply, redis.exceptions.ResponseError):
            raise reply
    return replies
