"""Identifiers: 居民身份证号码 (GB 11643-1999) and 统一社会信用代码 (GB 32100-2015).

Check characters, validation, the facts a valid number encodes (birth date, sex), masking
for display, and builders of valid numbers for demo data and tests. Also home to
:class:`InvalidValue` and the small text helpers every validator shares, so that
:mod:`engine.people.validators` can build on this module without an import cycle;
:mod:`engine.people.validators` re-exports everything public here.
"""

from __future__ import annotations

import calendar
import functools
from datetime import date, datetime
from typing import Literal

from engine.people.regions import PROVINCES

__all__ = [
    "CREDIT_CODE_CHARSET",
    "InvalidValue",
    "credit_code_check_char",
    "id_number_birth_date",
    "id_number_check_char",
    "id_number_sex",
    "make_credit_code",
    "make_id_number",
    "mask_id_number",
    "validate_credit_code",
    "validate_id_number",
]


class InvalidValue(ValueError):
    """A value failed validation.

    ``code`` is a short machine code such as ``"id_number.checksum"``;
    ``message_zh`` and ``message_en`` are human-readable texts saying what is
    wrong.  They do not name the field: the caller adds the field label.
    """

    def __init__(self, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(code, message_zh, message_en)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en

    def __str__(self) -> str:
        return f"{self.code}: {self.message_en} / {self.message_zh}"

    def to_dict(self) -> dict[str, str]:
        """Return ``{"code", "message_zh", "message_en"}`` for JSON responses."""
        return {"code": self.code, "message_zh": self.message_zh, "message_en": self.message_en}


# --------------------------------------------------------------------------
# helpers

_DIGITS = frozenset("0123456789")
# Full-width ASCII variants (U+FF01..U+FF5E) and the ideographic space, which
# Chinese input methods produce easily, are read as their ASCII equivalents.
_HALFWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_HALFWIDTH[0x3000] = 0x20

_MONTHS_EN = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _is_digits(text: str) -> bool:
    return bool(text) and all(c in _DIGITS for c in text)


def _halfwidth(text: str) -> str:
    return text.translate(_HALFWIDTH)


def _compact(text: str) -> str:
    """Half-width, with all whitespace removed."""
    return "".join(_halfwidth(text).split())


def _date_problem(year: int, month: int, day: int) -> tuple[str, str] | None:
    """Explain why ``year-month-day`` is not a real date, or return ``None``."""
    if year < 1:
        return ("年份无效", "the year is not valid")
    if not 1 <= month <= 12:
        return (f"月份应在 1 到 12 之间，不能是 {month}", f"the month must be between 1 and 12, not {month}")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        return (
            f"{year} 年 {month} 月没有 {day} 日（该月只有 {last} 天）",
            f"{_MONTHS_EN[month]} {year} has no day {day} (it has only {last} days)",
        )
    return None


def _type_name(value: object) -> str:
    return type(value).__name__

# --------------------------------------------------------------------------
# 居民身份证号码, GB 11643-1999

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
_ID_EARLIEST_BIRTH = date(1900, 1, 1)


def id_number_check_char(body: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for the first 17 digits.

    Raises ``ValueError`` unless ``body`` is exactly 17 ASCII digits.
    """
    if len(body) != 17 or not _is_digits(body):
        raise ValueError("the body of an identity card number must be 17 digits")
    total = sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS))
    return _ID_CHECK_CHARS[total % 11]


def validate_id_number(value: object, *, today: date | None = None) -> str:
    """Validate a resident identity card number (居民身份证号码, GB 11643-1999).

    Spaces are removed and a lowercase ``x`` is upper-cased.  The number must
    have 18 characters: 17 digits and a digit or ``X``; its first two digits
    must be a province-level division code; digits 7-14 must be a real birth
    date between 1900-01-01 and ``today`` (default: the current date); and
    the last character must be the MOD 11-2 check character.

    Error codes: ``id_number.type``, ``id_number.length``,
    ``id_number.characters``, ``id_number.region``, ``id_number.birth_date``,
    ``id_number.checksum``.
    """
    if not isinstance(value, str):
        raise InvalidValue(
            "id_number.type",
            "身份证号应为文本",
            f"an identity card number must be given as text, not {_type_name(value)}",
        )
    return _checked_id_number(value, date.today() if today is None else today)


@functools.lru_cache(maxsize=8192)
def _checked_id_number(value: str, today: date) -> str:
    """:func:`validate_id_number` of a text, remembered: an intake checks the same numbers many
    times over (answers, prefill holders, facts, waivers); a refusal raises and is not remembered."""
    number = _compact(value).upper()

    if len(number) != 18:
        if len(number) == 15 and _is_digits(number):
            raise InvalidValue(
                "id_number.length",
                "身份证号应为 18 位，15 位的第一代身份证号码已停止使用",
                "an identity card number must have 18 characters; "
                "old 15-digit numbers are no longer valid",
            )
        raise InvalidValue(
            "id_number.length",
            f"身份证号应为 18 位，实际为 {len(number)} 位",
            f"an identity card number must have 18 characters, not {len(number)}",
        )

    if not _is_digits(number[:17]) or not (number[17] in _DIGITS or number[17] == "X"):
        raise InvalidValue(
            "id_number.characters",
            "身份证号前 17 位应为数字，最后一位应为数字或字母 X",
            "the first 17 characters must be digits and the last one a digit or the letter X",
        )

    if number[:2] not in PROVINCES:
        raise InvalidValue(
            "id_number.region",
            f"身份证号前两位 {number[:2]} 不是有效的省级行政区划代码",
            f"the first two digits ({number[:2]}) are not a valid province code",
        )

    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    problem = _date_problem(year, month, day)
    if problem is not None:
        raise InvalidValue(
            "id_number.birth_date",
            f"身份证号中的出生日期 {number[6:14]} 不是有效日期：{problem[0]}",
            f"the birth date {number[6:14]} in the number is not a real date: {problem[1]}",
        )
    birth = date(year, month, day)
    if birth > today:
        raise InvalidValue(
            "id_number.birth_date",
            f"身份证号中的出生日期 {birth.isoformat()} 晚于今天",
            f"the birth date {birth.isoformat()} in the number is in the future",
        )
    if birth < _ID_EARLIEST_BIRTH:
        raise InvalidValue(
            "id_number.birth_date",
            f"身份证号中的出生日期 {birth.isoformat()} 早于 1900 年 1 月 1 日",
            f"the birth date {birth.isoformat()} in the number is before 1 January 1900",
        )

    expected = id_number_check_char(number[:17])
    if number[17] != expected:
        raise InvalidValue(
            "id_number.checksum",
            f"身份证号校验位错误，应为 {expected}",
            f"the check character is wrong; it should be {expected}",
        )
    return number


def id_number_birth_date(value: str) -> date:
    """Return the birth date encoded in a valid identity card number.

    Raises :class:`InvalidValue` if ``value`` is not a valid number.
    """
    number = validate_id_number(value)
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def id_number_sex(value: str) -> Literal["male", "female"]:
    """Return the sex encoded in a valid identity card number (17th digit odd: male).

    Raises :class:`InvalidValue` if ``value`` is not a valid number.
    """
    number = validate_id_number(value)
    return "male" if int(number[16]) % 2 == 1 else "female"


def make_id_number(region: str, birth: date, sequence: int) -> str:
    """Build a valid identity card number (for demo data and tests).

    ``region`` is a six-digit division code in a known province, ``birth`` a
    date from 1900-01-01 on, and ``sequence`` the order code 0-999 (its last
    digit gives the sex: odd for male).  The check character is appended.
    Raises ``ValueError`` on bad arguments.  The result validates as long as
    ``birth`` is not in the future.
    """
    if len(region) != 6 or not _is_digits(region) or region[:2] not in PROVINCES:
        raise ValueError(f"region must be a six-digit code in a known province, not {region!r}")
    if isinstance(birth, datetime) or not isinstance(birth, date):
        raise ValueError("birth must be a date")
    if birth < _ID_EARLIEST_BIRTH:
        raise ValueError("birth must not be before 1900-01-01")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 0 <= sequence <= 999:
        raise ValueError(f"sequence must be an integer from 0 to 999, not {sequence!r}")
    body = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence:03d}"
    return body + id_number_check_char(body)


def mask_id_number(value: str) -> str:
    """Mask the middle of an identification number for display.

    Whitespace is removed.  Strings of 16 or more characters keep their first
    6 and last 4 characters (``430102********1234``; also suits credit codes).
    Shorter strings keep a quarter of their length (rounded down) at each
    end, so at least half of them is hidden, and strings shorter than 4
    characters are masked completely.
    """
    text = _compact(value)
    n = len(text)
    if n >= 16:
        head, tail = 6, 4
    else:
        head = tail = n // 4
    return text[:head] + "*" * (n - head - tail) + text[n - tail :]


# --------------------------------------------------------------------------
# 统一社会信用代码, GB 32100-2015

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters of GB 32100-2015 (digits and capitals except I, O, S, V, Z)."""

_CREDIT_VALUES = {c: i for i, c in enumerate(CREDIT_CODE_CHARSET)}
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Central (national-level) bodies are registered under the code of the whole
# country, e.g. 11100000000013338W.
_NATIONAL_REGION = "100000"


def credit_code_check_char(body: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters.

    Raises ``ValueError`` unless ``body`` is 17 characters from
    :data:`CREDIT_CODE_CHARSET`.
    """
    if len(body) != 17 or any(c not in _CREDIT_VALUES for c in body):
        raise ValueError("the body of a credit code must be 17 characters from the GB 32100 set")
    total = sum(_CREDIT_VALUES[c] * w for c, w in zip(body, _CREDIT_WEIGHTS))
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def _is_credit_region(region: str) -> bool:
    return len(region) == 6 and _is_digits(region) and (
        region[:2] in PROVINCES or region == _NATIONAL_REGION
    )


def validate_credit_code(value: object) -> str:
    """Validate a unified social credit code (统一社会信用代码, GB 32100-2015).

    Spaces are removed and letters upper-cased.  The code must be 18
    characters from :data:`CREDIT_CODE_CHARSET`; characters 3-8 must be a
    division code in a known province (or ``100000`` for national bodies);
    the last character must be the check character.  Characters 1-2
    (registration authority and organisation type) and 9-17 (organisation
    code) are not checked beyond the character set.

    Error codes: ``credit_code.type``, ``credit_code.length``,
    ``credit_code.characters``, ``credit_code.region``, ``credit_code.checksum``.
    """
    if not isinstance(value, str):
        raise InvalidValue(
            "credit_code.type",
            "统一社会信用代码应为文本",
            f"a unified social credit code must be given as text, not {_type_name(value)}",
        )
    code = _compact(value).upper()
    if len(code) != 18:
        raise InvalidValue(
            "credit_code.length",
            f"统一社会信用代码应为 18 位，实际为 {len(code)} 位",
            f"a unified social credit code must have 18 characters, not {len(code)}",
        )
    bad = sorted({c for c in code if c not in _CREDIT_VALUES})
    if bad:
        shown = "、".join(bad)
        raise InvalidValue(
            "credit_code.characters",
            f"统一社会信用代码含有无效字符 {shown}（只能使用数字和除 I、O、S、V、Z 以外的大写字母）",
            f"it contains invalid characters ({', '.join(bad)}); only digits and capital "
            "letters other than I, O, S, V and Z are allowed",
        )
    region = code[2:8]
    if not _is_credit_region(region):
        raise InvalidValue(
            "credit_code.region",
            f"统一社会信用代码第 3 至 8 位 {region} 不是有效的行政区划代码",
            f"characters 3 to 8 ({region}) are not a valid administrative division code",
        )
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        raise InvalidValue(
            "credit_code.checksum",
            f"统一社会信用代码校验位错误，应为 {expected}",
            f"the check character is wrong; it should be {expected}",
        )
    return code


def make_credit_code(
    region: str, body: str, *, authority: str = "9", org_type: str = "1"
) -> str:
    """Build a valid unified social credit code (for demo data and tests).

    The result is ``authority + org_type + region + body + check``; the
    defaults ``"9"`` and ``"1"`` mean an enterprise registered by the market
    regulator.  ``region`` is a six-digit division code in a known province
    (or ``100000``), ``body`` any 9 characters from
    :data:`CREDIT_CODE_CHARSET` (upper-cased).  Raises ``ValueError`` on bad
    arguments.
    """
    body = body.upper()
    if not _is_credit_region(region):
        raise ValueError(f"region must be a six-digit code in a known province, not {region!r}")
    if len(body) != 9 or any(c not in _CREDIT_VALUES for c in body):
        raise ValueError(f"body must be 9 characters from {CREDIT_CODE_CHARSET}, not {body!r}")
    for name, char in (("authority", authority), ("org_type", org_type)):
        if len(char) != 1 or char not in _CREDIT_VALUES:
            raise ValueError(f"{name} must be one character from {CREDIT_CODE_CHARSET}")
    first17 = authority + org_type + region + body
    return first17 + credit_code_check_char(first17)

