"""The store's Lua scripts, read once from lua/*.lua and registered on a client.

Each script touches the keys of one hash tag only (Redis Cluster).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import redis
from redis.commands.core import Script

_hiredis_pack: Callable[[Any], bytes] | None
try:  # redis[hiredis]: the C packer; redis-py's own wrapper around it costs ~3 us a command
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is a dependency
    _hiredis_pack = None

LUA = Path(__file__).resolve().parent / "lua"


@cache
def source(name: str) -> str:
    """The text of lua/<name>.lua, read once per process."""
    return (LUA / f"{name}.lua").read_text(encoding="utf-8")


def register(client: redis.Redis, name: str) -> Script:
    """The script as a callable on `client` (EVALSHA, loading it when Redis lost it)."""
    return client.register_script(source(name))


def run_pipeline(client: redis.Redis, build: Callable[[Any], object], scripts: tuple[Script, ...]) -> list[Any]:
    """Run a pipeline of EVALSHAs (and reads); load `scripts` if Redis lost them, and run it again.

    Only for pipelines whose writes are all EVALSHAs of `scripts`: when Redis lost them, none of
    those ran, but a plain write in the same pipeline did, and would run twice.

    EVALSHA directly: Script objects in a pipeline make redis-py send SCRIPT EXISTS first,
    a second round trip on every read.
    """
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
    pool = client.connection_pool
    packed: Any = None
    if _hiredis_pack is not None:
        packed = [b"".join([_hiredis_pack(command) for command in commands])]
    for attempt in range(3):
        connection = pool.get_connection()
        try:
            connection.send_packed_command(packed if packed is not None else connection.pack_commands(commands),
                                           False)
            replies: list[Any] = []
            error: redis.exceptions.ResponseError | None = None
            for _ in commands:  # every reply is read, so the connection stays in step
                try:
                    reply = _read_reply(connection)
                except redis.exceptions.ResponseError as exc:
                    reply = exc
                if isinstance(reply, redis.exceptions.ResponseError):
                    error = error or reply
                replies.append(reply)
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
