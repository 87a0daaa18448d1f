"""Real-name identity: ID numbers, phones and names are normalized or refused, and shown masked."""

import datetime as dt

import pytest

from core.errors import InvalidInput, Msg
from core.identity import (
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_id_number,
    normalize_name,
    normalize_phone,
)
from core.platforms import PlatformIdentity
from tests.unit.fakes import id_number

TODAY = dt.date(2026, 12, 1)


def _field_error(call, *args) -> dict[str, list[str]]:
    with pytest.raises(InvalidInput) as caught:
        call(*args)
    return caught.value.fields


# -- ID numbers (GB 11643) -------------------------------------------------------------------


def test_valid_id_number_with_x_check_digit_is_accepted():
    assert normalize_id_number("11010519491231002X", TODAY) == "11010519491231002X"


def test_lowercase_x_check_digit_is_normalized_to_uppercase():
    assert normalize_id_number("11010519491231002x", TODAY) == "11010519491231002X"


def test_id_number_with_digit_check_digit_is_accepted():
    number = id_number(sequence="001")
    assert number[-1].isdigit()
    assert normalize_id_number(number, TODAY) == number


def test_surrounding_spaces_are_dropped_from_an_id_number():
    assert normalize_id_number(" 11010519491231002X ", TODAY) == "11010519491231002X"


@pytest.mark.parametrize("wrong", ["110105194912310020", "110105194912310021", "11010519491231002A"])
def test_wrong_check_digit_is_refused(wrong):
    assert _field_error(normalize_id_number, wrong, TODAY) == {"id_number": [Msg.ID_CHECK_DIGIT]}


@pytest.mark.parametrize("born", ["19491331", "19490230", "19491200", "20230229"])
def test_impossible_birth_date_is_refused(born):
    fields = _field_error(normalize_id_number, id_number(born=born), TODAY)
    assert fields == {"id_number": [Msg.ID_BIRTH_OR_REGION]}


def test_birth_date_in_the_future_is_refused():
    fields = _field_error(normalize_id_number, id_number(born="20261202"), TODAY)
    assert fields == {"id_number": [Msg.ID_BIRTH_IN_FUTURE]}


def test_born_today_is_accepted():
    number = id_number(born="20261201")
    assert normalize_id_number(number, TODAY) == number


@pytest.mark.parametrize("region", ["999999", "000000", "990105"])
def test_unknown_region_is_refused(region):
    fields = _field_error(normalize_id_number, id_number(region=region), TODAY)
    assert fields == {"id_number": [Msg.ID_BIRTH_OR_REGION]}


@pytest.mark.parametrize("region", ["110199", "119900", "440399"])
def test_unknown_county_in_a_known_province_is_refused(region):
    fields = _field_error(normalize_id_number, id_number(region=region), TODAY)
    assert fields == {"id_number": [Msg.ID_BIRTH_OR_REGION]}


@pytest.mark.parametrize(
    "bad", ["", "11010519491231002", "11010519491231002X1", "110105491231002", "1101051949123100XX", "张三"]
)
def test_id_number_of_wrong_length_or_format_is_refused(bad):
    fields = _field_error(normalize_id_number, bad, TODAY)
    assert fields == {"id_number": [Msg.ID_LENGTH]}


# -- phones -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "+8613800138000",
        "+86 138 0013 8000",
        "138-0013-8000",
        "+86-138-0013-8000",
        " 138 0013 8000 ",
    ],
)
def test_mainland_mobile_is_normalized_to_e164(raw):
    assert normalize_phone(raw) == "+8613800138000"


@pytest.mark.parametrize("landline", ["010-12345678", "+86 10 1234 5678", "02112345678"])
def test_landline_is_refused(landline):
    assert _field_error(normalize_phone, landline) == {"phone": [Msg.PHONE_CN_MOBILE]}


@pytest.mark.parametrize("foreign", ["+1 650 253 0000", "+852 6123 4567", "+44 7911 123456"])
def test_foreign_number_is_refused(foreign):
    assert _field_error(normalize_phone, foreign) == {"phone": [Msg.PHONE_CN_MOBILE]}


@pytest.mark.parametrize("garbage", ["", "abc", "1380013800", "138001380000", "+86", "13800138000abc"])
def test_garbage_phone_is_refused(garbage):
    assert _field_error(normalize_phone, garbage) == {"phone": [Msg.PHONE_CN_MOBILE]}


@pytest.mark.parametrize("typo", ["138OO138OOO", "138-OO13-8OOO"])
def test_phone_with_letters_is_refused_not_read_as_a_keypad_word(typo):
    assert _field_error(normalize_phone, typo) == {"phone": [Msg.PHONE_CN_MOBILE]}


# -- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("张三", "张三"),
        (" 张三 ", "张三"),
        ("欧阳娜娜", "欧阳娜娜"),
        ("John Smith", "John Smith"),
        ("John   Smith", "John Smith"),
        ("Mary Ann O Brien", "Mary Ann O Brien"),
        ("阿依古丽·买买提", "阿依古丽·买买提"),
        ("a" * 30, "a" * 30),
    ],
)
def test_valid_name_is_accepted_with_single_spaces(raw, name):
    assert normalize_name(raw) == name


@pytest.mark.parametrize("dot", ["・", "•", "∙", "．"])
def test_dot_variants_become_the_middle_dot(dot):
    assert normalize_name(f"阿依古丽{dot}买买提") == "阿依古丽·买买提"


def test_rare_ideograph_of_extension_b_is_accepted():
    assert normalize_name("张\U00020000") == "张\U00020000"


@pytest.mark.parametrize(
    "bad", ["", "   ", "张3", "张三😀", "a" * 31, "·张三", "张三·", "阿依古丽··买买提", "张-三", "<script>"]
)
def test_invalid_name_is_refused(bad):
    assert list(_field_error(normalize_name, bad)) == ["name"]


# -- masks --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"), [("张小三", "张*三"), ("张三", "张*"), ("张", "*"), ("阿依古丽·买买提", "阿*提")]
)
def test_name_is_masked_to_first_and_last_character(name, masked):
    assert mask_name(name) == masked


def test_id_number_is_masked_but_for_region_prefix_and_last_four():
    assert mask_id_number("11010519491231002X") == "1101**********002X"


def test_phone_is_masked_in_national_form():
    assert mask_phone("+8613800138000") == "138****8000"


def test_account_id_is_stable_keyed_and_does_not_carry_the_user_id():
    from adapters.pii import HmacAccountIds

    ids = HmacAccountIds(b"s" * 32)
    identity = PlatformIdentity.of(ids, platform="wechat", app_id="wx1", user_id="openid-123")
    again = PlatformIdentity.of(ids, platform="wechat", app_id="wx1", user_id="openid-123", union_id="u")
    assert identity.account_id == again.account_id
    assert "openid" not in identity.account_id
    assert identity.account_id != PlatformIdentity.of(ids, "alipay", "wx1", "openid-123").account_id
    assert identity.account_id != HmacAccountIds(b"t" * 32).account_id("wechat", "wx1", "openid-123")
