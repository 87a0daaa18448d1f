"""Health-code reads and scans at 10 k, 100 k and 1 M persons, on a standalone Redis and a Redis
Cluster, in one run (issue "Scale out on Redis Cluster", part 4).

Goals: throughput flat within 10 % from 10 k to 1 M persons (each mode, each target), Redis
memory per person <= 600 B at 1 M (each mode), keys spread over the cluster's masters within 5 %.

Six stores are alive at once, one per mode and size: a private redis-server with the production
persistence (bench/servers.py RedisServer) or a six-node LocalCluster (tests/local_cluster.py:
three masters, one replica each, appendfsync always), each with an app server of its own
(gunicorn gthread:2x4, the production layout; HEALTHCODE_REDIS_MODE=cluster for the clusters).
All use the same index layout, sized for the largest population (HEALTHCODE_INDEX_BITS, as
bench/bulk.py sizes it). The persons are written by the bulk loader (adapters/store/bulk.py,
cluster-aware) in a spawn pool, as bench/bulk.py writes them: applied, face-checked, the dev
account `mem-{i}` each. A sample of --sample persons per store, every (size / sample)-th of the
whole population, gets a dev login and one pre-issued QR: the rows the wrk scripts read.

Throughput, per mode and target, the three sizes' servers in alternating slices of --slice
seconds (10 k, 100 k, 1 M, 10 k, ...; each round rotates the order), --duration seconds per size
per round, --rounds rounds, after one checked warm-up of each (bench/run.py measure_pair says why
interleaving: this machine's speed drifts second by second; slices of the three sizes see the
same drift):

  cold read   GET /api/v1/persons/{id}/health-code, each read the next sampled person of a walk
              (bench/read_walk.lua, BENCH_EXPECT=fresh): before each slice the sampled persons'
              cached answers (hc:p:{pid}:cc) are deleted by name (no SCAN of a 1 M store), after
              it the answers stored again are counted (>= good reads, or it was not cold)
  scan        POST /api/v1/scans of a random sampled QR at a new place (bench/scan_fresh.lua)

Each size's req/s over the whole run (the mean of its rounds), over the smallest size's; flat:
min / max of the sizes' figures >= 0.9 (every size within 10 % of the fastest, so of each
other). The per-round ratios are printed too (flat_verdict says why the verdict is not
theirs); the tables' req/s are medians of rounds. CPU µs per request by process (workers,
redis, the other stores idle meanwhile, wrk, kernel, foreign: bench/cpuacct.py) per slice,
summed per size.

Memory: used_memory after loading minus used_memory once make_app had written the layout, key
ring and policy (before any person), per person, summed over the masters on a cluster; keys per
person likewise (DBSIZE). Spread: DBSIZE of each master, max / min - 1 (goal <= 5 % at the
largest size); the masters' used_memory spread is printed too.

Any bad response (non-2xx, a failed check, a socket error, a cold read that was not cold) makes
the script exit 1; a missed goal does not (PASS/FAIL per goal).

    python bench/scale.py                   # 10 k / 100 k / 1 M, both modes, 5 rounds (~30 min: loading 2.2 M persons)
    python bench/scale.py --quick           # smoke run: 2 k / 5 k / 20 k, 1 short round (~4 min)
    python bench/scale.py --modes cluster --sizes 10000,100000

Figures are printed (with a Markdown summary to paste) and written to bench/out/scale.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import cpuacct  # noqa: E402
import population  # noqa: E402
from bulk import BATCH, bulk_person  # noqa: E402
from memory import index_bits  # noqa: E402
from run import _merge, problems, rounds_summary, run_wrk  # noqa: E402
from servers import REDIS_CONFIG, RedisServer, Server  # noqa: E402

MODES = ("standalone", "cluster")
SERVER = "gthread:2x4"
FLAT_GOAL = 0.9  # min / max of the sizes' req/s: every size within 10 %
MEMORY_GOAL = 600  # bytes per person at the largest size
SPREAD_GOAL = 0.05  # max / min - 1 of the masters' keys
REPLICATION = "mem_total_replication_buffers"  # INFO memory (Redis 7): backlog + replicas' output
CHUNK = 10_000  # persons per loader task
ISSUE_THREADS = 4  # logins and QRs issued at once per loader process
COLD: tuple = ("cold_read", "GET /api/v1/persons/{id}/health-code (cold)", "read_walk.lua", "/",
               {"BENCH_EXPECT": "fresh"})
SCAN: tuple = ("scan", "POST /api/v1/scans (a new place each)", "scan_fresh.lua", "/", {})
TARGETS = (COLD, SCAN)


# -- pure helpers (tests/unit/test_bench_scale.py) ---------------------------------------------


def spread(values: list[int] | list[float]) -> float:
    """How unevenly something is shared out: max / min - 1 (0 when all are equal)."""
    low = min(values)
    return float("inf") if low <= 0 else max(values) / low - 1


def flatness(rps: list[float]) -> float:
    """min / max of the sizes' req/s within one round: >= 0.9 means every size within 10 %."""
    return min(rps) / max(rps) if max(rps) > 0 else 0.0


def rotated(items: list, k: int) -> list:
    """Round k's order: the list rotated by k (10k, 100k, 1M; 100k, 1M, 10k; ...)."""
    k %= max(1, len(items))
    return items[k:] + items[:k]


def sample_indices(size: int, sample: int) -> list[int]:
    """`sample` persons spread evenly over 0..size-1 (every (size / sample)-th)."""
    sample = min(sample, size)
    return [j * size // sample for j in range(sample)]


def size_label(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div and n % (div // 10 or 1) == 0:
            text = f"{n / div:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    return f"{n:,}"


def flat_verdict(rounds: list[dict[int, float]]) -> dict:
    """rounds: [{size: req/s}] of one (mode, target). Each size's req/s over the whole run (the
    mean of its rounds: the rounds are equally long), each over the smallest size's, and their
    min / max; PASS when that min / max >= FLAT_GOAL. Per round the same, for information: the
    min / max of three noisy figures is biased low (with equal sizes and each round's figures
    scattering by +-10 %, the expected min / max of a round is ~0.85), so the verdict is taken
    over the whole run, where the rotated orders and the slices average out."""
    sizes = sorted(rounds[0])
    smallest = sizes[0]
    mean = {s: statistics.mean(r[s] for r in rounds) for s in sizes}
    per_round = [{"flat": flatness([r[s] for s in sizes]),
                  **{str(s): r[s] / r[smallest] for s in sizes[1:]}} for r in rounds]
    flat = flatness(list(mean.values()))
    return {"over_smallest": {str(s): round(mean[s] / mean[smallest], 3) for s in sizes[1:]},
            "flat": round(flat, 3), "flat_rounds": [round(r["flat"], 3) for r in per_round],
            "ratio_rounds": [{k: round(v, 3) for k, v in r.items() if k != "flat"} for r in per_round],
            "goal": FLAT_GOAL, "pass": flat >= FLAT_GOAL}


# -- the stores ----------------------------------------------------------------------------------


@dataclass
class Store:
    mode: str
    size: int
    url: str
    redis_pids: list[int]
    masters: list[Any]  # redis.Redis of each master (the standalone server: one)
    backend: Any  # RedisServer or LocalCluster
    cluster_client: Any = None  # RedisCluster (cluster mode): deletes and counts by key
    base: dict = field(default_factory=dict)
    memory: dict = field(default_factory=dict)
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    sampled: list[tuple[int, str]] = field(default_factory=list)  # (i, person id)
    server: Server | None = None
    env: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.mode} {size_label(self.size)}"

    @property
    def config(self) -> dict[str, str]:
        return {"HEALTHCODE_REDIS_MODE": self.mode}

    def used_memory(self, field: str = "used_memory") -> list[int]:
        return [m.info("memory").get(field, 0) for m in self.masters]

    def dbsizes(self) -> list[int]:
        return [m.dbsize() for m in self.masters]

    def pids(self, redis: bool = True) -> list[int]:
        """The app server's master and workers (and the redis-server(s))."""
        server = [self.server.proc.pid, *cpuacct.children(self.server.proc.pid)] if self.server else []
        return server + (self.redis_pids if redis else [])

    def writer(self):
        """A client that deletes and counts keys by name (per key on a cluster)."""
        return self.cluster_client if self.cluster_client is not None else self.masters[0]


def start_store(mode: str, size: int, workdir: Path, stack: ExitStack, ports: tuple[int, int]) -> Store:
    import redis

    if mode == "standalone":
        server = RedisServer(workdir, f"redis-{size}").start()
        stack.callback(server.stop)
        assert server.proc is not None
        return Store(mode, size, server.url, [server.proc.pid], [server.client], server)
    from redis.cluster import RedisCluster

    from tests.local_cluster import NODES, LocalCluster, free_ports

    cluster = LocalCluster(workdir / f"cluster-{size}", free_ports(NODES, *ports))
    stack.callback(cluster.stop)  # before start: a half-started cluster is stopped too
    cluster.start()
    masters = [redis.Redis(port=p) for p in cluster.masters()]
    client = RedisCluster.from_url(cluster.url)
    stack.callback(client.close)
    return Store(mode, size, cluster.url, [p.pid for p in cluster.processes.values()], masters, cluster, client)


def baseline(store: Store) -> None:
    """The store's layout record, key ring and policy (make_app writes them): outside the count."""
    services = population.make_app(store.url, **store.config).extensions["healthcode"]
    population.close_store(services)
    time.sleep(0.2)
    store.base = {"used_memory": sum(store.used_memory()), "keys": sum(store.dbsizes()),
                  "replication_buffers": sum(store.used_memory(REPLICATION))}


# -- the pool's tasks (spawn: each process builds an app per store once) ---------------------------

_APPS: dict[tuple[str, str], Any] = {}


def _app(url: str, mode: str):
    if (url, mode) not in _APPS:
        _APPS[(url, mode)] = population.make_app(url, HEALTHCODE_REDIS_MODE=mode)
    return _APPS[(url, mode)]


def _load(task: tuple[str, str, int, int, frozenset[int]]) -> tuple[str, int, list[tuple[int, str]]]:
    """Persons lo..hi-1 written by the bulk loader: (url, count, (i, person id) of the sampled)."""
    from adapters.store.bulk import BulkPersons
    from adapters.store.layout import IndexLayout

    url, mode, lo, hi, sampled = task
    app = _app(url, mode)
    directory = app.extensions["healthcode"].persons._directory
    client = app.extensions["healthcode.runtime"].store.client
    loader = BulkPersons(client, IndexLayout(client, int(os.environ["HEALTHCODE_INDEX_BITS"])))
    now = int(time.time())
    picked = []
    for start in range(lo, hi, BATCH):
        batch = [bulk_person(directory, i, now) for i in range(start, min(hi, start + BATCH))]
        loader.load(batch)
        picked += [(start + n, p.person_id) for n, p in enumerate(batch) if start + n in sampled]
    return url, hi - lo, picked


def _issue(task: tuple[str, str, list[tuple[int, str]]]) -> tuple[str, list[tuple[str, str, str]]]:
    """A dev login (the account the loader linked) and one QR for each sampled person."""
    from concurrent.futures import ThreadPoolExecutor

    url, mode, people = task
    services = _app(url, mode).extensions["healthcode"]

    def one(person: tuple[int, str]) -> tuple[str, str, str]:
        i, pid = person
        token = services.sessions.login("dev", f"mem-{i}").token
        return pid, token, services.codes.show(services.sessions.authenticate(token), pid).qr

    # Threads: each login and show waits for its fsync (and on a cluster for a replica), so the
    # process would mostly wait; the services are thread-safe (the gthread workers share them).
    with ThreadPoolExecutor(ISSUE_THREADS) as threads:
        return url, list(threads.map(one, people))


def load_all(stores: list[Store], sample: int, procs: int) -> dict:
    """Fill every store, then measure its memory and spread, then issue its sample's QRs."""
    by_url = {s.url: s for s in stores}
    rates: dict[str, Any] = {}
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        for mode in dict.fromkeys(s.mode for s in stores):
            mine = [s for s in stores if s.mode == mode]
            tasks = []
            for s in mine:
                picked = frozenset(sample_indices(s.size, sample))
                for lo in range(0, s.size, CHUNK):
                    hi = min(s.size, lo + CHUNK)
                    tasks.append((s.url, s.mode, lo, hi, frozenset(i for i in picked if lo <= i < hi)))
            tasks.sort(key=lambda t: t[2])  # the stores fill side by side: none waits for the largest
            total = sum(s.size for s in mine)
            print(f"loading {total:,} persons into the {mode} stores ({procs} processes) ...", flush=True)
            started, done = time.perf_counter(), 0
            for url, count, picked_ids in pool.imap_unordered(_load, tasks):
                by_url[url].sampled += picked_ids
                done += count
                if done % 200_000 < count:
                    print(f"  {done:,} / {total:,} ({done / (time.perf_counter() - started):,.0f}/s)", flush=True)
            seconds = time.perf_counter() - started
            rates[mode] = {"persons": total, "seconds": round(seconds, 1), "persons_per_s": round(total / seconds)}
            print(f"  loaded in {seconds:.0f} s: {total / seconds:,.0f} persons/s", flush=True)
        time.sleep(1.0)  # incremental rehashing
        for s in stores:
            measure_memory(s)
        for s in stores:
            s.sampled.sort()
        started = time.perf_counter()
        issues = [(s.url, s.mode, s.sampled[k::procs]) for s in stores for k in range(procs)]
        for url, rows in pool.imap_unordered(_issue, issues):
            by_url[url].rows += rows
        rates["issue_seconds"] = round(time.perf_counter() - started, 1)
    return rates


def measure_memory(s: Store) -> None:
    """used_memory and DBSIZE over the baseline, per person. On a cluster used_memory includes the
    masters' replication buffers (up to repl-backlog-size, 1 MB each, once the writes have filled
    them): a fixed cost, not a person's, printed apart (`bytes_per_person_without_replication`)."""
    used, keys, repl = s.used_memory(), s.dbsizes(), sum(s.used_memory(REPLICATION))
    grown = sum(used) - s.base["used_memory"]
    s.memory = {
        "persons": s.size,
        "bytes_per_person": round(grown / s.size, 1),
        "bytes_per_person_without_replication": round((grown - (repl - s.base["replication_buffers"])) / s.size, 1),
        "replication_buffers": repl,
        "keys_per_person": round((sum(keys) - s.base["keys"]) / s.size, 3),
        "used_memory": sum(used),
        "base_used_memory": s.base["used_memory"],
    }
    if s.mode == "cluster":
        s.memory.update(masters_keys=keys, masters_used_memory=used, keys_spread=round(spread(keys), 4),
                        memory_spread=round(spread(used), 4))


# -- the measured slices ---------------------------------------------------------------------------


def flush_answers(s: Store) -> dict:
    """Delete the sampled persons' cached answers by name (a pipeline; per key on a cluster)."""
    from adapters.store.keys import answers_key

    pipe = s.writer().pipeline(transaction=False)
    for pid, _, _ in s.rows:
        pipe.unlink(answers_key(pid))
    return {"answers_flushed": sum(pipe.execute())}


def count_answers(s: Store) -> dict:
    from adapters.store.keys import answers_key

    pipe = s.writer().pipeline(transaction=False)
    for pid, _, _ in s.rows:
        pipe.exists(answers_key(pid))
    return {"answers_stored": sum(pipe.execute())}


def one_slice(s: Store, target: tuple, seconds: float, args, log) -> dict:
    cold = target[0] == "cold_read"
    prepared: dict = {}
    if cold:
        time.sleep(0.3)  # the last slice's requests still in the server are done
        prepared = flush_answers(s)
    assert s.server is not None
    # The other stores and their servers, idle meanwhile, apart from other people's load ("foreign").
    idle = [pid for other in args.stores if other is not s for pid in other.pids()]
    window = cpuacct.Window({"workers": s.pids(redis=False), "redis": s.redis_pids, "idle_stores": idle}).start()
    result, raw = run_wrk(s.server.base, target, seconds, args.connections, args.threads, s.env)
    result["cpu"] = window.stop()
    result.update(prepared)
    if cold:
        time.sleep(0.3)
        result.update(count_answers(s))
    log.write(f"### {s.name} {target[1]} ({seconds:g} s, cpu {result['cpu']})\n{raw}\n")
    return result


def warm_up(stores: list[Store], target: tuple, args, log) -> dict[int, int]:
    """One checked run of each store's server; the bad responses of each."""
    bad = {}
    for s in stores:
        r = one_slice(s, target, args.warmup, args, log)
        bad[s.size] = r["bad"] + r["socket_errors"]
        if bad[s.size]:
            print(f"  !! {s.name} {target[0]} warm-up: {bad[s.size]} bad; first: {r['bad_sample']}", flush=True)
    return bad


def one_round(stores: list[Store], target: tuple, k: int, warm: dict[int, int], args, log) -> dict[int, dict]:
    """The stores' servers in alternating slices, the order rotated by k; merged per size."""
    n = max(1, round(args.duration / args.slice))
    slices: dict[int, list[dict]] = {s.size: [] for s in stores}
    for _ in range(n):
        for s in rotated(stores, k):
            slices[s.size].append(one_slice(s, target, args.slice, args, log))
    return {size: _merge(runs, warm[size]) for size, runs in slices.items()}


def measure_all(by_mode: dict[str, list[Store]], args, log) -> tuple[dict, bool]:
    """Every mode and target: warm-ups, then --rounds rounds; medians and verdicts."""
    report: dict = {}
    failed = False
    for mode, stores in by_mode.items():
        for target in TARGETS:
            name = target[0]
            cpuacct.wait_quiet(args.quiet_limit, args.quiet_timeout)
            warm = warm_up(stores, target, args, log)
            failed |= any(warm.values())
            rounds = []
            for k in range(args.rounds):
                merged = one_round(stores, target, k, warm, args, log)
                for size, r in merged.items():
                    why = problems(r)
                    if why:
                        failed = True
                        print(f"  !! {mode} {size_label(size)} {name}: {why}", flush=True)
                    if r["cpu"]["foreign_cores"] > args.max_foreign:
                        print(f"  ({mode} {size_label(size)} {name}: other processes (or the host) took "
                              f"{r['cpu']['foreign_cores']:.2f} cores)", flush=True)
                rounds.append(merged)
                order = ", ".join(size_label(s.size) for s in rotated(stores, k))
                print(f"  {mode} {name} round {k + 1} ({order}): " + ", ".join(
                    f"{size_label(size)} {r['rps']:,.0f} req/s" for size, r in merged.items()), flush=True)
            verdict = flat_verdict([{size: r["rps"] for size, r in rd.items()} for rd in rounds])
            by_cpu = flat_verdict([{size: 1e6 / max(1.0, server_us(r)) for size, r in rd.items()} for rd in rounds])
            sizes = {}
            for s in stores:
                runs = [rd[s.size] for rd in rounds]
                sizes[str(s.size)] = {
                    **rounds_summary(runs),
                    "answers_flushed": [x.get("answers_flushed") for x in runs],
                    "answers_stored": [x.get("answers_stored") for x in runs],
                    "goods": [x["good"] for x in runs], "slices": [x["slices"] for x in runs],
                    "warmup_bad": warm[s.size],
                }
            report.setdefault(mode, {})[name] = {"label": target[1], "sizes": sizes, "verdict": verdict,
                                                 "by_cpu": {k: v for k, v in by_cpu.items() if k != "goal"}}
    return report, failed


def server_us(r: dict) -> float:
    return r["cpu_us_per_request"]["workers"] + r["cpu_us_per_request"]["redis"]


# -- report ----------------------------------------------------------------------------------------


def pass_fail(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def goals(report: dict) -> list[dict]:
    """Every goal of the issue with its figure and verdict."""
    out = []
    sizes = report["setup"]["sizes"]
    largest = str(sizes[-1])
    for mode, targets in report["throughput"].items():
        for name, t in targets.items():
            v = t["verdict"]
            out.append({"goal": f"{mode} {name}: throughput flat {size_label(sizes[0])} .. {size_label(sizes[-1])}",
                        "figure": f"min/max {v['flat']:.3f} (" + ", ".join(
                            f"{size_label(int(s))}÷{size_label(sizes[0])} {r:.3f}"
                            for s, r in v["over_smallest"].items())
                        + f"; by CPU min/max {t['by_cpu']['flat']:.3f})",
                        "target": f"≥ {FLAT_GOAL}", "pass": v["pass"]})
    for mode, by_size in report["memory"].items():
        m = by_size[largest]
        out.append({"goal": f"{mode}: Redis memory per person at {size_label(sizes[-1])}",
                    "figure": f"{m['bytes_per_person']:.0f} B ({m['keys_per_person']:g} keys/person)",
                    "target": f"≤ {MEMORY_GOAL} B", "pass": m["bytes_per_person"] <= MEMORY_GOAL})
        if mode == "cluster":
            out.append({"goal": f"cluster: keys spread over the masters at {size_label(sizes[-1])}",
                        "figure": f"max/min − 1 = {m['keys_spread']:.2%} (keys {m['masters_keys']}; used_memory "
                                  f"spread {m['memory_spread']:.2%})",
                        "target": f"≤ {SPREAD_GOAL:.0%}", "pass": m["keys_spread"] <= SPREAD_GOAL})
    return out


def print_report(report: dict) -> None:
    sizes = report["setup"]["sizes"]
    print(f"\nmedians of {report['setup']['rounds']} round(s):")
    for mode, targets in report["throughput"].items():
        for name, t in targets.items():
            for size in sizes:
                r = t["sizes"][str(size)]
                cpu = r["cpu_us_per_request"]
                print(f"  {mode:<10} {name:<9} {size_label(size):>6}: {r['rps']:>7,.0f} req/s, "
                      f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms; "
                      f"CPU µs/req workers {cpu['workers']:.0f} redis {cpu['redis']:.0f} "
                      f"wrk {cpu['wrk']:.0f} kernel {cpu['kernel']:.0f} idle stores {cpu['idle_stores']:.0f} "
                      f"foreign {cpu['foreign']:.0f}; "
                      f"good {r['good']:,}, bad {r['bad']}")
            v = t["verdict"]
            print(f"  {mode:<10} {name:<9} ratios over {size_label(sizes[0])} by round: {v['ratio_rounds']}; "
                  f"min/max by round {v['flat_rounds']}")
    print("\nmemory:")
    for mode, by_size in report["memory"].items():
        for size in sizes:
            m = by_size[str(size)]
            line = f"  {mode:<10} {size_label(size):>6}: {m['bytes_per_person']:.0f} B/person"
            if mode == "cluster":
                line += (f" ({m['bytes_per_person_without_replication']:.0f} without the masters' replication "
                         f"buffers, {m['replication_buffers'] / 2**20:.1f} MiB)")
            line += f", {m['keys_per_person']:g} keys/person"
            if mode == "cluster":
                line += (f"; masters' keys {m['masters_keys']} (spread {m['keys_spread']:.2%}), used_memory spread "
                         f"{m['memory_spread']:.2%}")
            print(line)
    print("\ngoals:")
    for g in report["goals"]:
        print(f"  {pass_fail(g['pass'])}  {g['goal']}: {g['figure']} (goal {g['target']})")


def markdown_summary(report: dict) -> str:
    setup, sizes = report["setup"], report["setup"]["sizes"]
    heads = [size_label(s) for s in sizes]
    lines = [f"`{report['command']}`: {setup['server']} per store, wrk "
             f"{setup['wrk_threads']} thread(s) x {setup['connections']} connections, {setup['rounds']} round(s) of "
             f"{setup['duration_s']:g} s per size in {setup['slice_s']:g} s slices, {setup['sample']:,} sampled "
             f"persons per store, index bits {setup['index_bits']}; git {report['git']['head']}; {report['when']}", "",
             "| mode | target | " + " | ".join(f"{h} req/s" for h in heads) + " | "
             + " | ".join(f"{h}÷{heads[0]}" for h in heads[1:]) + f" | min/max (goal ≥ {FLAT_GOAL}) | by CPU | "
             + " | ".join(f"{h} p50 / p99 ms" for h in heads) + " | "
             + " | ".join(f"{h} µs/req (workers + redis)" for h in heads) + " | |",
             "|---|---|" + "---:|" * (4 * len(sizes) + 1) + "---|"]
    for mode, targets in report["throughput"].items():
        for name, t in targets.items():
            rs = [t["sizes"][str(s)] for s in sizes]
            v = t["verdict"]
            lines.append(f"| {mode} | {name.replace('_', ' ')} | " + " | ".join(f"{r['rps']:,.0f}" for r in rs) + " | "
                         + " | ".join(f"{v['over_smallest'][str(s)]:.2f}x" for s in sizes[1:])
                         + f" | {v['flat']:.2f} | {t['by_cpu']['flat']:.2f} | "
                         + " | ".join(f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}" for r in rs) + " | "
                         + " | ".join(f"{server_us(r):,.0f}" for r in rs) + f" | {pass_fail(v['pass'])} |")
    lines += ["", "| mode | " + " | ".join(f"{h} B/person" for h in heads)
              + f" | {heads[-1]} without replication buffers | keys/person | "
              + " | ".join(f"{h} keys spread" for h in heads) + f" | memory (goal ≤ {MEMORY_GOAL} B at "
              f"{heads[-1]}) | spread (goal ≤ {SPREAD_GOAL:.0%}) |",
              "|---|" + "---:|" * (2 * len(sizes) + 2) + "---|---|"]
    for mode, by_size in report["memory"].items():
        ms = [by_size[str(s)] for s in sizes]
        cluster = mode == "cluster"
        lines.append(f"| {mode} | " + " | ".join(f"{m['bytes_per_person']:.0f}" for m in ms)
                     + f" | {ms[-1]['bytes_per_person_without_replication']:.0f}"
                     + f" | {ms[-1]['keys_per_person']:g} | "
                     + " | ".join(f"{m['keys_spread']:.2%}" if cluster else "" for m in ms)
                     + f" | {pass_fail(ms[-1]['bytes_per_person'] <= MEMORY_GOAL)} | "
                     + (pass_fail(ms[-1]["keys_spread"] <= SPREAD_GOAL) if cluster else "") + " |")
    load = report["load"]
    lines += ["", "Loading: " + "; ".join(f"{m} {v['persons']:,} persons at {v['persons_per_s']:,}/s"
                                          for m, v in load.items() if isinstance(v, dict))
              + f" ({setup['loader_procs']} processes)"]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: sizes 2000,5000,20000, sample 2000, 1 round of 4 s, 1 s warm-up, 1 s slices")
    parser.add_argument("--sizes", help="comma-separated populations (default 10000,100000,1000000)")
    parser.add_argument("--sample", type=int, help="sampled persons per store, capped at its size (default 10000): "
                                                   "more than the cold reads of one slice")
    parser.add_argument("--modes", default="standalone,cluster", help="standalone, cluster or both (default both)")
    parser.add_argument("--duration", type=float, help="seconds per size per round (default 10; quick 4)")
    parser.add_argument("--slice", type=float, help="seconds of each slice (default 2; quick 1)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5; quick 1)")
    parser.add_argument("--warmup", type=float,
                        help="seconds of the checked warm-up of each server (default 2; quick 1)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: it shares the 2 cores)")
    parser.add_argument("--loader-procs", type=int, default=2, help="processes loading the stores (default 2)")
    parser.add_argument("--max-foreign", type=float, default=0.1,
                        help="say so when other processes used more cores than this during a size's slices")
    parser.add_argument("--quiet-limit", type=float, default=0.15,
                        help="before each mode and target, wait until fewer cores than this are busy")
    parser.add_argument("--quiet-timeout", type=float, help="seconds to wait for quiet (default 15; quick 2)")
    parser.add_argument("--out", type=Path, default=OUT / "scale.json",
                        help="JSON results (default bench/out/scale.json; raw wrk output next to it)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.sizes = sorted(int(s) for s in (args.sizes or ("2000,5000,20000" if quick else "10000,100000,1000000"))
                        .split(","))
    args.sample = args.sample or (2000 if quick else 10_000)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.modes or any(m not in MODES for m in args.modes):
        parser.error("--modes: standalone, cluster or both")
    if len(set(args.sizes)) < 2:
        parser.error("--sizes: at least two different sizes")
    args.duration = args.duration or (4 if quick else 10)
    args.slice = args.slice or (1.0 if quick else 2.0)
    args.rounds = args.rounds or (1 if quick else 5)
    args.warmup = args.warmup or (1 if quick else 2)
    args.quiet_timeout = (2.0 if quick else 15.0) if args.quiet_timeout is None else args.quiet_timeout
    return args


def main() -> int:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not on PATH")
    # SIGTERM (not only Ctrl-C) unwinds, so every server, redis-server and cluster is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bits = index_bits(args.sizes[-1])
    os.environ["HEALTHCODE_INDEX_BITS"] = str(bits)  # the loader processes, make_app, the servers alike
    OUT.mkdir(exist_ok=True)
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa: E731
    report: dict = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv), "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "git": {"head": git("rev-parse", "--short", "HEAD"),
                "changed_files": len(git("status", "--porcelain").splitlines())},
        "setup": {"sizes": args.sizes, "modes": args.modes, "sample": args.sample, "server": SERVER,
                  "connections": args.connections, "wrk_threads": args.threads, "duration_s": args.duration,
                  "slice_s": args.slice, "warmup_s": args.warmup, "rounds": args.rounds, "index_bits": bits,
                  "loader_procs": args.loader_procs, "redis_config": REDIS_CONFIG,
                  "flat_rule": f"min/max of the sizes' req/s over the whole run (mean of rounds) >= {FLAT_GOAL}",
                  "spread_rule": "max/min - 1 of the masters' DBSIZE after loading"},
    }
    wrk_log_path = args.out.with_suffix(".wrk.log")
    failed = False
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="healthcode-scale-")))
        log = stack.enter_context(open(wrk_log_path, "w"))
        started = time.perf_counter()
        stores: list[Store] = []
        low = 7100
        for mode in args.modes:
            for size in args.sizes:
                s = start_store(mode, size, workdir, stack, (low, low + 299))
                baseline(s)
                stores.append(s)
        print(f"{len(stores)} stores up ({', '.join(s.name for s in stores)}) in "
              f"{time.perf_counter() - started:.0f} s; index bits {bits} for {args.sizes[-1]:,} persons; "
              f"redis {stores[0].masters[0].info('server')['redis_version']}", flush=True)

        report["load"] = load_all(stores, args.sample, args.loader_procs)
        report["memory"] = {m: {str(s.size): s.memory for s in stores if s.mode == m} for m in args.modes}
        for s in stores:
            services = population.make_app(s.url, **s.config).extensions["healthcode"]
            checkpoint_token, _ = services.credentials.create("checkpoint", "bench")
            population.close_store(services)
            data = workdir / f"rows-{s.mode}-{s.size}.tsv"
            data.write_text("".join(f"{pid}\t{token}\t{qr}\n" for pid, token, qr in s.rows))
            s.env = {**os.environ, "BENCH_DATA": str(data), "BENCH_LUA_DIR": str(BENCH),
                     "BENCH_CHECKPOINT_TOKEN": checkpoint_token}
            extra = {"HEALTHCODE_INDEX_BITS": str(bits)}
            if s.mode == "cluster":
                extra["HEALTHCODE_REDIS_MODE"] = "cluster"
            s.server = Server(SERVER, s.url, workdir / f"server-{s.mode}-{s.size}.log", "app:create_app()", extra)
            stack.callback(s.server.stop)
        for s in stores:
            assert s.server is not None
            s.server.wait_ready()
        print(f"{len(stores)} app servers ({SERVER}) ready; samples issued in {report['load']['issue_seconds']:.0f} s; "
              f"setup {time.perf_counter() - started:.0f} s", flush=True)

        by_mode = {m: [s for s in stores if s.mode == m] for m in args.modes}
        args.stores = stores
        report["throughput"], failed = measure_all(by_mode, args, log)
        report["goals"] = goals(report)
        report["errors"] = failed
        report["seconds"] = round(time.perf_counter() - started)
        print_report(report)
        report["summary_markdown"] = markdown_summary(report)
        print("\nsummary (Markdown, to paste into docs/BENCHMARKS.md; figures from this machine):\n")
        print(report["summary_markdown"])
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nwritten: {args.out} (raw wrk output: {wrk_log_path})")
    if failed:
        print("ERROR: some responses were not good (non-2xx, a failed check, socket errors, or a cold read that "
              "was not cold)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
