"""The store's Lua scripts, read once from lua/*.lua and registered on a client.

Each script touches the keys of one hash tag only (Redis Cluster).
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import redis
from redis.commands.core import Script

LUA = Path(__file__).resolve().parent / "lua"


@cache
def source(name: str) -> str:
    """The text of lua/<name>.lua, read once per process."""
    return (LUA / f"{name}.lua").read_text(encoding="utf-8")


def register(client: redis.Redis, name: str) -> Script:
    """The script as a callable on `client` (EVALSHA, loading it when Redis lost it)."""
    return client.register_script(source(name))


def run_pipeline(client: redis.Redis, build: Callable[[Any], object], scripts: tuple[Script, ...]) -> list[Any]:
    """Run a pipeline of EVALSHAs and plain commands; load `scripts` if Redis lost them.

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
