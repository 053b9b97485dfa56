"""Field-value validators with bilingual (Chinese and English) error messages.

Each validator takes a raw value (usually a string from a form or JSON) and
returns the normalised value, or raises :class:`InvalidValue` carrying a short
machine-readable ``code`` plus a Chinese and an English message.  Messages say
what is wrong with the value; they never name the form field, which the
caller prefixes itself.

Validators are looked up by field type name in :data:`VALIDATORS`.

Standards implemented:

* 居民身份证号码 (resident identity card number), GB 11643-1999,
  check character ISO 7064 MOD 11-2;
* 统一社会信用代码 (unified social credit code), GB 32100-2015;
* 行政区划代码 (administrative division code), GB/T 2260, with the full
  county-level table for the provinces listed in ``engine/people/regions_data``.

The identifier functions (ID numbers, credit codes) and :class:`InvalidValue`
live in :mod:`engine.people.identifiers` and are re-exported here unchanged.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import TypeAlias

from engine.people.identifiers import (
    CREDIT_CODE_CHARSET,
    InvalidValue,
    _DIGITS,
    _compact,
    _date_problem,
    _halfwidth,
    _is_digits,
    _type_name,
    credit_code_check_char,
    id_number_birth_date,
    id_number_check_char,
    id_number_sex,
    make_credit_code,
    make_id_number,
    mask_id_number,
    validate_credit_code,
    validate_id_number,
)
# Everything engine.people.identifiers exports is exported from here too (this spelling lets mypy see it).
from engine.people.identifiers import __all__ as __all__
from engine.people.regions import (
    PROVINCES,
    canonical_region,
    former_region,
    has_detailed_table,
    province_name,
    region_name,
    statistical_table,
)

__all__ = [
    *__all__,  # engine.people.identifiers'
    "AMOUNT_MAX",
    "VALIDATORS",
    "Validator",
    "validate_amount",
    "validate_boolean",
    "validate_date",
    "validate_integer",
    "validate_phone",
    "validate_region_code",
    "validate_text",
]

Validator: TypeAlias = Callable[[object], object]
"""A validator: returns the normalised value or raises :class:`InvalidValue`."""


# --------------------------------------------------------------------------
# 行政区划代码, GB/T 2260


def validate_region_code(value: object) -> str:
    """Validate an administrative division code (行政区划代码, GB/T 2260).

    Accepts a string (spaces removed) or a non-negative ``int``.  The code
    must be 6, 9 or 12 digits in a known province.  Six-digit codes in a
    province with a detailed table (Hunan, 43) must be listed in it; codes
    that have been abolished are rejected with a pointer to their successor.
    Township (9-digit) and village (12-digit) codes are 统计用区划代码: they
    must be listed in the table of the served districts
    (``regions_data/statistical_codes.csv``); a code of a district the table
    does not cover cannot be checked and is refused too. A long code padded
    with zeros (430102000000, 430102001000) is checked at its own level.

    Error codes: ``region_code.type``, ``region_code.characters``,
    ``region_code.length``, ``region_code.province``, ``region_code.abolished``,
    ``region_code.unknown``, ``region_code.not_covered``.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        code = str(value)
    elif isinstance(value, str):
        code = _compact(value)
    else:
        raise InvalidValue(
            "region_code.type",
            "行政区划代码应为数字文本",
            f"a division code must be given as a string of digits, not {_type_name(value)}",
        )
    if not _is_digits(code):
        raise InvalidValue(
            "region_code.characters",
            "行政区划代码只能包含数字",
            "a division code may contain digits only",
        )
    if len(code) not in (6, 9, 12):
        raise InvalidValue(
            "region_code.length",
            f"行政区划代码应为 6 位、9 位或 12 位数字，实际为 {len(code)} 位",
            f"a division code must have 6, 9 or 12 digits, not {len(code)}",
        )
    if code[:2] not in PROVINCES:
        raise InvalidValue(
            "region_code.province",
            f"行政区划代码前两位 {code[:2]} 不是有效的省级行政区划代码",
            f"the first two digits ({code[:2]}) are not a valid province code",
        )
    _check_county(code[:6])  # a township or village lies in a county that must exist
    if len(canonical_region(code)) > 6:
        _check_statistical(code)
    return code


def _check_county(code: str) -> None:
    """A six-digit code in a province with a detailed table must be listed in it."""
    if has_detailed_table(code) and region_name(code) is None:
        former = former_region(code)
        if former is not None:
            if former.successor is not None:
                new_name = region_name(former.successor) or ""
                raise InvalidValue(
                    "region_code.abolished",
                    f"行政区划代码 {code}（{former.name}）已撤销，现为 {former.successor}（{new_name}）",
                    f"division code {code} ({former.name}) has been abolished; "
                    f"it is now {former.successor} ({new_name})",
                )
            raise InvalidValue(
                "region_code.abolished",
                f"行政区划代码 {code}（{former.name}）已撤销",
                f"division code {code} ({former.name}) has been abolished",
            )
        province = province_name(code) or code[:2]
        raise InvalidValue(
            "region_code.unknown",
            f"{province}没有行政区划代码 {code}",
            f"{code} is not a division code in {province} ({code[:2]})",
        )


def _check_statistical(code: str) -> None:
    """A township or village code must be in the table of 统计用区划代码 of the served districts."""
    table = statistical_table()
    canonical = canonical_region(code)
    if canonical in table.names:
        return
    county = code[:6]
    name = region_name(county)
    county_zh, county_en = (f"{name}（{county}）", f"{name} ({county})") if name else (county, county)
    level_zh, level_en = ("村（社区）", "village or community") if len(canonical) == 12 else ("乡镇（街道）", "township")
    if county in table.counties:
        raise InvalidValue(
            "region_code.unknown",
            f"{county_zh}没有{level_zh}统计用区划代码 {code}",
            f"{code} is not a {level_en} code (统计用区划代码) of {county_en}",
        )
    served = [f"{c} {region_name(c) or ''}".strip() for c in sorted(table.counties)]
    raise InvalidValue(
        "region_code.not_covered",
        f"{county_zh}的乡镇、村级区划代码不在本系统的统计用区划代码表中（已收录：{'、'.join(served)}），"
        f"请填写 6 位县级代码 {county}",
        f"township and village codes of {county_en} are not in this system's table of statistical "
        f"division codes (it covers {', '.join(served)}); give the six-digit county code {county}",
    )


# --------------------------------------------------------------------------
# telephone numbers

_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
_LANDLINE_DASHED_RE = re.compile(r"(0[0-9]{2,3})-([0-9]{7,8})")
_LANDLINE_DIGITS_RE = re.compile(r"0[0-9]{9,11}")


def _phone_error() -> InvalidValue:
    return InvalidValue(
        "phone.format",
        "电话号码格式不正确，应为 11 位手机号码或带区号的固定电话号码（如 0731-88888888）",
        "expected an 11-digit mobile number or a landline number with its area code "
        "(e.g. 0731-88888888)",
    )


def validate_phone(value: object) -> str:
    """Validate a mainland China phone number.

    Spaces, dashes and parentheses are ignored and a ``+86``/``0086`` prefix
    is dropped.  A mobile number (``1[3-9]`` + 9 digits) is returned as 11
    digits; a landline (``0`` + 2-3 digit area code + 7-8 digit number) is
    returned as ``"0731-88888888"``.  When no dash separates the area code,
    area codes starting 01/02 are taken as 3 digits (010, 020-029) and all
    others as 4.  A non-negative ``int`` is accepted as a mobile number.

    Error codes: ``phone.type``, ``phone.characters``, ``phone.format``.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        text = str(value)
    elif isinstance(value, str):
        text = _halfwidth(value)
    else:
        raise InvalidValue(
            "phone.type",
            "电话号码应为文本",
            f"a phone number must be given as text, not {_type_name(value)}",
        )
    text = re.sub(r"[\s()]", "", text)
    international = False
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            text = text[len(prefix) :].lstrip("-")
            international = True
            break
    digits = text.replace("-", "")
    if any(c not in _DIGITS for c in digits):
        raise InvalidValue(
            "phone.characters",
            "电话号码只能包含数字、空格、短横线和开头的 +86",
            "a phone number may contain only digits, spaces, dashes and a leading +86",
        )
    if not international and len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    if _MOBILE_RE.fullmatch(digits):
        return digits

    if international and not text.startswith("0"):
        text, digits = "0" + text, "0" + digits
    match = _LANDLINE_DASHED_RE.fullmatch(text)
    if match is not None:
        return f"{match.group(1)}-{match.group(2)}"
    if _LANDLINE_DIGITS_RE.fullmatch(digits):
        area_length = 3 if digits[1] in "12" else 4
        local = digits[area_length:]
        if 7 <= len(local) <= 8:
            return f"{digits[:area_length]}-{local}"
    raise _phone_error()


# --------------------------------------------------------------------------
# dates

_ISO_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def validate_date(value: object) -> date:
    """Validate a calendar date: a ``date`` or an ISO ``YYYY-MM-DD`` string.

    A ``datetime`` is rejected (it carries a time of day).  Impossible dates
    such as 2026-02-30 get a message naming the month's length.

    Error codes: ``date.type``, ``date.format``, ``date.invalid``.
    """
    if isinstance(value, datetime):
        raise InvalidValue(
            "date.type",
            "应为日期，不能带有时间",
            "expected a date without a time of day",
        )
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise InvalidValue(
            "date.type",
            "日期应为 YYYY-MM-DD 格式的文本",
            f"a date must be given as a 'YYYY-MM-DD' string, not {_type_name(value)}",
        )
    text = _halfwidth(value).strip()
    match = _ISO_DATE_RE.fullmatch(text)
    if match is None:
        raise InvalidValue(
            "date.format",
            "日期格式不正确，应为 YYYY-MM-DD，例如 2024-03-15",
            "a date must be written as YYYY-MM-DD, e.g. 2024-03-15",
        )
    year, month, day = (int(g) for g in match.groups())
    problem = _date_problem(year, month, day)
    if problem is not None:
        raise InvalidValue(
            "date.invalid",
            f"{text} 不是有效日期：{problem[0]}",
            f"{text} is not a real date: {problem[1]}",
        )
    return date(year, month, day)


# --------------------------------------------------------------------------
# amounts of money

AMOUNT_MAX = Decimal(10) ** 12
"""The largest amount :func:`validate_amount` accepts (one trillion, 1 万亿)."""

_CENT = Decimal("0.01")
_AMOUNT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_GROUPED_AMOUNT_RE = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")


def _not_a_number(shown: str) -> InvalidValue:
    return InvalidValue(
        "amount.not_a_number",
        f"“{shown}”不是有效的金额，应写成普通数字，如 1234.50",
        f"{shown!r} is not a valid amount; write a plain number such as 1234.50",
    )


def validate_amount(value: object) -> Decimal:
    """Validate an amount of money and return it as a ``Decimal`` with 2 places.

    Accepts ``int``, ``Decimal``, ``float`` (read through its shortest
    ``repr``, so ``0.1`` is exactly 0.1) and strings of plain decimal
    notation, optionally with thousands separators (``"1,234.50"``).  The
    amount must be 0 or more, have at most two decimal places and be at most
    10^12.

    Error codes: ``amount.type``, ``amount.not_a_number``, ``amount.negative``,
    ``amount.precision``, ``amount.too_large``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise InvalidValue(
            "amount.type",
            "金额应为数字或数字文本",
            f"an amount must be a number or a numeric string, not {_type_name(value)}",
        )
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _not_a_number(repr(value))
        amount = Decimal(repr(value))
    else:
        text = "".join(_halfwidth(value).split())
        if _GROUPED_AMOUNT_RE.fullmatch(text):
            text = text.replace(",", "")
        if not _AMOUNT_RE.fullmatch(text):
            raise _not_a_number(value.strip())
        try:
            amount = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern rules this out
            raise _not_a_number(value.strip()) from None
    if not amount.is_finite():
        raise _not_a_number(str(value))
    if amount < 0:
        raise InvalidValue(
            "amount.negative",
            "金额不能为负数",
            "an amount cannot be negative",
        )
    if amount > AMOUNT_MAX:
        raise InvalidValue(
            "amount.too_large",
            "金额不能超过 1 万亿（10^12）",
            "an amount cannot exceed one trillion (10^12)",
        )
    rounded = amount.quantize(_CENT).copy_abs()  # copy_abs turns -0 into 0
    if rounded != amount:
        raise InvalidValue(
            "amount.precision",
            "金额最多只能有两位小数",
            "an amount may have at most two decimal places",
        )
    return rounded


# --------------------------------------------------------------------------
# text, integers, booleans

# Bidirectional embedding/override/isolate marks can make text display in a
# misleading order, so they are refused along with C0/C1 controls.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def validate_text(value: object, *, max_length: int = 200, multiline: bool = False) -> str:
    """Validate free text: a non-empty string of at most ``max_length`` characters.

    Surrounding whitespace is stripped.  Control characters (Unicode
    category Cc), lone surrogates and bidirectional override marks are
    refused; with ``multiline=True`` line breaks and tabs are allowed and
    ``\\r\\n`` is normalised to ``\\n``.

    Error codes: ``text.type``, ``text.empty``, ``text.too_long``,
    ``text.control_characters``.
    """
    if not isinstance(value, str):
        raise InvalidValue(
            "text.type",
            "应为文本",
            f"expected text, not {_type_name(value)}",
        )
    text = value.strip()
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text:
        raise InvalidValue("text.empty", "不能为空", "must not be empty")
    allowed = "\n\t" if multiline else ""
    for char in text:
        if char in allowed:
            continue
        if unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS:
            if multiline:
                raise InvalidValue(
                    "text.control_characters",
                    "含有不可见的控制字符",
                    "contains invisible control characters",
                )
            raise InvalidValue(
                "text.control_characters",
                "含有不可见的控制字符（如换行符或制表符）",
                "contains invisible control characters (such as line breaks or tabs)",
            )
    if len(text) > max_length:
        raise InvalidValue(
            "text.too_long",
            f"不能超过 {max_length} 个字符（当前为 {len(text)} 个）",
            f"must be at most {max_length} characters long (it has {len(text)})",
        )
    return text


_INTEGER_RE = re.compile(r"[+-]?([0-9]+)")
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1


def validate_integer(value: object) -> int:
    """Validate a whole number: an ``int`` (not ``bool``) or a string of digits.

    Strings may have surrounding spaces and a sign.  The value must fit in a
    signed 64-bit integer.

    Error codes: ``integer.type``, ``integer.format``, ``integer.out_of_range``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidValue(
            "integer.type",
            "应为整数",
            f"expected a whole number, not {_type_name(value)}",
        )
    if isinstance(value, str):
        text = _halfwidth(value).strip()
        match = _INTEGER_RE.fullmatch(text)
        if match is None:
            raise InvalidValue(
                "integer.format",
                f"“{value.strip()}”不是有效的整数",
                f"{value.strip()!r} is not a whole number",
            )
        if len(match.group(1).lstrip("0")) > 19:
            number = _INT_MAX + 1  # too long to be in range; avoid a huge int()
        else:
            number = int(text)
    else:
        number = value
    if not _INT_MIN <= number <= _INT_MAX:
        raise InvalidValue(
            "integer.out_of_range",
            "整数超出允许范围",
            "the number is out of range",
        )
    return number


_TRUE_WORDS = frozenset({"true", "是"})
_FALSE_WORDS = frozenset({"false", "否"})


def validate_boolean(value: object) -> bool:
    """Validate a yes/no value: a ``bool`` or ``"true"``/``"false"``/``"是"``/``"否"``.

    Strings are stripped and compared case-insensitively.

    Error codes: ``boolean.type``, ``boolean.format``.
    """
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise InvalidValue(
            "boolean.type",
            "应为“是”或“否”",
            f"expected yes or no (true or false), not {_type_name(value)}",
        )
    word = _halfwidth(value).strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise InvalidValue(
        "boolean.format",
        f"“{value.strip()}”无法识别，应为“是”或“否”",
        f"{value.strip()!r} is not understood; expected yes or no (true or false)",
    )


VALIDATORS: Mapping[str, Validator] = MappingProxyType(
    {
        "text": validate_text,
        "integer": validate_integer,
        "boolean": validate_boolean,
        "date": validate_date,
        "amount": validate_amount,
        "id_number": validate_id_number,
        "credit_code": validate_credit_code,
        "region_code": validate_region_code,
        "phone": validate_phone,
    }
)
"""Validators keyed by field type name."""
