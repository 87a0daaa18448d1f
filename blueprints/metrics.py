"""Prometheus metrics: requests by endpoint and status, latency, store outages.

Labels are Flask endpoint names (never paths, which carry person ids). Under a server of several
worker processes (granian, gunicorn, uWSGI), set
PROMETHEUS_MULTIPROC_DIR to an empty directory so that /metrics adds up every worker
(prometheus_client's multiprocess mode); without it, /metrics shows the answering process.
"""
from __future__ import annotations

import atexit
import bisect
import functools
import logging
import os
import threading
import time
from collections import Counter as Tallies
from collections import deque
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

blp = Blueprint("metrics", __name__)

REQUESTS = Counter("healthcode_http_requests_total", "HTTP requests", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "healthcode_http_request_seconds", "HTTP request latency", ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
# Any token is a method to gunicorn: a label per invented method would grow without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STORE_UNAVAILABLE = Counter("healthcode_store_unavailable_total", "Requests answered 503 because Redis was unreachable")


@blp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format."""
    flush_tallies()  # this process's hot answers of the last second
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, content_type=CONTENT_TYPE_LATEST)  # it carries its charset: only one


def instrument(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        endpoint = request.endpoint or "unmatched"
        method = request.method if request.method in METHODS else "other"
        REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        started = g.get("started")
        if started is not None:
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response


class Tally:
    """The 200s of one hot endpoint (blueprints/hot.py) and their latencies, noted in this
    process and added to REQUESTS and LATENCY within a second: by a flusher thread once a second,
    at every /metrics scrape of this process and at exit.

    Per answer a note is an append to a deque (thread-safe, no lock), where Counter.inc and
    Histogram.observe cost ~150 bytecodes and three lock passes: a tenth of a refresh's whole
    hit (docs/BENCHMARKS.md). The flush adds a second's answers at once: the count with one inc,
    the latencies bucketed by bisect (as observe's `amount <= bound`) into one inc a bucket,
    their sum with one."""

    def __init__(self, endpoint: str, method: str) -> None:
        self._requests = REQUESTS.labels(endpoint, method, "200")
        self._latency = LATENCY.labels(endpoint)
        self._pending: deque[float] = deque()
        self._armed = False
        _TALLIES.append(self)

    def note(self, seconds: float) -> None:
        """One answered request that took `seconds`."""
        self._pending.append(seconds)
        if not self._armed:
            self._armed = True
            _flusher.wake()

    def flush(self) -> None:
        """Add what was noted to the Prometheus metrics (safe from any thread, at any time)."""
        self._armed = False  # before draining: a note after this arms the flusher again
        pending, taken = self._pending, []
        for _ in range(len(pending)):  # what is there now; a flush in another thread may take some
            try:
                taken.append(pending.popleft())
            except IndexError:
                break
        if not taken:
            return
        self._requests.inc(len(taken))
        latency: Any = self._latency
        bounds, buckets, total = (getattr(latency, name, None) for name in ("_upper_bounds", "_buckets", "_sum"))
        if bounds is None or buckets is None or total is None:  # pragma: no cover - another prometheus_client
            for seconds in taken:
                latency.observe(seconds)
            return
        total.inc(sum(taken))
        for index, count in Tallies(bisect.bisect_left(bounds, seconds) for seconds in taken).items():
            buckets[index].inc(count)

    def forget(self) -> None:
        """In a forked child: what the parent noted is the parent's to count."""
        self._pending.clear()
        self._armed = False


_TALLIES: list[Tally] = []
_log = logging.getLogger(__name__)


@functools.cache
def tally(endpoint: str, method: str) -> Tally:
    """The process's one Tally of (endpoint, method): every app made in it shares it."""
    return Tally(endpoint, method)


def flush_tallies() -> None:
    for tally in list(_TALLIES):
        tally.flush()


class _Flusher:
    """One daemon thread a process, started at the first note (after a server forks its
    workers), flushing every tally once a second while notes come in."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._pid = 0
        self._lock = threading.Lock()

    def wake(self) -> None:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._event = threading.Event()
                    threading.Thread(target=self._run, name="healthcode-metrics", daemon=True).start()
                    self._pid = os.getpid()
        self._event.set()

    def _run(self) -> None:
        event = self._event
        while True:
            event.wait()
            time.sleep(1.0)
            event.clear()  # before the flush: a note during it wakes the next round
            try:
                flush_tallies()
            except Exception:  # the thread must outlive a failed flush: the notes wait for the next
                _log.exception("adding the hot paths' tallies to the metrics failed")

    def forget(self) -> None:
        self._pid, self._lock = 0, threading.Lock()
        for tally in _TALLIES:
            tally.forget()


_flusher = _Flusher()
os.register_at_fork(after_in_child=_flusher.forget)
atexit.register(flush_tallies)
