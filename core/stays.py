"""The travel card's rule (通信行程卡): cities where the phone stayed 4 h or more in total within
the window, newest first, starred when the city now holds a medium/high-risk area, and a colour
from a versioned policy file (data). Pure functions: no store, no clock."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.divisions import division, full_name
from core.policy import PolicyError, Text, text_of

HOUR, DAY = 3600, 86400
CONDITIONS = ("high_risk_city", "medium_risk_city", "overseas", "always")
COLORS = ("green", "yellow", "orange", "red")


@dataclass(frozen=True)
class Stay:
    """An operator's record: the phone was in `place` (a GB/T 2260 code, or an ISO 3166 alpha-2
    country code abroad) from `start` to `end` (UTC epoch seconds)."""

    place: str
    start: int
    end: int


@dataclass(frozen=True)
class CardRule:
    color: str
    when: str
    text: Text


@dataclass(frozen=True)
class TravelPolicy:
    version: str
    window_days: int  # 14, 7 from 2022-07-08 (防控方案第九版)
    min_hours: int  # travel card: ≥ 4 h stays
    star: bool  # the * was removed on 2022-06-29
    rules: tuple[CardRule, ...]
    note: Text
    star_note: Text | None = None  # after the note while the star is shown

    def words(self, text: Text, lang: str) -> str:
        """A text of the policy in `lang`, its {days} and {hours} filled in (the window may be a
        setting: the texts follow it)."""
        return text.get(lang).format(days=self.window_days, hours=self.min_hours)

    def note_for(self, lang: str) -> str:
        star = self.words(self.star_note, lang) if self.star and self.star_note is not None else ""
        return self.words(self.note, lang) + (" " if star and lang == "en" else "") + star


@dataclass(frozen=True)
class CardCity:
    code: str
    name: str
    starred: bool
    last_seen: int
    overseas: bool = False


@dataclass(frozen=True)
class CardResult:
    color: str
    reason: Text
    cities: tuple[CardCity, ...]


def load_travel_policy(doc: Any) -> TravelPolicy:
    if not isinstance(doc, dict) or not isinstance(doc.get("version"), str):
        raise PolicyError("travel policy needs a string 'version'")
    window, hours, star = doc.get("window_days"), doc.get("min_hours"), doc.get("star", True)
    if type(window) is not int or not 1 <= window <= 30 or type(hours) is not int or not 0 <= hours <= 24:
        raise PolicyError("travel policy needs window_days 1–30 and min_hours 0–24")
    if type(star) is not bool:
        raise PolicyError("travel policy: star must be true or false")
    rules = []
    for n, rule in enumerate(doc.get("colors") or []):
        if not isinstance(rule, dict) or rule.get("color") not in COLORS or rule.get("when") not in CONDITIONS:
            raise PolicyError(f"colors[{n}]: needs a color of {COLORS} and a when of {CONDITIONS}")
        rules.append(CardRule(rule["color"], rule["when"], text_of(rule.get("text"), f"colors[{n}].text")))
    if not rules or rules[-1].when != "always":
        raise PolicyError("travel policy: the last colour rule must be 'always'")
    star_note = text_of(doc["star_note"], "star_note") if doc.get("star_note") is not None else None
    policy = TravelPolicy(doc["version"], window, hours, star, tuple(rules), text_of(doc.get("note"), "note"),
                          star_note)
    for text in (policy.note, star_note, *(rule.text for rule in rules)):
        for lang in ("zh", "en"):
            try:
                policy.words(text, lang) if text is not None else None
            except (KeyError, IndexError, ValueError) as exc:
                raise PolicyError(f"travel policy: a text may hold {{days}} and {{hours}} only ({exc!r})") from None
    return policy


SHIPPED = Path(__file__).resolve().parents[1] / "policies" / "travel-card-policy.json"


def shipped_travel_policy() -> TravelPolicy:
    """The travel-card policy the project ships (the unit tests' default)."""
    return load_travel_policy(json.loads(SHIPPED.read_text(encoding="utf-8")))


def is_overseas(place: str) -> bool:
    return len(place) == 2 and place.isalpha()


def city_of(place: str) -> str:
    """The city a stay is shown under: the city (地级) of a county, the country abroad."""
    if is_overseas(place):
        return place.upper()
    found = division(place)
    return found.city if found is not None else place


def _merged_seconds(intervals: list[tuple[int, int]]) -> int:
    """Seconds covered by the intervals, overlaps counted once (two reports of one stay)."""
    total, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def _city_spans(stays: Iterable[Stay], now: int, policy: TravelPolicy) -> dict[str, tuple[int, int]]:
    """Per city: the seconds stayed within the window (overlaps counted once) and the latest end."""
    since = now - policy.window_days * DAY
    spans: dict[str, list[tuple[int, int]]] = {}
    last: dict[str, int] = {}
    for stay in stays:
        start, end = max(stay.start, since), min(stay.end, now)
        if end <= start:
            continue
        city = city_of(stay.place)
        spans.setdefault(city, []).append((start, end))
        last[city] = max(last.get(city, 0), end)
    return {city: (_merged_seconds(intervals), last[city]) for city, intervals in spans.items()}


def visited_cities(stays: Iterable[Stay], now: int, policy: TravelPolicy) -> dict[str, int]:
    """The domestic cities the card would show (the same ≥ min_hours rule), with the latest end:
    what the health code's exposure rule reads (DESIGN §4). Passing through does not count."""
    return {city: last for city, (seconds, last) in _city_spans(stays, now, policy).items()
            if seconds >= policy.min_hours * HOUR and not is_overseas(city)}


def card_cities(stays: Iterable[Stay], now: int, policy: TravelPolicy, elevated: Callable[[str], str | None],
                country_name: Callable[[str], str]) -> tuple[CardCity, ...]:
    """The cities of the card: ≥ min_hours in total within the window (split stays add up; only
    the part inside the window counts), newest first; `elevated(city)` is the highest risk level
    now held in the city ("high", "medium") or None."""
    cities = []
    for city, (seconds, last) in _city_spans(stays, now, policy).items():
        if seconds < policy.min_hours * HOUR:
            continue
        overseas = is_overseas(city)
        name = country_name(city) if overseas else full_name(city)
        starred = policy.star and not overseas and elevated(city) is not None
        cities.append(CardCity(city, name, starred, last, overseas))
    return tuple(sorted(cities, key=lambda c: (-c.last_seen, c.code)))


def card_color(cities: Iterable[CardCity], policy: TravelPolicy, elevated: Callable[[str], str | None]) -> CardRule:
    """The first rule of the policy that the cities meet (the last one always does)."""
    cities = list(cities)
    levels = {elevated(c.code) for c in cities if not c.overseas}
    met = {"always": True, "overseas": any(c.overseas for c in cities),
           "high_risk_city": "high" in levels, "medium_risk_city": "medium" in levels}
    return next(rule for rule in policy.rules if met[rule.when])
