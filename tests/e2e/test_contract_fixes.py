"""Contract mismatches found in review, each with the HTTP behaviour a client relies on."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from adapters.store.durability import NonDurableStore
from app import create_app
from tests.conftest import SERVER_URL, Api

SECRET = "contract-secret-0123456789abcdef0123"
ZHANG = "11010519491231002X"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def redis_on(port: int, data_dir: Path, *settings: str) -> Iterator[redis.Redis]:
    """A redis-server of our own on `port` (no snapshots), stopped when the block ends."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs redis-server on PATH")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--dir", str(data_dir), *settings], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield client
    finally:
        client.close()
        process.kill()  # disposable data; a SIGTERM waits for an initial AOF rewrite
        process.wait(timeout=10)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def storeless_app(port):
    """The app started while nothing listens on its Redis port."""
    return create_app({"HEALTHCODE_REDIS_URL": f"redis://127.0.0.1:{port}/0", "TESTING": True,
                       "HEALTHCODE_SECRET_KEY": SECRET})


def assert_store_unavailable(response) -> None:
    assert response.status_code == 503
    assert response.json["error"]["code"] == "store_unavailable"
    assert response.headers["Retry-After"]


# -- 1. start-up without the store ---------------------------------------------------------------


@pytest.mark.standalone  # a standalone server of its own, or none
def test_app_starts_while_the_store_is_down_and_serves_once_it_is_back(storeless_app, port, tmp_path):
    client = storeless_app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    assert_store_unavailable(client.post("/api/v1/sessions", json={"platform": "dev", "code": "alice"}))

    with redis_on(port, tmp_path):
        assert client.get("/readyz").status_code == 200
        api = Api(storeless_app, client)
        me = api.login("alice")
        person = api.apply(me)
        code = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me)
        assert code.status_code == 200  # signed with the key ring's first key, made on first use
        scan = client.post("/api/v1/scans", json={"qr": code.json["qr"]}, headers=api.staff("checkpoint"))
        assert scan.json["valid"] is True
        assert len(client.get("/.well-known/health-code-keys").json["keys"]) == 1


@pytest.mark.standalone  # a standalone server of its own, or none
def test_published_keys_exist_even_before_the_first_code_is_signed(storeless_app, port, tmp_path):
    with redis_on(port, tmp_path):
        keys = storeless_app.test_client().get("/.well-known/health-code-keys").json["keys"]
        assert [key["alg"] for key in keys] == ["ES256"]


@pytest.mark.standalone  # a standalone server of its own, or none
def test_production_app_started_without_its_store_never_writes_to_a_non_durable_one(port, tmp_path):
    app = create_app({"HEALTHCODE_REDIS_URL": f"redis://127.0.0.1:{port}/0", "HEALTHCODE_ENV": "production",
                      "HEALTHCODE_SECRET_KEY": SECRET})
    client = app.test_client()
    assert client.get("/readyz").status_code == 503

    with redis_on(port, tmp_path, "--appendonly", "no") as server:
        assert client.get("/readyz").status_code == 503
        assert_store_unavailable(client.get("/.well-known/health-code-keys"))
        with pytest.raises(NonDurableStore, match="appendfsync always"):
            app.extensions["healthcode"].credentials.create("checkpoint", "东门")
        assert server.dbsize() == 0

        server.config_set("appendonly", "yes")
        server.config_set("appendfsync", "always")
        assert client.get("/readyz").status_code == 200  # no restart needed
        token, _ = app.extensions["healthcode"].credentials.create("checkpoint", "东门")
        scan = client.post("/api/v1/scans", json={"qr": "CNHC1:nonsense"}, headers={"Authorization": "Bearer " + token})
        assert scan.status_code == 200 and scan.json["valid"] is False
        assert len(client.get("/.well-known/health-code-keys").json["keys"]) == 1


@pytest.mark.standalone  # a standalone server of its own, or none
@pytest.mark.parametrize("setting", [("--appendonly", "no"), ("--appendonly", "yes", "--appendfsync", "always",
                                                                     "--no-appendfsync-on-rewrite", "yes")],
                         ids=["no-aof", "no-fsync-while-rewriting"])
def test_production_still_refuses_to_start_on_a_reachable_non_durable_store(port, tmp_path, setting):
    with redis_on(port, tmp_path, *setting) as server:
        with pytest.raises(RuntimeError, match="appendfsync always"):
            create_app({"HEALTHCODE_REDIS_URL": f"redis://127.0.0.1:{port}/0", "HEALTHCODE_ENV": "production",
                        "HEALTHCODE_SECRET_KEY": SECRET})
        assert server.dbsize() == 0


# -- 2. /.well-known is an API path ------------------------------------------------------------------


@pytest.mark.standalone  # a standalone server of its own, or none
def test_published_keys_answer_a_store_outage_with_the_json_error_body(storeless_app):
    response = storeless_app.test_client().get("/.well-known/health-code-keys?lang=en")
    assert_store_unavailable(response)
    assert response.json["error"]["message"] == "the data store is unavailable; try again shortly"


# -- 3. a removed marker says so ----------------------------------------------------------------------


def test_removing_a_marker_answers_it_removed_not_active(api, client):
    authority = api.staff("authority")
    added = api.mark({"id_number": ZHANG, "kind": "confirmed", "reason": "确诊"}, authority)
    assert (added["status"], added["removed_at"]) == ("active", None)
    removed = client.delete(f"/api/v1/authority/markers/{added['id']}", headers=authority, json={"reason": "治愈"})
    assert removed.status_code == 200
    assert removed.json["status"] == "removed" and removed.json["removed_at"].endswith("+08:00")
    assert (removed.json["color_before"], removed.json["color_after"]) == ("red", "green")


# -- 4. the policy, not the request, decides when a marker ends ---------------------------------------


@pytest.mark.parametrize("kind, until", [("confirmed", "2020-01-01T00:00:00+08:00"),
                                         ("close_contact", "2030-01-01T00:00:00+08:00")])
def test_an_explicit_until_is_refused_where_the_policy_decides_the_end(api, client, redis_server, kind, until):
    response = client.post("/api/v1/authority/markers", headers=api.staff("authority"),
                           json={"id_number": ZHANG, "kind": kind, "reason": "r", "until": until})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error" and list(error["fields"]) == ["until"]
    assert error["fields"]["until"] == ["该类型何时解除由赋码政策决定，请勿填写结束时间"]
    assert redis_server.keys("hc:p:*:m") == []


# -- 5 and 6. messages in the client's language ---------------------------------------------------------


def test_a_blank_login_code_is_refused_in_chinese(client):
    zh = client.post("/api/v1/sessions", json={"platform": "dev", "code": "   "})
    assert zh.status_code == 422 and zh.json["error"]["message"] == "登录码无效"
    en = client.post("/api/v1/sessions?lang=en", json={"platform": "dev", "code": "   "})
    assert en.json["error"]["message"] == "invalid login code"


def test_an_unparseable_json_body_says_so_in_the_clients_language(client):
    zh = client.post("/api/v1/sessions", data="{", content_type="application/json")
    assert zh.status_code == 400
    assert zh.json["error"] == {"code": "bad_request", "message": "请求体不是有效的 JSON",
                                "fields": {"json": ["请求体不是有效的 JSON"]}}
    en = client.post("/api/v1/sessions", data="{", content_type="application/json", headers={"Accept-Language": "en"})
    assert en.json["error"]["message"] == "Invalid JSON body."


# -- 7. settings from the environment ----------------------------------------------------------------


def test_environment_takes_a_log_level_in_any_case_and_fractional_cache_seconds(monkeypatch, redis_server):
    monkeypatch.setenv("HEALTHCODE_LOG_LEVEL", "debug")
    monkeypatch.setenv("HEALTHCODE_CREDENTIAL_CACHE_SECONDS", "0.5")
    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True})
    assert app.extensions["healthcode.runtime"].settings.credential_cache_seconds == 0.5
    token, _ = app.extensions["healthcode"].credentials.create("checkpoint", "东门")
    for _ in range(2):  # checked, then from the cache
        scan = app.test_client().post("/api/v1/scans", json={"qr": "CNHC1:x"},
                                      headers={"Authorization": "Bearer " + token})
        assert scan.status_code == 200


@pytest.mark.parametrize("name, value", [("HEALTHCODE_LOG_LEVEL", "verbose"), ("HEALTHCODE_CODE_TTL", "1.5"),
                                         ("HEALTHCODE_KEY_REFRESH_SECONDS", "soon"), ("HEALTHCODE_DEV_LOGIN", "maybe"),
                                         ("HEALTHCODE_ALLOW_NON_DURABLE_STORE", "ture"),
                                         ("HEALTHCODE_CREDENTIAL_CACHE_SECONDS", "inf"),
                                         ("HEALTHCODE_KEY_REFRESH_SECONDS", "nan"), ("HEALTHCODE_CODE_TTL", "0"),
                                         ("HEALTHCODE_MAX_FAMILY", "-1")])
def test_a_malformed_setting_is_refused_by_name(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=name):
        create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET})


# -- 9. the documented error responses ---------------------------------------------------------------


def test_openapi_documents_the_errors_each_route_can_answer(client):
    paths = client.get("/openapi.json").json["paths"]
    assert "409" in paths["/api/v1/persons"]["post"]["responses"]
    assert "401" in paths["/api/v1/scans"]["post"]["responses"]
    assert {"401", "403", "404"} <= set(paths["/api/v1/authority/markers/{marker_id}"]["delete"]["responses"])
    error = paths["/api/v1/scans"]["post"]["responses"]["403"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
