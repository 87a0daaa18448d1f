"""Real-name identity: ID numbers, phones and names are normalized or refused, and shown masked."""

import datetime as dt

import pytest
from stdnum.cn import ric

from core.errors import InvalidInput, Msg
from core.identity import (
    document_of,
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_id_number,
    normalize_name,
    normalize_phone,
)
from core.model import IdDocument
from core.platforms import PlatformIdentity
from tests.unit.fakes import id_number

TODAY = dt.date(2026, 12, 1)


def _field_error(call, *args) -> dict[str, list[str]]:
    with pytest.raises(InvalidInput) as caught:
        call(*args)
    return caught.value.fields


# -- ID numbers (GB 11643) -------------------------------------------------------------------
# Numbers are made by tests.unit.fakes.id_number, which computes the check digit by the GB 11643
# rule (weights 2^(17-i) mod 11); the published sample numbers below check that rule itself.

NOT_RIGHT = {"id_number": [Msg.ID_NOT_RIGHT]}
FORMAT = {"id_number": [Msg.ID_LENGTH]}


def foreign_number(province: str = "11", nationality: str = "826", born: str = "19800101", sequence: str = "001"):
    """A 外国人永久居留身份证 number (2023): 9, province of issue, nationality, birth date, sequence."""
    return id_number(born=born, sequence=sequence, region=f"9{province}{nationality}")


def with_other_check_digit(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")


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


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


@pytest.mark.parametrize(
    "typed",
    [
        _full_width("11010519491231002X"),  # １１０１０５１９４９１２３１００２Ｘ
        _full_width("11010519491231002x"),
        "110105 19491231 002X",
        "110105-19491231-002x",
        "110105\u300019491231\u3000002X",  # ideographic spaces
        "110105\uff0d19491231\uff0d002X",  # full-width hyphen-minus
        "110105–19491231–002X",  # en dash
        _full_width("110105 19491231 002x"),
    ],
)
def test_full_width_spaced_and_dashed_input_is_normalized(typed):
    assert normalize_id_number(typed, TODAY) == "11010519491231002X"


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310020",  # 11010519491231002X with the X mistyped
        "110105194912310021",
        with_other_check_digit(id_number()),
        with_other_check_digit(id_number(sequence="001")),
        with_other_check_digit(id_number(region="440304", born="19500101")),
        with_other_check_digit(id_number(region="810000", born="19940823")),
        with_other_check_digit(foreign_number()),
    ],
)
def test_wrong_check_digit_is_refused(number):
    assert _field_error(normalize_id_number, number, TODAY) == NOT_RIGHT


@pytest.mark.parametrize("born", ["19491331", "19490230", "19491200", "20230229", "00000101"])
def test_impossible_birth_date_is_refused(born):
    assert _field_error(normalize_id_number, id_number(born=born), TODAY) == NOT_RIGHT


@pytest.mark.parametrize("region", ["810000", "911826"])
def test_impossible_birth_date_is_refused_on_permits_too(region):
    number = id_number(region=region, born="19900230")
    assert _field_error(normalize_id_number, number, TODAY) == NOT_RIGHT


@pytest.mark.parametrize("region", ["110105", "440304", "830000", "911826"])
def test_birth_date_in_the_future_is_refused(region):
    number = id_number(region=region, born="20261202")
    assert _field_error(normalize_id_number, number, TODAY) == NOT_RIGHT


def test_born_today_is_accepted():
    number = id_number(born="20261201")
    assert normalize_id_number(number, TODAY) == number


# The region code is the county of the household registration when the number was assigned
# (GB 11643-1999), not at birth: core/data/region-codes.tsv says when each code began.
DISTRICTS_NEWER_THAN_THEIR_PEOPLE = [
    ("440304", "19500101"),  # 深圳 福田区: code from 1983 (上埗区办事处), 福田区 since 1990
    ("310115", "19600315"),  # 上海 浦东新区, since 1992
    ("510116", "19700704"),  # 成都 双流区, since 2015 (双流县 before)
    ("330110", "19851010"),  # 杭州 余杭区, since 2001 (余杭市 before)
    ("440311", "19920229"),  # 深圳 光明区, since 2018
]


@pytest.mark.parametrize(
    ("region", "born"),
    [*DISTRICTS_NEWER_THAN_THEIR_PEOPLE, ("330113", "19851010")],  # 杭州 临平区 (2021): not in stdnum's table
)
def test_district_created_after_the_birth_year_is_accepted(region, born):
    number = id_number(region=region, born=born)
    assert normalize_id_number(number, TODAY) == number


@pytest.mark.parametrize(("region", "born"), DISTRICTS_NEWER_THAN_THEIR_PEOPLE)
def test_these_are_numbers_stdnum_s_birth_year_rule_refuses(region, born):
    # What the examples above are for: python-stdnum's ric.validate refuses them, because
    # their code is younger than their holder. If this fails, pick examples it still refuses.
    assert not ric.is_valid(id_number(region=region, born=born))


@pytest.mark.parametrize(
    ("region", "born"),
    [
        ("110103", "19601001"),  # 北京 崇文区, merged into 东城区 in 2010
        ("110103", "20120101"),  # the same, for someone born after: any era, whatever the year
        ("440102", "19700101"),  # 广州 东山区, 1983–2005
        ("440121", "19551111"),  # 花县, until 1993 (now 花都区)
        ("329012", "19700101"),  # 昆山市 as a province-administered city, 1989–1994
        ("420400", "19600101"),  # 沙市市, a city without counties, until 1994
    ],
)
def test_code_that_no_longer_exists_is_accepted(region, born):
    number = id_number(region=region, born=born)
    assert normalize_id_number(number, TODAY) == number


@pytest.mark.parametrize("region", ["441900", "442000", "620200", "460400"])
def test_city_without_counties_is_a_region(region):
    # 东莞, 中山, 嘉峪关, 儋州 have no county-level units: their own code is on their numbers.
    number = id_number(region=region, born="19900101")
    assert normalize_id_number(number, TODAY) == number


@pytest.mark.parametrize("region", ["110000", "440000", "440300", "310100", "110200", "710000"])
def test_province_and_city_codes_are_not_regions(region):
    # A province, a city with districts (深圳 440300), groupings (市辖区 310100, 县 110200), and
    # 台湾省: no number carries them (Taiwan residents' permits carry 830000).
    assert _field_error(normalize_id_number, id_number(region=region), TODAY) == NOT_RIGHT


@pytest.mark.parametrize("region", ["999999", "000000", "990105"])
def test_unknown_region_is_refused(region):
    assert _field_error(normalize_id_number, id_number(region=region), TODAY) == NOT_RIGHT


@pytest.mark.parametrize("region", ["110199", "119900", "440399"])
def test_unknown_county_in_a_known_province_is_refused(region):
    assert _field_error(normalize_id_number, id_number(region=region), TODAY) == NOT_RIGHT


@pytest.mark.parametrize("region", ["810000", "820000", "830000"])
def test_hong_kong_macau_and_taiwan_residence_permits_are_accepted(region):
    number = id_number(region=region, born="19940823", sequence="002")
    assert normalize_id_number(number, TODAY) == number
    assert document_of(number) == IdDocument.HMT_RESIDENCE_PERMIT


@pytest.mark.parametrize("region", ["810001", "840000", "800000"])
def test_other_codes_of_the_permits_range_are_refused(region):
    assert _field_error(normalize_id_number, id_number(region=region), TODAY) == NOT_RIGHT


@pytest.mark.parametrize(
    ("province", "nationality"), [("11", "826"), ("31", "840"), ("44", "392"), ("32", "682"), ("65", "398")]
)
def test_foreign_permanent_residence_number_is_accepted(province, nationality):
    number = foreign_number(province, nationality)
    assert number.startswith("9") and len(number) == 18
    assert normalize_id_number(number, TODAY) == number
    assert document_of(number) == IdDocument.FOREIGN_PERMANENT_RESIDENCE


@pytest.mark.parametrize("province", ["00", "10", "66", "71", "81", "99"])
def test_foreign_permanent_residence_number_of_no_province_is_refused(province):
    assert _field_error(normalize_id_number, foreign_number(province), TODAY) == NOT_RIGHT


@pytest.mark.parametrize(
    ("number", "document"),
    [
        # Sample numbers published with the documents: the Beijing police's for the permits,
        # the 2023 adaptation notes' for the foreign permanent residence card (江苏, 682).
        ("810000199408230021", IdDocument.HMT_RESIDENCE_PERMIT),
        ("830000199201300022", IdDocument.HMT_RESIDENCE_PERMIT),
        ("932682198501010017", IdDocument.FOREIGN_PERMANENT_RESIDENCE),
        ("11010519491231002X", IdDocument.RESIDENT_ID),
    ],
)
def test_published_sample_numbers_are_accepted_as_their_document(number, document):
    assert normalize_id_number(number, TODAY) == number
    assert document_of(number) == document
    assert id_number(born=number[6:14], sequence=number[14:17], region=number[:6]) == number


@pytest.mark.parametrize("number", [id_number(), id_number(region="440304"), id_number(region="441900")])
def test_a_resident_id_number_is_on_a_resident_id(number):
    assert document_of(number) == IdDocument.RESIDENT_ID


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "11010519491231002",
        "11010519491231002X1",
        "110105491231002",  # a first-generation 15-digit number
        "1101051949123100XX",
        "11010519491231002A",
        "X10105194912310021",
        "张三",
        "11010519491231002X<",
    ],
)
def test_id_number_of_wrong_length_or_format_is_refused(bad):
    assert _field_error(normalize_id_number, bad, TODAY) == FORMAT


def test_the_region_table_has_every_county_code_python_stdnum_knows():
    # core/data/region-codes.tsv holds stdnum's cn/loc.dat and the MCA history: a newer stdnum
    # that knows a county the table lacks means the table needs it (see core/data/README.md).
    from stdnum import numdb

    counties = [
        province + county
        for _, province, _, _, counties in numdb.get("cn/loc").prefixes
        for _, county, _, _, _ in counties
        if "11" <= province <= "65" and not county.endswith("00")
    ]
    assert len(counties) > 6000
    refused = [code for code in counties if not _accepted(id_number(region=code, born="19900101"))]
    assert refused == []


def _accepted(number: str) -> bool:
    try:
        normalize_id_number(number, TODAY)
    except InvalidInput:
        return False
    return True


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
    "name",
    [
        "刘䶮",  # U+4DAE, extension A
        "𠮷田",  # U+20BB7, extension B
        "王\U0002a700",  # extension C
        "王\U0002b740",  # extension D
        "王\U0002b820",  # extension E
        "王\U0002ceb0",  # extension F
        "王\U0002ebf0",  # extension I
        "王\U00030000",  # extension G
        "王\U00031350",  # extension H
        "王\U000323af",  # the last of extension H
        "山﨑",  # U+FA11, a unified ideograph in the compatibility block
    ],
)
def test_ideographs_beyond_the_basic_block_are_accepted(name):
    assert normalize_name(name) == name


def test_compatibility_ideograph_becomes_its_unified_ideograph():
    assert normalize_name("李\uf92c") == "李郎"  # U+F92C 郞 is U+90CE 郎 (NFC)


@pytest.mark.parametrize(
    "name", ["René Dupont", "José Martínez", "Ñuño", "Jürgen Müller", "Zoë", "Łukasz", "Nguyễn Văn Ân", "ÇAĞLAR"]
)
def test_latin_letters_with_accents_are_accepted(name):
    assert normalize_name(name) == name


def test_accents_typed_as_combining_marks_are_composed():
    assert normalize_name("Rene\u0301 Mu\u0308ller") == "René Müller"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "张3",
        "张３",  # full-width digit
        "张三😀",
        "a" * 31,
        "·张三",
        "张三·",
        "阿依古丽··买买提",
        "张-三",
        "<script>",
        "张&amp;三",
        "O'Brien",
        "张\u200b三",  # zero-width space (format)
        "张\u200d三",  # zero-width joiner (format)
        "\u202eJohn",  # right-to-left override (bidi)
        "\u2066张三\u2069",  # bidi isolates
        "张\x00三",  # control
        "张\u0007三",
        "张三\u0301",  # a combining mark on no Latin letter
        "Jo×n",  # the multiplication sign among the Latin-1 letters
        "김철수",  # Hangul: not a script of Chinese documents' names
        "\U000323b0",  # beyond extension H
        "\U0002a6e0",  # between extensions B and C: no ideographs there
    ],
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
