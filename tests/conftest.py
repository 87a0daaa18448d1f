"""Shared fixtures: a real Redis (the server on 127.0.0.1:6379, database 15), or a local
Redis Cluster.

HEALTHCODE_TEST_REDIS_MODE=cluster runs the same tests on a six-node cluster: started once for
the session (tests/local_cluster.py), or the one at HEALTHCODE_TEST_CLUSTER_URL. The app under
test then runs with HEALTHCODE_REDIS_MODE=cluster, and `redis_server` is a cluster client whose
flush empties every master.
"""
from __future__ import annotations

import os

import pytest
import redis
from redis.cluster import RedisCluster

NOTICE = "2026-12-01"  # the version of policies/notice.json the tests agree to
MODE = os.environ.get("HEALTHCODE_TEST_REDIS_MODE", "standalone")
CLUSTER = MODE == "cluster"
if MODE not in ("standalone", "cluster"):
    raise pytest.UsageError("HEALTHCODE_TEST_REDIS_MODE must be standalone or cluster")
_local_cluster = None
if CLUSTER and not os.environ.get("HEALTHCODE_TEST_CLUSTER_URL"):
    # Started on import, not in a hook: pytest imports a conftest named on the command line
    # (tests/e2e/conftest.py) before any hook runs, and it reads SERVER_URL at once.
    from tests.local_cluster import start_cluster

    _local_cluster = start_cluster()
    os.environ["HEALTHCODE_TEST_CLUSTER_URL"] = _local_cluster.url  # pytest-xdist workers, subprocesses
SERVER_URL = os.environ.get("HEALTHCODE_TEST_CLUSTER_URL" if CLUSTER else "HEALTHCODE_TEST_REDIS_URL",
                            "redis://127.0.0.1:6379/15")
if CLUSTER:
    os.environ["HEALTHCODE_REDIS_MODE"] = "cluster"  # every create_app of the tests


def pytest_unconfigure(config):
    if _local_cluster is not None:
        _local_cluster.stop()


def pytest_report_header(config):
    return f"store: {MODE} at {SERVER_URL}"


def pytest_collection_modifyitems(config, items):
    if not CLUSTER:
        return
    skip = pytest.mark.skip(reason="standalone only: a server of its own, the embedded one, or one database")
    for item in items:
        if item.get_closest_marker("standalone"):
            item.add_marker(skip)


class ClusterForTests(RedisCluster):
    """A cluster client as the tests use `redis_server`: KEYS over every master."""

    def keys(self, pattern="*", **kwargs):
        return list(self.scan_iter(match=pattern, count=1000))


def store_client():
    """A client of the test store: the server's test database, or the cluster."""
    if CLUSTER:
        return ClusterForTests.from_url(SERVER_URL)
    return redis.Redis.from_url(SERVER_URL)


@pytest.fixture(scope="session")
def redis_cluster():
    """The session's local cluster (tests/local_cluster.LocalCluster), on the cluster only."""
    if _local_cluster is None:
        pytest.skip("needs HEALTHCODE_TEST_REDIS_MODE=cluster (and no HEALTHCODE_TEST_CLUSTER_URL)")
    return _local_cluster


@pytest.fixture
def redis_server():
    """A clean store: the server's test database, or every master of the cluster; flushed
    before and after the test."""
    client = store_client()
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def app(redis_server):
    """The real app on the Redis server's test database."""
    from app import create_app

    return create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "TESTING": True,
                       "HEALTHCODE_SECRET_KEY": "test-secret-key-0123456789abcdef0123"})


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """Small helper over the test client: log in, apply, authenticate staff."""

    def __init__(self, app, client):
        self.app = app
        self.client = client

    def login(self, name: str = "alice") -> dict:
        response = self.client.post("/api/v1/sessions", json={"platform": "dev", "code": name})
        assert response.status_code == 201, response.json
        return {"Authorization": "Bearer " + response.json["token"]}

    def mark(self, body: dict, authority: dict | None = None) -> dict:
        """Mark as an authority does; a red (pending) marker approved by a second credential."""
        authority = authority or self.staff("authority")
        response = self.client.post("/api/v1/authority/markers", json=body, headers=authority)
        assert response.status_code == 201, response.json
        if response.json["status"] != "pending":
            return response.json
        approved = self.client.post(f"/api/v1/authority/markers/{response.json['id']}/approve", json={},
                                    headers=self.staff("authority_approver", "second"))
        assert approved.status_code == 200, approved.json
        return approved.json

    def staff(self, role: str, name: str = "test") -> dict:
        token, _ = self.app.extensions["healthcode"].credentials.create(role, name)
        return {"Authorization": "Bearer " + token}

    def apply(self, headers: dict, relation: str = "self", verify: bool = True, **overrides) -> dict:
        """Apply, and (unless verify=False) pass the dev platform's face check, as a user who
        goes on to show the code does."""
        body = {"name": "张三", "id_number": "11010519491231002X", "phone": "13800138000", "relation": relation,
            "consent_notice": NOTICE}
        body.update(overrides)
        response = self.client.post("/api/v1/persons", json=body, headers=headers)
        assert response.status_code == 201, response.json
        if not verify:
            return response.json
        response = self.client.post(f"/api/v1/persons/{response.json['id']}/verification",
                                    json={"ticket": "dev-face-ok"}, headers=headers)
        assert response.status_code == 200 and response.json["verified"], response.json
        return response.json


@pytest.fixture
def api(app, client):
    return Api(app, client)
