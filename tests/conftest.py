"""Shared fixtures: a real Redis (the server on 127.0.0.1:6379, database 15)."""
import os

import pytest
import redis

NOTICE = "2026-12-01"  # the version of policies/notice.json the tests agree to
SERVER_URL = os.environ.get("HEALTHCODE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_server():
    """A clean database on the Redis server; flushed before and after the test."""
    client = redis.Redis.from_url(SERVER_URL)
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
