"""Where the time of one request goes: each bench target through the app's WSGI callable, in-process.

Same population, Redis config and secret as bench/run.py, but no HTTP server and no wrk: each
target is called N times through a minimal WSGI driver (no werkzeug test client, whose own
overhead would blur the figures). Prints the mean CPU/wall microseconds per request of each
target and, with --cprofile, the top functions by own time and by cumulative time.

    python bench/hotspots.py                  # timings only
    python bench/hotspots.py --cprofile       # plus cProfile tables per target
    python bench/hotspots.py --breakdown      # plus each step of (b) and (c) timed on its own
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import RedisServer, load_population, make_app  # noqa: E402


def environ(method: str, path: str, token: str | None = None, body: bytes = b"") -> dict:
    env = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if token:
        env["HTTP_AUTHORIZATION"] = "Bearer " + token
    if body:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    return env


def call(app, env: dict) -> tuple[str, bytes]:
    status = []
    chunks = app(env, lambda s, h, exc_info=None: status.append(s))
    body = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return status[0], body


def _package(filename: str) -> str:
    """flask, werkzeug, redis, ... for site-packages; app:<dir> for this project; else stdlib/builtin."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    root = str(Path(__file__).resolve().parent.parent) + "/"
    if filename.startswith(root):
        return "app:" + filename[len(root):].split("/", 1)[0]
    return "builtin (C)" if filename == "~" else "stdlib"


def by_package(profiler: cProfile.Profile, name: str, n: int) -> None:
    """Own time (tottime) summed per package: which layer the CPU goes to."""
    stats = pstats.Stats(profiler)
    totals: dict[str, float] = {}
    for (filename, _, _func), (_, _, tottime, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        package = _package(filename)
        if package == "builtin (C)":
            # C functions: charge them to the package of the (first) caller, e.g. socket -> redis.
            caller = next(iter(callers), None)
            package = f"{_package(caller[0])} (C calls)" if caller else package
        totals[package] = totals.get(package, 0.0) + tottime
    whole = sum(totals.values())
    print(f"--- {name}: own time by package (under cProfile, us/request; total {1e6 * whole / n:.0f})")
    for package, t in sorted(totals.items(), key=lambda kv: -kv[1])[:14]:
        print(f"  {package:<36} {1e6 * t / n:7.1f} us  {100 * t / whole:5.1f}%")


def _time(label: str, fn, n: int, repeat: int = 5) -> float:
    """Best of `repeat` blocks of n // repeat calls (the least disturbed by other processes)."""
    fn()
    block = max(1, n // repeat)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(block):
            fn()
        best = min(best, time.perf_counter() - start)
    us = 1e6 * best / block
    print(f"  {label:<58} {us:8.1f} us")
    return us


def breakdown(app, rows, checkpoint: str, n: int) -> None:
    """Each step of the two API paths on its own (internals: may need updating as the app changes)."""
    from adapters.signing.qr_image import qr_version  # noqa: F401  (import cost outside the timings)
    from blueprints.citizen import health_code_body
    from blueprints.schemas import HealthCodeSchema, ScanResultSchema, iso

    s = app.extensions["healthcode"]
    client = app.extensions["healthcode.runtime"].store.client
    codes, store, issuer = s.codes, s.codes._reads, s.codes._issuer
    pid, token, qr = rows[len(rows) // 2]
    session = s.sessions.authenticate(token)
    now = int(time.time())
    snapshot = store.load(pid, session.account_id)
    link, record, facts = snapshot.link, snapshot.person, snapshot.facts
    view = codes.show(session, pid)
    context = app.app_context()
    context.push()  # health_code_body reads the app's contact settings
    body = health_code_body(view, "zh")
    print("(b) GET health-code, step by step:")
    _time("redis PING (one round trip, for scale)", client.ping, n)
    from core.accounts import token_hash

    _time("store.load_for_session (one pipeline: session, link, facts script)",
          lambda: store.load_for_session(token_hash(token), session.account_id, pid), n)
    _time("colors.evaluate_and_record (derive_color; no change recorded)",
          lambda: s.colors.evaluate_and_record(pid, facts, record.last_color, now), n)
    _time("directory.view (3 AES-GCM opens + masks)", lambda: codes._directory.view(record, link), n)
    _time("code_ids.seal (AES block)", lambda: issuer.code_ids.seal(pid, now), n)
    _time("issuer.issue (code id, CBOR + ES256 + base45), total",
          lambda: issuer.issue(pid, view.evaluation.color, now, "张*"), n)
    key = s.keys.signing_key()[1]
    _time("  of which: ECDSA P-256 sign alone", lambda: key.sign(b"x" * 100, __import__(
        "cryptography.hazmat.primitives.asymmetric.ec", fromlist=["ec"]).ECDSA(
        __import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA256"]).SHA256())), n)
    from adapters.signing import base45
    raw = base45.b45decode(qr[len("CNHC1:"):])
    _time("  of which: base45 encode of the COSE message", lambda: base45.b45encode(raw), n)
    _time("codes.show_for_token (service, all of the above)", lambda: codes.show_for_token(token, pid), n)
    with app.test_request_context():
        schema = HealthCodeSchema()  # flask-smorest builds the response schema once, too
        _time("health_code_body + HealthCodeSchema.dump (schema reused)", lambda: schema.dump(
            health_code_body(view, "zh")), n)
        _time("  of which: PersonViewSchema part (dataclass PersonView)", lambda: schema.fields["person"].serialize(
            "person", {"person": view.person}), n)
        _time("iso() x2", lambda: (iso(now), iso(now + 60)), n)
    print("(c) POST scan, step by step:")
    _time("credentials.authenticate (GET hc:cred:<sha256> + JSON)",
          lambda: s.credentials.authenticate(checkpoint, "checkpoint"), n)
    _time("verifier.verify (base45 decode, CBOR, ES256 verify)", lambda: issuer.verifier.verify(qr), n)
    _time("  of which: base45 decode", lambda: base45.b45decode(qr[len("CNHC1:"):]), n)
    from core.model import ScanRecord

    _time("store.load_and_record_scan (one script; write fsynced)",
          lambda: store.load_and_record_scan(pid, ScanRecord(now, "gate-1", "green"), now, 30 * 86400), n)
    _time("codes.scan (service, all of the above)", lambda: codes.scan(qr, "gate-1"), n)
    with app.test_request_context():
        scan_schema = ScanResultSchema()
        _time("ScanResultSchema.dump (schema reused)", lambda: scan_schema.dump(
            {"valid": True, "color": "green", "changed": False, "person": {"name_masked": "张*"},
             "issued_at": iso(now), "checked_at": iso(now)}), n)
    del body
    framework(app, rows, checkpoint, n)


def framework(app, rows, checkpoint: str, n: int) -> None:
    """The same HTTP requests with the services stubbed: what Flask + flask-smorest cost alone."""
    s = app.extensions["healthcode"]
    pid, token, qr = rows[len(rows) // 2]
    session = s.sessions.authenticate(token)
    credential = s.credentials.authenticate(checkpoint, "checkpoint")
    view = s.codes.show(session, pid)
    result = s.codes.scan(qr, "gate-1")
    scan_body = json.dumps({"qr": qr, "place_id": "gate-1"}).encode()
    saved = {}

    def stub(obj, name, value):
        saved[(obj, name)] = getattr(obj, name)
        setattr(obj, name, value)

    stub(s.sessions, "authenticate", lambda token: session)
    stub(s.credentials, "authenticate", lambda token, role: credential)
    stub(s.codes, "show_for_token", lambda token, person_id, lang="zh", variant=None: view)
    stub(s.codes, "scan", lambda qr, place, admission=None: result)
    try:
        print("framework only (services stubbed, same routes and schemas):")
        _time("GET /healthz", lambda: call(app, environ("GET", "/healthz")), n)
        _time("GET /api/v1/persons/{id}/health-code",
              lambda: call(app, environ("GET", f"/api/v1/persons/{pid}/health-code", token)), n)
        _time("POST /api/v1/scans",
              lambda: call(app, environ("POST", "/api/v1/scans", checkpoint, scan_body)), n)
    finally:
        for (obj, name), value in saved.items():
            setattr(obj, name, value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="requests per target")
    parser.add_argument("--persons", type=int, default=500)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--breakdown", action="store_true")
    parser.add_argument("--code-cache", choices=("on", "off"), default="on",
                        help="HEALTHCODE_CODE_CACHE (off: every read signs; on: repeated reads reuse)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="healthcode-profile-") as tmp:
        server = RedisServer(Path(tmp), "redis").start()
        try:
            app = make_app(server.url, HEALTHCODE_CODE_CACHE=args.code_cache == "on")
            services = app.extensions["healthcode"]
            rows, _ = load_population(services, args.persons)
            checkpoint, _ = services.credentials.create("checkpoint", "bench")
            rng = random.Random(1)

            def healthz():
                return environ("GET", "/healthz")

            def health_code():
                pid, token, _ = rng.choice(rows)
                return environ("GET", f"/api/v1/persons/{pid}/health-code", token)

            def scan():
                body = json.dumps({"qr": rng.choice(rows)[2], "place_id": "gate-1"}).encode()
                return environ("POST", "/api/v1/scans", checkpoint, body)

            for name, make in (("healthz", healthz), ("health_code", health_code), ("scan", scan)):
                for _ in range(200):  # warm-up
                    status, body = call(app, make())
                    assert status.startswith("200"), (name, status, body)
                envs = [make() for _ in range(args.n)]
                wall, cpu = time.perf_counter(), time.process_time()
                profiler = cProfile.Profile() if args.cprofile else None
                if profiler:
                    profiler.enable()
                for env in envs:
                    status, body = call(app, env)
                if profiler:
                    profiler.disable()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                assert status.startswith("200") and (name != "scan" or b'"valid":true' in body), body
                print(f"{name:<12} {1e6 * wall / args.n:8.0f} us wall/request  {1e6 * cpu / args.n:8.0f} us CPU"
                      f"{'  (under cProfile)' if profiler else ''}")
                if profiler:
                    by_package(profiler, name, args.n)
                    for order in ("tottime", "cumulative"):
                        out = io.StringIO()
                        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
                        print(f"--- {name}, by {order} (per {args.n} requests)")
                        print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
            if args.breakdown:
                breakdown(app, rows, checkpoint, args.n)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
