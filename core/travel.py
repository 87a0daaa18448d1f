"""The travel card (通信行程卡): proving a phone number, operators' stays, the card, its retirement.

The card was taken offline on 2022-12-13 00:00 with all trip data deleted (CAICT's notice of
2022-12-12): `retired` turns the endpoints off, and `retire_data` deletes every stay, code and
token at once.
"""
from __future__ import annotations

import gettext
import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

import pycountry

from core.audit import Action, AuditTrail
from core.clock import Clock
from core.directory import phone_lookup
from core.divisions import Level, division
from core.errors import InvalidInput, Msg, PlatformUnavailable, Retired, Unauthorized
from core.feeds import BatchResult, Feed, FeedService, epoch, fields_of
from core.identity import mask_phone, normalize_phone
from core.model import NO_VISITS, Visits
from core.ports import PiiVault, PlatformAdapter, SmsCodes, SmsSender, StayStore, TravelTokens
from core.risk import RiskAreaService
from core.stays import (
    CardCity,
    Stay,
    TravelPolicy,
    card_cities,
    card_color,
    is_overseas,
    visited_cities,
)

CODE_TTL = 300  # an SMS code lives 5 minutes
MAX_ATTEMPTS = 5
# Operators send mainland numbers as 11 digits, 86… or +86…: read them without libphonenumber,
# which costs ~30 µs a row (a feed carries tens of thousands of rows a second).
_FEED_PHONE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
_PHONE_HASH = re.compile(r"[0-9a-f]{32}")  # PiiVault.lookup_hash: 128 bits, hex


class CodeCheck(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    NONE = "none"  # no code sent, or expired
    EXHAUSTED = "exhausted"  # too many wrong tries: the code is gone


class EmptyReason(StrEnum):
    """Why a card shows no city (the seed's FAQ), instead of an empty list."""

    NO_DATA = "no_data"  # no operator data for this number yet (a new number, the day's lag)
    NONE_IN_WINDOW = "none_in_window"  # data, but no city with 4 h or more in the window


@dataclass(frozen=True)
class TravelSession:
    token: str
    expires_in: int


@dataclass(frozen=True)
class TravelCard:
    phone_masked: str
    color: str
    reason: str
    window_days: int
    updated_at: int
    cities: tuple[CardCity, ...]
    note: str
    empty_reason: EmptyReason | None = None
    policy_version: str = ""
    min_hours: int = 4


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Province-level codes that are themselves a city on the card: the municipalities, and 台湾,
# 香港, 澳门 (GB/T 2260 710000, 810000, 820000).
PROVINCE_CITIES = frozenset({"11", "12", "31", "50", "71", "81", "82"})


@cache
def _zh_countries() -> gettext.NullTranslations:
    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"], fallback=True)


@cache
def country_name(code: str, lang: str = "zh") -> str:
    """A country's name (ISO 3166-1 through pycountry, Chinese from its translations)."""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return _zh_countries().gettext(country.name) if lang == "zh" else str(country.name)


def known_place(code: str) -> bool:
    """A current county or city of GB/T 2260, a province-level city, or a country abroad."""
    if is_overseas(code):
        return pycountry.countries.get(alpha_2=code.upper()) is not None
    found = division(code)
    if found is None:
        return False
    return found.level is not Level.PROVINCE or code[:2] in PROVINCE_CITIES


class TravelService:
    def __init__(self, codes: SmsCodes, tokens: TravelTokens, stays: StayStore, vault: PiiVault, sms: SmsSender,
                 risk: RiskAreaService, policy: TravelPolicy, feeds: FeedService, audit: AuditTrail, clock: Clock,
                 token_ttl: int = 1800, retired: bool = False) -> None:
        self._codes = codes
        self._tokens = tokens
        self._stays = stays
        self._vault = vault
        self._sms = sms
        self._risk = risk
        self.policy = policy
        self._feeds = feeds
        self._audit = audit
        self._clock = clock
        self._token_ttl = token_ttl
        self.retired = retired

    def _open(self) -> None:
        if self.retired:
            raise Retired(Msg.TRAVEL_RETIRED)

    def phone_hash(self, e164: str) -> str:
        return phone_lookup(self._vault, e164)

    # -- proving a phone ------------------------------------------------------------------

    def send_code(self, phone: str) -> None:
        """A 6-digit code to the phone, stored only as a keyed hash, for 5 minutes, 5 tries."""
        self._open()
        e164 = normalize_phone(phone)
        ph = self.phone_hash(e164)
        code = f"{secrets.randbelow(1_000_000):06d}"
        self._codes.put(ph, self._code_hash(ph, code), CODE_TTL)
        try:
            self._sms.send_code(e164, code)
        except (PlatformUnavailable, InvalidInput):
            self._codes.delete(ph)  # not sent: nothing left behind
            raise

    def _code_hash(self, phone_hash: str, code: str) -> str:
        return self._vault.lookup_hash(f"sms:{phone_hash}:{code}")

    def session_by_code(self, phone: str, code: str) -> TravelSession:
        self._open()
        e164 = normalize_phone(phone)
        ph = self.phone_hash(e164)
        result = self._codes.attempt(ph, self._code_hash(ph, (code or "").strip()), MAX_ATTEMPTS)
        if result is not CodeCheck.OK:
            message = {CodeCheck.WRONG: Msg.SMS_CODE_WRONG, CodeCheck.EXHAUSTED: Msg.SMS_CODE_EXHAUSTED,
                       CodeCheck.NONE: Msg.SMS_CODE_NONE}[result]
            raise InvalidInput(message, {"sms_code": [message]})
        return self._session(e164)

    def session_by_platform(self, platform: PlatformAdapter, account_id: str, proof: dict[str, str]) -> TravelSession:
        """The platform's phone authorization (WeChat getPhoneNumber, Alipay my.getPhoneNumber)."""
        self._open()
        return self._session(normalize_phone(platform.phone_number(account_id, proof)))

    def _session(self, e164: str) -> TravelSession:
        # "<phone hash>.<256 random bits>": the card finds the token and the phone's stays in one
        # round trip. The hash is keyed: it tells its holder nothing it does not know.
        ph = self.phone_hash(e164)
        token = f"{ph}.{secrets.token_urlsafe(32)}"
        self._tokens.save(token_hash(token), ph, self._vault.seal(e164, "travel:phone"), self._token_ttl)
        return TravelSession(token, self._token_ttl)

    # -- the card ------------------------------------------------------------------------

    def card(self, token: str | None, lang: str = "zh") -> TravelCard:
        self._open()
        hint = (token or "").partition(".")[0]
        if token and _PHONE_HASH.fullmatch(hint):
            found, stays = self._stays.token_and_stays(token_hash(token), hint)
            if found is not None and found[0] != hint:
                found = None  # not the phone the token names: no such token
        else:  # a token made before tokens named their phone
            found = self._tokens.get(token_hash(token)) if token else None
            stays = self._stays.stays(found[0]) if found is not None else []
        if found is None:
            raise Unauthorized(Msg.TRAVEL_LOGIN_REQUIRED)
        ph, phone_ct = found
        now = self._clock.now()
        # The risk table as this process holds it, per city (the health code's too): reloaded when
        # its version moves, checked at most once a second, at once after a change made here.
        # Not the whole table read from the store and scanned for every city of every card.
        elevated = self._risk.table.level_of_city
        cities = card_cities(stays, now, self.policy, elevated, lambda code: country_name(code, lang))
        rule = card_color(cities, self.policy, elevated)
        empty = None if cities else (EmptyReason.NONE_IN_WINDOW if stays else EmptyReason.NO_DATA)
        return TravelCard(
            phone_masked=mask_phone(self._vault.open(phone_ct, "travel:phone")), color=rule.color,
            reason=self.policy.words(rule.text, lang), window_days=self.policy.window_days, updated_at=now,
            cities=cities, note=self.policy.note_for(lang), empty_reason=empty, policy_version=self.policy.version,
            min_hours=self.policy.min_hours,
        )

    # -- the operators' feed --------------------------------------------------------------

    def ingest(self, feed: Feed, body: bytes) -> BatchResult:
        """Rows {phone, city_code, from, to}; each bad row reported by line, the good ones kept
        (the same stay again is the same record); kept only as long as the window."""
        self._open()
        now = self._clock.now()
        window = self.policy.window_days * 86_400
        batch: list[tuple[str, Stay]] = []

        def handle(line: int, row: Any) -> None:
            doc = fields_of(row, ("phone", "city_code", "from", "to"))
            phone = _FEED_PHONE.match(str(doc["phone"]).replace(" ", "").replace("-", ""))
            if phone is None:
                raise InvalidInput(Msg.INVALID_PHONE, {"phone": [Msg.PHONE_CN_MOBILE]})
            place = str(doc["city_code"])
            if not known_place(place):
                raise InvalidInput(Msg.NO_SUCH_REGION, {"city_code": [Msg.NO_SUCH_REGION]})
            start, end = epoch(doc["from"], "from"), epoch(doc["to"], "to")
            if end <= start or end > now + 300 or end - start > window:
                raise InvalidInput(Msg.STAY_TIMES, {"to": [Msg.STAY_TIMES]})
            if end <= now - window:
                raise InvalidInput(Msg.STAY_TOO_OLD, {"to": [Msg.STAY_TOO_OLD]})
            batch.append((self.phone_hash("+86" + phone.group(1)), Stay(place.upper() if is_overseas(place)
                                                                         else place, start, end)))

        result = self._feeds.each_row(body, handle)
        by_phone: dict[str, list[Stay]] = {}
        for phone_hash, stay in batch:
            by_phone.setdefault(phone_hash, []).append(stay)
        visits = {ph: cities for ph, stays in by_phone.items() if (cities := visited_cities(stays, now, self.policy))}
        self._stays.add(batch, visits, window, now)
        self._audit.record(feed.actor, Action("stays.batch", feed.name, f"{result.accepted} kept, "
                                              f"{len(result.rejected)} refused"), role="feed")
        return result

    def visits(self, phone_hash: str) -> Visits:
        """The cities this phone stayed in by the card's rule (a phone given after its stays came)."""
        if self.retired:
            return NO_VISITS
        now = self._clock.now()
        window = self.policy.window_days * 86_400
        return Visits(visited_cities(self._stays.stays(phone_hash), now, self.policy), window, now)

    def retire_data(self) -> dict[str, int]:
        """Delete every stay, SMS code and travel token (2022-12-13: 同步删除用户行程相关数据)."""
        return self._stays.delete_all()

