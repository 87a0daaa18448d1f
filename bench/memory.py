"""Redis memory per applied, face-checked person (bench/run.py's memory part).

`used_memory` of a fresh redis-server before and after N persons applied for and face-checked
through the real services (PersonService.apply and .verify, several loader processes), so the
keys are exactly the API's, whatever their layout. Nothing here knows the key layout beyond the
person hash's name: the keys are grouped by family (`hc:p:{*}`, `hc:ph:{*}`, ...: the hash tag
replaced by `*`) from a SCAN, and each family's MEMORY USAGE is sampled and shared out over the
persons, so an index kept in bucket hashes (many persons a key) is counted as well as one key
a person. Sessions (they expire), a first show and a scan are measured on their own afterwards.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import random
import re
import statistics
import time
from pathlib import Path

MEMORY_GOAL = 600  # bytes per applied, face-checked person at 100 k persons (issue 9)
PERSON_HASH = re.compile(rb"hc:p:\{[^}]+\}")
_TAG = re.compile(rb"\{[^}]*\}")


def index_bits(persons: int) -> int:
    """HEALTHCODE_INDEX_BITS for a population: ~50 persons a bucket (README, docs/architecture.md)."""
    return min(20, max(8, round(math.log2(max(persons, 1) / 50))))


def family(key: bytes) -> str:
    """The key's family: its hash tag as `{*}` (hc:p:{abc}:m -> hc:p:{*}:m)."""
    return _TAG.sub(b"{*}", key).decode()


def keyspace(client) -> dict[str, list[bytes]]:
    """Every key, by family."""
    found: dict[str, list[bytes]] = {}
    for key in client.scan_iter(count=5000):
        found.setdefault(family(key), []).append(key)
    return found


def person_hashes(client) -> int:
    return sum(1 for key in client.scan_iter(match="hc:p:{*}", count=5000) if PERSON_HASH.fullmatch(key))


def family_bytes(client, families: dict[str, list[bytes]], sample: int = 2000) -> dict[str, dict]:
    """Per family: keys, type/encoding, mean MEMORY USAGE of a sample of its keys, their total."""
    rng = random.Random(9)
    out = {}
    for name, keys in sorted(families.items()):
        probe = keys if len(keys) <= sample else rng.sample(keys, sample)
        pipe = client.pipeline(transaction=False)
        for key in probe:
            pipe.memory_usage(key, samples=0)
        sizes = [s or 0 for s in pipe.execute()]
        mean = statistics.mean(sizes)
        out[name] = {"keys": len(keys), "encoding": client.object("encoding", probe[0]).decode(),
                     "memory_usage_mean": round(mean, 1), "memory_usage_total": round(mean * len(keys))}
    return out


def memory_test(workdir: Path, n: int, procs: int, sample: int) -> dict:
    """used_memory per applied person on a fresh server, plus sessions, first show and a scan."""
    from population import NOTICE_VERSION, _apply_range, account_session, close_store, id_number, make_app, phone
    from servers import RedisServer

    from core.persons import Application

    # The indexes sized for the population (adapters/store/layout.py: ~50 persons a bucket), as a
    # deployment sizes them; the loader processes inherit it.
    os.environ["HEALTHCODE_INDEX_BITS"] = str(index_bits(n))
    server = RedisServer(workdir, "redis-memory").start()
    try:
        services = make_app(server.url).extensions["healthcode"]
        # One warm-up person outside the count, so the script cache and key ring are in `before`.
        services.persons.apply(account_session("mem-warmup"),
                               Application("王伟", id_number(999_999), phone(99_999_999), "self", NOTICE_VERSION))
        time.sleep(0.2)
        r = server.client
        before = server.info("memory")["used_memory"]
        families_before = {k: len(v) for k, v in keyspace(r).items()}
        persons_before = person_hashes(r)
        started = time.perf_counter()
        chunks = [(server.url, k * n // procs, (k + 1) * n // procs) for k in range(procs)]
        with multiprocessing.get_context("spawn").Pool(procs) as pool:
            loaded = sum(pool.map(_apply_range, chunks))
        seconds = time.perf_counter() - started
        time.sleep(1.0)  # let redis finish incremental rehashing of the keyspace
        after = server.info("memory")["used_memory"]
        families = keyspace(r)
        persons_added = person_hashes(r) - persons_before
        # What matters: every person applied for is in the store (a person hash each).
        assert loaded == n and persons_added == n, (loaded, persons_added, n)
        keys_added = sum(len(v) for v in families.values()) - sum(families_before.values())
        by_family = family_bytes(r, families)
        for name, f in by_family.items():
            f["keys_added"] = f["keys"] - families_before.get(name, 0)
            f["bytes_per_person"] = round(f["memory_usage_total"] / n, 1)

        # Sessions: real logins (SessionService.login), measured after, so not in the figure above.
        from adapters.store.keys import account_key
        from core.accounts import token_hash

        m0 = server.info("memory")["used_memory"]
        tokens = [services.sessions.login("dev", f"mem-{i}").token for i in range(sample)]
        m1 = server.info("memory")["used_memory"]
        session_key_usage = r.memory_usage(f"hc:s:{token_hash(tokens[0])}", samples=0)

        # What showing the code once (last colour + a :chg entry) and one scan (:scan entry) add.
        qrs = []
        for i in range(sample):
            session = services.sessions.authenticate(tokens[i])
            pid = next(iter(r.hkeys(account_key(session.account_id)))).hex()  # raw ids (layout 2)
            qrs.append(services.codes.show(session, pid).qr)
        m2 = server.info("memory")["used_memory"]
        for qr in qrs:
            assert services.codes.scan(qr, "gate-1").valid
        m3 = server.info("memory")["used_memory"]
        close_store(services)
        return {
            "persons": n,
            "index_bits": index_bits(n),
            "loader": f"PersonService.apply and .verify one by one, {procs} processes in parallel (spawn)",
            "load_seconds": round(seconds, 1),
            "used_memory_before": before,
            "used_memory_after": after,
            "bytes_per_person": round((after - before) / n, 1),
            "keys_per_person": round(keys_added / n, 3),
            "families": by_family,
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


def print_memory(memory: dict) -> None:
    verdict = "PASS" if memory["bytes_per_person"] <= MEMORY_GOAL else "FAIL"
    print(f"  redis-server {memory['redis_version']} ({memory['mem_allocator']}): used_memory "
          f"{memory['used_memory_before']} -> {memory['used_memory_after']} bytes "
          f"({memory['load_seconds']} s, {memory['loader']})")
    print(f"  bytes per person: {memory['bytes_per_person']:.0f} ({verdict}, target <= {MEMORY_GOAL} at 100 k); "
          f"keys per person {memory['keys_per_person']:g} (information)")
    print(f"  {'key family':<24} {'keys':>8} {'added':>8} {'encoding':>10} {'MEMORY USAGE':>13} {'B/person':>9}")
    for name, f in memory["families"].items():
        if f["keys_added"] or f["bytes_per_person"] >= 1:
            print(f"  {name:<24} {f['keys']:>8} {f['keys_added']:>8} {f['encoding']:>10} "
                  f"{f['memory_usage_mean']:>13.0f} {f['bytes_per_person']:>9.1f}")
    print(f"  session key (expires, not counted): {memory['session_bytes_used_memory']:.0f} bytes "
          f"of used_memory each (MEMORY USAGE {memory['session_key_memory_usage']})")
    print(f"  showing a code once adds {memory['first_show_bytes']:.0f} bytes/person, "
          f"one scan adds {memory['one_scan_bytes']:.0f} bytes (30-day history)")
