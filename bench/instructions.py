"""Instructions per request of each hot target and its reference, counted by valgrind's callgrind.

This machine's speed drifts ±20 % from one minute to the next (docs/BENCHMARKS.md), so a change
of a few per cent cannot be seen in req/s or in CPU time, however long the runs. An instruction
count can: it is the same for the same code, data and environment whatever else the machine is
doing. So each change to a hot path can be judged here first, and the HTTP rounds (bench/run.py)
then say what it buys in req/s.

Each target runs in its own process under callgrind, through the app's WSGI callable (or the
reference's, bench/reference.py), in-process as bench/hotspots.py does: the same Redis config and
population as bench/run.py. Only the requests themselves are counted (`--toggle-collect` on
operator.call, which wraps each measured request and nothing else): not the set-up, not the
warm-up. Counted in the worker's user space only: the system calls' kernel side (the socket
write and read to Redis, the same for the app and its reference) is not in the figures, so the
ratios here are lower than those of CPU time.

    python bench/instructions.py                 # storm, cold read and scan, 200 requests each (~12 min)
    python bench/instructions.py --targets storm -n 500

Needs valgrind (Debian's package).
"""
from __future__ import annotations

import argparse
import json
import operator
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

TARGETS = ("storm", "cold", "scan")


def child(target: str, side: str, n: int) -> None:
    """Set up, warm, then make the n counted requests of `target` on `side` (app or ref)."""
    from hotspots import call, environ
    from reference import references
    from run import RedisServer, load_population, make_app

    random.seed(1)
    with tempfile.TemporaryDirectory(prefix="healthcode-instructions-") as tmp:
        server = RedisServer(Path(tmp), "redis").start()
        try:
            app = make_app(server.url)
            services = app.extensions["healthcode"]
            ref = references(services, app.extensions["healthcode.runtime"].store.client)
            fn = app if side == "app" else ref
            rows, _ = load_population(services, 20 if target == "storm" else n + 60)
            checkpoint, _ = services.credentials.create("checkpoint", "bench")

            def read(pid: str, token: str) -> dict:
                path = f"/api/v1/persons/{pid}/health-code" if side == "app" else (
                    f"/ref/repeat/{pid}" if target == "storm" else f"/ref/read/{pid}")
                return environ("GET", path, token)

            def scan(qr: str, i: int) -> dict:
                body = json.dumps({"qr": qr, "place_id": f"gate {i}"}).encode()
                return environ("POST", "/api/v1/scans" if side == "app" else "/ref/scan", checkpoint, body)

            if target == "storm":  # every person read before (twice: the answer is kept from the second on)
                for pid, token, _ in rows:
                    stored = environ("GET", f"/ref/read/{pid}", token)
                    stored["QUERY_STRING"] = "store"
                    assert call(ref, stored)[0].startswith("200")
                    for _ in range(2):
                        assert call(app, environ("GET", f"/api/v1/persons/{pid}/health-code", token))[0] == "200 OK"
                warm = [read(*random.choice(rows)[:2]) for _ in range(50)]
                envs = [read(*random.choice(rows)[:2]) for _ in range(n)]
            elif target == "cold":  # each person read once: warm-up and counted reads take different ones
                warm = [read(pid, token) for pid, token, _ in rows[:50]]
                envs = [read(pid, token) for pid, token, _ in rows[50:50 + n]]
            else:  # each scan a different code at a place never used before
                warm = [scan(qr, i) for i, (_, _, qr) in enumerate(rows[:50])]
                envs = [scan(qr, 50 + i) for i, (_, _, qr) in enumerate(rows[50:50 + n])]
            for env in warm:
                status, body = call(fn, env)
                assert status.startswith("200"), (target, side, status, body[:200])
            statuses: list[str] = []
            start = lambda s, h, exc_info=None: statuses.append(s)  # noqa: E731
            for env in envs:
                for _ in operator.call(fn, env, start):  # the counted part: the request, its body
                    pass
            assert statuses == ["200 OK"] * n, (target, side, sorted(set(statuses)))
        finally:
            server.stop()


def count(target: str, side: str, n: int) -> float:
    """Instructions per request of `target` on `side`, from a run under callgrind."""
    with tempfile.TemporaryDirectory(prefix="healthcode-callgrind-") as tmp:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--toggle-collect=_operator_call",
             f"--callgrind-out-file={tmp}/callgrind.out", sys.executable, __file__, "--child", target, side, str(n)],
            capture_output=True, text=True, timeout=3600)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{target} {side}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return int(found.group(1)) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("-n", type=int, default=200, help="counted requests per target and side (default 200)")
    parser.add_argument("--child", nargs=3, metavar=("TARGET", "SIDE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        raise SystemExit(f"unknown targets: {', '.join(sorted(unknown))}")
    print(f"instructions per request (callgrind, user space, {args.n} requests each)")
    print(f"{'target':<10} {'app':>10} {'reference':>10} {'ref / app':>10}")
    for target in targets:
        app, ref = count(target, "app", args.n), count(target, "ref", args.n)
        print(f"{target:<10} {app:>10,.0f} {ref:>10,.0f} {ref / app:>9.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
