"""Chinese working-day calendar for statutory service deadlines.

Government service time limits (承诺时限) are mostly expressed in *working
days* (工作日).  In China a working day is not simply Monday–Friday: every year
the General Office of the State Council (国务院办公厅) publishes which days are
off around the statutory holidays and which weekend days become make-up
working days (调休上班).  That notice usually appears in November for the
following year.

This module combines two sources:

* official schedules, packaged in ``engine/time/calendar_data/cn_official.yaml``
  (optionally overridden year by year by a deployment-specific file), which
  are authoritative; and
* for years without an official schedule, the estimate of the ``holidays``
  library (``holidays.China``).  Deadlines touching such a year are flagged
  *provisional*: they may move once the State Council publishes the real
  schedule.

The working-day clock starts on the working day *after* the start date (the
acceptance date, 受理之日), so ``add_working_days(start, 1)`` is the first
working day strictly after ``start``.

Performance: each year's working days are materialised once, lazily, as a
sorted tuple of date ordinals; all queries are ``bisect`` look-ups plus a loop
over *years* (never over days), so they stay cheap on the intake hot path.
"""

from __future__ import annotations

import functools
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

import holidays
import yaml

__all__ = [
    "CalendarError",
    "Deadline",
    "OfficialSchedule",
    "TimeUnit",
    "WorkingCalendar",
    "load_official_schedules",
]

_PACKAGED_SCHEDULE_FILE = Path(__file__).resolve().parent / "calendar_data" / "cn_official.yaml"

_SATURDAY = 5
_SUNDAY = 6
_MIN_YEAR = date.min.year
_MAX_YEAR = date.max.year


class TimeUnit(StrEnum):
    """Unit in which a service time limit is expressed."""

    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"


@dataclass(frozen=True, slots=True)
class Deadline:
    """A computed due date.

    ``provisional`` is True when at least one year from the start date's year
    to the due date's year (inclusive) has no official State Council schedule,
    i.e. the due date relies on an estimate and may change.
    """

    due_on: date
    provisional: bool


@dataclass(frozen=True, slots=True)
class OfficialSchedule:
    """The State Council's holiday arrangement for one year.

    ``days_off`` lists the days off (weekend days inside a holiday block may be
    included; that is redundant but harmless).  ``workdays`` lists make-up
    working days (调休上班), each of which must be a Saturday or Sunday.
    ``source`` names the notice the data was copied from.

    Raises ``ValueError`` if a date lies outside ``year``, a day is both off
    and a workday, or a workday is not a weekend day.
    """

    year: int
    days_off: frozenset[date]
    workdays: frozenset[date]
    source: str

    def __post_init__(self) -> None:
        for label, days in (("days_off", self.days_off), ("workdays", self.workdays)):
            outside = sorted(d for d in days if d.year != self.year)
            if outside:
                raise ValueError(
                    f"official schedule {self.year}: {label} contains dates outside "
                    f"{self.year}: {', '.join(d.isoformat() for d in outside)}"
                )
        both = sorted(self.days_off & self.workdays)
        if both:
            raise ValueError(
                f"official schedule {self.year}: dates both off and workday: "
                f"{', '.join(d.isoformat() for d in both)}"
            )
        weekdays = sorted(d for d in self.workdays if d.weekday() < _SATURDAY)
        if weekdays:
            raise ValueError(
                f"official schedule {self.year}: make-up workdays must be Saturday or "
                f"Sunday: {', '.join(d.isoformat() for d in weekdays)}"
            )


class CalendarError(ValueError):
    """An official-schedule file is unreadable or invalid.

    The message names the file and, where known, the 1-based line, as
    ``<file>:<line>: <problem>``.
    """


# ---------------------------------------------------------------------------
# Loading official schedules
# ---------------------------------------------------------------------------

_YEAR_RE = re.compile(r"[0-9]{4}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NULL_TAG = "tag:yaml.org,2002:null"
_YEAR_FIELDS = ("source", "days_off", "workdays")

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _fail(path: Path, node: yaml.Node | None, problem: str) -> CalendarError:
    if node is None:
        return CalendarError(f"{path}: {problem}")
    return CalendarError(f"{path}:{node.start_mark.line + 1}: {problem}")


def _mapping_items(
    path: Path, node: yaml.MappingNode, what: str
) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    """Return the (key, value) pairs of a mapping, rejecting odd or duplicate keys."""
    seen: dict[str, int] = {}
    items: list[tuple[yaml.ScalarNode, yaml.Node]] = []
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise _fail(path, key, f"{what}: keys must be plain scalars")
        if key.value in seen:
            raise _fail(
                path,
                key,
                f"{what}: duplicate key {key.value!r} (first defined on line {seen[key.value]})",
            )
        seen[key.value] = key.start_mark.line + 1
        items.append((key, value))
    return items


def _parse_dates(path: Path, year: int, field: str, node: yaml.Node) -> list[tuple[date, yaml.Node]]:
    if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise _fail(path, node, f"year {year}: {field!r} must be a list of dates (YYYY-MM-DD)")
    result: list[tuple[date, yaml.Node]] = []
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode):
            raise _fail(path, item, f"year {year}: {field!r} entries must be dates (YYYY-MM-DD)")
        text = str(item.value).strip()
        if not _DATE_RE.fullmatch(text):
            raise _fail(path, item, f"year {year}: {field}: bad date {text!r}, expected YYYY-MM-DD")
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise _fail(path, item, f"year {year}: {field}: bad date {text!r}: {exc}") from None
        if day.year != year:
            raise _fail(
                path, item, f"year {year}: {field}: date {text} is not in year {year}"
            )
        result.append((day, item))
    return result


def _parse_year(path: Path, key: yaml.ScalarNode, node: yaml.Node) -> OfficialSchedule:
    text = str(key.value).strip()
    if not _YEAR_RE.fullmatch(text) or not (_MIN_YEAR <= int(text) <= _MAX_YEAR):
        raise _fail(path, key, f"top-level keys must be four-digit years, got {text!r}")
    year = int(text)
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"year {year}: expected a mapping with {', '.join(_YEAR_FIELDS)}")

    fields = dict((k.value, (k, v)) for k, v in _mapping_items(path, node, f"year {year}"))
    for name, (fkey, _) in fields.items():
        if name not in _YEAR_FIELDS:
            raise _fail(
                path,
                fkey,
                f"year {year}: unknown field {name!r} (expected {', '.join(_YEAR_FIELDS)})",
            )
    if "source" not in fields:
        raise _fail(path, key, f"year {year}: missing 'source' (the notice the dates come from)")
    source_node = fields["source"][1]
    if not isinstance(source_node, yaml.ScalarNode) or not str(source_node.value).strip():
        raise _fail(path, source_node, f"year {year}: 'source' must be a non-empty string")

    days_off = _parse_dates(path, year, "days_off", fields["days_off"][1]) if "days_off" in fields else []
    workdays = _parse_dates(path, year, "workdays", fields["workdays"][1]) if "workdays" in fields else []

    off_lines = {day: item.start_mark.line + 1 for day, item in days_off}
    for day, item in workdays:
        if day in off_lines:
            raise _fail(
                path,
                item,
                f"year {year}: {day.isoformat()} is listed both as a day off "
                f"(line {off_lines[day]}) and as a workday",
            )
        if day.weekday() < _SATURDAY:
            raise _fail(
                path,
                item,
                f"year {year}: make-up workday {day.isoformat()} is a "
                f"{_WEEKDAY_NAMES[day.weekday()]}, not a Saturday or Sunday",
            )

    return OfficialSchedule(
        year=year,
        days_off=frozenset(day for day, _ in days_off),
        workdays=frozenset(day for day, _ in workdays),
        source=str(source_node.value).strip(),
    )


def load_official_schedules(path: Path) -> dict[int, OfficialSchedule]:
    """Load official State Council schedules from a YAML file, keyed by year.

    The file maps each year to ``source`` (required), ``days_off`` and
    ``workdays`` (lists of ``YYYY-MM-DD``); see the packaged
    ``calendar_data/cn_official.yaml`` for the documented format.  An empty
    file yields an empty dict.

    Raises ``CalendarError`` naming the file and line on: unreadable file or
    YAML syntax error, a malformed date, a date outside its year key, a day
    listed both as off and as workday, a make-up workday that is not a
    Saturday/Sunday, duplicate or unknown keys.  Listing a weekend day as a day
    off is allowed (redundant).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarError(f"{path}: cannot read official schedule file: {exc}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise CalendarError(f"{where}: invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise CalendarError(f"{path}: invalid YAML: {exc}") from exc

    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL_TAG):
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise _fail(path, root, "expected a mapping of year -> schedule at top level")

    schedules: dict[int, OfficialSchedule] = {}
    for key, value in _mapping_items(path, root, "top level"):
        schedule = _parse_year(path, key, value)
        if schedule.year in schedules:
            raise _fail(path, key, f"year {schedule.year} is defined twice")
        schedules[schedule.year] = schedule
    return schedules


# ---------------------------------------------------------------------------
# Working calendar
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _library_estimate(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(days off, make-up workdays) for ``year`` according to ``holidays.China``."""
    # Same as holidays.China(years=year), but through the typed factory.
    estimate = holidays.country_holidays("CN", years=year)
    days_off = frozenset(d for d in estimate if d.year == year)
    # weekend_workdays is shared library knowledge spanning many years; keep ours.
    workdays = frozenset(d for d in estimate.weekend_workdays if d.year == year)
    return days_off, workdays - days_off


def _working_ordinals(year: int, days_off: Iterable[date], workdays: Iterable[date]) -> tuple[int, ...]:
    off = {d.toordinal() for d in days_off}
    extra = {d.toordinal() for d in workdays}
    first = date(year, 1, 1).toordinal()
    last = date(year, 12, 31).toordinal()
    # date.fromordinal(o).weekday() == (o + 6) % 7 (ordinal 1 is a Monday).
    return tuple(
        o
        for o in range(first, last + 1)
        if o in extra or ((o + 6) % 7 < _SATURDAY and o not in off)
    )


_DEFAULT_CACHE: dict[tuple[type[WorkingCalendar], Path | None], WorkingCalendar] = {}
_DEFAULT_CACHE_LOCK = threading.Lock()


class WorkingCalendar:
    """Working-day arithmetic under the Chinese official holiday schedule.

    Years present in ``official`` follow the State Council schedule: a day is a
    working day iff it is Monday–Friday and not a day off, or it is a make-up
    workday.  Other years use the ``holidays`` library's estimate
    (``holidays.China``) and are *provisional*.

    Instances are immutable after construction and safe to share between
    threads; per-year look-up tables are built lazily under a lock.
    """

    __slots__ = ("_official", "_years", "_lock")

    def __init__(self, official: Mapping[int, OfficialSchedule] | None = None) -> None:
        """Create a calendar from official schedules keyed by year (None: no official years)."""
        schedules: dict[int, OfficialSchedule] = {}
        for year, schedule in (official or {}).items():
            if schedule.year != year:
                raise ValueError(f"official schedule keyed {year} is for year {schedule.year}")
            schedules[year] = schedule
        self._official: Mapping[int, OfficialSchedule] = schedules
        self._years: dict[int, tuple[int, ...]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(official_years={sorted(self._official)})"

    @classmethod
    def default(cls, override_file: Path | None = None) -> WorkingCalendar:
        """The packaged official schedules, with ``override_file`` merged over them.

        The override file has the same format as the packaged one; each year it
        defines replaces the packaged year entirely.  Results are cached per
        override path (edit the file ⇒ restart the process to pick it up).
        Raises ``CalendarError`` if either file is invalid.
        """
        key = (cls, None if override_file is None else Path(override_file))
        calendar = _DEFAULT_CACHE.get(key)
        if calendar is None:
            with _DEFAULT_CACHE_LOCK:
                calendar = _DEFAULT_CACHE.get(key)
                if calendar is None:
                    schedules = load_official_schedules(_PACKAGED_SCHEDULE_FILE)
                    if key[1] is not None:
                        schedules.update(load_official_schedules(key[1]))
                    calendar = cls(schedules)
                    _DEFAULT_CACHE[key] = calendar
        return calendar

    # -- introspection -----------------------------------------------------

    def is_official(self, year: int) -> bool:
        """True if ``year`` has an official State Council schedule."""
        return year in self._official

    def official_years(self) -> frozenset[int]:
        """All years with an official schedule."""
        return frozenset(self._official)

    # -- per-year tables -----------------------------------------------------

    def _year(self, year: int) -> tuple[int, ...]:
        """Sorted ordinals of the working days of ``year``; built once, thread-safely."""
        table = self._years.get(year)
        if table is not None:
            return table
        if not _MIN_YEAR <= year <= _MAX_YEAR:
            raise OverflowError(f"year {year} is outside the supported range")
        with self._lock:
            table = self._years.get(year)
            if table is None:
                schedule = self._official.get(year)
                if schedule is not None:
                    table = _working_ordinals(year, schedule.days_off, schedule.workdays)
                else:
                    days_off, workdays = _library_estimate(year)
                    table = _working_ordinals(year, days_off, workdays)
                self._years[year] = table
            return table

    # -- queries -------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """True if ``day`` is a working day."""
        table = self._year(day.year)
        ordinal = day.toordinal()
        i = bisect_left(table, ordinal)
        return i < len(table) and table[i] == ordinal

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day strictly after ``start`` (``n`` >= 1).

        The clock starts on the working day after ``start`` (the acceptance
        date), so ``n=1`` gives the next working day.  Raises ``ValueError``
        if ``n`` < 1.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        year = start.year
        table = self._year(year)
        index = bisect_right(table, start.toordinal())
        remaining = n
        while True:
            available = len(table) - index
            if remaining <= available:
                return date.fromordinal(table[index + remaining - 1])
            remaining -= available
            year += 1
            table = self._year(year)
            index = 0

    def add_calendar_days(self, start: date, n: int) -> date:
        """``start`` plus ``n`` calendar days."""
        return start + timedelta(days=n)

    def working_days_between(self, start: date, end: date) -> int:
        """Number of working days ``d`` with ``start < d <= end`` (0 if ``end <= start``)."""
        if end <= start:
            return 0
        lo = start.toordinal()
        hi = end.toordinal()
        total = 0
        for year in range(start.year, end.year + 1):
            table = self._year(year)
            left = bisect_right(table, lo) if year == start.year else 0
            right = bisect_right(table, hi) if year == end.year else len(table)
            total += right - left
        return total

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        return self.add_working_days(day, 1)

    def is_provisional(self, start: date, end: date) -> bool:
        """True if any year between ``start`` and ``end`` (inclusive, either order) lacks an official schedule."""
        first, last = (start, end) if start <= end else (end, start)
        return any(year not in self._official for year in range(first.year, last.year + 1))

    def due(self, start: date, amount: int, unit: TimeUnit) -> Deadline:
        """Due date of a time limit of ``amount`` ``unit`` counted from ``start``.

        Working days: the ``amount``-th working day after ``start``.  Calendar
        days: ``start + amount`` days.  ``amount`` must be >= 1.  The deadline
        is provisional if any year from ``start.year`` to the due year has no
        official schedule.
        """
        if amount < 1:
            raise ValueError(f"amount must be >= 1, got {amount}")
        unit = TimeUnit(unit)
        if unit is TimeUnit.WORKING_DAYS:
            due_on = self.add_working_days(start, amount)
        else:
            due_on = self.add_calendar_days(start, amount)
        return Deadline(due_on=due_on, provisional=self.is_provisional(start, due_on))
