"""The near cache (adapters/store/near.py) on the Redis server and on the embedded one: what a
thread keeps is served after a PING only while nothing it was read from has been written; every
way a key changes drops it (a write, a field of its hash, a delete, a new expiry, an expiry, a
flush, a global), a write that lands among the read's own replies keeps it from being kept, and
a lost connection, a forked child, a full cache and a server that refuses tracking each keep
nothing stale."""
import gc
import math
import multiprocessing
import select
import threading
import time

import pytest
import redis

from adapters.store.embedded import EmbeddedRedis
from adapters.store.near import NearCache, close_for
from tests.conftest import CLUSTER, SERVER_URL, store_client

pytestmark = pytest.mark.skipif(CLUSTER, reason="the near cache is off a cluster only")

GLOBAL = b"t:version"


@pytest.fixture(params=["server", pytest.param("embedded", marks=pytest.mark.standalone)])
def client(request, tmp_path):
    if request.param == "server":
        store_client().flushdb()
        c = redis.Redis.from_url(SERVER_URL)
        yield c
        c.close()
        store_client().flushdb()
    else:
        embedded = EmbeddedRedis(tmp_path / "redis")
        c = redis.Redis.from_url(embedded.start())
        yield c
        c.close()
        embedded.stop()


@pytest.fixture
def other(client):
    """Another connection: the writers of other processes."""
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=client.connection_pool.connection_class,
                                                            **client.connection_pool.connection_kwargs))


@pytest.fixture
def near(client):
    cache = NearCache(client)
    cache.globals = frozenset({GLOBAL})
    yield cache
    cache.close()


def eventually(check, seconds=5.0) -> bool:
    """Whether `check()` comes true within `seconds` (the server closes a connection on its own time)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def fill(near, key="e", tag="salt", until=math.inf):
    """Read the entry's keys on the tracking connection and keep what came back."""
    replies, seen = near.read([("GET", "t:s"), ("HGET", "t:h", "f"), ("GET", GLOBAL)])
    kept = near.keep(key, tag, tuple(replies), (b"t:s", b"t:h", GLOBAL), until, seen)
    return tuple(replies), kept


def test_kept_until_a_write_then_read_again(near, other):
    other.set("t:s", "1")
    other.hset("t:h", "f", "a")
    value, kept = fill(near)
    assert kept and value == (b"1", b"a", None)
    assert near.get("e", "salt", time.time()) == value
    assert near.get("e", "salt", time.time()) == value
    assert near.hits == 2
    other.set("t:s", "2")  # acknowledged before the next read starts: that read must see it
    assert near.get("e", "salt", time.time()) is None
    assert fill(near) == ((b"2", b"a", None), True)


@pytest.mark.parametrize("change", [
    lambda r: r.hset("t:h", "other", "x"),  # another field of the hash: the key is what is tracked
    lambda r: r.delete("t:s"),
    lambda r: r.expire("t:s", 100),  # a new expiry is a write
    lambda r: r.set(GLOBAL, "2"),  # a version every entry depends on: all go
    lambda r: r.flushdb(),
], ids=["hash-field", "delete", "expire", "global", "flush"])
def test_every_kind_of_change_drops_it(near, other, change):
    other.set("t:s", "1")
    fill(near, "e")
    fill(near, "other-entry")
    change(other)
    assert near.get("e", "salt", time.time()) is None


def test_a_write_to_one_entry_leaves_the_others(near, other):
    near.read([("GET", "t:a")])
    near.keep("a", "salt", "A", (b"t:a",), math.inf, ())
    near.read([("GET", "t:b")])
    near.keep("b", "salt", "B", (b"t:b",), math.inf, ())
    other.set("t:a", "1")
    assert near.get("a", "salt", time.time()) is None
    assert near.get("b", "salt", time.time()) == "B"


def test_another_tag_or_time_past_is_not_served(near):
    fill(near, until=time.time() + 0.2)
    assert near.get("e", "other salt", time.time()) is None
    assert near.get("e", "salt", time.time()) is not None
    assert near.get("e", "salt", time.time() + 0.3) is None


def test_a_key_expiring_in_redis_drops_it(near, other):
    other.set("t:s", "1", px=100)
    fill(near)
    time.sleep(0.25)
    other.get("t:s")  # the key goes (lazily, if not already): its invalidation comes
    assert near.get("e", "salt", time.time()) is None


def split_sends(near, other, write):
    """The tracking connection's next send goes in two parts, `write` done by another client in
    between (once the first part has run): a write that lands among the read's own replies."""
    mine = near._local.t
    connection = mine.connection
    send = connection.send_packed_command

    def in_two(command, check_health=True):
        (packed,) = command
        cut = packed.index(b"*", 1)  # the second command's start
        send([packed[:cut]], check_health)
        # Its reply waiting on the socket (left there for the read): Redis has run the first part.
        assert select.select([connection._sock], [], [], 10)[0]
        write(other)
        send([packed[cut:]], check_health)
        connection.send_packed_command = send

    connection.send_packed_command = in_two


def test_a_write_among_the_replies_keeps_the_read_from_being_kept(near, other):
    other.set("t:s", "1")
    fill(near, "warm")  # the connection exists
    split_sends(near, other, lambda r: r.set("t:s", "2"))
    value, kept = fill(near)
    assert value[0] == b"1" and not kept  # what Redis read before the write, and not kept
    assert near.get("e", "salt", time.time()) is None
    assert fill(near) == ((b"2", None, None), True)


def test_a_write_to_another_key_among_the_replies_does_not_matter(near, other):
    near.read([("GET", "t:z")])
    split_sends(near, other, lambda r: r.set("t:z", "2"))
    _, kept = fill(near)
    assert kept and near.get("e", "salt", time.time()) is not None


def test_a_lost_connection_loses_all_it_kept_and_a_new_one_is_made(near, client, other):
    fill(near)
    tracking = [c for c in other.client_list() if "t" in c["flags"]]
    assert len(tracking) == 1
    other.client_kill_filter(_id=tracking[0]["id"])
    assert near.get("e", "salt", time.time()) is None
    other.set("t:s", "3")
    assert fill(near) == ((b"3", None, None), True)
    assert near.get("e", "salt", time.time()) is not None


def _in_child(near, queue):
    queue.put((near.get("e", "salt", time.time()), near.read([("GET", "t:s")])[0]))


def test_a_forked_child_uses_none_of_its_parents(near, other):
    other.set("t:s", "1")
    fill(near)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_in_child, args=(near, queue))
    child.start()
    got, replies = queue.get(timeout=20)
    child.join(20)
    assert got is None and replies == [b"1"]  # nothing kept, and its own connection to read on
    assert near.get("e", "salt", time.time()) is not None  # the parent's connection still in step


def test_a_full_thread_forgets_all_at_once(client):
    near = NearCache(client, max_entries=3)
    try:
        for key in "abc":
            near.read([("GET", f"t:{key}")])
            assert near.keep(key, "salt", key, (f"t:{key}".encode(),), math.inf, ())
        near.read([("GET", "t:d")])
        near.keep("d", "salt", "d", (b"t:d",), math.inf, ())
        assert [near.get(k, "salt", time.time()) for k in "abcd"] == [None, None, None, "d"]
    finally:
        near.close()


def test_a_server_refusing_tracking_turns_it_off(client, monkeypatch, caplog):
    near = NearCache(client)

    def refuse(mine):
        raise redis.exceptions.ResponseError("ERR unknown command 'HELLO'")

    monkeypatch.setattr(near, "_connect", refuse)
    assert near.read([("GET", "t:s")]) is None
    assert not near.enabled and "near cache off" in caplog.text
    assert near.get("e", "salt", time.time()) is None


def test_closing_the_store_closes_the_tracking_connections(near, client, other):
    fill(near)
    assert [c for c in other.client_list() if "t" in c["flags"]]
    close_for(client)
    assert eventually(lambda: not [c for c in other.client_list() if "t" in c["flags"]])
    assert near.get("e", "salt", time.time()) is None


def test_a_thread_that_ended_leaves_no_tracking_connection(near, other):
    def work():
        fill(near)
        assert near.get("e", "salt", time.time()) is not None

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(10)
    del thread
    gc.collect()
    assert eventually(lambda: not [c for c in other.client_list() if "t" in c["flags"]])
    assert near.get("e", "salt", time.time()) is None  # nor is what it kept this thread's


def test_an_error_answering_the_ping_serves_nothing(near, monkeypatch):
    fill(near)
    mine = near._local.t
    replies = near._replies
    monkeypatch.setattr(near, "_replies", lambda t, n: [redis.exceptions.BusyLoadingError("LOADING")]
                        if n == 1 else replies(t, n))
    assert near.get("e", "salt", time.time()) is None
    assert mine.connection is None and not mine.entries  # dropped: the next read makes a new one
    monkeypatch.setattr(near, "_replies", replies)
    assert fill(near)[1] and near.get("e", "salt", time.time()) is not None
