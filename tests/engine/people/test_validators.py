"""Tests for engine.people.validators and engine.people.regions."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from engine.people import regions
from engine.people.regions import (
    PROVINCES,
    former_region,
    has_detailed_table,
    load_region_table,
    province_name,
    region_full_name,
    region_name,
    region_table,
)
from engine.people.validators import (
    AMOUNT_MAX,
    CREDIT_CODE_CHARSET,
    VALIDATORS,
    InvalidValue,
    credit_code_check_char,
    id_number_birth_date,
    id_number_check_char,
    id_number_sex,
    make_credit_code,
    make_id_number,
    mask_id_number,
    validate_amount,
    validate_boolean,
    validate_credit_code,
    validate_date,
    validate_id_number,
    validate_integer,
    validate_phone,
    validate_region_code,
    validate_text,
)

TODAY = date(2025, 6, 1)


def assert_invalid(validator: Callable[..., object], value: object, code: str) -> InvalidValue:
    """Check that ``validator(value)`` fails with ``code`` and two real messages."""
    with pytest.raises(InvalidValue) as info:
        validator(value)
    error = info.value
    assert error.code == code, f"{value!r}: expected {code}, got {error.code} ({error})"
    assert error.message_zh.strip()
    assert error.message_en.strip()
    # The Chinese message really is Chinese.
    assert any("\u4e00" <= c <= "\u9fff" for c in error.message_zh)
    assert isinstance(error, ValueError)
    return error


def id_at(today: date) -> Callable[[object], object]:
    return lambda value: validate_id_number(value, today=today)


# --------------------------------------------------------------------------
# InvalidValue


def test_invalid_value_carries_code_and_both_messages() -> None:
    error = InvalidValue("x.y", "错误", "wrong")
    assert isinstance(error, ValueError)
    assert (error.code, error.message_zh, error.message_en) == ("x.y", "错误", "wrong")
    assert "x.y" in str(error) and "错误" in str(error) and "wrong" in str(error)
    assert error.to_dict() == {"code": "x.y", "message_zh": "错误", "message_en": "wrong"}


def test_invalid_value_pickles() -> None:
    error = pickle.loads(pickle.dumps(InvalidValue("x.y", "错误", "wrong")))
    assert (error.code, error.message_zh, error.message_en) == ("x.y", "错误", "wrong")


# --------------------------------------------------------------------------
# 居民身份证号码


def test_gb11643_classic_example_is_valid() -> None:
    assert validate_id_number("11010519491231002X") == "11010519491231002X"
    assert id_number_check_char("11010519491231002") == "X"


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002x",
        " 11010519491231002X ",
        "110105 19491231 002X",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width input
        "110105\u300019491231002X",  # ideographic space
    ],
)
def test_id_number_is_normalised(raw: str) -> None:
    assert validate_id_number(raw) == "11010519491231002X"


def test_1880_example_has_a_correct_checksum_but_is_before_1900() -> None:
    # 440524188001010014 is the other textbook example; its check digit is
    # right, but the 1900-01-01 lower bound on birth dates rejects it.
    assert id_number_check_char("44052418800101001") == "4"
    error = assert_invalid(validate_id_number, "440524188001010014", "id_number.birth_date")
    assert "1900" in error.message_zh and "1900" in error.message_en


def test_id_number_birth_date_and_sex() -> None:
    assert id_number_birth_date("11010519491231002X") == date(1949, 12, 31)
    assert id_number_sex("11010519491231002X") == "female"  # 17th digit 2
    male = make_id_number("430102", date(1990, 5, 17), 123)
    assert id_number_sex(male) == "male"
    assert id_number_birth_date(male) == date(1990, 5, 17)
    assert id_number_sex(make_id_number("430102", date(1990, 5, 17), 124)) == "female"


def test_id_number_helpers_reject_invalid_numbers() -> None:
    assert_invalid(id_number_birth_date, "11010519491231002", "id_number.length")
    assert_invalid(id_number_sex, "110105194912310021", "id_number.checksum")


def test_make_id_number_layout() -> None:
    number = make_id_number("430102", date(1990, 1, 1), 7)
    assert number[:17] == "43010219900101007"
    assert number[17] == id_number_check_char(number[:17])
    assert validate_id_number(number) == number


@pytest.mark.parametrize(
    ("region", "birth", "sequence"),
    [
        ("43010", date(1990, 1, 1), 1),
        ("43010A", date(1990, 1, 1), 1),
        ("990102", date(1990, 1, 1), 1),
        ("430102", date(1899, 12, 31), 1),
        ("430102", date(1990, 1, 1), -1),
        ("430102", date(1990, 1, 1), 1000),
        ("430102", date(1990, 1, 1), True),
    ],
)
def test_make_id_number_rejects_bad_arguments(region: str, birth: date, sequence: int) -> None:
    with pytest.raises(ValueError):
        make_id_number(region, birth, sequence)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        # one digit changed
        ("11010519491231012X", "id_number.checksum"),
        ("21010519491231002X", "id_number.checksum"),
        # wrong check character
        ("110105194912310021", "id_number.checksum"),
        ("110105194912310020", "id_number.checksum"),
        # birth dates that do not exist
        ("110105194902300021", "id_number.birth_date"),  # Feb 30
        ("110105190002290021", "id_number.birth_date"),  # 1900 was not a leap year
        ("110105194913010021", "id_number.birth_date"),  # month 13
        ("110105194912000021", "id_number.birth_date"),  # day 0
        # bad province
        ("99010519491231002X", "id_number.region"),
        ("00010519491231002X", "id_number.region"),
        # length and characters
        ("", "id_number.length"),
        ("11010519491231002", "id_number.length"),
        ("11010519491231002XX", "id_number.length"),
        ("110105491231002", "id_number.length"),  # first-generation 15-digit number
        ("1101051949123100XX", "id_number.characters"),
        ("11010519491231O02X", "id_number.characters"),
        ("11010519491231002Y", "id_number.characters"),
        ("110105-1949123102X", "id_number.characters"),
        # not a string
        (11010519491231002, "id_number.type"),
        (None, "id_number.type"),
    ],
)
def test_id_number_near_misses(value: object, code: str) -> None:
    assert_invalid(id_at(TODAY), value, code)


def test_id_number_checksum_message_gives_expected_char() -> None:
    error = assert_invalid(validate_id_number, "110105194912310021", "id_number.checksum")
    assert error.message_zh == "身份证号校验位错误，应为 X"
    assert error.message_en == "the check character is wrong; it should be X"


def test_id_number_impossible_date_message_explains() -> None:
    number = "11010519490230" + "002"
    number += id_number_check_char(number)
    error = assert_invalid(validate_id_number, number, "id_number.birth_date")
    assert "2 月没有 30 日" in error.message_zh
    assert "February 1949 has no day 30" in error.message_en


def test_id_number_15_digit_message_mentions_old_cards() -> None:
    error = assert_invalid(validate_id_number, "110105491231002", "id_number.length")
    assert "15" in error.message_zh and "15" in error.message_en


def test_id_number_birth_date_bounds() -> None:
    born_today = make_id_number("430102", TODAY, 1)
    assert validate_id_number(born_today, today=TODAY) == born_today
    tomorrow = make_id_number("430102", TODAY + timedelta(days=1), 1)
    error = assert_invalid(id_at(TODAY), tomorrow, "id_number.birth_date")
    assert "晚于今天" in error.message_zh and "future" in error.message_en
    earliest = make_id_number("430102", date(1900, 1, 1), 1)
    assert validate_id_number(earliest, today=TODAY) == earliest
    assert validate_id_number(make_id_number("430102", date(2000, 2, 29), 5), today=TODAY)


def test_id_number_future_birth_with_default_today() -> None:
    future = make_id_number("430102", date.today() + timedelta(days=400), 1)
    assert_invalid(validate_id_number, future, "id_number.birth_date")


def test_id_number_region_is_checked_only_at_province_level() -> None:
    # 430124 (宁乡县) was abolished in 2017, but people still carry numbers with it.
    old = make_id_number("430124", date(1980, 3, 3), 11)
    assert validate_id_number(old, today=TODAY) == old
    assert validate_id_number(make_id_number("650102", date(1980, 3, 3), 11), today=TODAY)
    for province in ("71", "81", "82"):
        assert validate_id_number(make_id_number(province + "0000", date(1980, 3, 3), 11))


def test_id_number_check_char_rejects_bad_body() -> None:
    with pytest.raises(ValueError):
        id_number_check_char("1234")
    with pytest.raises(ValueError):
        id_number_check_char("1101051949123100A")


# --------------------------------------------------------------------------
# masking


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("430102199001011234", "430102********1234"),
        ("43010219900101123X", "430102********123X"),
        ("91350100M000100Y43", "913501********0Y43"),
        ("430102 19900101 1234", "430102********1234"),
        ("110105491231002", "110*********002"),
        ("1234567890123456", "123456******3456"),
        ("13812345678", "13*******78"),
        ("12345678", "12****78"),
        ("1234", "1**4"),
        ("123", "***"),
        ("1", "*"),
        ("", ""),
    ],
)
def test_mask_id_number(value: str, masked: str) -> None:
    assert mask_id_number(value) == masked


@given(st.text(alphabet="0123456789X", max_size=40))
def test_mask_hides_enough(value: str) -> None:
    masked = mask_id_number(value)
    assert len(masked) == len(value)
    hidden = masked.count("*")
    if len(value) < 16:
        assert hidden * 2 >= len(value)
    else:
        assert hidden * 3 >= len(value)
        assert masked[:6] == value[:6] and masked[-4:] == value[-4:]


# --------------------------------------------------------------------------
# 统一社会信用代码


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",  # the example from GB 32100-2015
        "914403001922038216",  # 华为技术有限公司
        "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
        "91330100799655058B",  # 阿里巴巴（中国）有限公司
        "91110108551385082Q",  # 小米科技有限责任公司
        "11100000000013338W",  # a central government body (region 100000)
        "12100000000018032A",  # a central public institution
        "11430000006122244L",  # a Hunan provincial body
    ],
)
def test_real_credit_codes_are_valid(code: str) -> None:
    assert validate_credit_code(code) == code
    assert credit_code_check_char(code[:17]) == code[17]


def test_credit_code_is_normalised() -> None:
    assert validate_credit_code(" 91350100m000100y43 ") == "91350100M000100Y43"
    assert validate_credit_code("9135 0100 M000 100Y 43") == "91350100M000100Y43"


def test_credit_code_charset_is_exactly_gb32100() -> None:
    assert CREDIT_CODE_CHARSET == "0123456789ABCDEFGHJKLMNPQRTUWXY"
    assert len(CREDIT_CODE_CHARSET) == 31
    assert not set("IOSVZ") & set(CREDIT_CODE_CHARSET)


def test_make_credit_code() -> None:
    code = make_credit_code("430102", "MA4L12345")
    assert code.startswith("91430102MA4L12345")
    assert len(code) == 18
    assert validate_credit_code(code) == code
    other = make_credit_code("430102", "ma4l12345", authority="5", org_type="2")
    assert other.startswith("52430102MA4L12345")
    assert validate_credit_code(other) == other


@pytest.mark.parametrize(
    ("region", "body", "authority"),
    [
        ("43010", "MA4L12345", "9"),
        ("990102", "MA4L12345", "9"),
        ("430102", "MA4L1234", "9"),
        ("430102", "MA4L1234I", "9"),
        ("430102", "MA4L12345", "Z"),
        ("430102", "MA4L12345", "91"),
    ],
)
def test_make_credit_code_rejects_bad_arguments(region: str, body: str, authority: str) -> None:
    with pytest.raises(ValueError):
        make_credit_code(region, body, authority=authority)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("91350100M000100Y42", "credit_code.checksum"),  # wrong check char
        ("91350100M000101Y43", "credit_code.checksum"),  # one character changed
        ("91350100N000100Y43", "credit_code.checksum"),
        ("91350100M000100Y4", "credit_code.length"),
        ("91350100M000100Y433", "credit_code.length"),
        ("", "credit_code.length"),
        ("91350100M000100I43", "credit_code.characters"),
        ("91350100O000100Y43", "credit_code.characters"),
        ("91350100S000100Y43", "credit_code.characters"),
        ("91350100V000100Y43", "credit_code.characters"),
        ("91350100Z000100Y43", "credit_code.characters"),
        ("91350100M00010-Y43", "credit_code.characters"),
        ("91990100M000100Y43", "credit_code.region"),  # province 99
        ("9135A100M000100Y43", "credit_code.region"),  # letter in region
        ("91100001M000100Y43", "credit_code.region"),  # only 100000 itself is national
        (913501001234567894, "credit_code.type"),
        (None, "credit_code.type"),
    ],
)
def test_credit_code_near_misses(value: object, code: str) -> None:
    assert_invalid(validate_credit_code, value, code)


def test_credit_code_checksum_message_gives_expected_char() -> None:
    error = assert_invalid(validate_credit_code, "91350100M000100Y42", "credit_code.checksum")
    assert error.message_zh.endswith("应为 3")
    assert error.message_en.endswith("it should be 3")


def test_credit_code_characters_message_names_the_bad_ones() -> None:
    error = assert_invalid(validate_credit_code, "91350100O00010SY43", "credit_code.characters")
    assert "O" in error.message_zh and "S" in error.message_en


# --------------------------------------------------------------------------
# 行政区划代码 and the region table


@pytest.mark.parametrize(
    "code",
    [
        "430000", "430100", "430102", "430103", "430104", "430105", "430111",
        "430112", "430121", "430181", "430182", "430200", "430300", "430400",
        "430405", "430500", "430600", "430700", "430800", "430900", "431000",
        "431100", "431200", "431300", "433100", "433101", "433130",
        "110000", "110105", "440305", "650102", "710000", "810000", "820000",
        "430102001", "430102001001", "430102001000", "430102000000", "430104102", "430405007006",
    ],
)
def test_valid_region_codes(code: str) -> None:
    assert validate_region_code(code) == code


def test_region_code_normalisation() -> None:
    assert validate_region_code(" 430102 ") == "430102"
    assert validate_region_code(430102) == "430102"
    assert validate_region_code("４３０１０２") == "430102"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("990000", "region_code.province"),
        ("000000", "region_code.province"),
        ("100000", "region_code.province"),
        ("990102001", "region_code.province"),
        ("430199", "region_code.unknown"),
        ("431400", "region_code.unknown"),
        ("430106", "region_code.unknown"),
        ("433128", "region_code.unknown"),
        ("430124", "region_code.abolished"),
        ("430122", "region_code.abolished"),
        ("430221", "region_code.abolished"),
        ("430521", "region_code.abolished"),
        ("431121", "region_code.abolished"),
        ("43010", "region_code.length"),
        ("4301021", "region_code.length"),
        ("", "region_code.characters"),
        ("43010A", "region_code.characters"),
        ("43-0102", "region_code.characters"),
        ("430102999", "region_code.unknown"),  # 统计用区划代码: no such township in 芙蓉区
        ("430102999999", "region_code.unknown"),
        ("430102001999", "region_code.unknown"),
        ("430106001", "region_code.unknown"),  # the county part is checked first
        ("430103001", "region_code.not_covered"),  # 天心区: no township table shipped
        ("110105001001", "region_code.not_covered"),
        (-430102, "region_code.type"),
        (True, "region_code.type"),
        (None, "region_code.type"),
        (4301.02, "region_code.type"),
    ],
)
def test_region_code_near_misses(value: object, code: str) -> None:
    assert_invalid(validate_region_code, value, code)


def test_abolished_region_message_points_to_successor() -> None:
    error = assert_invalid(validate_region_code, "430124", "region_code.abolished")
    assert "宁乡县" in error.message_zh and "430182" in error.message_zh
    assert "430182" in error.message_en


def test_region_names() -> None:
    assert region_name("430000") == "湖南省"
    assert region_name("430100") == "长沙市"
    assert region_name("430102") == "芙蓉区"
    assert region_name("430405") == "珠晖区"
    assert region_name("433100") == "湘西土家族苗族自治州"
    assert region_name("110000") == "北京市"
    assert region_name("43") == "湖南省"
    assert region_name("110105") is None  # no detailed table for Beijing
    assert region_name("430124") is None  # abolished
    assert region_name("430199") is None
    assert region_name("4301") is None
    assert region_full_name("430102") == "湖南省长沙市芙蓉区"
    assert region_full_name("433101") == "湖南省湘西土家族苗族自治州吉首市"
    assert region_full_name("430100") == "湖南省长沙市"
    assert region_full_name("430000") == "湖南省"
    assert region_full_name("430199") is None
    assert province_name("430102") == "湖南省"
    assert province_name("990102") is None


def test_former_region() -> None:
    former = former_region("430124")
    assert former is not None
    assert (former.name, former.successor) == ("宁乡县", "430182")
    assert former_region("430102") is None


def test_province_table_matches_the_standard() -> None:
    assert set(PROVINCES) == {
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34",
        "35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52",
        "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
    }
    assert has_detailed_table("430102")
    assert not has_detailed_table("110105")


def test_hunan_table_is_complete_and_consistent() -> None:
    names = region_table().names
    assert set(code[:2] for code in names) == {"43"}
    prefectures = [c for c in names if c.endswith("00") and c != "430000"]
    counties = [c for c in names if not c.endswith("00")]
    # Hunan: 14 prefecture-level divisions and 122 county-level divisions.
    assert len(prefectures) == 14
    assert len(counties) == 122
    for county in counties:
        assert county[:4] + "00" in names, county
    for code, former in region_table().abolished.items():
        assert code not in names
        assert former.successor is None or former.successor in names


def test_load_region_table_rejects_malformed_files(tmp_path: Path) -> None:
    unquoted = tmp_path / "unquoted.yaml"
    unquoted.write_text("regions:\n  430102: 芙蓉区\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_region_table(unquoted)
    bad_successor = tmp_path / "successor.yaml"
    bad_successor.write_text(
        'regions: {"430102": 芙蓉区}\nabolished: {"430122": {name: 望城县, successor: "430112"}}\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError):
        load_region_table(bad_successor)
    good = tmp_path / "good.yaml"
    good.write_text('detailed_provinces: ["11"]\nregions: {"110101": 东城区}\n', encoding="utf-8")
    table = load_region_table(good)
    assert table.names == {"110101": "东城区"}
    assert table.detailed_provinces == frozenset({"11"})


def test_default_data_path_exists() -> None:
    assert regions.DATA_PATH.is_file()


# --------------------------------------------------------------------------
# telephone numbers


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("19912345678", "19912345678"),
        ("１３８１２３４５６７８", "13812345678"),
        (13812345678, "13812345678"),
        ("0731-88888888", "0731-88888888"),
        ("0731-8888888", "0731-8888888"),
        ("073188888888", "0731-88888888"),
        ("0731 8888 8888", "0731-88888888"),
        ("(0731) 88888888", "0731-88888888"),
        ("010-12345678", "010-12345678"),
        ("01012345678", "010-12345678"),
        ("02112345678", "021-12345678"),
        ("+86 731 88888888", "0731-88888888"),
        ("+86-10-12345678", "010-12345678"),
    ],
)
def test_valid_phones(raw: object, normalised: str) -> None:
    assert validate_phone(raw) == normalised


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("12812345678", "phone.format"),  # second digit must be 3-9
        ("1381234567", "phone.format"),
        ("138123456789", "phone.format"),
        ("0731-888888", "phone.format"),
        ("0731-888888888", "phone.format"),
        ("731-88888888", "phone.format"),
        ("", "phone.format"),
        ("138-1234-567a", "phone.characters"),
        ("+1 650 253 0000", "phone.characters"),
        ("0731-88888888 转 123", "phone.characters"),
        (None, "phone.type"),
        (True, "phone.type"),
        (1.5, "phone.type"),
    ],
)
def test_phone_near_misses(value: object, code: str) -> None:
    assert_invalid(validate_phone, value, code)


# --------------------------------------------------------------------------
# dates


def test_valid_dates() -> None:
    assert validate_date("2024-02-29") == date(2024, 2, 29)
    assert validate_date(" 2026-01-31 ") == date(2026, 1, 31)
    assert validate_date("２０２６－０１－３１") == date(2026, 1, 31)
    assert validate_date(date(2026, 3, 1)) == date(2026, 3, 1)


def test_february_30_message_is_clear() -> None:
    error = assert_invalid(validate_date, "2026-02-30", "date.invalid")
    assert error.message_zh == "2026-02-30 不是有效日期：2026 年 2 月没有 30 日（该月只有 28 天）"
    assert error.message_en == (
        "2026-02-30 is not a real date: February 2026 has no day 30 (it has only 28 days)"
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2026-02-29", "date.invalid"),
        ("2026-04-31", "date.invalid"),
        ("2026-13-01", "date.invalid"),
        ("2026-00-10", "date.invalid"),
        ("2026-01-00", "date.invalid"),
        ("0000-01-01", "date.invalid"),
        ("2026/01/01", "date.format"),
        ("2026-1-1", "date.format"),
        ("20260101", "date.format"),
        ("2026-01-01T00:00:00", "date.format"),
        ("yesterday", "date.format"),
        ("", "date.format"),
        (datetime(2026, 1, 1, 9, 30), "date.type"),
        (20260101, "date.type"),
        (None, "date.type"),
    ],
)
def test_date_near_misses(value: object, code: str) -> None:
    assert_invalid(validate_date, value, code)


@given(st.dates())
def test_date_round_trip(value: date) -> None:
    assert validate_date(value.isoformat()) == value


# --------------------------------------------------------------------------
# amounts


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, "0.00"),
        (12, "12.00"),
        ("12", "12.00"),
        ("12.5", "12.50"),
        (" 12.34 ", "12.34"),
        ("1.000", "1.00"),
        ("0.10", "0.10"),
        (".5", "0.50"),
        ("1,234,567.89", "1234567.89"),
        (Decimal("99.99"), "99.99"),
        (Decimal("1E+3"), "1000.00"),
        (0.1, "0.10"),
        (19.99, "19.99"),
        ("-0", "0.00"),
        (10**12, "1000000000000.00"),
        ("1000000000000.00", "1000000000000.00"),
    ],
)
def test_valid_amounts(raw: object, expected: str) -> None:
    result = validate_amount(raw)
    assert isinstance(result, Decimal)
    assert str(result) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("-1", "amount.negative"),
        (-1, "amount.negative"),
        (Decimal("-0.01"), "amount.negative"),
        ("1.001", "amount.precision"),
        (Decimal("0.005"), "amount.precision"),
        (12.345, "amount.precision"),
        ("0.1000000000000000000000000000000000001", "amount.precision"),
        ("1000000000000.01", "amount.too_large"),
        (10**12 + 1, "amount.too_large"),
        ("1" + "0" * 40, "amount.too_large"),
        ("abc", "amount.not_a_number"),
        ("", "amount.not_a_number"),
        ("1e3", "amount.not_a_number"),
        ("NaN", "amount.not_a_number"),
        ("Infinity", "amount.not_a_number"),
        ("12,34", "amount.not_a_number"),
        ("¥12", "amount.not_a_number"),
        (Decimal("NaN"), "amount.not_a_number"),
        (float("inf"), "amount.not_a_number"),
        (True, "amount.type"),
        (None, "amount.type"),
        ([1], "amount.type"),
    ],
)
def test_amount_near_misses(value: object, code: str) -> None:
    assert_invalid(validate_amount, value, code)


@given(st.integers(min_value=0, max_value=10**14))
def test_amount_cents_round_trip(cents: int) -> None:
    value = Decimal(cents).scaleb(-2)
    assert validate_amount(str(value)) == value
    assert validate_amount(value) == value


def test_amount_max() -> None:
    assert AMOUNT_MAX == Decimal(10) ** 12


# --------------------------------------------------------------------------
# text, integers, booleans


def test_valid_text() -> None:
    assert validate_text("  湖南省长沙市芙蓉区五一大道 1 号  ") == "湖南省长沙市芙蓉区五一大道 1 号"
    assert validate_text("x" * 200) == "x" * 200
    assert validate_text("x" * 10, max_length=10) == "x" * 10
    assert validate_text("第一行\r\n第二行", multiline=True) == "第一行\n第二行"


@pytest.mark.parametrize(
    ("value", "kwargs", "code"),
    [
        ("", {}, "text.empty"),
        ("   \u3000 ", {}, "text.empty"),
        ("x" * 201, {}, "text.too_long"),
        ("x" * 11, {"max_length": 10}, "text.too_long"),
        ("a\nb", {}, "text.control_characters"),
        ("a\tb", {}, "text.control_characters"),
        ("a\x00b", {}, "text.control_characters"),
        ("a\x7fb", {}, "text.control_characters"),
        ("a\x85b", {"multiline": True}, "text.control_characters"),
        ("abc\u202edef", {}, "text.control_characters"),
        (None, {}, "text.type"),
        (12, {}, "text.type"),
    ],
)
def test_text_near_misses(value: object, kwargs: dict[str, object], code: str) -> None:
    error = assert_invalid(lambda v: validate_text(v, **kwargs), value, code)  # type: ignore[arg-type]
    if code == "text.too_long":
        limit = str(kwargs.get("max_length", 200))
        assert limit in error.message_zh and limit in error.message_en


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0, 0), (42, 42), (-7, -7), ("42", 42), (" -7 ", -7), ("+3", 3), ("００７", 7), (2**63 - 1, 2**63 - 1)],
)
def test_valid_integers(raw: object, expected: int) -> None:
    assert validate_integer(raw) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (True, "integer.type"),
        (False, "integer.type"),
        (1.0, "integer.type"),
        (Decimal(1), "integer.type"),
        (None, "integer.type"),
        ("1.5", "integer.format"),
        ("1_000", "integer.format"),
        ("1e3", "integer.format"),
        ("", "integer.format"),
        ("٣", "integer.format"),  # Arabic-Indic digit
        (2**63, "integer.out_of_range"),
        ("9" * 5000, "integer.out_of_range"),
    ],
)
def test_integer_near_misses(value: object, code: str) -> None:
    assert_invalid(validate_integer, value, code)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(True, True), (False, False), ("true", True), ("TRUE", True), (" false ", False), ("是", True), ("否", False)],
)
def test_valid_booleans(raw: object, expected: bool) -> None:
    assert validate_boolean(raw) is expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("yes", "boolean.format"),
        ("", "boolean.format"),
        ("1", "boolean.format"),
        (1, "boolean.type"),
        (None, "boolean.type"),
    ],
)
def test_boolean_near_misses(value: object, code: str) -> None:
    assert_invalid(validate_boolean, value, code)


# --------------------------------------------------------------------------
# registry


def test_validators_registry() -> None:
    assert set(VALIDATORS) == {
        "text", "integer", "boolean", "date", "amount",
        "id_number", "credit_code", "region_code", "phone",
    }
    samples: dict[str, tuple[object, object]] = {
        "text": (" 张三 ", "张三"),
        "integer": ("3", 3),
        "boolean": ("是", True),
        "date": ("2024-01-02", date(2024, 1, 2)),
        "amount": ("1.5", Decimal("1.50")),
        "id_number": ("11010519491231002x", "11010519491231002X"),
        "credit_code": ("91350100M000100Y43", "91350100M000100Y43"),
        "region_code": ("430102", "430102"),
        "phone": ("138 1234 5678", "13812345678"),
    }
    for name, (raw, expected) in samples.items():
        assert VALIDATORS[name](raw) == expected
    with pytest.raises(TypeError):
        VALIDATORS["x"] = validate_text  # type: ignore[index]


# --------------------------------------------------------------------------
# property-based: generated identifiers validate, single mutations do not

_REGIONS = st.sampled_from(
    sorted(c for c in region_table().names if not c.endswith("0000"))
    + ["110105", "310104", "440305", "650102", "820000"]
)
_BIRTHS = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
_SEQUENCES = st.integers(min_value=0, max_value=999)
_CREDIT_BODIES = st.text(alphabet=CREDIT_CODE_CHARSET, min_size=9, max_size=9)


@given(_REGIONS, _BIRTHS, _SEQUENCES)
def test_made_id_numbers_validate(region: str, birth: date, sequence: int) -> None:
    number = make_id_number(region, birth, sequence)
    assert validate_id_number(number, today=TODAY) == number
    assert validate_id_number(number.lower(), today=TODAY) == number
    assert id_number_birth_date(number) == birth
    assert id_number_sex(number) == ("male" if sequence % 2 else "female")


@given(
    _REGIONS,
    _BIRTHS,
    _SEQUENCES,
    st.integers(min_value=0, max_value=16),
    st.integers(min_value=1, max_value=9),
)
def test_single_digit_mutation_of_id_number_is_rejected(
    region: str, birth: date, sequence: int, position: int, shift: int
) -> None:
    number = make_id_number(region, birth, sequence)
    digit = str((int(number[position]) + shift) % 10)
    mutated = number[:position] + digit + number[position + 1 :]
    with pytest.raises(InvalidValue):
        validate_id_number(mutated, today=TODAY)


@given(_REGIONS, _BIRTHS, _SEQUENCES, st.integers(min_value=0, max_value=15))
def test_adjacent_transposition_of_id_number_is_rejected(
    region: str, birth: date, sequence: int, position: int
) -> None:
    number = make_id_number(region, birth, sequence)
    a, b = number[position], number[position + 1]
    assume(a != b)
    swapped = number[:position] + b + a + number[position + 2 :]
    with pytest.raises(InvalidValue):
        validate_id_number(swapped, today=TODAY)


@given(_REGIONS, _CREDIT_BODIES)
def test_made_credit_codes_validate(region: str, body: str) -> None:
    code = make_credit_code(region, body)
    assert validate_credit_code(code) == code
    assert validate_credit_code(code.lower()) == code


@given(
    _REGIONS,
    _CREDIT_BODIES,
    st.integers(min_value=0, max_value=16),
    st.integers(min_value=1, max_value=30),
)
def test_single_character_mutation_of_credit_code_is_rejected(
    region: str, body: str, position: int, shift: int
) -> None:
    code = make_credit_code(region, body)
    index = CREDIT_CODE_CHARSET.index(code[position])
    char = CREDIT_CODE_CHARSET[(index + shift) % 31]
    mutated = code[:position] + char + code[position + 1 :]
    with pytest.raises(InvalidValue):
        validate_credit_code(mutated)


@given(_REGIONS, _CREDIT_BODIES, st.integers(min_value=0, max_value=15))
def test_adjacent_transposition_of_credit_code_is_rejected(
    region: str, body: str, position: int
) -> None:
    code = make_credit_code(region, body)
    a, b = code[position], code[position + 1]
    assume(a != b)
    swapped = code[:position] + b + a + code[position + 2 :]
    with pytest.raises(InvalidValue):
        validate_credit_code(swapped)


@given(st.text(alphabet=CREDIT_CODE_CHARSET, min_size=17, max_size=17))
def test_credit_code_check_char_makes_any_body_valid_except_region(body: str) -> None:
    code = body + credit_code_check_char(body)
    region = code[2:8]
    if region.isdigit() and (region[:2] in PROVINCES or region == "100000"):
        assert validate_credit_code(code) == code
    else:
        assert_invalid(validate_credit_code, code, "credit_code.region")
