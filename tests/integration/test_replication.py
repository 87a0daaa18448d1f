"""WAIT after must-survive writes, on a standalone server without a replica: a write no replica
acknowledged raises NotReplicated (503) and may still be there; reads never wait."""
import pytest
import redis

from adapters.store import scripts
from adapters.store.replication import AcknowledgingConnection, NotReplicated, acknowledging
from tests.conftest import SERVER_URL

pytestmark = pytest.mark.standalone  # the test server has no replica; the cluster's do: test_cluster_store.py


def test_a_write_no_replica_acknowledged_is_not_acknowledged_but_may_be_there(redis_server):
    client = redis.Redis.from_url(SERVER_URL, connection_class=AcknowledgingConnection, health_check_interval=1)
    durable = acknowledging(client, 1, 10)
    with pytest.raises(NotReplicated, match="0 of 1 replicas"):
        durable.hset("hc:p:{p1}", "i", "ct")
    assert client.hget("hc:p:{p1}", "i") == b"ct"  # written on the master: a retry must be safe
    assert durable.hget("hc:p:{p1}", "i") == b"ct"  # a read: no WAIT
    create = scripts.register(durable, "create")
    with pytest.raises(NotReplicated):
        create(keys=["hc:p:{p2}"], args=["i", "ct"])
    assert client.set("k", "v")  # the plain client never waits
    assert acknowledging(client, 0, 10) is client


def test_the_connection_stays_in_step_after_a_refused_write(redis_server):
    client = redis.Redis.from_url(SERVER_URL, connection_class=AcknowledgingConnection, max_connections=1)
    durable = acknowledging(client, 1, 10)
    with pytest.raises(NotReplicated):
        durable.hset("hc:p:{p1}", "i", "ct")
    assert client.get("missing") is None  # the one connection: its WAIT reply was read
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        durable.lpush("hc:p:{p1}", "x")  # an error reply: nothing written, no WAIT sent
    assert client.get("missing") is None and client.ping()
