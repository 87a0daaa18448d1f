"""Rate limits (Flask-Limiter, moving window, on the service's own Redis): one table of them.

Every limit is a setting (config.Settings.rate_*), multiplied by HEALTHCODE_RATE_LIMIT_SCALE
(a load test sets 1000 and keeps the limiter running, so the benchmark measures its cost). Over
a limit the answer is `429 rate_limited` with `Retry-After`, in the one error format.

Keys are never personal: the client IP (as the proxy chain says, see HEALTHCODE_TRUSTED_PROXIES),
the account's keyed id, the credential id, the platform name, a digest of a console login's
username.
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem, parse_many
from limits.strategies import SlidingWindowCounterRateLimiter

from adapters.store.scripts import run_pipeline
from blueprints.auth import bearer_token, services
from core.console import normalize_username
from core.errors import InvalidInput, LimitReached, Msg, Unauthorized
from core.health_codes import HealthCodeService, ScanResult
from core.identity import normalize_phone
from core.model import Admission, CountWindow, Role

# Answers that tell more than "no": whether an ID number is someone's own code, whether a name
# matches the one on record. They stay (a citizen must be told why), but are counted tightly.
ORACLE_ANSWERS = frozenset({Msg.ID_IS_OTHERS_SELF.value, Msg.NAME_MISMATCH.value})


def client_ip() -> str:
    return request.remote_addr or "unknown"


def login_platform() -> str:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # the view refuses such a body (400); it counts under "?"
        body = None
    platform = body.get("platform") if isinstance(body, dict) else None
    return platform[:16] if isinstance(platform, str) else "?"


def login_username_key() -> str:
    """A console login's username, as a digest: no name is kept in the counters."""
    name = normalize_username(request.form.get("username", ""))[:64]
    return "u:" + hashlib.sha256(name.encode()).hexdigest()[:24]


def session_account() -> str:
    """The logged-in account (the session checked once per request, and kept for the view)."""
    if g.get("session") is None:
        g.session = services().sessions.authenticate(bearer_token())
    account: str = g.session.account_id
    return account


def checkpoint_credential() -> str:
    if g.get("credential") is None:
        g.credential = services().credentials.authenticate(bearer_token(), Role.CHECKPOINT)
    credential: str = g.credential.id
    return credential


def sms_phone() -> str:
    """The phone a code is asked for, as its keyed hash (no number in the limiter's keys)."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        body = None
    phone = body.get("phone") if isinstance(body, dict) else None
    try:
        if isinstance(phone, str):
            return services().travel.phone_hash(normalize_phone(phone))
    except InvalidInput:
        pass
    # The view refuses it (422) and nothing is sent: not a phone's key, and (sms_sent) not counted.
    return "invalid:" + client_ip()


def sms_sent(response: Response) -> bool:
    """Only a code actually sent counts against the phone and the IP: a refused number or the
    provider's failure (422, 503) leaves the minute free for the retry."""
    return response.status_code < 400


def feed_id() -> str:
    return (request.headers.get("X-Feed-Id") or "?")[:32]


def is_oracle_answer(response: Response) -> bool:
    return bool(g.get("oracle_answer"))


def is_console_login_failure(response: Response) -> bool:
    return bool(g.get("console_login_failed"))


def note_oracle_answer(message: str) -> None:
    """Called by the error handler: this refusal is one of the answers that tell something."""
    if message in ORACLE_ANSWERS:
        g.oracle_answer = True


@dataclass(frozen=True)
class RouteLimit:
    endpoints: tuple[str, ...]
    setting: str  # the config.Settings field holding the limit string
    key: Callable[[], str]
    methods: tuple[str, ...] | None = None
    deduct_when: Callable[[Response], bool] | None = None
    scope: str | None = None  # shared by all its endpoints when set


BEARER_ENDPOINTS = (
    "citizen.logout", "citizen.Persons", "citizen.Person", "citizen.verify", "citizen.start_verification",
    "citizen.health_code", "citizen.health_code_image", "citizen.health_code_status", "citizen.history",
    "checkpoint.scan", "authority.add_marker", "authority.remove_marker", "authority.add_markers",
    "authority.pending_markers", "authority.approve_marker", "authority.set_risk_area", "authority.risk_areas",
    "authority.risk_area_history", "authority.open_appeals", "authority.decide_appeal", "authority.audit",
    "authority.verify_audit", "authority.dashboard", "appeals.declare", "appeals.PersonAppeals",
)
ROUTE_LIMITS = (
    RouteLimit(("citizen.login",), "rate_login_ip", client_ip),
    RouteLimit(("citizen.login",), "rate_login_platform", login_platform),
    RouteLimit(("citizen.Persons",), "rate_apply_account", session_account, methods=("POST",)),
    RouteLimit(("citizen.Persons",), "rate_apply_ip", client_ip, methods=("POST",)),
    RouteLimit(("citizen.Persons",), "rate_oracle_account", session_account, methods=("POST",),
               deduct_when=is_oracle_answer, scope="oracle-account"),
    RouteLimit(("citizen.Persons",), "rate_oracle_ip", client_ip, methods=("POST",),
               deduct_when=is_oracle_answer, scope="oracle-ip"),
    # Preparing a face check costs the platform (and us) as much as reading its result.
    RouteLimit(("citizen.verify", "citizen.start_verification"), "rate_verify_account", session_account),
    RouteLimit(("citizen.verify", "citizen.start_verification"), "rate_verify_ip", client_ip),
    RouteLimit(("citizen.verify",), "rate_oracle_account", session_account,
               deduct_when=is_oracle_answer, scope="oracle-account"),
    # checkpoint.scan: rate_scan_credential, counted by ScanLimit (below), not a route limit.
    RouteLimit(("travel.send_sms",), "rate_sms_phone", sms_phone, deduct_when=sms_sent),
    RouteLimit(("travel.send_sms",), "rate_sms_ip", client_ip, deduct_when=sms_sent),
    RouteLimit(("travel.start_session",), "rate_travel_session_ip", client_ip),
    RouteLimit(("feeds.stays", "feeds.lab_results"), "rate_feed", feed_id),
    # Console logins: failed ones count (a wrong password and an unknown user alike); over the
    # limit even the right password waits. The form's own views are counted per IP.
    RouteLimit(("console.login",), "rate_console_login_ip", client_ip, methods=("POST",),
               deduct_when=is_console_login_failure, scope="console-login-ip"),
    RouteLimit(("console.login",), "rate_console_login_user", login_username_key, methods=("POST",),
               deduct_when=is_console_login_failure, scope="console-login-user"),
    RouteLimit(("console.login",), "rate_console_form_ip", client_ip, methods=("GET",)),
)
# rate_bearer_failure_ip is not a route limit: BearerFailures counts only the 401s (below).


def scaled(limits: str, scale: int) -> str:
    """'20/minute;200/hour' with every amount multiplied by `scale`."""
    return ";".join(f"{item.amount * scale}/{item.multiples} {item.GRANULARITY.name}"
                    for item in parse_many(limits))


def install(app: Flask, settings: Any, storage_uri: str, storage_options: dict[str, Any]) -> Limiter:
    """A Limiter for this app, on the given Redis, with ROUTE_LIMITS on the registered views."""
    # Keys: hc:rl:LIMITER/<key>/<scope>/<limit> (the storage's prefix, then Flask-Limiter's).
    limiter = Limiter(
        client_ip,
        app=app,
        storage_uri=storage_uri,
        storage_options={**storage_options, "key_prefix": "hc:rl"},
        strategy="moving-window",
        key_prefix="",
        # No X-RateLimit-* headers: each costs a window read (a Redis round trip) on every
        # request. A 429 carries Retry-After (retry_after_for).
        headers_enabled=False,
        swallow_errors=False,
    )
    scale = settings.rate_limit_scale
    # Every limit here is a route's, checked by its decorator when the view runs; the limiter's
    # own before-request pass is for application-wide limits, which we do not have, and costs
    # every request (the hot read, /healthz) tens of microseconds resolving none.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    for rule in reversed(ROUTE_LIMITS):  # the first rule ends up outermost
        value = scaled(getattr(settings, rule.setting), scale)
        for endpoint in rule.endpoints:
            options: dict[str, Any] = {"key_func": rule.key, "deduct_when": rule.deduct_when,
                                       "methods": list(rule.methods) if rule.methods else None}
            if rule.scope:
                decorate = limiter.shared_limit(value, rule.scope, **options)
            else:
                decorate = limiter.limit(value, **options)
            app.view_functions[endpoint] = decorate(app.view_functions[endpoint])  # type: ignore[assignment]
    app.extensions["healthcode.scan_limit"] = ScanLimit(
        limiter, parse_many(scaled(settings.rate_scan_credential, scale)),
        same_redis="connection_pool" in storage_options)  # bootstrap.limiter_storage: the store's pool
    failures = BearerFailures(limiter, parse_many(scaled(settings.rate_bearer_failure_ip, scale)))
    app.before_request(failures.before)
    app.after_request(failures.after)
    app.extensions["healthcode.limiter"] = limiter
    app.extensions["healthcode.bearer_failures"] = failures
    return limiter


def retry_after_for(error: RateLimitExceeded) -> int:
    """Seconds until the breached limit lets one more request through (its window read once,
    on the refusal only)."""
    limiter: Limiter | None = current_app.extensions.get("healthcode.limiter")
    runtime = error.limit
    if limiter is None:
        return int(runtime.limit.get_expiry())
    scope = runtime.scope_for(request.endpoint or "", request.method)
    reset, _ = limiter.limiter.get_window_stats(runtime.limit, runtime.key_func(), scope)
    return max(1, math.ceil(reset - time.time()))


NOT_PROPAGATED = "redis.set_repl(redis.REPL_NONE)\n"  # a script's writes stay on the master, in memory


class ScanLimit:
    """rate_scan_credential, per checkpoint credential, for the scan view and its fast path alike.

    Counted by a sliding window counter (`limits`' SlidingWindowCounterRateLimiter: two counters
    a limit, the previous window's weighted by how much of it still overlaps), on the limiter's
    storage, not by the moving window of the other limits: a gate scans tens of thousands of
    codes a day, and a moving window keeps one timestamp per scan (a 30,000-entry list per device
    for 30,000/day) and walks it on every hit — measured, the two limits' scripts cost Redis more
    than the scan's own read and write. The price: an approximate count near window edges.
    """

    SCOPE = "checkpoint.scan"
    MAX_ADMISSIONS = 10_000  # devices remembered; then forgotten at once (each costs its keys again)
    REFUSED = "healthcode.scan_refused"  # environ: the fast path counted and refused this scan
    batched = True  # the limits in one round trip (else: in turn, as strategy.hit does)

    def __init__(self, limiter: Limiter, items: list[RateLimitItem], same_redis: bool = False) -> None:
        # same_redis: the limiter counts on the store's own standalone Redis (the scan's script can count too)
        self._strategy = SlidingWindowCounterRateLimiter(limiter.limiter.storage)
        self.items = tuple(items)
        storage: Any = self._strategy.storage
        text = getattr(storage, "SCRIPT_ACQUIRE_SLIDING_WINDOW", None)
        # `limits`' own acquire script, its counters kept out of the AOF and the replicas: with
        # appendfsync always, counters written by a round trip of their own cost every scan a
        # second fsync (measured: the limit's round trip took as long as the scan's durable
        # write). A restart or a failover forgets the counts, which only lets a device scan a
        # window's worth again; the scans themselves stay durable.
        self._acquire = (storage.get_connection().register_script(
            NOT_PROPAGATED + (text.decode() if isinstance(text, bytes) else text))
                         if text is not None and hasattr(storage, "get_connection") else None)
        names = ("_previous_window_key", "_current_window_key", "prefixed_key")
        self._fusable = same_redis and self._acquire is not None and all(hasattr(storage, n) for n in names)
        # credential id -> its Admission: the windows' keys (the sliding window's are not of a
        # time: its script weighs the two counters by the time) and limits, made once a device.
        self._admissions: dict[str, Admission] = {}

    def scan(self, codes: HealthCodeService, credential_id: str, qr: str, place: str) -> ScanResult | int:
        """The scan, counted against the credential's limits first; or, when a limit refused it,
        the seconds until one more is admitted (nothing recorded).

        Off a cluster the counting and the scan's own write go in one script, one round trip
        (`Admission`); a code that never gets to the write (forged, expired) is counted after.
        On a cluster the counters are in other slots than the person: counted first, in a round
        trip of their own."""
        admission = self.admission(credential_id) if codes.admits else None
        if admission is None:
            retry_after = self.hit(credential_id)
            return retry_after if retry_after is not None else codes.scan(qr, place)
        try:
            result = codes.scan(qr, place, admission)
        except LimitReached as refused:
            return self._retry_after(credential_id, refused.admitted)
        if not result.counted:
            retry_after = self.hit(credential_id)
            if retry_after is not None:
                return retry_after
        return result

    def admission(self, credential_id: str) -> Admission | None:
        """The limits' windows for this credential as an Admission (`limits`' own keys), or None
        where they cannot be counted in the scan's script (not on the store's Redis, or a
        `limits` without the sliding-window script)."""
        if not self.batched or not self._fusable:
            return None
        admission = self._admissions.get(credential_id)
        if admission is not None:
            return admission
        storage: Any = self._strategy.storage
        windows = []
        for item in self.items:
            key = item.key_for(credential_id, self.SCOPE)
            windows.append(CountWindow(storage.prefixed_key(storage._previous_window_key(key)),
                                       storage.prefixed_key(storage._current_window_key(key)),
                                       item.amount, item.get_expiry()))
        if len(self._admissions) >= self.MAX_ADMISSIONS:
            self._admissions.clear()
        admission = self._admissions[credential_id] = Admission(tuple(windows))
        return admission

    def _retry_after(self, credential_id: str, admitted: tuple[bool, ...]) -> int:
        for item, ok in zip(self.items, admitted, strict=True):
            if not ok:
                reset, _ = self._strategy.get_window_stats(item, credential_id, self.SCOPE)
                return max(1, math.ceil(reset - time.time()))
        return 1

    def hit(self, credential_id: str) -> int | None:
        """Count one scan; None when admitted, else the seconds until one more is."""
        admitted = tuple(self._acquire_all(credential_id))
        return None if all(admitted) else self._retry_after(credential_id, admitted)

    def _acquire_all(self, credential_id: str) -> list[bool]:
        """Each limit's entry acquired as `limits` does it (its own script and keys), all in one
        round trip rather than one per limit. A limit that refuses does not stop the others from
        counting the scan (strategy.hit in turn would): a refused scan may count against the day."""
        storage: Any = self._strategy.storage
        script = self._acquire
        names = ("_previous_window_key", "_current_window_key", "prefixed_key", "get_connection")
        if not self.batched or script is None or not all(hasattr(storage, n) for n in names) or len(self.items) < 2:
            admitted: list[bool] = []
            for item in self.items:  # in turn, up to the first refusal
                admitted.append(self._strategy.hit(item, credential_id, self.SCOPE))
                if not admitted[-1]:
                    break
            return admitted + [False] * (len(self.items) - len(admitted))
        previous, current, prefixed = storage._previous_window_key, storage._current_window_key, storage.prefixed_key

        def build(pipe: Any) -> None:
            for item in self.items:
                key = item.key_for(credential_id, self.SCOPE)
                pipe.evalsha(script.sha, 2, prefixed(previous(key)), prefixed(current(key)),
                             item.amount, item.get_expiry(), 1)

        return [bool(r) for r in run_pipeline(storage.get_connection(), build, (script,))]

    def refusal(self, retry_after: int) -> Response:
        from blueprints.errors import error_response  # errors imports this module

        return error_response(429, "rate_limited", Msg.RATE_LIMITED, headers={"Retry-After": str(retry_after)})


class BearerFailures:
    """rate_bearer_failure_ip: an IP that keeps failing to authenticate is stopped, even with a
    good token. Only the failures touch Redis (a 401 is counted; when that fills the window the
    IP is refused here, by every worker that sees it fail, until the window frees): a request
    with a good token from an IP in good standing costs nothing, where a route limit would cost
    a round trip on every request."""

    MAX_REMEMBERED = 10_000

    def __init__(self, limiter: Limiter, items: list[RateLimitItem]) -> None:
        self._limiter = limiter
        self._items = items
        self._until: dict[str, float] = {}  # IP -> when its window frees (this process)

    def _refusal(self, until: float) -> Response:
        from blueprints.errors import error_response  # errors imports this module

        retry = str(max(1, math.ceil(until - time.time())))
        return error_response(429, "rate_limited", Msg.RATE_LIMITED, headers={"Retry-After": retry})

    def stopped(self, ip: str) -> bool:
        """Whether this process refuses bearer requests from `ip` now."""
        until = self._until.get(ip) if self._until else None
        if until is None:
            return False
        if until <= time.time():
            self._until.pop(ip, None)
            return False
        return True

    def before(self) -> Response | None:
        if request.endpoint not in BEARER_ENDPOINTS or not self.stopped(client_ip()):
            return None
        return self._refusal(self._until[client_ip()])

    def after(self, response: Response) -> Response:
        if response.status_code != 401 or request.endpoint not in BEARER_ENDPOINTS:
            return response
        strategy, ip = self._limiter.limiter, client_ip()
        for item in self._items:
            admitted = strategy.hit(item, ip, "bearer-failure")
            if not admitted or not strategy.test(item, ip, "bearer-failure"):
                until, _ = strategy.get_window_stats(item, ip, "bearer-failure")
                if len(self._until) >= self.MAX_REMEMBERED:
                    self._until.pop(next(iter(self._until)))
                self._until[ip] = max(until, time.time() + 1)
                if not admitted:
                    return self._refusal(until)
        return response


def unauthorized_if_missing() -> None:
    if bearer_token() is None:
        raise Unauthorized(Msg.BEARER_MISSING)
