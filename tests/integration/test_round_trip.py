"""read_round_trip: the hot read's one write and one read of the socket, and what it survives."""
import os

import pytest
import redis

from adapters.store import scripts
from adapters.store.encoding import pairs


@pytest.fixture
def client(redis_server):
    redis_server.set("k", "v")
    return redis_server


def test_replies_in_order_raw(client):
    script = client.register_script("return {KEYS[1]}")
    client.script_load(script.script)
    replies = scripts.read_round_trip(client, [("GET", "k"), ("HGET", "nohash", "f"), ("GET", "none")], (script,))
    assert replies == [b"v", None, None]


@pytest.mark.standalone  # keys of several slots; the cluster's own: test_cluster_store.py
def test_a_lost_script_is_loaded_and_the_round_trip_sent_again(client):
    script = client.register_script("return {KEYS[1]}")
    client.script_flush()
    reply = scripts.read_round_trip(client, [("GET", "k"), ("EVALSHA", script.sha, 1, "a")], (script,))
    assert reply == [b"v", [b"a"]]


@pytest.mark.standalone  # "h" and "k" are two slots: refused on the cluster (test_cluster_store.py)
def test_a_transaction_comes_back_as_one_reply(client):
    client.hset("h", "f", "1")
    replies = scripts.read_round_trip(client, [("GET", "k"), ("MULTI",), ("HGETALL", "h"), ("GET", "k"), ("EXEC",)], ())
    assert replies[0] == b"v" and replies[-1][1] == b"v"
    assert pairs(replies[-1][0]) == {b"f": b"1"}  # a map (RESP3) or a flat list (RESP2)


@pytest.mark.standalone
def test_a_connection_the_server_dropped_is_replaced(client):
    pooled = client.client_id()  # the one pooled connection (nothing else runs here)
    other = redis.Redis(connection_pool=redis.ConnectionPool(**client.connection_pool.connection_kwargs))
    assert other.client_kill_filter(_id=pooled) == 1  # as a server restart does
    other.close()
    assert scripts.read_round_trip(client, [("GET", "k")], ()) == [b"v"]


def test_an_error_reply_is_raised_and_leaves_the_connection_in_step(client):
    with pytest.raises(redis.exceptions.ResponseError):
        scripts.read_round_trip(client, [("HGET", "k", "f"), ("GET", "k")], ())  # WRONGTYPE first
    assert scripts.read_round_trip(client, [("GET", "k"), ("GET", "k")], ()) == [b"v", b"v"]


@pytest.mark.standalone  # the cluster's round trips read through redis-py's read_response
def test_a_round_trip_stopped_half_way_leaves_no_reply_for_the_next(client, monkeypatch):
    # The hot round trips keep one connection per thread (scripts._connection): one that stopped
    # with replies unread must be dropped, or the next round trip would read this one's replies.
    connection = scripts._connection(scripts._pool(client, "k"))
    real, seen = connection._parser.read_from_socket, []

    def interrupted(*args, **kwargs):  # the replies arrive, and the reading stops before they are read
        real(*args, **kwargs)
        seen.append(1)
        if len(seen) == 1:
            raise RuntimeError("interrupted between two replies")

    monkeypatch.setattr(connection._parser, "read_from_socket", interrupted)
    client.set("k", "before")
    with pytest.raises(RuntimeError):
        scripts.read_round_trip(client, [("GET", "k"), ("GET", "k"), ("GET", "k")], ())
    assert seen == [1]
    client.set("k", "after")
    assert scripts.read_round_trip(client, [("GET", "k")], ()) == [b"after"]


def test_a_thread_keeps_its_connection_and_a_forked_child_takes_its_own(client, monkeypatch):
    pool = scripts._pool(client, "k")
    first = scripts._connection(pool)
    assert scripts._connection(pool) is first
    monkeypatch.setattr(scripts, "_pid", [-1])  # as in a child forked after first use
    assert scripts._connection(pool) is not first


def test_a_forked_child_knows_its_own_pid():
    child = os.fork()
    if child == 0:  # the child: exit 0 only if the kept pid is its own
        os._exit(0 if scripts._pid[0] == os.getpid() else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and scripts._pid[0] == os.getpid()


def test_an_unanswered_write_lands_before_the_next_round_trip_and_its_error_is_not_read(client):
    assert scripts.send_unanswered(client, "{u}x", ("SET", "{u}x", "1"))
    assert scripts.read_round_trip(client, [("GET", "{u}x")], ()) == [b"1"]  # the same connection: after it
    assert scripts.send_unanswered(client, "{u}x", ("HSET", "{u}x", "f", "v"))  # WRONGTYPE: skipped, unseen
    assert scripts.read_round_trip(client, [("GET", "{u}x"), ("GET", "k")], ()) == [b"1", b"v"]  # in step


@pytest.mark.standalone
def test_an_unanswered_write_on_a_lost_connection_says_so_and_the_next_reconnects(client, monkeypatch):
    connection = scripts._connection(client.connection_pool)

    def lost(*args, **kwargs):
        raise redis.exceptions.ConnectionError("lost")

    monkeypatch.setattr(connection, "send_packed_command", lost)
    assert scripts.send_unanswered(client, "{u}x", ("SET", "{u}x", "1")) is False
    monkeypatch.undo()
    assert scripts.read_round_trip(client, [("GET", "k")], ()) == [b"v"]


@pytest.mark.standalone
def test_the_connections_of_ended_threads_go_back_to_the_pool(client):
    # A server with a thread per request (the dev server) must not keep a connection per request.
    import threading

    pool = client.connection_pool

    def one_read():
        assert scripts.read_round_trip(client, [("GET", "k")], ()) == [b"v"]

    for _ in range(30):
        thread = threading.Thread(target=one_read)
        thread.start()
        thread.join()
    one_read()
    assert len(pool._in_use_connections) <= 2  # this thread's, and at most the last ended thread's
    assert len(pool._in_use_connections) + len(pool._available_connections) <= 3


@pytest.mark.standalone
def test_threads_the_threading_module_did_not_start_keep_their_own_connections(client):
    # granian's and uWSGI's worker threads are started outside Python's threading module, so
    # threading.enumerate() does not list them unless they registered: a thread taking its first
    # connection must not take one of theirs back as an ended thread's (two threads on one
    # connection read each other's replies: another person's facts).
    import _thread
    import threading

    pool = client.connection_pool
    taken: dict[str, object] = {}
    first_done, second_done, finish = threading.Event(), threading.Event(), threading.Event()

    def take(name: str, done: threading.Event) -> None:
        taken[name] = scripts._connection(pool)
        done.set()
        finish.wait(10)
        taken[name + " after"] = scripts._connection(pool)

    _thread.start_new_thread(take, ("first", first_done))
    assert first_done.wait(10)
    _thread.start_new_thread(take, ("second", second_done))
    assert second_done.wait(10)
    try:
        assert taken["first"] is not taken["second"]
        assert taken["first"] in pool._in_use_connections and taken["second"] in pool._in_use_connections
    finally:
        finish.set()
    for _ in range(100):
        if len(taken) == 4:
            break
        threading.Event().wait(0.05)
    assert taken["first after"] is taken["first"] and taken["second after"] is taken["second"]


@pytest.mark.standalone  # an ACL user on the test server
def test_where_client_reply_is_refused_the_cache_write_waits_for_its_reply_and_nothing_goes_out_of_step(client):
    # An ACL without CLIENT (or a proxy without it): the skipped replies would come back and
    # every later round trip on the connection would read the previous one's replies.
    client.acl_setuser("hc-no-client", enabled=True, nopass=True, keys=["*"], channels=["*"],
                       commands=["+@all", "-client"])
    try:
        kwargs = {**client.connection_pool.connection_kwargs, "username": "hc-no-client", "password": None}
        limited = redis.Redis(connection_pool=redis.ConnectionPool(**kwargs))
        assert scripts.send_unanswered(limited, "{u}x", ("SET", "{u}x", "1"))
        assert limited.connection_pool.__dict__[scripts._SKIPS] is False
        assert scripts.send_unanswered(limited, "{u}x", ("SET", "{u}x", "2"))
        assert scripts.read_round_trip(limited, [("GET", "{u}x"), ("GET", "k")], ()) == [b"2", b"v"]
        assert scripts.read_round_trip(limited, [("GET", "k")], ()) == [b"v"]
        limited.close()
    finally:
        client.acl_deluser("hc-no-client")


def test_where_client_reply_works_the_probe_says_so(client):
    assert scripts.send_unanswered(client, "{u}x", ("SET", "{u}x", "1"))
    assert scripts._pool(client, "{u}x").__dict__[scripts._SKIPS] is True
    assert scripts.read_round_trip(client, [("GET", "{u}x")], ()) == [b"1"]
