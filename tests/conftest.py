"""Shared fixtures: a real Redis (the server on 127.0.0.1:6379, database 15)."""
import os

import pytest
import redis

SERVER_URL = os.environ.get("HEALTHCODE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_server():
    """A clean database on the Redis server; flushed before and after the test."""
    client = redis.Redis.from_url(SERVER_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()
