"""The store on a Redis Cluster: batches split by master, redirections, WAIT after must-survive
writes, the durability check on every node. The cluster pass only (HEALTHCODE_TEST_REDIS_MODE=cluster)."""
import pytest
from redis.cluster import RedisCluster
from redis.exceptions import ClusterCrossSlotError

from adapters.store import scripts
from adapters.store.keys import facts_keys
from adapters.store.replication import AcknowledgingConnection, acknowledging
from tests.conftest import CLUSTER, SERVER_URL

pytestmark = pytest.mark.skipif(not CLUSTER, reason="the cluster pass: HEALTHCODE_TEST_REDIS_MODE=cluster")


def masters_of(client, keys):
    return {client.get_node_from_key(key).name for key in keys}


def test_a_batch_spanning_masters_answers_in_order_and_survives_a_lost_script(redis_server):
    keys = [f"k{i}" for i in range(12)]
    assert len(masters_of(redis_server, keys)) == 3
    for key in keys:
        redis_server.set(key, key)
    read = redis_server.register_script("return redis.call('GET', KEYS[1])")
    redis_server.script_flush()  # as a promoted replica: no script cached
    person, markers, _, _ = facts_keys("p1")
    redis_server.hset(person, "i", "ct")
    commands = [("GET", key) for key in keys] + [("EVALSHA", read.sha, 1, "k3"), ("MULTI",),
                                                 ("HGETALL", person), ("HGETALL", markers), ("EXEC",), ("GET", "k0")]
    replies = scripts.read_round_trip(redis_server, commands, (read,))
    assert replies[:12] == [key.encode() for key in keys] and replies[12] == b"k3"
    assert replies[13:15] == [b"OK", b"QUEUED"] and replies[16:] == [[{b"i": b"ct"}, {}], b"k0"]  # RESP3: maps


def test_a_stale_slot_table_is_corrected_by_the_moved_reply(redis_server):
    redis_server.set("{p1}x", "1")
    manager = redis_server.nodes_manager
    slot = redis_server.keyslot("{p1}x")
    right = manager.slots_cache[slot][0]
    wrong = next(node for node in manager.nodes_cache.values() if node.server_type == "primary" and node != right)
    manager.slots_cache[slot] = [wrong]  # as after a failover or a resharding nobody told us of
    assert scripts.run_pipeline(redis_server, lambda pipe: pipe.hget("{p1}h", "f"), ()) == [None]
    assert scripts.read_round_trip(redis_server, [("GET", "{p1}x")], ()) == [b"1"]
    assert manager.slots_cache[slot][0].name == right.name
    manager.slots_cache[slot] = [wrong]  # a transaction sent to the wrong master: EXEC discards it, sent again
    block = [("MULTI",), ("GET", "{p1}x"), ("HGETALL", "{p1}h"), ("EXEC",)]
    assert scripts.read_round_trip(redis_server, block, ())[-1] == [b"1", {}]
    with pytest.raises(ClusterCrossSlotError):  # a bug in the batch, not an outage: never a 503
        scripts.read_round_trip(redis_server, [("MULTI",), ("GET", "{p1}x"), ("GET", "{p2}x"), ("EXEC",)], ())


def waits(client) -> int:
    stats = client.info("commandstats", target_nodes=RedisCluster.PRIMARIES)
    return sum(int(node.get("cmdstat_wait", {}).get("calls", 0)) for node in stats.values())


def test_must_survive_writes_wait_for_a_replica_on_their_own_connection_and_reads_do_not(redis_server):
    client = RedisCluster.from_url(SERVER_URL, connection_class=AcknowledgingConnection)
    durable = acknowledging(client, 1, 500)
    create = scripts.register(durable, "create")
    before = waits(redis_server)
    durable.get("{p1}x")  # a read
    client.set("{p1}y", "1")  # a cheap write (a session, a scan)
    assert waits(redis_server) == before
    assert create(keys=["hc:p:{p1}"], args=["i", "ct"]) == 1
    durable.hset("hc:p:{p1}:m", "m1", "{}")
    assert waits(redis_server) == before + 2
    client.close()


def test_production_on_the_cluster_refuses_a_node_that_can_lose_writes(redis_server):
    from app import create_app

    config = {"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_ENV": "production", "HEALTHCODE_SECRET_KEY": "p" * 40,
              "HEALTHCODE_SMS_PROVIDER": "none"}
    create_app(config).extensions["healthcode.runtime"].store.close()  # every node: appendfsync always
    nodes = [redis_server.get_redis_connection(master) for master in redis_server.get_primaries()]
    for node in nodes:
        node.config_set("appendfsync", "everysec")
    try:
        with pytest.raises(RuntimeError, match="appendfsync always"):
            create_app(config)
    finally:
        for node in nodes:
            node.config_set("appendfsync", "always")


def test_the_app_starts_while_the_cluster_is_down_answers_503_and_serves_once_it_is_up(tmp_path):
    from app import create_app
    from tests.local_cluster import LocalCluster, free_ports

    cluster = LocalCluster(tmp_path, free_ports())
    app = create_app({"HEALTHCODE_REDIS_URL": cluster.url, "HEALTHCODE_SECRET_KEY": "d" * 40, "TESTING": True})
    client = app.test_client()
    try:
        down = client.post("/api/v1/sessions", json={"platform": "dev", "code": "early"})
        assert down.status_code == 503 and down.json["error"]["code"] == "store_unavailable"
        cluster.start()
        up = client.post("/api/v1/sessions", json={"platform": "dev", "code": "early"})
        assert up.status_code == 201, up.json
        token = up.json["token"]
        assert client.get("/api/v1/persons", headers={"Authorization": "Bearer " + token}).status_code == 200
    finally:
        app.extensions["healthcode.runtime"].store.close()
        cluster.stop()
