"""The travel benchmark's data: 14-day stay histories per phone, as an operator would report them.

Each phone has a home county and one to three trips within the window: 6-10 rows over 14 days
(GB/T 2260 county codes from core/data/, most trips to the big cities), with

  * pass-through stays of 1-3 h on the way (not on the card: under 4 h),
  * split stays (~30 % of phones): two rows of 2-3.5 h in the same city, adding up to 4 h or more,
  * a stay abroad for ~2 % of phones (ISO 3166 alpha-2), which makes the card yellow.

`RISK_AREAS` puts medium- and high-risk areas in some of those cities, so stars appear on a
share of the cards. Batches are cut as an operator delivers them: the rows of all phones in time
order, so a batch holds one or two rows of each of many phones (the store's cost is per phone).
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "core" / "data" / "gb2260-mca-201904.tsv"
HOUR, DAY = 3600, 86400
WINDOW = 14 * DAY

# Where trips go: districts of the big cities (北京 上海 广州 深圳 成都 杭州 武汉 西安 重庆 南京 天津 长沙).
HUB_CITIES = ("1101", "3101", "4401", "4403", "5101", "3301", "4201", "6101", "5001", "3201", "1201", "4301")
ABROAD = ("JP", "KR", "SG", "TH", "US", "GB", "DE", "FR", "AU", "MY")
# County -> level, set through RiskAreaService before the runs: stars on 上海, 广州 and 西安.
RISK_AREAS = {"310115": "high", "440106": "medium", "440111": "medium", "610113": "medium"}


def lowered_areas(n: int) -> list[str]:
    """Counties whose risk area was raised and lowered again: the table keeps them (level low),
    so a table in use for months holds many more entries than its elevated ones."""
    elevated = {code[:4] for code in RISK_AREAS}
    return random.Random(7).sample([c for c in counties() if c[:4] not in elevated], n)


@cache
def counties() -> tuple[str, ...]:
    """Current county-level codes of GB/T 2260 (not the 市辖区 placeholders XXXX01)."""
    codes = []
    for line in TABLE.read_text(encoding="utf-8").splitlines()[1:]:
        code = line.split("\t")[2]
        if not code.endswith("00") and not code.endswith("01"):
            codes.append(code)
    return tuple(codes)


@cache
def hub_counties() -> tuple[str, ...]:
    return tuple(c for c in counties() if c[:4] in HUB_CITIES)


def _place(rng: random.Random) -> str:
    return rng.choice(hub_counties()) if rng.random() < 0.7 else rng.choice(counties())


def _same_city(rng: random.Random, code: str) -> str:
    """Another county of the same city when there is one (a split stay may cross a district line)."""
    if code[:2] in ("11", "12", "31", "50"):
        siblings = [c for c in hub_counties() if c[:2] == code[:2]]
    else:
        siblings = [c for c in hub_counties() if c[:4] == code[:4]]
    return rng.choice(siblings) if siblings and rng.random() < 0.5 else code


def history(seed: int, now: int) -> list[tuple[str, int, int]]:
    """One phone's rows (place, from, to) over the 14 days before `now`, oldest first."""
    rng = random.Random(seed)
    rows: list[tuple[str, int, int]] = []
    home = rng.choice(hub_counties()) if rng.random() < 0.5 else rng.choice(counties())
    target = rng.randint(6, 10)
    # The window's first hour is left out: the rows stay inside the window for an hour of runs.
    t = now - WINDOW + HOUR + rng.randint(0, 12 * HOUR)
    split_done = not rng.random() < 0.3
    abroad_done = not rng.random() < 0.02
    while len(rows) < target:
        left = target - len(rows)
        # At home for a while (half a day to three days), then maybe a trip.
        stay = rng.randint(12 * HOUR, 72 * HOUR)
        rows.append((home, t, t + stay))
        t += stay + rng.randint(HOUR, 3 * HOUR)
        if left <= 1:
            break
        if rng.random() < 0.6:  # on the way: a pass-through of 1-3 h
            hours = rng.randint(HOUR, 3 * HOUR)
            rows.append((rng.choice(counties()), t, t + hours))
            t += hours + rng.randint(HOUR // 2, 2 * HOUR)
        if len(rows) >= target:
            break
        if not abroad_done:
            place, abroad_done = rng.choice(ABROAD), True
        else:
            place = _place(rng)
        if not split_done and target - len(rows) >= 2:  # two short stays that add up to >= 4 h
            first, second = rng.randint(2 * HOUR, 7 * HOUR // 2), rng.randint(2 * HOUR, 7 * HOUR // 2)
            if first + second < 4 * HOUR:
                second = 4 * HOUR - first + 600
            rows.append((place, t, t + first))
            t += first + rng.randint(2 * HOUR, 20 * HOUR)
            rows.append((_same_city(rng, place) if len(place) == 6 else place, t, t + second))
            t += second + rng.randint(HOUR, 3 * HOUR)
            split_done = True
        else:
            stay = rng.randint(5 * HOUR, 48 * HOUR)
            rows.append((place, t, t + stay))
            t += stay + rng.randint(HOUR, 3 * HOUR)
    # Squeeze into the window: the last row ends at least 2 hours before `now` (the day's lag).
    latest = now - 2 * HOUR
    if rows[-1][2] > latest:
        first = rows[0][1]
        scale = (latest - first) / (rows[-1][2] - first)
        rows = [(p, first + int((s - first) * scale), first + int((e - first) * scale)) for p, s, e in rows]
    return rows


def phone_rows(phones: list[str], now: int, seed: int = 0) -> list[tuple[int, str, str, int, int]]:
    """(from, phone, place, from, to) of every row of these phones, in time order."""
    rows = []
    for n, phone in enumerate(phones):
        for place, start, end in history(seed * 10_000_019 + int(phone) + n, now):
            rows.append((start, phone, place, start, end))
    rows.sort()
    return rows


def ndjson(rows: list[tuple[int, str, str, int, int]]) -> bytes:
    """One batch body as an operator sends it (numbers as 11 digits, times as epoch seconds)."""
    return "\n".join(json.dumps({"phone": phone, "city_code": place, "from": start, "to": end},
                                separators=(",", ":")) for _, phone, place, start, end in rows).encode()


def batches(phones: list[str], now: int, size: int, seed: int = 0) -> Iterator[tuple[int, bytes]]:
    """(rows, NDJSON body) of batches of `size` rows, cut from all phones' rows in time order."""
    rows = phone_rows(phones, now, seed)
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        yield len(chunk), ndjson(chunk)
