"""Administrative divisions (GB/T 2260, MCA revision 2019-04): names, levels, the city a county
belongs to. Risk areas are set on them, and the travel card names its cities by them."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "data" / "gb2260-mca-201904.tsv"
# 北京, 天津, 上海, 重庆: their districts belong to the municipality itself (no XXXX00 city code).
MUNICIPALITIES = frozenset({"11", "12", "31", "50"})


class Level(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    level: Level

    @property
    def city(self) -> str:
        """The code of the city (地级) this division belongs to, or that it is: for the
        municipalities the municipality, for a county directly under a province itself."""
        if self.level is not Level.COUNTY:
            return self.code
        if self.code[:2] in MUNICIPALITIES:
            return self.code[:2] + "0000"
        prefecture = self.code[:4] + "00"
        return prefecture if prefecture in _table() else self.code


def _level(code: str) -> Level:
    if code.endswith("0000"):
        return Level.PROVINCE
    return Level.CITY if code.endswith("00") else Level.COUNTY


@cache
def _table() -> dict[str, Division]:
    divisions = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines()[1:]:
        _, _, code, name = line.split("\t")
        divisions[code] = Division(code, name, _level(code))
    return divisions


def division(code: str) -> Division | None:
    """The current division with this code, if there is one."""
    return _table().get(code)


def full_name(code: str) -> str:
    """The name as the travel card shows it: the province, then the city (广东省深圳市, 北京市)."""
    found = division(code)
    if found is None:
        return code
    city = division(found.city) or found
    province = division(code[:2] + "0000")
    if province is None or province.code == city.code:
        return city.name
    return province.name + city.name


def area_name(code: str) -> str:
    """The name down to the county, as a risk area is set (广东省深圳市南山区, 北京市朝阳区)."""
    found = division(code)
    if found is None or found.level is not Level.COUNTY or found.city == found.code:
        return full_name(code)
    return full_name(code) + found.name


def within(code: str, area: str) -> bool:
    """Whether the division `code` lies in `area` (itself, or a county of the city `area`)."""
    found = division(code)
    return code == area or (found is not None and found.city == area)
