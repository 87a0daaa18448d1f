"""Real-name identity: validating and masking name, ID number and phone (DESIGN §3)."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata

import phonenumbers
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from core.errors import InvalidInput, Msg

# Chinese (CJK unified ideographs, extension A and B), Latin letters, spaces and the
# middle dot that separates given and family names in minority names (阿依古丽·买买提).
_NAME_CHARS = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002a6dfA-Za-z ·]{1,30}$")
# Dots people type for the middle dot: full-width katakana dot, bullet, dot operator.
_DOT_VARIANTS = str.maketrans({"・": "·", "•": "·", "∙": "·", "．": "·"})


def normalize_name(raw: str) -> str:
    """A person's name, NFC-normalized with single spaces; InvalidInput if not a name."""
    name = " ".join(unicodedata.normalize("NFC", raw or "").translate(_DOT_VARIANTS).split())
    if not _NAME_CHARS.match(name) or name.startswith("·") or name.endswith("·") or "··" in name:
        raise InvalidInput(Msg.INVALID_NAME, {"name": [Msg.NAME_CHARS]})
    return name


def normalize_id_number(raw: str, today: dt.date) -> str:
    """A 居民身份证 number: GB 11643 check digit, a real past birth date, a known region."""
    try:
        number = ric.validate(raw or "")
        born = ric.get_birth_date(number)
    except stdnum_errors.InvalidChecksum:
        raise InvalidInput(Msg.INVALID_ID_NUMBER, {"id_number": [Msg.ID_CHECK_DIGIT]}) from None
    except (stdnum_errors.InvalidComponent, KeyError):
        # KeyError: python-stdnum's region table knows the province but not the county.
        raise InvalidInput(Msg.INVALID_ID_NUMBER, {"id_number": [Msg.ID_BIRTH_OR_REGION]}) from None
    except stdnum_errors.ValidationError:
        raise InvalidInput(Msg.INVALID_ID_NUMBER, {"id_number": [Msg.ID_LENGTH]}) from None
    if born > today:
        raise InvalidInput(Msg.INVALID_ID_NUMBER, {"id_number": [Msg.ID_BIRTH_IN_FUTURE]})
    return number


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
