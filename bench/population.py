"""The benchmarks' population: persons applied for, face-checked, some marked, one QR each,
through the app's own services (bench/run.py, bench/travel.py, bench/memory.py).
"""
from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import random
import time
from pathlib import Path

from servers import CODE_TTL, RATE_LIMIT_SCALE, SECRET

ROOT = Path(__file__).resolve().parent.parent
NOTICE_VERSION = json.loads((ROOT / "policies" / "notice.json").read_text(encoding="utf-8"))["version"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉梅春晓文斌宇浩然子涵欣怡思雨嘉俊"


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


def _apply_people(services, lo: int, hi: int) -> list[tuple[str, str]]:
    """Log in, apply for and face-check persons lo..hi-1: (person id, token) each."""
    face_check = dev_platform()
    people = []
    for i in range(lo, hi):
        login = services.sessions.login("dev", f"bench-{i}")
        session = services.sessions.authenticate(login.token)
        view = services.persons.apply(session, bench_application(i))
        services.persons.verify(session, view.id, face_check, "bench")  # 申领 → face check → code
        people.append((view.id, login.token))
    return people


def _issue(services, people: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One QR for each (person id, token): (qr, colour) each."""
    out = []
    for pid, token in people:
        view = services.codes.show(services.sessions.authenticate(token), pid)
        out.append((view.qr, view.evaluation.color.value))
    return out


def _apply_chunk(args: tuple[str, int, int]) -> list[tuple[str, str]]:
    services = make_app(args[0]).extensions["healthcode"]
    try:
        return _apply_people(services, args[1], args[2])
    finally:
        close_store(services)


def _issue_chunk(args: tuple[str, list[tuple[str, str]]]) -> list[tuple[str, str]]:
    services = make_app(args[0]).extensions["healthcode"]
    try:
        return _issue(services, args[1])
    finally:
        close_store(services)


def load_population(services, n: int, mark_every: int = 10, redis_url: str | None = None,
                    procs: int = 1) -> tuple[list[tuple[str, str, str]], dict]:
    """Log in and apply for n persons, mark every `mark_every`-th, pre-issue one QR each.

    With `redis_url` and procs > 1 the applying and issuing run in that many processes (the
    fsynced writes of several clients are group-committed: several times faster)."""
    from core.marking import MarkerRequest

    started = time.perf_counter()
    parallel = redis_url is not None and procs > 1
    ctx = multiprocessing.get_context("spawn")
    if parallel:
        with ctx.Pool(procs) as pool:
            chunks = [(redis_url, k * n // procs, (k + 1) * n // procs) for k in range(procs)]
            people = [p for part in pool.map(_apply_chunk, chunks) for p in part]
    else:
        people = _apply_people(services, 0, n)
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
    if parallel:
        with ctx.Pool(procs) as pool:
            issued = [q for part in pool.map(_issue_chunk, [(redis_url, people[k::procs]) for k in range(procs)])
                      for q in part]
        # Back in the people's order (chunk k held people k, k + procs, ...).
        ordered: list[tuple[str, str]] = [("", "")] * n
        at = 0
        for k in range(procs):
            for j in range(k, n, procs):
                ordered[j] = issued[at]
                at += 1
        issued = ordered
    else:
        issued = _issue(services, people)
    rows, colors, lengths = [], {}, {}
    for (pid, token), (qr, color) in zip(people, issued, strict=True):
        rows.append((pid, token, qr))
        colors[color] = colors.get(color, 0) + 1
        lengths[len(qr)] = lengths.get(len(qr), 0) + 1
    done = time.perf_counter()
    stats = {
        "persons": n,
        "marked": marked,
        "colors": colors,
        "qr_lengths": dict(sorted(lengths.items())),
        "loader_processes": procs if parallel else 1,
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
