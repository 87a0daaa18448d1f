"""The notification worker (`flask --app app worker`) as a real process: SIGKILLed between a colour
change and its send, the notice is sent by the next worker, once; a worker that dies after
sending but before finishing sends no duplicate."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import create_app
from core.marking import MarkerRequest
from tests.conftest import NOTICE, SERVER_URL
from tests.sims.server import serve
from tests.sims.wechat import WeChatSimulator

SECRET = "test-secret-key-0123456789abcdef0123"
APP_ID, TEMPLATE = "wx1234567890abcdef", "TPL-COLOUR"
ROOT = Path(__file__).resolve().parents[2]
ZHANG = "11010519491231002X"

pytestmark = pytest.mark.slow


@pytest.fixture
def world(redis_server, tmp_path):
    sim = WeChatSimulator(apps={APP_ID: "wx-secret"})
    with serve(sim) as url:
        platforms = tmp_path / "platforms.toml"
        platforms.write_text(f"""[wechat]\napi_base = "{url}/"\ntimeout = 5\n[[wechat.apps]]
app_id = "{APP_ID}"\nsecret = "wx-secret"\ntoken = "t"\nsubscribe_template_id = "{TEMPLATE}"\n""")
        env = {"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET,
               "HEALTHCODE_PLATFORMS_FILE": str(platforms), "HEALTHCODE_OUTBOX_STALE_SECONDS": "1"}
        app = create_app({**env, "HEALTHCODE_OUTBOX_STALE_SECONDS": 1, "TESTING": True})
        yield app, sim, {**os.environ, **env}


def a_colour_change_queued(app, sim) -> None:
    """A WeChat user, face-checked, subscribed; a red marker approved: one notice queued."""
    client = app.test_client()
    sim.grant("code-1", "o-zhang")
    sim.subscribed.add(("o-zhang", TEMPLATE))
    me = {"Authorization": "Bearer " + client.post("/api/v1/sessions", json={
        "platform": "wechat", "code": "code-1"}).json["token"]}
    person = client.post("/api/v1/persons", headers=me, json={
        "name": "张三", "id_number": ZHANG, "phone": "13800138000", "relation": "self", "consent_notice": NOTICE}).json
    ticket = client.post(f"/api/v1/persons/{person['id']}/verification/start", headers=me).json["ticket"]
    assert client.post(f"/api/v1/persons/{person['id']}/verification", headers=me,
                       json={"ticket": ticket}).json["verified"]
    client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me)  # green, the first colour
    services = app.extensions["healthcode"]
    request = MarkerRequest(kind="close_contact", reason="流调", person_id=person["id"])
    outcome = services.marking.add_marker(request, services.credentials.create("authority", "甲")[1])
    services.marking.approve(outcome.marker.id, services.credentials.create("authority_approver", "乙")[1])


def worker(env, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_worker_killed_before_the_send_loses_nothing_and_the_next_sends_once(world, redis_server):
    app, sim, env = world
    a_colour_change_queued(app, sim)
    redis_server.delete("hc:wechatpy:" + APP_ID + "_access_token")  # the worker must fetch a token first...
    sim.delays["cgi-bin/token"] = 30  # ...and the platform keeps it waiting
    first = worker(env)
    wait_for(lambda: "cgi-bin/token" in sim.calls)  # it took the notice and is about to send it
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert sim.sent == [] and redis_server.xlen("hc:outbox") == 1  # not sent, still queued
    del sim.delays["cgi-bin/token"]
    second = worker(env, "--once")
    time.sleep(1.2)  # the first worker's claim goes stale
    second.wait(timeout=60)
    if not sim.sent:  # --once may have run before the claim went stale: once more
        worker(env, "--once").wait(timeout=60)
    assert [m["touser"] for m in sim.sent] == ["o-zhang"]
    assert redis_server.xlen("hc:outbox") == 0


def test_a_worker_that_dies_after_sending_sends_no_duplicate(world, redis_server, monkeypatch):
    app, sim, env = world
    a_colour_change_queued(app, sim)
    services = app.extensions["healthcode"]
    outbox = services.notifications._outbox

    def die(event_id):
        raise SystemExit("killed after the send, before the queue heard of it")

    monkeypatch.setattr(outbox, "done", die)
    with pytest.raises(SystemExit):
        services.notifications.deliver("dying", block_ms=0)
    assert len(sim.sent) == 1 and redis_server.xlen("hc:outbox") == 1
    time.sleep(1.2)
    worker(env, "--once").wait(timeout=60)
    assert len(sim.sent) == 1 and redis_server.xlen("hc:outbox") == 0
