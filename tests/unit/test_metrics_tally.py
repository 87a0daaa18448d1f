"""The hot paths' tallies (blueprints/metrics.Tally): what they add to Prometheus is what
Counter.inc and Histogram.observe would have added, within a second, and nothing twice."""
from __future__ import annotations

import os
import sys
import time

from prometheus_client import generate_latest

from blueprints.metrics import LATENCY, REQUESTS, Tally, flush_tallies

# On the bounds, between them, beyond the last: every bucket's edge case.
SAMPLES = [0.0, 0.0005, 0.001, 0.0010001, 0.0025, 0.003, 0.05, 0.07, 1.0, 2.5, 3.0, 99.0]


def series(endpoint: str) -> dict[str, float]:
    text = generate_latest().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if f'endpoint="{endpoint}"' in line and not line.startswith("#") and "_created" not in line}


def test_a_flush_adds_what_inc_and_observe_would_have():
    noted, direct = Tally("test.noted", "GET"), ("test.direct", "GET")
    for seconds in SAMPLES:
        noted.note(seconds)
        REQUESTS.labels(*direct, "200").inc()
        LATENCY.labels(direct[0]).observe(seconds)
    noted.flush()
    left = {k.replace("test.noted", "X"): v for k, v in series("test.noted").items()}
    right = {k.replace("test.direct", "X"): v for k, v in series("test.direct").items()}
    assert left == right and left['healthcode_http_requests_total{endpoint="X",method="GET",status="200"}'] == 12
    noted.flush()  # nothing noted since: nothing added
    assert {k.replace("test.noted", "X"): v for k, v in series("test.noted").items()} == right


def test_the_thread_flushes_within_a_second_and_a_scrape_at_once():
    tally = Tally("test.thread", "GET")
    counter = REQUESTS.labels("test.thread", "GET", "200")
    tally.note(0.001)
    assert counter._value.get() == 0  # noted, not yet added
    deadline = time.monotonic() + 3
    while counter._value.get() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counter._value.get() == 1
    tally.note(0.001)
    flush_tallies()  # what /metrics does first
    assert counter._value.get() == 2


def test_a_forked_child_does_not_count_its_parents_notes():
    tally = Tally("test.fork", "GET")
    tally.note(0.001)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            tally.flush()
            os.write(write, str(REQUESTS.labels("test.fork", "GET", "200")._value.get()).encode())
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 64) == b"0.0"
    tally.flush()
    assert REQUESTS.labels("test.fork", "GET", "200")._value.get() == 1


def test_two_flushes_at_once_take_each_note_once():
    import threading

    tally = Tally("test.race", "GET")
    counter = REQUESTS.labels("test.race", "GET", "200")
    for _ in range(50_000):
        tally.note(0.001)
    barrier = threading.Barrier(4)

    def flush() -> None:
        barrier.wait()
        tally.flush()

    threads = [threading.Thread(target=flush) for _ in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads' drains interleave
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    tally.flush()
    assert counter._value.get() == 50_000
