"""Real-name identity: validating and masking name, ID number and phone (DESIGN §3)."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path

import phonenumbers
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric
from stdnum.iso7064 import mod_11_2

from core.errors import InvalidInput, Msg
from core.model import IdDocument

# -- names ------------------------------------------------------------------------------------

# The scripts of names on Chinese identity documents, after NFC:
# - CJK ideographs of every block Unicode has for them (Blocks.txt, Unicode 16.0), so rare
#   characters of names (䶮 U+4DAE, 𠮷 U+20BB7) pass: extensions A to I. NFC folds the
#   compatibility ideographs (duplicates kept for round trips with older national character
#   sets) into the unified ones, except the twelve in U+F900–FAFF that are unified ideographs
#   themselves (﨑 U+FA11).
# - Latin letters with their accents, as in minority and foreign names (René, José, Ñ, Ü, and
#   Vietnamese): precomposed letters only, so no free-standing combining marks.
# - Spaces, and the middle dot between given and family names (阿依古丽·买买提).
# Everything else is refused: digits, emoji, punctuation and markup, control, format and bidi
# characters (none of them is in these ranges).
_NAME_CHARS = re.compile(
    "^["
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\u3400-\u4dbf"  # extension A
    "\U00020000-\U0002a6df"  # extension B
    "\U0002a700-\U0002ee5f"  # extensions C, D, E, F and I (adjacent blocks)
    "\U00030000-\U000323af"  # extensions G and H (adjacent blocks)
    "\uf900-\ufaff"  # CJK Compatibility Ideographs
    "A-Za-z"
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff"  # Latin-1 Supplement letters (not × ÷)
    "\u0100-\u024f"  # Latin Extended-A and -B
    "\u1e00-\u1eff"  # Latin Extended Additional
    " ·"
    "]{1,30}$"
)
# Dots people type for the middle dot: full-width katakana dot, bullet, dot operator.
_DOT_VARIANTS = str.maketrans({"・": "·", "•": "·", "∙": "·", "．": "·"})


def normalize_name(raw: str) -> str:
    """A person's name, NFC-normalized with single spaces; InvalidInput if not a name."""
    name = " ".join(unicodedata.normalize("NFC", raw or "").translate(_DOT_VARIANTS).split())
    if not _NAME_CHARS.match(name) or name.startswith("·") or name.endswith("·") or "··" in name:
        raise InvalidInput(Msg.INVALID_NAME, {"name": [Msg.NAME_CHARS]})
    return name


# -- ID numbers -------------------------------------------------------------------------------

# GB 11643-1999: 17 digits (address code, birth date, sequence) and a check digit, X for 10.
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
# 港澳台居民居住证申领发放办法 (2018): a permit's number is a GB 11643 number whose address code
# is 810000 for Hong Kong, 820000 for Macau and 830000 for Taiwan residents.
_HMT_REGIONS = frozenset({"810000", "820000", "830000"})
# 外国人永久居留身份证 (2023 edition, National Immigration Administration): 9, then the
# province that accepted the application (2 digits), the nationality (3 digits), birth date,
# sequence and a GB 11643 check digit. The first digit 9 is no province's: GB/T 2260 codes
# start with 1–7, the permits' with 8.
_FOREIGN_MARK = "9"


def _load_region_codes() -> frozenset[str]:
    """The address codes a 居民身份证 number can carry: core/data/region-codes.tsv (sources in its README)."""
    with (Path(__file__).parent / "data" / "region-codes.tsv").open(encoding="utf-8") as table:
        next(table)  # the header row
        return frozenset(line.split("\t", 1)[0] for line in table if line.strip())


_REGION_CODES = _load_region_codes()
_PROVINCES = frozenset(code[:2] for code in _REGION_CODES)


def normalize_id_number(raw: str, today: dt.date) -> str:
    """An 18-digit ID number of a 居民身份证, 港澳台居民居住证 or 外国人永久居留身份证 (DESIGN §3):
    the GB 11643 check digit, a real birth date not after today, and a region its document uses.

    Not python-stdnum's `ric.validate`: besides the check digit and the date, it requires the
    region code to have existed in the holder's birth year (its cn/loc.dat keeps a year range
    per code). But the address code is the county of the holder's household registration
    (常住户口) when the number was assigned (GB 11643-1999, 地址码), not at birth: adults got
    their numbers when the system began (1984–85), and until the number became lifelong
    (国发〔1999〕15号) a new one when they moved their registration to another county. An adult
    registered in a district created after their birth (Shenzhen's, Pudong's, Chengdu's or
    Hangzhou's newer ones) is the normal case. So any county-level code of any era is accepted,
    whatever the birth year; stdnum still computes the check digit and reads the date.
    """
    number = _compact(raw)
    if not _ID_SHAPE.fullmatch(number):
        raise InvalidInput(Msg.INVALID_ID_NUMBER, {"id_number": [Msg.ID_LENGTH]})
    if not (mod_11_2.is_valid(number) and _born_by(number, today) and _region_is_known(number)):
        # One text for a wrong check digit, date or region: the person can only check the number.
        raise InvalidInput(Msg.INVALID_ID_NUMBER, {"id_number": [Msg.ID_NOT_RIGHT]})
    return number


def document_of(number: str) -> IdDocument:
    """The document a (normalized) ID number is on: by its first digit, else its address code."""
    if number.startswith(_FOREIGN_MARK):
        return IdDocument.FOREIGN_PERMANENT_RESIDENCE
    if number[:6] in _HMT_REGIONS:
        return IdDocument.HMT_RESIDENCE_PERMIT
    return IdDocument.RESIDENT_ID


def _compact(raw: str) -> str:
    """The number as typed, full-width forms folded (１１０１…, Ｘ), without spaces or dashes, X upper-case."""
    text = unicodedata.normalize("NFKC", raw or "")
    return "".join(c for c in text if not (c.isspace() or unicodedata.category(c) == "Pd")).upper()


def _born_by(number: str, today: dt.date) -> bool:
    """Digits 7–14 are a real date (GB 11643-1999, 出生日期码) not after today: on all three documents."""
    try:
        return ric.get_birth_date(number) <= today
    except stdnum_errors.InvalidComponent:
        return False


def _region_is_known(number: str) -> bool:
    """The address code is one its document carries."""
    document = document_of(number)
    if document is IdDocument.FOREIGN_PERMANENT_RESIDENCE:
        # The province of issue must be one; the nationality code is not checked against a
        # country list (the rules give none to ship, and the check digit already catches typos).
        return number[1:3] in _PROVINCES
    if document is IdDocument.HMT_RESIDENCE_PERMIT:
        return True
    return number[:6] in _REGION_CODES


# -- phones and masks -------------------------------------------------------------------------

def normalize_phone(raw: str) -> str:
    """A mainland-China mobile number in E.164 (+8613800138000); +86, spaces, dashes accepted."""
    if re.search(r"[A-Za-z]", raw or ""):
        # libphonenumber reads letters as keypad digits (138OO… → 13866…): refuse, don't guess.
        raise InvalidInput(Msg.INVALID_PHONE, {"phone": [Msg.PHONE_CN_MOBILE]})
    try:
        parsed = phonenumbers.parse(raw or "", "CN")
    except phonenumbers.NumberParseException:
        parsed = None
    mobile = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if (
        parsed is None
        or phonenumbers.region_code_for_number(parsed) != "CN"
        or not phonenumbers.is_valid_number(parsed)
        or phonenumbers.number_type(parsed) not in mobile
    ):
        raise InvalidInput(Msg.INVALID_PHONE, {"phone": [Msg.PHONE_CN_MOBILE]})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_name(name: str) -> str:
    """张*三: first and last character only, so it also fits in a QR code."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" + name[-1]


def mask_id_number(number: str) -> str:
    """1101**********002X."""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(e164: str) -> str:
    """138****8000."""
    national = e164[3:] if e164.startswith("+86") else e164
    return national[:3] + "****" + national[-4:]
