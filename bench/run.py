"""The hot paths against their references, the server sweep, and Redis memory per person.

Issue 9's yardstick (docs/BENCHMARKS.md says how to read the figures). Every target is measured
against a reference (bench/reference.py: a plain WSGI callable doing the least the operation
needs, on the same Redis data), both served by the same server and workers in the same process
(`bench.reference:create_app()`: the app with /ref/ in front), in the same round, in alternating
slices of --slice seconds (this machine's speed drifts second by second: measure_pair says why);
rounds alternate which of the two goes first, each ratio is taken within its round, medians of
rounds are reported:

  cold read      GET /api/v1/persons/{id}/health-code, each read the next person of a walk over
                 the population, vs GET /ref/read/{id} (bench/read_walk.lua). The code cache is
                 on, as in production, so every measured read must miss it: the cached answers
                 (hc:p:{pid}:cc) are deleted after the warm-up, every round starts a new server
                 and its cold reads walk on from a cursor over the population, so each is a
                 first read of its person in the server (a second read in a process would store
                 the answer: any answer stored fails the run, as does a read past the population),
                 and every answer must say `Age: 0` (a served-again answer is a bad
                 response)                                                          goal >= 0.8x
  scan           POST /api/v1/scans, each a different code at a place never used before
                 (bench/scan_fresh.lua), vs POST /ref/scan                          goal >= 0.8x
  refresh storm  the first --storm-persons persons reading again and again within their codes'
                 lifetime (cache hits; the Lua counts answers with Age >= 1) vs GET
                 /ref/repeat/{id}                                 goal >= 0.8x and >= 2x cold
  /healthz       for information only.

For each run: req/s, p50/p99 (wrk --latency), CPU microseconds per request by process (workers,
redis, wrk, kernel, foreign: bench/cpuacct.py; a run disturbed by other processes on this shared
machine is measured again), and the Lua `response` checks: any bad response, socket error or
not-cold cold read makes the script exit 1 (a missed goal does not).

The server sweep (`--sweep`) measures the same six runs, one round each,
on every server layout of --sweep-servers (gunicorn sync and gthread, uWSGI, granian); the
winner is the best geometric mean of the three app targets' req/s, and among layouts within
--sweep-tolerance of it the simplest (fewest processes x threads, then gunicorn sync, gthread,
uWSGI, granian). The measured rounds then run on the winner; without a sweep on --server.

Memory (bench/memory.py): used_memory per applied, face-checked person at 100,000 persons
(goal <= 600 B), by key family.

    python bench/run.py                     # full run: 3 rounds on the production layout + memory (~30 min)
    python bench/run.py --sweep --only http  # the sweep, then 3 rounds on its winner (~30 min)
    python bench/run.py --quick             # smoke run: 1 short round, small populations (~5 min)

Figures are printed (with a Markdown summary to paste) and written to bench/out/latest.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import cpuacct  # noqa: E402
import memory  # noqa: E402
from memory import MEMORY_GOAL  # noqa: E402, F401  (bench/travel.py and the docs name it here)
from population import (  # noqa: E402, F401  (re-exported: bench/travel.py imports them from run)
    _apply_range,
    account_session,
    app_config,
    bench_application,
    close_store,
    id_number,
    load_population,
    make_app,
    phone,
)
from servers import (  # noqa: E402, F401
    REDIS_CONFIG,
    Gunicorn,
    RedisServer,
    Server,
    ServerSpec,
    available,
    redis_binary,
)
from servers import command as server_command  # noqa: E402

# (name, label, wrk script, path, extra environment of the wrk script)
HEALTHZ = ("healthz", "GET /healthz", "plain_get.lua", "/healthz")
TARGETS = (  # bench/travel.py: /healthz and a health-code read of a random person
    HEALTHZ,
    ("health_code", "GET /api/v1/persons/{id}/health-code", "health_code.lua", "/"),
    ("scan", "POST /api/v1/scans", "scan.lua", "/"),
)
REFERENCE_APP = "bench.reference:create_app()"
GOAL = 0.8  # each app target against its reference
STORM_OVER_COLD = 2.0  # the refresh storm against the cold read
DEFAULT_SERVER = "granian:2x4"  # the sweep's winner (docs/BENCHMARKS.md), the README's deployment command
SWEEP = ("gunicorn:2,gunicorn:3,gunicorn:4,gunicorn:6,gthread:2x4,gthread:3x8,gthread:4x4,"
         "uwsgi:3x1,uwsgi:2x4,granian:2x1,granian:2x4,granian:3x4")
SIMPLICITY = {"gunicorn": 0, "gthread": 1, "uwsgi": 2, "granian": 3}


def pairs(storm_rows: int) -> tuple[tuple[str, str, tuple, tuple], ...]:
    """(name, label, reference target, app target) of the three targets."""
    walk = "read_walk.lua"
    return (
        ("cold_read", "cold read (a different person each)",
         ("ref_read", "GET /ref/read/{id}", walk, "/", {"BENCH_PATH": "/ref/read/", "BENCH_SUFFIX": ""}),
         ("cold_read", "GET /api/v1/persons/{id}/health-code", walk, "/", {"BENCH_EXPECT": "fresh"})),
        ("scan", "scan (a different code each)",
         ("ref_scan", "POST /ref/scan", "scan_fresh.lua", "/", {"BENCH_PATH": "/ref/scan"}),
         ("scan", "POST /api/v1/scans", "scan_fresh.lua", "/", {})),
        ("storm", f"refresh storm ({storm_rows} persons again and again)",
         ("ref_repeat", "GET /ref/repeat/{id}", walk, "/",
          {"BENCH_PATH": "/ref/repeat/", "BENCH_SUFFIX": "", "BENCH_ROWS": str(storm_rows)}),
         ("storm", "GET /api/v1/persons/{id}/health-code", walk, "/",
          {"BENCH_ROWS": str(storm_rows), "BENCH_EXPECT": "cached"})),
    )


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

    line = need(r"^BENCH_CHECK (.*)$").group(1)
    check = dict(re.findall(r"(\w+)=(\S*)", line.split(" sample=", 1)[0]))
    tally = {k: int(v) for k, v in (p.split(":") for p in check.get("tally", "").split(",") if p)}
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
        "tally": tally,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
        "non_2xx_3xx": int(non2xx.group(1)) if non2xx else 0,
        "bad_sample": line.split(" sample=", 1)[1] if int(check["bad"]) and " sample=" in line else "",
    }


def run_wrk(base: str, target: tuple, seconds: float, connections: int, threads: int, env: dict) -> tuple[dict, str]:
    script, path = target[2], target[3]
    extra = target[4] if len(target) > 4 else {}
    command = ["wrk", "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
               "--timeout", "10s", "-s", str(BENCH / script), base + path]
    done = subprocess.run(command, capture_output=True, text=True, env={**env, **extra}, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout), done.stdout


def measure(server: Server, redis_server: RedisServer, target: tuple, args, env: dict, seconds: float,
            log, prepare: Callable[[], dict] | None = None, verify: Callable[[], dict] | None = None) -> dict:
    """Warm-up (checked, not reported), `prepare()`, the measured run with CPU accounting, `verify()`
    (what both return goes into the result).

    The machine is shared: before each attempt wait (up to --quiet-timeout) until it is quiet, and
    when other processes used more than --max-foreign cores during the measured run, measure again
    (up to --retries times), keeping the attempt that was disturbed least.
    """
    attempts = []
    for attempt in range(1 + args.retries):
        load = cpuacct.wait_quiet(args.quiet_limit, args.quiet_timeout)
        if prepare:
            prepare()  # before the warm-up too: the warm-up is checked by the same rules
        warm, _ = run_wrk(server.base, target, args.warmup, args.connections, args.threads, env)
        if prepare:
            time.sleep(0.3)  # the warm-up's last requests, still in the server when wrk stopped, are done
        prepared = prepare() if prepare else {}
        window = cpuacct.Window({
            "workers": [server.proc.pid, *cpuacct.children(server.proc.pid)],
            "redis": [redis_server.proc.pid],
        }).start()
        result, raw = run_wrk(server.base, target, seconds, args.connections, args.threads, env)
        cpu = window.stop()
        result.update(prepared)
        if verify:
            time.sleep(0.3)
            result.update(verify())
        result["warmup_bad"] = warm["bad"] + warm["socket_errors"]
        result["cpu"] = cpu
        result["busy_cores_before"] = round(load, 2)
        result["cpu_us_per_request"] = {k: round(1e6 * v / max(1, result["requests"]), 1)
                                        for k, v in cpu["cpu_s"].items()}
        log.write(f"### {target[1]} ({getattr(server, 'spec', server.workers)}, attempt {attempt + 1}, "
                  f"cpu {cpu})\n{raw}\n")
        attempts.append(result)
        if cpu["foreign_cores"] <= args.max_foreign:
            break
        print(f"  ({target[0]}: other processes used {cpu['foreign_cores']:.2f} cores during the run"
              f"{'; measuring again' if attempt < args.retries else ''})", flush=True)
    best = min(attempts, key=lambda r: r["cpu"]["foreign_cores"])
    best["attempts"] = len(attempts)
    return best


def _merge(slices: list[dict], warm_bad: int) -> dict:
    """One side of an interleaved pair: its slices summed (req/s over their total time; p50/p99
    the medians of the slices', p99 also the worst)."""
    seconds = sum(x["requests"] / x["rps"] for x in slices if x["rps"])
    cpu_s = {k: sum(x["cpu"]["cpu_s"][k] for x in slices) for k in slices[0]["cpu"]["cpu_s"]}
    wall = sum(x["cpu"]["wall_s"] for x in slices)
    requests = sum(x["requests"] for x in slices)
    merged = {
        "rps": requests / seconds if seconds else 0.0,
        "requests": requests,
        "good": sum(x["good"] for x in slices),
        "bad": sum(x["bad"] for x in slices),
        "socket_errors": sum(x["socket_errors"] for x in slices),
        "non_2xx_3xx": sum(x["non_2xx_3xx"] for x in slices),
        "statuses": ",".join(sorted({x["statuses"] for x in slices})),
        "bad_sample": next((x["bad_sample"] for x in slices if x["bad_sample"]), ""),
        "tally": {k: sum(x["tally"].get(k, 0) for x in slices) for k in {k for x in slices for k in x["tally"]}},
        "warmup_bad": warm_bad,
        "slices": [round(x["rps"], 1) for x in slices],
        "cpu": {"wall_s": round(wall, 2), "busy_cores": round(sum(x["cpu"]["busy_cores"] * x["cpu"]["wall_s"]
                                                                  for x in slices) / wall, 2),
                "foreign_cores": round(cpu_s["foreign"] / wall, 2),
                "steal_cores": round(sum(x["cpu"].get("steal_cores", 0) * x["cpu"]["wall_s"]
                                         for x in slices) / wall, 2),
                "cpu_s": {k: round(v, 2) for k, v in cpu_s.items()}},
        "cpu_us_per_request": {k: round(1e6 * v / max(1, requests), 1) for k, v in cpu_s.items()},
    }
    for q in ("p50_ms", "p75_ms", "p90_ms", "p99_ms"):
        merged[q] = statistics.median(x[q] for x in slices)
    merged["p99_worst_ms"] = max(x["p99_ms"] for x in slices)
    for key in ("answers_flushed", "answers_stored"):
        if key in slices[0]:
            merged[key] = sum(x[key] for x in slices)
    if slices[0].get("first_reads"):
        merged["first_reads"] = True
    return merged


def measure_pair(server: Server, redis_server: RedisServer, first: tuple, second: tuple, args, env: dict,
                 seconds: float, log) -> dict[str, dict]:
    """Two targets (a reference and its app target) measured in alternating slices of --slice
    seconds (first, second, first, ...) for `seconds` each, after one checked warm-up of each.

    This machine's speed drifts by up to 2x from one second to the next (other guests on the
    host: a fixed loop of Python here took 0.10 to 0.22 s from one second to the next, with the
    machine idle), so two runs of 10 s one after the other can differ by more than the ratio
    being measured; interleaved slices see the same drift, and the ratio of their totals cancels
    most of it. A cold read's cached answers are deleted before each of its slices (and counted
    after), so every slice is cold. A pair disturbed by other processes (--max-foreign) is
    measured again (up to --retries times), keeping the attempt that was disturbed least.
    """
    n = max(1, round(seconds / args.slice))
    attempts: list[dict[str, dict]] = []
    cursor = [0]  # the cold read's next person never read by this server (see walk_on)

    def walk_on(target: tuple) -> tuple:
        """The cold read's target from the cursor on: each of its runs (warm-up, slices) reads
        persons this server was never asked for (a second attempt runs on the server restarted).
        A process keeps a person's answer from their second read in it on (core/code_cache.py),
        so a walk from a random start would make some "cold" reads second reads, which store
        their answer (an EVAL, and its Redis CPU) where a first read does not."""
        if target[0] != "cold_read":
            return target
        name, label, script, path, extra = target
        return (name, label, script, path, {**extra, "BENCH_START": str(cursor[0]),
                                            "BENCH_THREADS": str(args.threads)})

    for attempt in range(1 + args.retries):
        if attempt and "cold_read" in (first[0], second[0]):
            server.restart()  # the attempt before read persons: its processes would store their answers
            cursor[0] = 0
        cpuacct.wait_quiet(args.quiet_limit, args.quiet_timeout)
        warm = {}
        for target in (first, second):
            if target[0] == "cold_read":
                flush_answers(redis_server.client)
            done, _ = run_wrk(server.base, walk_on(target), args.warmup, args.connections, args.threads, env)
            cursor[0] += done["tally"].get("issued", 0) if target[0] == "cold_read" else 0
            warm[target[0]] = done["bad"] + done["socket_errors"] + done["tally"].get("repeats", 0)
        slices: dict[str, list[dict]] = {first[0]: [], second[0]: []}
        for i in range(n):
            for target in (first, second):
                cold = target[0] == "cold_read"
                prepared: dict = {}
                if cold:
                    time.sleep(0.3)  # the last slice's requests still in the server are done
                    prepared = flush_answers(redis_server.client)
                window = cpuacct.Window({
                    "workers": [server.proc.pid, *cpuacct.children(server.proc.pid)],
                    "redis": [redis_server.proc.pid],
                }).start()
                result, raw = run_wrk(server.base, walk_on(target), args.slice, args.connections, args.threads, env)
                result["cpu"] = window.stop()
                cursor[0] += result["tally"].get("issued", 0) if cold else 0
                result.update(prepared)
                if cold:
                    time.sleep(0.3)
                    result.update(count_answers(redis_server.client), first_reads=True)
                log.write(f"### {target[1]} ({getattr(server, 'spec', server.workers)}, attempt {attempt + 1}, "
                          f"slice {i + 1}/{n}, cpu {result['cpu']})\n{raw}\n")
                slices[target[0]].append(result)
        pair = {name: _merge(runs, warm[name]) for name, runs in slices.items()}
        for r in pair.values():
            r["busy_cores_before"] = None
        attempts.append(pair)
        foreign = max(r["cpu"]["foreign_cores"] for r in pair.values())
        if foreign <= args.max_foreign:
            break
        print(f"  ({first[0]}/{second[0]}: other processes (or the host) took {foreign:.2f} cores during the "
              f"runs{'; measuring again' if attempt < args.retries else ''})", flush=True)
    best = min(attempts, key=lambda p: max(r["cpu"]["foreign_cores"] for r in p.values()))
    for r in best.values():
        r["attempts"] = len(attempts)
    return best


def problems(r: dict) -> str:
    """Why a run's figures cannot be trusted ("" when they can)."""
    why = []
    if r["bad"] or r["socket_errors"] or r["warmup_bad"]:
        why.append(f"{r['bad']} bad responses ({r['statuses']}), {r['socket_errors']} socket errors, "
                   f"{r['warmup_bad']} bad in warm-up; first bad: {r['bad_sample']}")
    if r["tally"].get("repeats"):
        why.append(f"not cold: {r['tally']['repeats']} reads of persons the server had been asked for "
                   f"(population too small for the run: raise --persons)")
    if r.get("first_reads") and r.get("answers_stored"):
        why.append(f"not cold: {r['answers_stored']} answers stored since the flush (a process keeps a person's "
                   f"answer from their second read in it: a person was read twice)")
    elif r.get("answers_stored", 0) > r["good"]:  # bench/scale.py's walks, over a sample, may read one twice
        why.append(f"{r['answers_stored']} answers stored since the flush by {r['good']} good reads: "
                   f"something else reads (a miss stores at most one)")
    return "; ".join(why)


def total_us(r: dict) -> float:
    """CPU microseconds per request of the benchmark's processes (not other people's)."""
    return sum(v for k, v in r["cpu_us_per_request"].items() if k != "foreign")


# -- the yardstick -----------------------------------------------------------------------------


def answer_keys(client):
    """The persons' cached answers (hc:p:{pid}:cc, core/code_cache.py)."""
    return client.scan_iter(match="hc:p:{*}:cc", count=5000)


def flush_answers(client) -> dict:
    """Delete every cached answer, so that the next read of anyone is a miss."""
    deleted = 0
    keys = []
    for key in answer_keys(client):
        keys.append(key)
        if len(keys) >= 1000:
            deleted += client.unlink(*keys)
            keys = []
    if keys:
        deleted += client.unlink(*keys)
    return {"answers_flushed": deleted}


def count_answers(client) -> dict:
    """Answers stored during a cold run: none, or a person was read twice by one process (the
    cache keeps an answer from a person's second read in a process on, core/code_cache.py), and
    the run was not cold (problems())."""
    return {"answers_stored": sum(1 for _ in answer_keys(client))}


def prime_references(server: Server, rows: list[tuple[str, str, str]], n: int) -> None:
    """Store the answers /ref/repeat serves (/ref/read/{id}?store for the storm's persons)."""
    for pid, token, _ in rows[:n]:
        request = urllib.request.Request(f"{server.base}/ref/read/{pid}?store",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as r:
            if r.status != 200:
                raise SystemExit(f"/ref/read/{pid}?store answered {r.status}")


def one_round(server: Server, redis_server: RedisServer, args, env: dict, seconds: float, log, k: int,
              healthz: bool = True) -> tuple[dict, bool]:
    """Reference and app of each target in alternating slices (round k: the reference's slice
    first when k is even), then /healthz."""
    results, failed = {}, False
    for _, _, ref, app in pairs(args.storm_persons):
        first, second = (ref, app) if k % 2 == 0 else (app, ref)
        results.update(measure_pair(server, redis_server, first, second, args, env, seconds, log))
        for target in (first, second):
            why = problems(results[target[0]])
            if why:
                failed = True
                print(f"  !! {server.spec} {target[0]}: {why}", flush=True)
    if healthz:
        results["healthz"] = r = measure(server, redis_server, HEALTHZ, args, env, seconds, log)
        failed |= bool(problems(r))
    return results, failed


def server_us(r: dict) -> float:
    """CPU microseconds per request of the server's processes and redis-server alone."""
    return r["cpu_us_per_request"]["workers"] + r["cpu_us_per_request"]["redis"]


def ratios(results: dict, storm_rows: int) -> dict:
    """Within one round: each app target over its reference, and the storm over the cold read, by
    req/s; and the same by CPU cost (`<name>_by_cpu`: reference's server + redis µs per request
    over the app's), which other people's load on a shared machine disturbs less."""
    out = {}
    for name, _, ref, app in pairs(storm_rows):
        out[name] = results[app[0]]["rps"] / results[ref[0]]["rps"]
        out[f"{name}_by_cpu"] = server_us(results[ref[0]]) / server_us(results[app[0]])
    out["storm_over_cold"] = results["storm"]["rps"] / results["cold_read"]["rps"]
    out["storm_over_cold_by_cpu"] = server_us(results["cold_read"]) / server_us(results["storm"])
    return out


def geomean(values: list[float]) -> float:
    return math.exp(statistics.mean(math.log(v) for v in values))


def load_corrected(results: dict) -> float:
    """For information, not the rule: the app targets' geomean req/s scaled by the cores other people
    left free during each run (cores / (cores - foreign)): on a saturated shared machine the
    layouts measured while others were busy would otherwise look worse than they are."""
    cores = os.cpu_count() or 1

    def foreign(r: dict) -> float:  # a run's result, or its slim() form
        return r["foreign_cores"] if "foreign_cores" in r else r["cpu"]["foreign_cores"]

    return geomean([results[name]["rps"] * cores / max(0.5, cores - foreign(results[name]))
                    for name in ("cold_read", "scan", "storm")])


def serve(spec: ServerSpec, redis_server: RedisServer, rows: list, args, stack: ExitStack | None = None) -> Server:
    server = Server(spec, redis_server.url, OUT / "server.log", REFERENCE_APP)
    if stack is not None:
        stack.callback(server.stop)
    try:
        server.wait_ready()
        prime_references(server, rows, args.storm_persons)
    except BaseException:
        server.stop()
        raise
    return server


def sweep(redis_server: RedisServer, rows: list, args, env: dict, log) -> tuple[dict, ServerSpec, bool]:
    """One round of the six runs (and /healthz) on each layout; the winner by the stated rule."""
    entries, failed = {}, False
    specs = [ServerSpec.parse(s) for s in args.sweep_servers.split(",")]
    print(f"\nserver sweep: {len(specs)} layouts, 1 round of {args.warmup:g} s warm-up + "
          f"{args.sweep_duration:g} s per run", flush=True)
    for n, spec in enumerate(specs):
        missing = available(spec.kind)
        if missing:
            entries[str(spec)] = {"skipped": missing}
            print(f"  {str(spec):<14} skipped: {missing}", flush=True)
            continue
        try:
            server = serve(spec, redis_server, rows, args)
        except (SystemExit, OSError) as e:  # it did not start: say so, go on with the others
            entries[str(spec)] = {"skipped": f"did not start: {str(e).splitlines()[0][:200]}"}
            print(f"  {str(spec):<14} did not start: {e}", flush=True)
            failed = True
            continue
        try:
            results, bad = one_round(server, redis_server, args, env, args.sweep_duration, log, n)
        finally:
            server.stop()
        failed |= bad
        within = ratios(results, args.storm_persons)
        score = geomean([results[name]["rps"] for name in ("cold_read", "scan", "storm")])
        entries[str(spec)] = {"label": spec.label, "results": slim(results), "ratios": rounded(within),
                              "geomean_rps": round(score, 1), "errors": bad,
                              "geomean_rps_load_corrected": round(load_corrected(results), 1)}
        print(f"  {str(spec):<14} " + "  ".join(
            f"{name} {results[name]['rps']:.0f}/{results[ref[0]]['rps']:.0f} ({within[name]:.2f}x)"
            for name, _, ref, _ in pairs(args.storm_persons))
            + f"  healthz {results['healthz']['rps']:.0f}  geomean {score:.0f}", flush=True)
    measured = {s: e for s, e in entries.items() if "geomean_rps" in e and not e["errors"]}
    if not measured:
        raise SystemExit("no server layout was measured without errors")
    best = max(e["geomean_rps"] for e in measured.values())
    close = [ServerSpec.parse(s) for s, e in measured.items() if e["geomean_rps"] >= (1 - args.sweep_tolerance) * best]
    winner = min(close, key=lambda s: (s.concurrency, SIMPLICITY[s.kind]))
    return {"layouts": entries, "winner": str(winner), "best_geomean_rps": best,
            "rule": f"best geometric mean of the three app targets' req/s; among layouts within "
                    f"{args.sweep_tolerance:.0%} of it, the fewest processes x threads, then gunicorn sync, "
                    f"gthread, uWSGI, granian"}, winner, failed


def slim(results: dict) -> dict:
    keep = ("rps", "p50_ms", "p99_ms", "requests", "good", "bad", "tally", "cpu_us_per_request", "attempts")
    return {name: {k: r[k] for k in keep if k in r} | {"foreign_cores": r["cpu"]["foreign_cores"]}
            for name, r in results.items()}


def rounded(values: dict) -> dict:
    return {k: round(v, 3) for k, v in values.items()}


def rounds_summary(runs: list[dict]) -> dict:
    """One target over its rounds: medians of req/s, p50, p99 and CPU per request, the counts
    summed, the worst of other people's load (bench/travel.py reports its rounds with it too)."""
    return {
        "rps": statistics.median(x["rps"] for x in runs),
        "p50_ms": statistics.median(x["p50_ms"] for x in runs),
        "p99_ms": statistics.median(x["p99_ms"] for x in runs),
        "good": sum(x["good"] for x in runs),
        "bad": sum(x["bad"] + x["socket_errors"] for x in runs),
        "foreign_cores": max(x["cpu"]["foreign_cores"] for x in runs),
        "cpu_us_per_request": {k: statistics.median(x["cpu_us_per_request"][k] for x in runs)
                               for k in runs[0]["cpu_us_per_request"]},
    }


def yardstick(start: Callable[[], Server], redis_server: RedisServer, args, env: dict,
              log) -> tuple[dict, bool]:
    """--rounds rounds on one server layout; medians of rounds, each ratio within its round. Each
    round on a server started for it (`start`): its processes have read nobody yet, so the cold
    read's persons are first reads in them (measure_pair's cursor)."""
    rounds, per_round, failed = [], [], False
    for k in range(args.rounds):
        server = start()
        try:
            results, bad = one_round(server, redis_server, args, env, args.duration, log, k)
        finally:
            server.stop()
        failed |= bad
        rounds.append(results)
        per_round.append(ratios(results, args.storm_persons))
        print(f"  round {k + 1} ({'reference' if k % 2 == 0 else 'app'} first): " + ", ".join(
            f"{name} {per_round[-1][name]:.2f}x" for name in ("cold_read", "scan", "storm", "storm_over_cold")),
            flush=True)
    final = {}
    for name in rounds[0]:
        runs = [r[name] for r in rounds]
        final[name] = {
            **rounds_summary(runs),
            "tally": {k: sum(x["tally"].get(k, 0) for x in runs) for k in {k for x in runs for k in x["tally"]}},
            "answers_flushed": [x.get("answers_flushed") for x in runs] if name == "cold_read" else None,
            "answers_stored": [x.get("answers_stored") for x in runs] if name == "cold_read" else None,
            "goods": [x["good"] for x in runs],
            "attempts": sum(x["attempts"] for x in runs),
        }
    return {"targets": final, "verdicts": verdicts_of(per_round), "rounds": [slim(r) for r in rounds]}, failed


def verdicts_of(per_round: list[dict]) -> dict:
    """Each goal's ratio: the median of the rounds' ratios."""
    verdicts = {}
    for name in ("cold_read", "scan", "storm", "storm_over_cold"):
        goal = STORM_OVER_COLD if name == "storm_over_cold" else GOAL
        ratio = statistics.median(r[name] for r in per_round)
        verdicts[name] = {"ratio": round(ratio, 3), "ratios": [round(r[name], 3) for r in per_round],
                          "by_cpu": round(statistics.median(r[f"{name}_by_cpu"] for r in per_round), 3),
                          "goal": goal, "pass": ratio >= goal}
    return verdicts


# -- report ------------------------------------------------------------------------------------

COMPONENTS = ("workers", "redis", "wrk", "kernel", "foreign")


def print_yardstick(report: dict, spec: ServerSpec, storm_rows: int) -> None:
    targets, verdicts = report["targets"], report["verdicts"]
    print(f"\n{spec.label}: medians of {len(report['rounds'])} round(s)")
    print(f"{'target':<44} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}  {'good/bad':>12}  verdict"
          f"  (ratio by server+redis CPU)")
    for name, label, ref, app in pairs(storm_rows):
        v = verdicts[name]
        print(label)
        for target, ratio in ((ref, None), (app, v)):
            r = targets[target[0]]
            text = "" if ratio is None else f"{ratio['ratio']:.2f}x"
            verdict = "" if ratio is None else (f"{'PASS' if ratio['pass'] else 'FAIL'} (>= {ratio['goal']:.1f}x)"
                                                f"  ({ratio['by_cpu']:.2f}x)")
            tag = "  ref " if ratio is None else "  app "
            print(f"{tag + target[1]:<44} {r['rps']:>8.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {text:>6}  "
                  f"{r['good']:>8}/{r['bad']:<3}  {verdict}")
    v = verdicts["storm_over_cold"]
    print(f"{'  refresh storm / cold read (app)':<44} {'':>8} {'':>7} {'':>7} {v['ratio']:>5.2f}x  {'':>12}  "
          f"{'PASS' if v['pass'] else 'FAIL'} (>= {v['goal']:.1f}x)  ({v['by_cpu']:.2f}x)")
    h = targets["healthz"]
    print(f"{'  /healthz (information)':<44} {h['rps']:>8.0f} {h['p50_ms']:>7.2f} {h['p99_ms']:>7.2f}")
    cold, storm = targets["cold_read"], targets["storm"]
    print(f"cold reads: cached answers deleted after each warm-up ({cold['answers_flushed']}); "
          f"{cold['tally'].get('repeats', 0)} reads of a person the server had read before; good reads "
          f"{cold['goods']}, answers stored during the run {cold['answers_stored']} (any is a second read); "
          f"Age: 0 on all but {cold['tally'].get('age_1', 0)} "
          f"(Age: 1, the second turned while answering; Age >= 2 counts as bad)")
    print(f"refresh storm: {storm['tally'].get('hits', 0)} of {storm['good']} answers served again "
          f"(Age >= 1)")
    print("\nCPU per request (us), from /proc during the measured runs:")
    print(f"{'target':<44} " + " ".join(f"{c:>8}" for c in COMPONENTS) + f" {'total':>8} {'other procs':>12}")
    for _, _, ref, app in pairs(storm_rows):
        for tag, target in (("  ref ", ref), ("  app ", app)):
            r = targets[target[0]]
            us = r["cpu_us_per_request"]
            print(f"{tag + target[1]:<44} " + " ".join(f"{us[c]:>8.0f}" for c in COMPONENTS)
                  + f" {total_us(r):>8.0f} {r['foreign_cores']:>7.2f} cores")


def markdown_summary(report: dict) -> str:
    """The tables to paste into docs/BENCHMARKS.md."""
    storm_rows = report["setup"]["storm_persons"]
    ys = report["yardstick"]
    targets, verdicts = ys["targets"], ys["verdicts"]
    lines = [f"Server: {report['setup']['server_label']}; {report['setup']['rounds']} round(s) of "
             f"{report['setup']['duration_s']:g} s, {report['setup']['connections']} connections; "
             f"{report['population']['persons']} persons; git {report['git']['head']}; {report['when']}", "",
             "| target | app req/s | reference req/s | ratio (goal) | by CPU | app p50 / p99 ms | ref p50 / p99 ms "
             "| app CPU µs/req (workers + redis) | ref CPU µs/req (workers + redis) | |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, label, ref, app in pairs(storm_rows):
        a, r, v = targets[app[0]], targets[ref[0]], verdicts[name]
        lines.append(f"| {label} | {a['rps']:,.0f} | {r['rps']:,.0f} | {v['ratio']:.2f}x (≥ {v['goal']:.1f}) | "
                     f"{v['by_cpu']:.2f}x | {a['p50_ms']:.2f} / {a['p99_ms']:.2f} | "
                     f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} | {total_us(a):,.0f} ({server_us(a):,.0f}) | "
                     f"{total_us(r):,.0f} ({server_us(r):,.0f}) | {'PASS' if v['pass'] else 'FAIL'} |")
    v = verdicts["storm_over_cold"]
    lines.append(f"| refresh storm / cold read | | | {v['ratio']:.2f}x (≥ {v['goal']:.1f}) | {v['by_cpu']:.2f}x "
                 f"| | | | | {'PASS' if v['pass'] else 'FAIL'} |")
    h = targets["healthz"]
    lines.append(f"| /healthz (information) | {h['rps']:,.0f} | | | | {h['p50_ms']:.2f} / {h['p99_ms']:.2f} | | "
                 f"{total_us(h):,.0f} ({server_us(h):,.0f}) | | |")
    foreign = max(x["foreign_cores"] for x in targets.values())
    lines.append(f"| other people's load during the runs (max) | {foreign:.2f} cores | | | | | | | | |")
    if "memory" in report:
        m = report["memory"]
        lines += ["", f"Memory: {m['bytes_per_person']:.0f} B per applied, face-checked person at "
                      f"{m['persons']:,} persons ({'PASS' if m['bytes_per_person'] <= MEMORY_GOAL else 'FAIL'}, "
                      f"goal ≤ {MEMORY_GOAL}); {m['keys_per_person']:g} keys per person"]
    if "sweep" in report:
        lines += ["", "Sweep (req/s app / reference (ratio), one round each; app server + redis CPU µs/req; "
                      "other people's load):", "",
                  "| server | cold read | scan | refresh storm | /healthz | geomean app req/s | load-corrected "
                  "| app µs/req (cold, scan, storm) | others' cores |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for spec, e in report["sweep"]["layouts"].items():
            if "skipped" in e:
                lines.append(f"| `{spec}` | skipped: {e['skipped']} | | | | | | | |")
                continue
            res, rat = e["results"], e["ratios"]
            cells = [f"{res[app[0]]['rps']:,.0f} / {res[ref[0]]['rps']:,.0f} ({rat[name]:.2f}x)"
                     for name, _, ref, app in pairs(storm_rows)]
            mark = " **winner**" if spec == report["sweep"]["winner"] else ""
            cpu = " / ".join(f"{server_us(res[app[0]]):,.0f}" for _, _, _, app in pairs(storm_rows))
            foreign = max(r["foreign_cores"] for r in res.values())
            lines.append(f"| `{spec}` {e['label']}{mark} | " + " | ".join(cells)
                         + f" | {res['healthz']['rps']:,.0f} | {e['geomean_rps']:,.0f} | {load_corrected(res):,.0f} "
                           f"| {cpu} | {foreign:.2f} |")
    return "\n".join(lines)


def qr_figures(rows: list[tuple[str, str, str]]) -> dict:
    from adapters.signing.qr_image import qr_version

    by_length = {}
    for _, _, qr in rows:
        by_length.setdefault(len(qr), qr)
    versions = {length: qr_version(qr) for length, qr in sorted(by_length.items())}
    lengths = sorted(len(qr) for _, _, qr in rows)
    typical = lengths[len(lengths) // 2]
    return {"typical_length": typical, "typical_version": versions[typical], "version_by_length": versions,
            "max_version": max(versions.values()), "example": by_length[typical]}


# -- bench/travel.py's worker choice -------------------------------------------------------------


def choose_workers(server: RedisServer, args, env: dict, wrk_log,
                   gunicorn_env: dict[str, str] | None = None) -> tuple[int, dict, bool]:
    """gunicorn sync workers for bench/travel.py: best on /healthz (smallest within tolerance)."""
    if args.workers:
        return args.workers, {}, False
    results, failed = {}, False
    for w in (int(x) for x in args.worker_choices.split(",")):
        gun = Gunicorn(w, server.url, OUT / "gunicorn.log", "app:create_app()", gunicorn_env)
        try:
            gun.wait_ready()
            r = measure(gun, server, HEALTHZ, args, env, args.sweep_duration, wrk_log)
        finally:
            gun.stop()
        results[w] = r
        print(f"  workers={w}: /healthz {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
              f"p99 {r['p99_ms']:.2f} ms, bad {r['bad'] + r['socket_errors']}", flush=True)
        failed |= r["bad"] > 0 or r["socket_errors"] > 0
    best = max(r["rps"] for r in results.values())
    workers = min(w for w, r in results.items() if r["rps"] >= (1 - args.worker_tolerance) * best)
    return workers, results, failed


# -- main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: no sweep, 1 short round, small populations")
    parser.add_argument("--only", choices=("http", "memory"), help="run only one of the two parts")
    parser.add_argument("--sweep", action="store_true",
                        help="measure every --sweep-servers layout first and run the rounds on the winner")
    parser.add_argument("--server", help=f"server layout of the rounds without a sweep (default {DEFAULT_SERVER}; "
                                         "kind:W or kind:WxT, kind gunicorn|gthread|uwsgi|granian)")
    parser.add_argument("--sweep-servers", default=SWEEP, help="comma-separated layouts (default: %(default)s)")
    parser.add_argument("--sweep-tolerance", type=float, default=0.03,
                        help="layouts within this share of the best geomean count as a tie (default 0.03)")
    parser.add_argument("--sweep-duration", type=int, help="seconds per sweep run (default 4; quick 2)")
    parser.add_argument("--persons", type=int,
                        help="population (default 60000; quick 25000): more than a round's cold reads")
    parser.add_argument("--storm-persons", type=int, default=100, help="persons of the refresh storm (default 100)")
    parser.add_argument("--memory-persons", type=int, help="persons for the memory test (default 100000; quick 3000)")
    parser.add_argument("--duration", type=int, help="seconds per measured run (default 10; quick 3)")
    parser.add_argument("--slice", type=float, default=2.0,
                        help="seconds of each slice: a target and its reference alternate in slices (default 2)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up before each run (default 2; quick 1)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; quick 1)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: it shares the 2 cores)")
    parser.add_argument("--max-foreign", type=float, default=0.1,
                        help="re-measure a run when other processes used more cores than this (default 0.1)")
    parser.add_argument("--retries", type=int, help="re-measurements of a disturbed run (default 2; quick 0)")
    parser.add_argument("--quiet-limit", type=float, default=0.15,
                        help="before a run, wait until fewer cores than this are busy (default 0.15)")
    parser.add_argument("--quiet-timeout", type=float, help="seconds to wait for quiet (default 15; quick 2)")
    parser.add_argument("--redis-server", help="redis-server binary (default: see servers.redis_binary())")
    parser.add_argument("--out", type=Path, default=OUT / "latest.json",
                        help="JSON results (default bench/out/latest.json; raw wrk output goes next to it)")
    parser.add_argument("--loader-procs", type=int, default=4, help="processes loading the populations")
    parser.add_argument("--summary", type=Path, metavar="JSON",
                        help="print the Markdown summary of an earlier run's JSON results, and exit")
    args = parser.parse_args()
    quick = args.quick
    args.persons = args.persons or (25_000 if quick else 60_000)
    args.memory_persons = args.memory_persons or (3000 if quick else 100_000)
    args.duration = args.duration or (3 if quick else 10)
    args.warmup = args.warmup or (1 if quick else 2)
    args.rounds = args.rounds or (1 if quick else 3)
    args.sweep_duration = args.sweep_duration or (2 if quick else 4)
    args.retries = (0 if quick else 2) if args.retries is None else args.retries
    args.quiet_timeout = (2.0 if quick else 15.0) if args.quiet_timeout is None else args.quiet_timeout
    return args


def http_benchmark(args, workdir: Path, report: dict, stack: ExitStack, wrk_log) -> bool:
    """Own Redis, population, the sweep (optional), the rounds. True if anything failed."""
    redis_server = RedisServer(workdir, "redis-http").start()
    stack.callback(redis_server.stop)
    version = redis_server.info("server")["redis_version"]
    malloc = redis_server.info("memory").get("mem_allocator", "?")
    print(f"redis-server {version} ({redis_binary()}, {malloc}) on 127.0.0.1:{redis_server.port}, "
          f"config: {'; '.join(REDIS_CONFIG)}")
    report["redis"] = {"version": version, "binary": redis_binary(), "mem_allocator": malloc,
                       "config": REDIS_CONFIG, "transport": "tcp 127.0.0.1"}

    print(f"loading {args.persons} persons through the services ({args.loader_procs} processes) ...", flush=True)
    services = make_app(redis_server.url).extensions["healthcode"]
    rows, population = load_population(services, args.persons, redis_url=redis_server.url, procs=args.loader_procs)
    checkpoint_token, _ = services.credentials.create("checkpoint", "bench")
    close_store(services)
    data = workdir / "persons.tsv"
    data.write_text("".join(f"{pid}\t{token}\t{qr}\n" for pid, token, qr in rows))
    print(f"  {population}")
    report["population"] = population
    report["qr"] = qr_figures(rows)
    env = {**os.environ, "BENCH_DATA": str(data), "BENCH_LUA_DIR": str(BENCH),
           "BENCH_CHECKPOINT_TOKEN": checkpoint_token}
    print(f"machine: {cpuacct.busy_cores(1.0):.2f} cores busy before the runs", flush=True)

    failed = False
    if args.sweep:
        report["sweep"], spec, failed = sweep(redis_server, rows, args, env, wrk_log)
        print(f"winner: {spec} ({spec.label}); rule: {report['sweep']['rule']}", flush=True)
    else:
        spec = ServerSpec.parse(args.server or DEFAULT_SERVER)
    report["setup"] = {
        "server": str(spec), "server_label": spec.label, "app": REFERENCE_APP, "connections": args.connections,
        "wrk_threads": args.threads, "duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds,
        "storm_persons": args.storm_persons,
        "command": " ".join(server_command(spec, "app:create_app()", 8000)),
    }
    print(f"\nrounds on {spec.label}; wrk: {args.threads} thread(s), {args.connections} connections, "
          f"{args.warmup:g} s warm-up + {args.duration:g} s per run, {args.rounds} round(s)", flush=True)
    report["yardstick"], bad = yardstick(lambda: serve(spec, redis_server, rows, args, stack), redis_server, args,
                                         env, wrk_log)
    print_yardstick(report["yardstick"], spec, args.storm_persons)
    return failed or bad


def print_summary(path: Path) -> int:
    report = json.loads(path.read_text(encoding="utf-8"))
    storm_rows = report["setup"]["storm_persons"]
    report["yardstick"]["verdicts"] = verdicts_of([ratios(r, storm_rows) for r in report["yardstick"]["rounds"]])
    for e in report.get("sweep", {}).get("layouts", {}).values():
        if "results" in e:
            e["ratios"] = ratios(e["results"], storm_rows)
    print(markdown_summary(report))
    return 0


def main() -> int:
    args = parse_args()
    if args.summary:
        return print_summary(args.summary)
    if args.redis_server:
        os.environ["BENCH_REDIS_SERVER"] = args.redis_server  # also seen by the loader processes
    if shutil.which("wrk") is None and args.only != "memory":
        raise SystemExit("wrk is not on PATH")

    # SIGTERM (not only Ctrl-C) unwinds, so the servers and redis-server are stopped on the way out.
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
            report["memory"] = memory.memory_test(workdir, args.memory_persons, args.loader_procs, sample)
            memory.print_memory(report["memory"])
        if "qr" in report:
            print(f"QR: {report['qr']['typical_length']} characters, version {report['qr']['typical_version']} "
                  f"(EC M)")

    report["errors"] = failed
    if "yardstick" in report:
        report["summary_markdown"] = markdown_summary(report)
        print("\nsummary (Markdown, to paste into docs/BENCHMARKS.md; figures from this machine):\n")
        print(report["summary_markdown"])
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nwritten: {args.out}" + (f" (raw wrk output: {wrk_log_path})" if args.only != "memory" else ""))
    if failed:
        print("ERROR: some responses were not good (non-2xx, not a real success, socket errors, or a cold read "
              "that was not cold)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
