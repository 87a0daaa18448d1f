"""Crash safety and recovery: nothing acknowledged is lost, and the service heals itself.

The embedded store runs redis-server with `appendonly yes` + `appendfsync always`: every write
is in the AOF (written and fsynced) before Redis replies, so before the app answers 201. The
SIGKILL tests run on the development server and on the production server of the README's
deployment command (chosen by bench/run.py --sweep), several worker processes and threads, all
killed at once (the process group) as a crash would.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from adapters.store.embedded import EmbeddedRedis
from tests.conftest import NOTICE

pytestmark = [pytest.mark.slow, pytest.mark.standalone]  # the embedded store, a server of its own
ROOT = Path(__file__).resolve().parents[2]
SECRET = "durability-secret-0123456789abcdef0123"
# The README's access-log format: the path only (a platform callback's query carries an openid).
ACCESS_LOG = '%(addr)s "%(method)s %(path)s" %(status)d %(dt_ms).3f'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or its workers still booting
            pass
        time.sleep(0.1)
    raise AssertionError("timed out")


def serve_command(server: str, port: int) -> list[str]:
    """The command line of `server` serving the app on 127.0.0.1:port."""
    if server == "flask":
        return [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)]
    if server == "granian":  # the README's deployment command (bench/run.py's sweep winner), on this port
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "2", "--blocking-threads", "4", "--runtime-threads", "1", "--no-ws",
                "--access-log", "--access-log-fmt", ACCESS_LOG, "--factory", "app:create_app"]
    raise ValueError(server)


PRODUCTION = "granian"
SERVERS = [pytest.param("flask", id="flask-run"), pytest.param(PRODUCTION, id=f"production-{PRODUCTION}")]


class Service:
    """The app as its own process group (`flask run` or a production server), on the embedded
    store in `data_dir`."""

    def __init__(self, tmp_path: Path, extra_env: dict | None = None, server: str = "flask") -> None:
        self.server = server
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "HEALTHCODE_SECRET_KEY": SECRET, "HEALTHCODE_LOG_LEVEL": "WARNING",
                    "HEALTHCODE_DATA_DIR": str(tmp_path / "redis"), **(extra_env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            serve_command(self.server, self.port),
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_until(lambda: requests.get(self.base + "/healthz", timeout=1).ok, timeout=30)

    def kill(self) -> None:
        """SIGKILL to the whole process group: the server and every worker, as a crash."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()


@pytest.fixture(params=SERVERS)
def service(tmp_path, request):
    svc = Service(tmp_path, server=request.param)
    yield svc
    if svc.proc and svc.proc.poll() is None:
        svc.kill()
    EmbeddedRedis(tmp_path / "redis").stop()


APPLICATION = {"name": "张三", "id_number": "11010519491231002X", "phone": "13800138000", "relation": "self",
    "consent_notice": NOTICE}


def login(base: str) -> dict:
    token = requests.post(base + "/api/v1/sessions", json={"platform": "dev", "code": "alice"}).json()["token"]
    return {"Authorization": "Bearer " + token}


def test_sigkill_of_the_app_after_201_loses_nothing(service):
    service.start()
    me = login(service.base)
    response = requests.post(service.base + "/api/v1/persons", json=APPLICATION, headers=me)
    assert response.status_code == 201
    response = requests.post(service.base + f"/api/v1/persons/{response.json()['id']}/verification",
                             json={"ticket": "face-ok"}, headers=me)
    assert response.status_code == 200
    person = response.json()
    assert person["verified"]
    authority = {"Authorization": "Bearer " + service.cli("credentials", "create", "--role", "authority",
                                                            "--name", "CDC")}
    marker = requests.post(service.base + "/api/v1/authority/markers", headers=authority,
                           json={"person_id": person["id"], "kind": "confirmed", "reason": "确诊"})
    assert marker.status_code == 201 and marker.json()["status"] == "pending"  # red: a second credential
    approver = {"Authorization": "Bearer " + service.cli("credentials", "create", "--role", "authority_approver",
                                                           "--name", "CDC 2")}
    approved = requests.post(service.base + f"/api/v1/authority/markers/{marker.json()['id']}/approve",
                             headers=approver, json={})
    assert approved.status_code == 200
    service.kill()

    service.start()
    assert requests.get(service.base + "/api/v1/persons", headers=me).json()["persons"] == [person]
    code = requests.get(service.base + f"/api/v1/persons/{person['id']}/health-code", headers=me).json()
    assert code["color"] == "red"


def test_sigkill_of_embedded_redis_after_201_loses_nothing_and_recovers(service, tmp_path):
    service.start()
    me = login(service.base)
    response = requests.post(service.base + "/api/v1/persons", json=APPLICATION, headers=me)
    assert response.status_code == 201
    os.kill(EmbeddedRedis(tmp_path / "redis").pid(), signal.SIGKILL)

    # The first calls may see the store down (503, never 500); the app restarts it by itself.
    def persons():
        reply = requests.get(service.base + "/api/v1/persons", headers=me, timeout=5)
        assert reply.status_code in (200, 503), reply.text
        if reply.status_code == 503:
            assert reply.json()["error"]["code"] == "store_unavailable"
            return None
        return reply.json()["persons"]

    assert wait_until(persons) == [response.json()]


def test_store_down_answers_503_and_recovers_when_it_is_back(tmp_path):
    port = free_port()
    server_cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path)]
    redis_proc = subprocess.Popen(server_cmd, stdout=subprocess.DEVNULL)
    svc = Service(tmp_path, {"HEALTHCODE_REDIS_URL": f"redis://127.0.0.1:{port}/0"})
    try:
        time.sleep(0.3)
        svc.start()
        me = login(svc.base)
        assert requests.post(svc.base + "/api/v1/persons", json=APPLICATION, headers=me).status_code == 201
        redis_proc.send_signal(signal.SIGKILL)
        redis_proc.wait()

        reply = requests.get(svc.base + "/api/v1/persons", headers=me, timeout=10)
        assert reply.status_code == 503 and reply.json()["error"]["code"] == "store_unavailable"
        assert reply.headers["Retry-After"]
        assert requests.get(svc.base + "/readyz").status_code == 503
        assert requests.get(svc.base + "/healthz").status_code == 200
        assert requests.get(svc.base + "/m/apply").status_code == 200  # pages are static shells

        redis_proc = subprocess.Popen(server_cmd, stdout=subprocess.DEVNULL)
        assert wait_until(lambda: requests.get(svc.base + "/api/v1/persons", headers=me).ok)
        assert len(requests.get(svc.base + "/api/v1/persons", headers=me).json()["persons"]) == 1
    finally:
        if svc.proc and svc.proc.poll() is None:
            svc.kill()
        redis_proc.kill()
        redis_proc.wait()


def test_readme_deploys_the_command_tested_here():
    """The README's deployment command is the one the SIGKILL tests run (but its host and port)."""
    import shlex

    text = (ROOT / "README.md").read_text()
    lines = iter(text[text.index("\ngranian ") + 1:].splitlines())
    command = next(lines)
    while command.endswith("\\"):  # continued on the next line
        command = command[:-1] + next(lines)
    readme = shlex.split(command)
    tested = serve_command(PRODUCTION, 8000)[2:]  # without `python -m`
    for args in (readme, tested):
        for flag in ("--host", "--port"):
            del args[args.index(flag):args.index(flag) + 2]
    assert readme == tested
