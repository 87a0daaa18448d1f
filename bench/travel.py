"""Travel card benchmark: card reads against health-code reads, feed ingestion, Redis bytes per stay.

What it measures (see docs/BENCHMARKS.md, "Travel card"), all on a private redis-server with the
production persistence (appendonly yes, appendfsync always, save ""), through the app's services
and the same gunicorn + wrk setup as bench/run.py (whose helpers it imports):

1. Reads over HTTP, in rounds, each ratio taken within its round: (a) GET /healthz for scale,
   (b) GET /api/v1/persons/{id}/health-code exactly as bench/run.py drives it (a random person
   of 2,000 applied, face-checked, 10 % marked), (c) GET /api/v1/travel/card, each request with
   another phone's travel token (2,000 phones, each with a 14-day history of 6-10 stays in
   several cities: bench/travel_data.py; risk areas put stars on about half of the cards, and
   300 more counties in the risk table were raised and lowered again, as in a table in use). The
   tokens are made by the real SMS path in-process (send_code with the console sender, then
   session_by_code). Target: a card read costs at most 1.5x a health-code read, both by req/s
   and by CPU microseconds per request (all processes); p50/p99 are printed with their ratios.
2. Feed ingestion: signed NDJSON batches (HMAC as the feed API wants, a feed made with
   FeedService.create) POSTed to /api/v1/feeds/stays by a few concurrent client processes to
   the same gunicorn; a share of the phones belong to applied persons, so the visits path (the
   health code's exposure rule) runs. Rows/s over the wall time, each response checked (200,
   every row accepted). Then TravelService.ingest in-process alone, on a fresh set of phones
   with the same share, to split the HTTP cost from the ingest cost. Target: >= 20,000 rows/s.
3. Memory: a fresh redis-server, used_memory before and after ingesting N phones' histories
   (~8 stays each) through TravelService.ingest, divided by the stays stored. Target <= 300 B.

The rate limits stay on, scaled by HEALTHCODE_RATE_LIMIT_SCALE=1000 (the feed's 600/minute
would stop the run otherwise). Any bad response makes the script exit 1; a missed target does not.

    python bench/travel.py            # full run, about 10 minutes
    python bench/travel.py --quick    # smoke run, about 2 minutes

Figures are printed and written to bench/out/travel.json.
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import hashlib
import hmac
import http.client
import io
import json
import multiprocessing
import os
import platform
import pstats
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import cpuacct  # noqa: E402
import travel_data  # noqa: E402
from run import (  # noqa: E402
    OUT,
    REDIS_CONFIG,
    TARGETS,
    Gunicorn,
    RedisServer,
    _apply_range,
    app_config,
    choose_workers,
    close_store,
    load_population,
    measure,
    redis_binary,
    rounds_summary,
)

CARD = ("travel_card", "GET /api/v1/travel/card", "travel_card.lua", "/")
READS = (TARGETS[0], TARGETS[1], CARD)  # /healthz, the health code as bench/run.py drives it, the card
GUNICORN_ENV = {"HEALTHCODE_RATE_LIMIT_SCALE": "1000"}
CARD_COST_GOAL = 1.5  # a card read costs at most 1.5x a health-code read
FEED_GOAL = 20_000  # rows/s
MEMORY_GOAL = 300  # bytes per stay
TOKEN_TTL = 7200  # travel tokens outlive the run


def phones(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"{prefix}{i:08d}" for i in range(start, start + n)]


def person_phone(i: int) -> str:
    """The phone of bench/run.py's i-th person (run.phone)."""
    return f"138{i:08d}"


def services_of(redis_url: str):
    from app import create_app

    app = create_app({**app_config(redis_url), "HEALTHCODE_TRAVEL_TOKEN_TTL": TOKEN_TTL})
    return app.extensions["healthcode"]


def set_risk_areas(services, lowered: int) -> None:
    """The elevated areas that star the cards, and `lowered` counties raised and lowered again."""
    _, authority = services.credentials.create("authority", "bench travel")
    for code in travel_data.lowered_areas(lowered):
        services.risk_areas.set(code, "medium", "bench", authority)
        services.risk_areas.set(code, "low", "bench", authority)
    for code, level in travel_data.RISK_AREAS.items():
        services.risk_areas.set(code, level, "bench", authority)


def ingest(services, feed, phone_list: list[str], now: int, size: int, seed: int = 0,
           profiler: cProfile.Profile | None = None) -> tuple[int, int, float]:
    """TravelService.ingest of these phones' histories in batches: (rows sent, accepted, seconds)."""
    sent = accepted = 0
    seconds = 0.0
    for rows, body in travel_data.batches(phone_list, now, size, seed):
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = services.travel.ingest(feed, body)
        if profiler:
            profiler.disable()
        seconds += time.perf_counter() - started
        sent += rows
        accepted += result.accepted
        if result.rejected:
            raise SystemExit(f"in-process ingest refused rows: {result.rejected[:3]}")
    return sent, accepted, seconds


def mint_tokens(services, phone_list: list[str]) -> list[str]:
    """Travel tokens by the real SMS path (console sender, in-process): one per phone."""
    travel = services.travel
    tokens = []
    with contextlib.redirect_stderr(io.StringIO()):  # the console sender prints every code
        for p in phone_list:
            travel.send_code(p)
            tokens.append(travel.session_by_code(p, travel._sms.sent[-1][1]).token)
    return tokens


def card_census(services, tokens: list[str]) -> dict:
    """What the cards hold, read in-process: cities per card, stars, colours."""
    cities, colors, starred, empty = {}, {}, 0, 0
    for token in tokens:
        card = services.travel.card(token)
        cities[len(card.cities)] = cities.get(len(card.cities), 0) + 1
        colors[card.color] = colors.get(card.color, 0) + 1
        starred += any(c.starred for c in card.cities)
        empty += not card.cities
    return {"cards": len(tokens), "cities_per_card": dict(sorted(cities.items())), "colors": colors,
            "with_a_star": starred, "without_cities": empty}


# -- feed over HTTP ------------------------------------------------------------------------------


def _feed_client(port: int, feed_name: str, secret: str, bodies: list[tuple[int, bytes]],
                 start: multiprocessing.synchronize.Event, out) -> None:
    """POST each body, signed now; report (ok, bad, rows accepted, latencies, first bad answer)."""
    ok = bad = accepted = 0
    latencies, sample = [], ""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start.wait()
    for rows, body in bodies:
        timestamp = str(int(time.time()))
        signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {"X-Feed-Id": feed_name, "X-Timestamp": timestamp, "X-Signature": signature,
                   "Content-Type": "application/x-ndjson"}
        began = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/feeds/stays", body, headers)
            response = conn.getresponse()
            answer = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            status, answer = 0, repr(exc).encode()
            conn.close()
        latencies.append(time.perf_counter() - began)
        try:
            doc = json.loads(answer) if status == 200 else {}
        except ValueError:
            doc = {}
        if status == 200 and doc.get("accepted") == rows and doc.get("rejected") == []:
            ok += 1
            accepted += rows
        else:
            bad += 1
            sample = sample or f"{status} {answer[:200]!r}"
    conn.close()
    out.put((ok, bad, accepted, latencies, sample))


def post_batches(port: int, feed, batches: list[tuple[int, bytes]], clients: int) -> dict:
    """The batches shared out round-robin to `clients` processes; wall time and CPU of the whole."""
    ctx = multiprocessing.get_context("fork")  # the bodies are inherited, not pickled
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_feed_client, args=(port, feed.name, feed.secret, batches[k::clients], start, out))
             for k in range(clients)]
    for p in procs:
        p.start()
    return {"procs": procs, "start": start, "out": out}


def feed_http(gun: Gunicorn, server: RedisServer, feed, batches: list[tuple[int, bytes]], warmup, args) -> dict:
    """Warm-up batches (checked, not counted), then the measured ones with CPU accounting."""
    results = {}
    for label, work in (("warmup", warmup), ("measured", batches)):
        if label == "measured":
            load = cpuacct.wait_quiet(args.quiet_limit, args.quiet_timeout)
        run = post_batches(gun.port, feed, work, args.clients)
        time.sleep(0.2)  # the clients are forked and waiting
        window = cpuacct.Window({"workers": [gun.proc.pid, *cpuacct.children(gun.proc.pid)],
                                 "redis": [server.proc.pid]}).start()
        began = time.perf_counter()
        run["start"].set()
        parts = [run["out"].get() for _ in run["procs"]]
        wall = time.perf_counter() - began
        for p in run["procs"]:
            p.join()  # reaped: their CPU shows as the window's children ("wrk" there: here the clients)
        cpu = window.stop()
        cpu["cpu_s"]["clients"] = cpu["cpu_s"].pop("wrk")
        ok, bad, accepted = (sum(x[i] for x in parts) for i in range(3))
        latencies = sorted(lat for x in parts for lat in x[3])
        sample = next((x[4] for x in parts if x[4]), "")
        rows = sum(r for r, _ in work)
        results[label] = {
            "batches": len(work), "rows": rows, "ok": ok, "bad": bad, "accepted": accepted, "bad_sample": sample,
            "wall_s": round(wall, 2), "rows_per_s": round(accepted / wall, 1),
            "batch_p50_ms": round(1e3 * latencies[len(latencies) // 2], 1),
            "batch_p99_ms": round(1e3 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
            "cpu": cpu,
            "cpu_us_per_row": {k: round(1e6 * v / max(1, accepted), 1) for k, v in cpu["cpu_s"].items()},
        }
        if label == "measured":
            results[label]["busy_cores_before"] = round(load, 2)
    return results


# -- the runs ------------------------------------------------------------------------------------


def read_rounds(gun: Gunicorn, server: RedisServer, args, env: dict, wrk_log) -> tuple[dict, list[dict], bool]:
    """(a), (b), (c) in turn, --rounds times; medians, and each ratio within its round."""
    rounds, failed = [], False
    for k in range(args.rounds):
        results = {}
        for target in READS:
            results[target[0]] = r = measure(gun, server, target, args, env, args.duration, wrk_log)
            if r["bad"] or r["socket_errors"] or r["warmup_bad"]:
                failed = True
                print(f"  !! {target[1]}: {r['bad']} bad responses ({r['statuses']}), {r['socket_errors']} socket "
                      f"errors, {r['warmup_bad']} bad in warm-up; first bad: {r['bad_sample']}")
        rounds.append(results)
        hc, card = results["health_code"], results["travel_card"]
        print(f"  round {k + 1}: " + ", ".join(f"{name} {results[name]['rps']:.0f} req/s" for name, *_ in READS)
              + f"; card cost {hc['rps'] / card['rps']:.2f}x by req/s, "
              f"{total_us(card) / total_us(hc):.2f}x by CPU", flush=True)
    final = {}
    for name, *_ in READS:
        runs = [r[name] for r in rounds]
        final[name] = {**rounds_summary(runs), "total_cpu_us": statistics.median(total_us(x) for x in runs)}
    per_round = [{"by_rps": r["health_code"]["rps"] / r["travel_card"]["rps"],
                  "by_cpu": total_us(r["travel_card"]) / total_us(r["health_code"]),
                  "by_app_cpu": app_us(r["travel_card"]) / app_us(r["health_code"]),
                  "p50": r["travel_card"]["p50_ms"] / r["health_code"]["p50_ms"],
                  "p99": r["travel_card"]["p99_ms"] / r["health_code"]["p99_ms"]} for r in rounds]
    cost = {k: round(statistics.median(x[k] for x in per_round), 3) for k in per_round[0]}
    cost["rounds"] = [{k: round(v, 3) for k, v in x.items()} for x in per_round]
    cost["pass"] = cost["by_rps"] <= CARD_COST_GOAL and cost["by_cpu"] <= CARD_COST_GOAL
    final["card_cost"] = cost
    return final, rounds, failed


def total_us(result: dict) -> float:
    """CPU microseconds per request of the benchmark's processes (not other people's)."""
    return sum(v for k, v in result["cpu_us_per_request"].items() if k != "foreign")


def app_us(result: dict) -> float:
    """CPU microseconds per request of gunicorn and redis-server alone: the "kernel" share (the rest
    of the busy time) also holds other people's processes too short-lived to be seen."""
    return result["cpu_us_per_request"]["workers"] + result["cpu_us_per_request"]["redis"]


def http_benchmark(args, workdir: Path, report: dict, stack: ExitStack, wrk_log) -> bool:
    server = RedisServer(workdir, "redis-http").start()
    stack.callback(server.stop)
    version = server.info("server")["redis_version"]
    malloc = server.info("memory").get("mem_allocator", "?")
    print(f"redis-server {version} ({redis_binary()}, {malloc}) on 127.0.0.1:{server.port}, "
          f"config: {'; '.join(REDIS_CONFIG)}")
    report["redis"] = {"version": version, "binary": redis_binary(), "mem_allocator": malloc,
                       "config": REDIS_CONFIG, "transport": "tcp 127.0.0.1"}

    services = services_of(server.url)
    print(f"loading {args.persons} persons (as bench/run.py) ...", flush=True)
    rows, population = load_population(services, args.persons)
    data = workdir / "persons.tsv"
    data.write_text("".join(f"{pid}\t{token}\t{qr}\n" for pid, token, qr in rows))
    feed_persons = round(args.person_share * args.feed_phones)
    ingest_persons = round(args.person_share * args.ingest_phones)
    extra = max(0, feed_persons + ingest_persons - args.persons)
    started = time.perf_counter()
    if extra:
        chunks = [(server.url, args.persons + k * extra // args.loader_procs,
                   args.persons + (k + 1) * extra // args.loader_procs) for k in range(args.loader_procs)]
        with multiprocessing.get_context("spawn").Pool(args.loader_procs) as pool:
            pool.map(_apply_range, chunks)
    population["more_persons_for_the_feed"] = extra
    population["more_persons_seconds"] = round(time.perf_counter() - started, 1)
    print(f"  {population}")
    report["population"] = population

    set_risk_areas(services, args.lowered_areas)
    feed = services.feeds.create("bench-op", "operator")
    now = int(time.time())
    card_phones = phones("139", args.card_phones)
    print(f"card histories: {args.card_phones} phones, 14 days each, through TravelService.ingest ...", flush=True)
    sent, accepted, seconds = ingest(services, feed, card_phones, now, args.batch)
    tokens = mint_tokens(services, card_phones)
    census = card_census(services, tokens)
    census.update(stays=accepted, stays_per_phone=round(accepted / args.card_phones, 2),
                  load_rows_per_s=round(accepted / seconds))
    print(f"  {census}")
    report["cards"] = census
    failed = census["without_cities"] > 0
    token_file = workdir / "travel-tokens.txt"
    token_file.write_text("".join(t + "\n" for t in tokens))

    env = {**os.environ, "BENCH_DATA": str(data), "BENCH_LUA_DIR": str(BENCH), "BENCH_TRAVEL_TOKENS": str(token_file)}
    print(f"machine: {cpuacct.busy_cores(1.0):.2f} cores busy before the runs", flush=True)
    workers, sweep, sweep_failed = choose_workers(server, args, env, wrk_log, GUNICORN_ENV)
    failed |= sweep_failed
    report["setup"] = {
        "workers": workers, "worker_class": "sync", "connections": args.connections, "wrk_threads": args.threads,
        "duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds,
        "worker_sweep": {w: {k: r[k] for k in ("rps", "p50_ms", "p99_ms")} for w, r in sweep.items()},
        "gunicorn_env": GUNICORN_ENV, "feed_clients": args.clients, "batch_rows": args.batch,
        "person_share": args.person_share,
    }
    print(f"gunicorn: {workers} sync workers; wrk: {args.threads} thread(s), {args.connections} connections, "
          f"{args.warmup:g} s warm-up + {args.duration:g} s per target, {args.rounds} round(s)", flush=True)
    gun = Gunicorn(workers, server.url, OUT / "travel-gunicorn.log", extra_env=GUNICORN_ENV)
    stack.callback(gun.stop)
    gun.wait_ready()

    reads, rounds, bad_reads = read_rounds(gun, server, args, env, wrk_log)
    failed |= bad_reads
    report["reads"] = reads
    report["read_rounds"] = rounds

    # Feed over HTTP: the persons' phones and as many others again as the share says.
    feed_phones = ([person_phone(i) for i in range(feed_persons)]
                   + phones("137", args.feed_phones - feed_persons))
    now = int(time.time())
    bodies = list(travel_data.batches(feed_phones, now, args.batch, seed=1))
    warmup = list(travel_data.batches(phones("135", args.clients * args.batch // 4), now, args.batch, seed=2))
    print(f"feed over HTTP: {sum(r for r, _ in bodies)} rows of {len(feed_phones)} phones "
          f"({feed_persons} with a person), {len(bodies)} batches of {args.batch}, {args.clients} clients ...",
          flush=True)
    feed_result = feed_http(gun, server, feed, bodies, warmup, args)
    gun.stop()
    for label, r in feed_result.items():
        if r["bad"]:
            failed = True
            print(f"  !! feed {label}: {r['bad']} bad answers of {r['batches']}; first: {r['bad_sample']}")
    report["feed_http"] = feed_result

    # TravelService.ingest alone, in-process, on fresh phones with the same share.
    first = feed_persons
    ingest_phones = ([person_phone(i) for i in range(first, first + ingest_persons)]
                     + phones("136", args.ingest_phones - ingest_persons))
    cpuacct.wait_quiet(args.quiet_limit, args.quiet_timeout)
    window = cpuacct.Window({"bench": [os.getpid()], "redis": [server.proc.pid]}).start()
    sent, accepted, seconds = ingest(services, feed, ingest_phones, int(time.time()), args.batch, seed=3)
    cpu = window.stop()
    report["feed_in_process"] = {
        "rows": accepted, "phones": len(ingest_phones), "with_a_person": ingest_persons, "seconds": round(seconds, 2),
        "rows_per_s": round(accepted / seconds, 1), "cpu": cpu,
        "cpu_us_per_row": {k: round(1e6 * v / max(1, accepted), 1) for k, v in cpu["cpu_s"].items()},
    }
    report["visits"] = visits_sample(server, feed_persons + ingest_persons)
    close_store(services)
    return failed


def visits_sample(server: RedisServer, persons: int) -> dict:
    """The exposure the feed gave the persons: how many have visits, and what such a key costs."""
    keys = [k for k in server.client.scan_iter(match="hc:p:*:trip", count=1000)]
    probe = keys[:: max(1, len(keys) // 200)]
    usage = [server.client.memory_usage(k, samples=0) for k in probe]
    sizes = [server.client.zcard(k) for k in probe]
    return {"persons_with_visits": len(keys), "persons_in_the_feeds": persons,
            "memory_usage_per_key": round(statistics.mean(usage), 1) if usage else None,
            "cities_per_key": round(statistics.mean(sizes), 2) if sizes else None}


def memory_test(workdir: Path, n: int, batch: int) -> dict:
    """used_memory per stay on a fresh server, for n phones' 14-day histories (no persons)."""
    server = RedisServer(workdir, "redis-memory").start()
    try:
        services = services_of(server.url)
        feed = services.feeds.create("bench-mem", "operator")
        now = int(time.time())
        ingest(services, feed, phones("134", 10), now, batch)  # scripts loaded, outside the count
        time.sleep(0.2)
        before = server.info("memory")["used_memory"]
        keys_before = server.client.dbsize()
        sent, accepted, seconds = ingest(services, feed, phones("137", n), now, batch, seed=4)
        time.sleep(1.0)  # let redis finish incremental rehashing of the keyspace
        after = server.info("memory")["used_memory"]
        keys = server.client.dbsize() - keys_before
        r = server.client
        pipe = r.pipeline(transaction=False)
        for key in r.scan_iter(match="hc:tr:{*", count=1000):
            pipe.zcard(key)
        stored = sum(pipe.execute())
        stored -= sum(r.zcard(k) for k in (f"hc:tr:{{{services.travel.phone_hash('+86' + p)}}}"
                                           for p in phones("134", 10)))
        probe = [f"hc:tr:{{{services.travel.phone_hash('+86' + p)}}}" for p in phones("137", n)[:: max(1, n // 200)]]
        usage = [r.memory_usage(k, samples=0) for k in probe]
        members = [r.zcard(k) for k in probe]
        sample = r.zrange(probe[0], 0, 0, withscores=True)
        close_store(services)
        return {
            "phones": n, "rows": accepted, "stays_stored": stored, "keys": keys,
            "load_seconds": round(seconds, 1), "load_rows_per_s": round(accepted / seconds, 1),
            "used_memory_before": before, "used_memory_after": after,
            "bytes_per_stay": round((after - before) / stored, 1),
            "bytes_per_phone": round((after - before) / n, 1),
            "memory_usage_per_key": round(statistics.mean(usage), 1),
            "stays_per_key": round(statistics.mean(members), 2),
            "encoding": r.object("encoding", probe[0]).decode(),
            "member_example": [(m.decode(errors="replace"), s) for m, s in sample],
            "redis_version": server.info("server")["redis_version"],
            "mem_allocator": server.info("memory").get("mem_allocator"),
        }
    finally:
        server.stop()


def profile(workdir: Path, args) -> None:
    """cProfile of TravelService.ingest and of a card read, in-process (bench/hotspots.py's way)."""
    server = RedisServer(workdir, "redis-profile").start()
    try:
        services = services_of(server.url)
        set_risk_areas(services, args.lowered_areas)
        feed = services.feeds.create("bench-prof", "operator")
        for i in range(0, 400, 50):
            _apply_range((server.url, i, i + 50))
        now = int(time.time())
        ingest(services, feed, phones("139", 300), now, args.batch)
        tokens = mint_tokens(services, phones("139", 300))
        mixed = [person_phone(i) for i in range(400)] + phones("137", 1600)
        profiler = cProfile.Profile()
        sent, accepted, seconds = ingest(services, feed, mixed, now, args.batch, seed=5, profiler=profiler)
        print(f"--- ingest: {accepted} rows, {accepted / seconds:.0f} rows/s under cProfile")
        for order in ("tottime", "cumulative"):
            pstats.Stats(profiler).sort_stats(order).print_stats(25)
        profiler = cProfile.Profile()
        random.Random(1).shuffle(tokens)
        started = time.perf_counter()
        profiler.enable()
        for _ in range(3):
            for token in tokens:
                services.travel.card(token)
        profiler.disable()
        print(f"--- card: {1e6 * (time.perf_counter() - started) / (3 * len(tokens)):.0f} us per card under cProfile")
        for order in ("tottime", "cumulative"):
            pstats.Stats(profiler).sort_stats(order).print_stats(25)
        close_store(services)
    finally:
        server.stop()


# -- main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 s per target, small populations")
    parser.add_argument("--only", choices=("http", "memory"), help="run only the HTTP part or the memory part")
    parser.add_argument("--profile", action="store_true", help="cProfile ingest and card in-process, then exit")
    parser.add_argument("--persons", type=int, help="health-code persons, as bench/run.py (default 2000; quick 200)")
    parser.add_argument("--card-phones", type=int, help="phones with a card token (default 2000; quick 200)")
    parser.add_argument("--feed-phones", type=int, help="phones in the HTTP feed (default 40000; quick 3000)")
    parser.add_argument("--ingest-phones", type=int, help="phones for in-process ingest (default 15000; quick 2000)")
    parser.add_argument("--memory-phones", type=int, help="phones for the memory test (default 100000; quick 5000)")
    parser.add_argument("--person-share", type=float, default=0.2,
                        help="share of the feed's phones that belong to an applied person (default 0.2)")
    parser.add_argument("--lowered-areas", type=int, default=300,
                        help="counties in the risk table at level low (raised, then lowered; default 300)")
    parser.add_argument("--batch", type=int, default=2000, help="rows per feed batch (default 2000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent feed clients (default 4)")
    parser.add_argument("--loader-procs", type=int, default=2, help="processes applying the feed's persons")
    parser.add_argument("--duration", type=float, help="seconds per measured read run (default 15; quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before each read run (default 3; quick 1)")
    parser.add_argument("--rounds", type=int, help="rounds of (a), (b), (c) (default 3; quick 1)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: it shares the 2 cores)")
    parser.add_argument("--workers", type=int, help="gunicorn workers; default: chosen on /healthz as bench/run.py")
    parser.add_argument("--worker-choices", default="2,3,4,6,8")
    parser.add_argument("--worker-tolerance", type=float, default=0.03)
    parser.add_argument("--sweep-duration", type=float, help="seconds per worker-count trial (default 5; quick 1)")
    parser.add_argument("--max-foreign", type=float, default=0.1,
                        help="re-measure a read run when other processes used more cores than this")
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--quiet-limit", type=float, default=0.15)
    parser.add_argument("--quiet-timeout", type=float, default=30.0)
    parser.add_argument("--redis-server", help="redis-server binary (default: see bench/run.py redis_binary())")
    parser.add_argument("--out", type=Path, default=OUT / "travel.json")
    args = parser.parse_args()
    quick = args.quick
    args.persons = args.persons or (200 if quick else 2000)
    args.card_phones = args.card_phones or (200 if quick else 2000)
    args.feed_phones = args.feed_phones or (3000 if quick else 40_000)
    args.ingest_phones = args.ingest_phones or (2000 if quick else 15_000)
    args.memory_phones = args.memory_phones or (5000 if quick else 100_000)
    args.duration = args.duration or (3 if quick else 15)
    args.warmup = args.warmup or (1 if quick else 3)
    args.rounds = args.rounds or (1 if quick else 3)
    args.sweep_duration = args.sweep_duration or (1 if quick else 5)
    return args


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_report(report: dict) -> None:
    if "reads" in report:
        reads, cost = report["reads"], report["reads"]["card_cost"]
        print(f"\n{'target':<40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us':>8}  {'good/bad':>11}")
        for name, label, *_ in READS:
            r = reads[name]
            print(f"{label:<40} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['total_cpu_us']:>8.0f}"
                  f"  {r['good']:>7}/{r['bad']:<3}")
        print(f"\n1. card read vs health-code read (medians of per-round ratios): cost {cost['by_rps']:.2f}x by req/s, "
              f"{cost['by_cpu']:.2f}x by CPU us/request ({cost['by_app_cpu']:.2f}x gunicorn + redis only); "
              f"p50 {cost['p50']:.2f}x, p99 {cost['p99']:.2f}x  "
              f"-> {verdict(cost['pass'])} (target <= {CARD_COST_GOAL}x)")
        print("   CPU per request (us), from /proc during the measured runs:")
        components = ("workers", "redis", "wrk", "kernel", "foreign")
        print(f"   {'target':<37} " + " ".join(f"{c:>8}" for c in components) + f" {'total':>8}")
        for name, label, *_ in READS:
            us = reads[name]["cpu_us_per_request"]
            print(f"   {label:<37} " + " ".join(f"{us[c]:>8.0f}" for c in components) + f" {sum(us.values()):>8.0f}")
    if "feed_http" in report:
        http_r, local = report["feed_http"]["measured"], report["feed_in_process"]
        print(f"\n2. feed over HTTP: {http_r['accepted']} rows in {http_r['wall_s']} s = "
              f"{http_r['rows_per_s']:.0f} rows/s ({http_r['batches']} batches, {http_r['ok']} ok / "
              f"{http_r['bad']} bad; per batch p50 "
              f"{http_r['batch_p50_ms']:.0f} ms, p99 {http_r['batch_p99_ms']:.0f} ms)  "
              f"-> {verdict(http_r['rows_per_s'] >= FEED_GOAL)} (target >= {FEED_GOAL:,})")
        print(f"   CPU per row (us): {http_r['cpu_us_per_row']}")
        print(f"   TravelService.ingest in-process alone: {local['rows']} rows, {local['rows_per_s']:.0f} rows/s; "
              f"CPU per row (us): {local['cpu_us_per_row']}; HTTP/in-process = "
              f"{http_r['rows_per_s'] / local['rows_per_s']:.2f}")
        print(f"   visits: {report['visits']}")
    if "memory" in report:
        m = report["memory"]
        print(f"\n3. memory: {m['stays_stored']} stays of {m['phones']} phones, used_memory "
              f"{m['used_memory_before']} -> {m['used_memory_after']}: {m['bytes_per_stay']:.0f} bytes per stay "
              f"-> {verdict(m['bytes_per_stay'] <= MEMORY_GOAL)} (target <= {MEMORY_GOAL})")
        print(f"   {m['bytes_per_phone']:.0f} bytes per phone; MEMORY USAGE per key {m['memory_usage_per_key']} "
              f"({m['stays_per_key']} stays, {m['encoding']}); member {m['member_example']}; "
              f"loaded at {m['load_rows_per_s']:.0f} rows/s in-process (no persons)")


def main() -> int:
    args = parse_args()
    if args.redis_server:
        os.environ["BENCH_REDIS_SERVER"] = args.redis_server
    if shutil.which("wrk") is None and args.only != "memory" and not args.profile:
        raise SystemExit("wrk is not on PATH")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    OUT.mkdir(exist_ok=True)
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="healthcode-travel-") as tmp:
            profile(Path(tmp), args)
        return 0
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
    wrk_log_path = args.out.with_suffix(".wrk.log")
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="healthcode-travel-")))
        if args.only != "memory":
            wrk_log = stack.enter_context(open(wrk_log_path, "w"))
            failed = http_benchmark(args, workdir, report, stack, wrk_log)
        if args.only != "http":
            print(f"\nmemory: {args.memory_phones} phones' histories on a fresh redis-server ...", flush=True)
            report["memory"] = memory_test(workdir, args.memory_phones, 5000)
    print_report(report)
    report["errors"] = failed
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nwritten: {args.out}" + (f" (raw wrk output: {wrk_log_path})" if args.only != "memory" else ""))
    if failed:
        print("ERROR: some responses were not good (non-2xx, not a real card or batch, or socket errors)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
