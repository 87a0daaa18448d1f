"""Redis memory per person at scale: 10 k, 100 k and 1 M applied, face-checked persons.

The persons are written by the bulk loader (adapters/store/bulk.py: the store's own scripts and
encodings, pipelined; tests/integration/test_bulk.py holds it to what the API makes), with the
same names, ID numbers and phones as bench/run.py, into a private redis-server with the
production persistence. The store's index bits are sized once for the largest population
(HEALTHCODE_INDEX_BITS, ~50 persons a bucket), as a deployment would size them; at each size the
script prints used_memory per person, keys per person and MEMORY USAGE by key kind.

    python bench/bulk.py                          # 10,000 / 100,000 / 1,000,000
    python bench/bulk.py --sizes 10000,100000     # smaller
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import population as run  # noqa: E402  (the population's names, ids and phones; the app)
from memory import index_bits  # noqa: E402
from servers import REDIS_CONFIG, RedisServer  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"

GOAL = 600  # bytes per applied, face-checked person (issues "Hot paths at the limit", "Scale out")
BATCH = 500


def _load_range(args: tuple[str, int, int]) -> int:
    from adapters.store.bulk import BulkPersons
    from adapters.store.layout import IndexLayout

    url, lo, hi = args
    app = run.make_app(url)
    services, client = app.extensions["healthcode"], app.extensions["healthcode.runtime"].store.client
    directory = services.persons._directory
    loader = BulkPersons(client, IndexLayout(client, int(os.environ["HEALTHCODE_INDEX_BITS"])))
    now = int(time.time())
    for start in range(lo, hi, BATCH):
        loader.load([bulk_person(directory, i, now) for i in range(start, min(hi, start + BATCH))])
    run.close_store(services)
    return hi - lo


def bulk_person(directory, i: int, now: int):
    """The i-th person of the population (bench/run.py's name, ID number and phone; the dev
    account `mem-{i}`), sealed for the bulk loader, with a new random person id."""
    from adapters.store.bulk import BulkPerson
    from core.identity import normalize_phone

    pid, number, e164 = secrets.token_hex(12), run.id_number(i), normalize_phone(run.phone(i))
    return BulkPerson(pid, directory.vault.lookup_hash(number), directory.seal(pid, number, "id"),
                      directory.seal(pid, run.person_name(i), "name"), directory.seal(pid, e164, "phone"),
                      directory.phone_hash(e164), run.account_session(f"mem-{i}").account_id, now,
                      run.NOTICE_VERSION)


def per_key(client) -> dict[str, float]:
    """MEMORY USAGE of each kind of key, for a sample (a bucket's share: over its entries)."""
    found: dict[str, list[float]] = {"person": [], "account": [], "id index": [], "phone index": []}
    for kind, pattern in (("person", "hc:p:{*}"), ("account", "hc:a:*"), ("id index", "hc:id:*"),
                          ("phone index", "hc:ph:*")):
        for n, key in enumerate(client.scan_iter(match=pattern, count=1000)):
            if n >= 200:
                break
            if kind == "person" and not key.endswith(b"}"):
                continue
            share = client.hlen(key) if "index" in kind else 1
            found[kind].append(client.memory_usage(key, samples=0) / share)
    return {k: round(statistics.mean(v), 1) for k, v in found.items() if v}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--procs", type=int, default=max(1, (os.cpu_count() or 2)))
    parser.add_argument("--out", type=Path, default=OUT / "bulk.json")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    bits = index_bits(sizes[-1])
    os.environ["HEALTHCODE_INDEX_BITS"] = str(bits)  # the loader processes and the app alike
    OUT.mkdir(exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="healthcode-bulk-") as workdir:
        server = RedisServer(Path(workdir), "redis-bulk").start()
        try:
            run.make_app(server.url)  # the layout record, the key ring, the policy: outside the count
            time.sleep(0.2)
            base = server.info("memory")["used_memory"]
            keys0 = server.client.dbsize()
            loaded = 0
            print(f"redis-server {server.info('server')['redis_version']}, {'; '.join(REDIS_CONFIG)}; "
                  f"index bits {bits} ({2 ** bits} buckets each, sized for {sizes[-1]:,} persons)")
            for size in sizes:
                started = time.perf_counter()
                chunks = [(server.url, loaded + k * (size - loaded) // args.procs,
                           loaded + (k + 1) * (size - loaded) // args.procs) for k in range(args.procs)]
                with multiprocessing.get_context("spawn").Pool(args.procs) as pool:
                    added = sum(pool.map(_load_range, chunks))
                seconds = time.perf_counter() - started
                loaded += added
                time.sleep(1.0)  # incremental rehashing
                used = server.info("memory")["used_memory"]
                row = {"persons": loaded, "bytes_per_person": round((used - base) / loaded, 1),
                       "keys_per_person": round((server.client.dbsize() - keys0) / loaded, 3),
                       "load_rate": round(added / seconds), "memory_usage_per_key": per_key(server.client),
                       "used_memory": used}
                results.append(row)
                verdict = "PASS" if row["bytes_per_person"] <= GOAL else "FAIL"
                print(f"{loaded:>9,} persons: {row['bytes_per_person']:.0f} B/person ({verdict}, goal <= {GOAL}), "
                      f"{row['keys_per_person']} keys/person, loaded at {row['load_rate']:,}/s; "
                      f"MEMORY USAGE {row['memory_usage_per_key']}", flush=True)
        finally:
            server.stop()
    args.out.write_text(json.dumps({"index_bits": bits, "results": results}, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
