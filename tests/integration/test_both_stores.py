"""The whole flow on both stores: the Redis server and the embedded default."""
import pytest

from adapters.store.embedded import EmbeddedRedis
from tests.conftest import SERVER_URL, Api, store_client

SECRET = "test-secret-key-0123456789abcdef0123"


@pytest.fixture(params=["server", pytest.param("embedded", marks=pytest.mark.standalone)])
def store_app(request, tmp_path):
    from app import create_app

    if request.param == "server":
        store_client().flushdb()
        app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET})
        yield app
        store_client().flushdb()
    else:
        app = create_app({"HEALTHCODE_DATA_DIR": str(tmp_path / "redis"), "HEALTHCODE_SECRET_KEY": SECRET})
        yield app
        EmbeddedRedis(tmp_path / "redis").stop()


def test_apply_mark_show_scan(store_app):
    api = Api(store_app, store_app.test_client())
    me = api.login()
    person = api.apply(me)
    client = api.client
    qr = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
    client.post("/api/v1/authority/markers", headers=api.staff("authority"),
                json={"person_id": person["id"], "kind": "secondary_contact", "reason": "x"})
    scan = client.post("/api/v1/scans", json={"qr": qr}, headers=api.staff("checkpoint")).json
    assert scan == {**scan, "valid": True, "color": "yellow", "changed": True}
    history = client.get(f"/api/v1/persons/{person['id']}/history", headers=me).json
    assert [c["to"] for c in history["changes"]] == ["yellow", "green"]
    assert len(history["scans"]) == 1


@pytest.mark.standalone
def test_embedded_store_is_the_default(tmp_path):
    from app import create_app

    app = create_app({"HEALTHCODE_DATA_DIR": str(tmp_path / "redis"), "HEALTHCODE_SECRET_KEY": SECRET})
    try:
        store = app.extensions["healthcode.runtime"].store
        assert store.embedded is not None
        assert store.client.config_get("appendfsync") == {"appendfsync": "always"}
        assert store.client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        EmbeddedRedis(tmp_path / "redis").stop()


def test_secret_key_persists_in_instance_folder_for_development(tmp_path):
    from bootstrap import secret
    from config import Settings

    first = secret(Settings(secret_key="", env="development"), tmp_path)
    assert first == secret(Settings(secret_key="", env="development"), tmp_path)
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(RuntimeError, match="required"):
        secret(Settings(secret_key="", env="production"), tmp_path / "other")


def test_a_kept_answer_is_served_again_and_never_reaches_the_aof(store_app, tmp_path):
    api = Api(store_app, store_app.test_client())
    me = api.login()
    person = api.apply(me)
    path = f"/api/v1/persons/{person['id']}/health-code"
    api.client.get(path, headers=me)  # a first read: not kept
    first = api.client.get(path, headers=me)
    assert api.client.get(path, headers=me).get_data() == first.get_data()
    client = store_app.extensions["healthcode.runtime"].store.client
    key = f"hc:p:{{{person['id']}}}:cc".encode()
    assert client.exists(key) and 0 < client.ttl(key) <= 30
    if store_app.extensions["healthcode.runtime"].store.embedded is None:
        return
    client.set("hc:probe:after", "1")  # the AOF holds what came before this, and this
    aof = b"".join(p.read_bytes() for p in (tmp_path / "redis").rglob("*.aof*") if p.is_file())
    assert b"hc:probe:after" in aof
    assert key not in aof and b'"qr"' not in aof
