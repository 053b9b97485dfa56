"""Tests for engine.time.calendar — the Chinese working-day calendar.

Expected dates are worked out by hand from the State Council notices; the
weekday of every date that matters is written next to it.  Handy anchors:
2025-01-01 is a Wednesday, 2026-01-01 a Thursday, 2027-01-01 a Friday.
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.time.calendar import (
    CalendarError,
    Deadline,
    OfficialSchedule,
    TimeUnit,
    WorkingCalendar,
    load_official_schedules,
)

PACKAGED = Path(__file__).resolve().parents[3] / "engine" / "time" / "calendar_data" / "cn_official.yaml"

D = date.fromisoformat


def days(first: str, last: str) -> frozenset[date]:
    """All dates from first to last inclusive."""
    start, end = D(first), D(last)
    return frozenset(start + timedelta(i) for i in range((end - start).days + 1))


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.default()


# A made-up official 2027 schedule (the real one is not published yet):
# 春节 Feb 5 (Fri) – Feb 12 (Fri) off, make-up Sun Jan 31 and Sat Feb 20.
HYPOTHETICAL_2027 = OfficialSchedule(
    year=2027,
    days_off=frozenset({D("2027-01-01")}) | days("2027-02-05", "2027-02-12"),
    workdays=frozenset({D("2027-01-31"), D("2027-02-20")}),
    source="hypothetical 2027 notice (test only)",
)


@pytest.fixture(scope="module")
def cal2027() -> WorkingCalendar:
    official = dict(load_official_schedules(PACKAGED))
    official[2027] = HYPOTHETICAL_2027
    return WorkingCalendar(official)


# ---------------------------------------------------------------------------
# Packaged data
# ---------------------------------------------------------------------------


def test_packaged_years_and_sources() -> None:
    schedules = load_official_schedules(PACKAGED)
    assert set(schedules) == {2025, 2026}
    assert "国办发明电〔2024〕12号" in schedules[2025].source
    assert "2026年部分节假日安排" in schedules[2026].source
    assert schedules[2025].workdays == {
        D("2025-01-26"), D("2025-02-08"), D("2025-04-27"), D("2025-09-28"), D("2025-10-11"),
    }
    assert schedules[2026].workdays == {
        D("2026-01-04"), D("2026-02-14"), D("2026-02-28"),
        D("2026-05-09"), D("2026-09-20"), D("2026-10-10"),
    }
    assert schedules[2026].days_off == (
        days("2026-01-01", "2026-01-03")
        | days("2026-02-15", "2026-02-23")
        | days("2026-04-04", "2026-04-06")
        | days("2026-05-01", "2026-05-05")
        | days("2026-06-19", "2026-06-21")
        | days("2026-09-25", "2026-09-27")
        | days("2026-10-01", "2026-10-07")
    )


@pytest.mark.parametrize("year", [2025, 2026])
def test_packaged_schedule_agrees_with_holidays_library(cal: WorkingCalendar, year: int) -> None:
    # Cross-check: for published years holidays.China knows the real schedule
    # too, so a calendar with NO official data must agree day by day.
    library_only = WorkingCalendar()
    assert not library_only.is_official(year)
    first = date(year, 1, 1)
    mismatches = [
        first + timedelta(i)
        for i in range(366 if year % 4 == 0 else 365)
        if cal.is_working_day(first + timedelta(i))
        != library_only.is_working_day(first + timedelta(i))
    ]
    assert mismatches == []


@pytest.mark.parametrize("year", [2025, 2026])
def test_working_days_per_year(cal: WorkingCalendar, year: int) -> None:
    # 261 weekdays - weekday days off + make-up weekend days:
    #   2025: 261 - 18 + 5 = 248;  2026: 261 - 19 + 6 = 248.
    assert cal.working_days_between(date(year - 1, 12, 31), date(year, 12, 31)) == 248


def test_official_years(cal: WorkingCalendar) -> None:
    assert cal.official_years() == frozenset({2025, 2026})
    assert cal.is_official(2026)
    assert not cal.is_official(2027)
    assert not WorkingCalendar().is_official(2026)
    assert WorkingCalendar().official_years() == frozenset()


# ---------------------------------------------------------------------------
# 2026 official schedule
# ---------------------------------------------------------------------------


def test_spring_festival_2026(cal: WorkingCalendar) -> None:
    accepted = D("2026-02-13")  # Friday, last normal working day before the break
    # +1: Sat Feb 14 is a 调休 make-up working day.
    assert cal.add_working_days(accepted, 1) == D("2026-02-14")
    # +2: Feb 15 (Sun) – Feb 23 (Mon) off -> Tue Feb 24.
    assert cal.add_working_days(accepted, 2) == D("2026-02-24")
    # +6: Feb 24 Tue, 25, 26, 27 Fri, then Sat Feb 28 (make-up) is the 6th.
    assert cal.add_working_days(accepted, 6) == D("2026-02-28")
    # +7: Mon Mar 2.
    assert cal.add_working_days(accepted, 7) == D("2026-03-02")
    assert cal.is_working_day(D("2026-02-14"))
    assert cal.is_working_day(D("2026-02-28"))
    assert not cal.is_working_day(D("2026-02-23"))  # Monday, still off
    assert not cal.is_working_day(D("2026-02-21"))  # ordinary Saturday
    assert all(not cal.is_working_day(d) for d in days("2026-02-15", "2026-02-23"))


def test_national_day_2026(cal: WorkingCalendar) -> None:
    accepted = D("2026-09-30")  # Wednesday
    # Oct 1 (Thu) – Oct 7 (Wed) off -> Thu Oct 8.
    assert cal.add_working_days(accepted, 1) == D("2026-10-08")
    # Fri Oct 9, then Sat Oct 10 (make-up), then Mon Oct 12.
    assert cal.add_working_days(accepted, 3) == D("2026-10-10")
    assert cal.add_working_days(accepted, 4) == D("2026-10-12")
    assert cal.is_working_day(D("2026-09-20"))  # Sunday, make-up
    assert cal.is_working_day(D("2026-10-10"))  # Saturday, make-up
    assert not cal.is_working_day(D("2026-10-05"))  # Monday inside the break
    # 中秋 Sep 25 (Fri) – 27 (Sun): accepted Thu Sep 24 -> Mon Sep 28.
    assert cal.add_working_days(D("2026-09-24"), 1) == D("2026-09-28")
    # accepted Fri Sep 18 -> Sun Sep 20 (make-up) is the next working day.
    assert cal.next_working_day(D("2026-09-18")) == D("2026-09-20")


def test_new_year_2026_crosses_from_2025(cal: WorkingCalendar) -> None:
    assert cal.is_working_day(D("2026-01-04"))  # Sunday, make-up
    assert not cal.is_working_day(D("2026-01-02"))  # Friday, off
    # accepted Wed 2025-12-31: Jan 1–3 off, Sun Jan 4 works.
    assert cal.add_working_days(D("2025-12-31"), 1) == D("2026-01-04")
    assert cal.add_working_days(D("2025-12-31"), 2) == D("2026-01-05")


def test_2025_spring_festival_and_labour_day(cal: WorkingCalendar) -> None:
    # Sun Jan 26 make-up; Jan 28 – Feb 4 off; Sat Feb 8 make-up.
    assert cal.next_working_day(D("2025-01-24")) == D("2025-01-26")  # Fri -> Sun
    assert cal.next_working_day(D("2025-01-27")) == D("2025-02-05")  # Mon -> Wed
    assert cal.next_working_day(D("2025-02-07")) == D("2025-02-08")  # Fri -> Sat
    # May 1–5 off: accepted Wed Apr 30 -> Tue May 6.
    assert cal.next_working_day(D("2025-04-30")) == D("2025-05-06")


def test_large_n_across_years(cal: WorkingCalendar) -> None:
    # 248 working days in each of 2025 and 2026; Dec 31 2026 is a Thursday.
    assert cal.add_working_days(D("2025-12-31"), 248) == D("2026-12-31")
    assert cal.add_working_days(D("2024-12-31"), 496) == D("2026-12-31")
    # Jan 1 2025 is off, so all 248 working days of 2025 follow it; the 400th
    # is the 152nd working day of 2026.  Monthly 2026 counts: Jan 21, Feb 16,
    # Mar 22, Apr 21, May 19, Jun 21, Jul 23 (cumulative 143), so it is the
    # 9th working day of August: Aug 3–7, 10, 11, 12, 13 -> Thu Aug 13.
    assert cal.add_working_days(D("2025-01-01"), 400) == D("2026-08-13")
    assert cal.working_days_between(D("2025-01-01"), D("2026-08-13")) == 400
    # Very long spans still work (about 40 years of estimated calendars).
    far = cal.add_working_days(D("2025-01-01"), 10_000)
    assert cal.working_days_between(D("2025-01-01"), far) == 10_000
    assert cal.is_working_day(far)


# ---------------------------------------------------------------------------
# 2027: no official schedule yet
# ---------------------------------------------------------------------------


def test_2027_is_provisional_and_uses_library_estimate(cal: WorkingCalendar) -> None:
    # holidays.China estimates 春节 2027 as Feb 5 (Fri) – Feb 10 (Wed).
    # accepted Thu Feb 4 -> Thu Feb 11.
    deadline = cal.due(D("2027-02-04"), 1, TimeUnit.WORKING_DAYS)
    assert deadline == Deadline(due_on=D("2027-02-11"), provisional=True)
    # National Day estimate: Oct 1 (Fri), Oct 4 (Mon), Oct 5 (Tue) off.
    # accepted Thu Sep 30 -> Wed Oct 6.
    assert cal.due(D("2027-09-30"), 1, TimeUnit.WORKING_DAYS) == Deadline(
        D("2027-10-06"), True
    )
    assert not cal.is_working_day(D("2027-02-09"))
    assert not cal.is_working_day(D("2027-10-04"))
    assert cal.is_provisional(D("2027-03-01"), D("2027-03-02"))


def test_hypothetical_official_2027(cal2027: WorkingCalendar) -> None:
    assert cal2027.is_official(2027)
    # Feb 5 (Fri) – Feb 12 (Fri) off, Feb 13–14 weekend: Thu Feb 4 -> Mon Feb 15.
    assert cal2027.due(D("2027-02-04"), 1, TimeUnit.WORKING_DAYS) == Deadline(
        D("2027-02-15"), False
    )
    # 调休: Fri Jan 29 -> Sun Jan 31; Fri Feb 19 -> Sat Feb 20.
    assert cal2027.next_working_day(D("2027-01-29")) == D("2027-01-31")
    assert cal2027.next_working_day(D("2027-02-19")) == D("2027-02-20")
    assert cal2027.is_working_day(D("2027-02-20"))
    assert not cal2027.is_working_day(D("2027-02-27"))  # ordinary Saturday
    # The official schedule replaces the estimate entirely: this made-up
    # schedule has no National Day entries, so Fri Oct 1 2027 is working.
    assert cal2027.is_working_day(D("2027-10-01"))
    assert cal2027.due(D("2027-12-20"), 10, TimeUnit.WORKING_DAYS).provisional  # into 2028


def test_provisional_across_year_boundaries(
    cal: WorkingCalendar, cal2027: WorkingCalendar
) -> None:
    # Sun 2026-12-20: Dec 21–25 (5), Dec 28–31 (4) = 9 in 2026; Jan 1 2027 (Fri)
    # off per estimate; Jan 4–8 (14), Jan 11–15 (19), Mon Jan 18 = 20th.
    assert cal.due(D("2026-12-20"), 20, TimeUnit.WORKING_DAYS) == Deadline(
        D("2027-01-18"), True
    )
    # Staying inside 2026 is not provisional.
    assert cal.due(D("2026-12-20"), 9, TimeUnit.WORKING_DAYS) == Deadline(
        D("2026-12-31"), False
    )
    # Sat 2025-12-20: Dec 22–26 (5), Dec 29–31 (8), Sun Jan 4 make-up (9),
    # Jan 5–9 (14), Jan 12–16 (19), Mon Jan 19 = 20th.  Both years official.
    assert cal.due(D("2025-12-20"), 20, TimeUnit.WORKING_DAYS) == Deadline(
        D("2026-01-19"), False
    )
    assert cal.is_provisional(D("2026-06-01"), D("2027-01-02"))
    assert not cal.is_provisional(D("2025-01-01"), D("2026-12-31"))
    assert cal.is_provisional(D("2024-12-31"), D("2025-01-02"))  # 2024 not in the file
    assert cal.is_provisional(D("2027-01-02"), D("2026-06-01"))  # order does not matter
    assert not cal2027.is_provisional(D("2026-06-01"), D("2027-12-31"))


# ---------------------------------------------------------------------------
# Other operations
# ---------------------------------------------------------------------------


def test_calendar_days_unit(cal: WorkingCalendar) -> None:
    # Calendar days ignore holidays: Feb 13 + 10 = Feb 23 (a day off, still the due date).
    assert cal.due(D("2026-02-13"), 10, TimeUnit.CALENDAR_DAYS) == Deadline(
        D("2026-02-23"), False
    )
    assert cal.due(D("2026-12-25"), 10, TimeUnit.CALENDAR_DAYS) == Deadline(
        D("2027-01-04"), True
    )
    # StrEnum: plain strings are accepted too.
    assert cal.due(D("2026-02-13"), 1, "calendar_days").due_on == D("2026-02-14")  # type: ignore[arg-type]
    assert cal.due(D("2026-02-13"), 2, "working_days").due_on == D("2026-02-24")  # type: ignore[arg-type]
    assert cal.add_calendar_days(D("2026-02-28"), 1) == D("2026-03-01")
    assert cal.add_calendar_days(D("2028-02-28"), 1) == D("2028-02-29")  # leap year
    assert TimeUnit("working_days") is TimeUnit.WORKING_DAYS
    assert str(TimeUnit.CALENDAR_DAYS) == "calendar_days"


def test_working_days_between(cal: WorkingCalendar) -> None:
    # (Feb 13, Feb 28]: Sat 14, Tue 24, 25, 26, Fri 27, Sat 28 = 6.
    assert cal.working_days_between(D("2026-02-13"), D("2026-02-28")) == 6
    # Start is excluded, end included: Feb 14 -> Feb 24 is one working day.
    assert cal.working_days_between(D("2026-02-14"), D("2026-02-24")) == 1
    assert cal.working_days_between(D("2026-02-15"), D("2026-02-23")) == 0
    assert cal.working_days_between(D("2026-03-02"), D("2026-03-02")) == 0
    assert cal.working_days_between(D("2026-03-10"), D("2026-03-02")) == 0
    # (Dec 31 2025, Jan 4 2026] = {Jan 4}.
    assert cal.working_days_between(D("2025-12-31"), D("2026-01-04")) == 1


def test_next_working_day(cal: WorkingCalendar) -> None:
    assert cal.next_working_day(D("2026-03-06")) == D("2026-03-09")  # Fri -> Mon
    assert cal.next_working_day(D("2026-03-07")) == D("2026-03-09")  # Sat -> Mon
    assert cal.next_working_day(D("2026-03-09")) == D("2026-03-10")  # strictly after
    assert cal.next_working_day(D("2026-04-03")) == D("2026-04-07")  # 清明 Apr 4–6


@pytest.mark.parametrize("n", [0, -1, -100])
def test_non_positive_amount_rejected(cal: WorkingCalendar, n: int) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        cal.add_working_days(D("2026-03-02"), n)
    with pytest.raises(ValueError, match="must be >= 1"):
        cal.due(D("2026-03-02"), n, TimeUnit.WORKING_DAYS)
    with pytest.raises(ValueError, match="must be >= 1"):
        cal.due(D("2026-03-02"), n, TimeUnit.CALENDAR_DAYS)


def test_unknown_unit_rejected(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError):
        cal.due(D("2026-03-02"), 1, "fortnights")  # type: ignore[arg-type]


def test_deadline_is_frozen() -> None:
    deadline = Deadline(D("2026-03-02"), False)
    with pytest.raises(AttributeError):
        deadline.due_on = D("2026-03-03")  # type: ignore[misc]


def test_official_schedule_validates_itself() -> None:
    with pytest.raises(ValueError, match="outside"):
        OfficialSchedule(2027, frozenset({D("2026-12-31")}), frozenset(), "x")
    with pytest.raises(ValueError, match="both off and workday"):
        OfficialSchedule(2027, frozenset({D("2027-01-31")}), frozenset({D("2027-01-31")}), "x")
    with pytest.raises(ValueError, match="Saturday or Sunday"):
        OfficialSchedule(2027, frozenset(), frozenset({D("2027-02-15")}), "x")
    with pytest.raises(ValueError, match="keyed 2026"):
        WorkingCalendar({2026: HYPOTHETICAL_2027})


def test_concurrent_first_use_is_consistent() -> None:
    # A fresh calendar hit from many threads at once (year tables built lazily).
    fresh = WorkingCalendar(load_official_schedules(PACKAGED))
    barrier = threading.Barrier(8)

    def work(i: int) -> tuple[date, int]:
        barrier.wait()
        start = D("2025-03-01") + timedelta(days=i)
        end = fresh.add_working_days(start, 500)
        return end, fresh.working_days_between(start, end)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    reference = WorkingCalendar(load_official_schedules(PACKAGED))
    for i, (end, count) in enumerate(results):
        assert end == reference.add_working_days(D("2025-03-01") + timedelta(days=i), 500)
        assert count == 500


# ---------------------------------------------------------------------------
# Override files and CalendarError
# ---------------------------------------------------------------------------


def test_default_with_override_merges_year_by_year(tmp_path: Path) -> None:
    override = tmp_path / "local.yaml"
    override.write_text(
        "# local corrections\n"
        "2026:\n"
        '  source: "local variant"\n'
        "  days_off: [2026-01-01]\n"
        "  workdays: []\n"
        "2027:\n"
        '  source: "hypothetical"\n'
        "  days_off:\n"
        "    - 2027-02-05\n"
        "    - 2027-02-08\n"
        "  workdays:\n"
        "    - 2027-02-20\n",
        encoding="utf-8",
    )
    merged = WorkingCalendar.default(override)
    assert merged.official_years() == frozenset({2025, 2026, 2027})
    # 2025 comes from the packaged file untouched.
    assert merged.is_working_day(D("2025-01-26"))
    assert not merged.is_working_day(D("2025-01-28"))
    # 2026 is replaced wholesale (not unioned): Spring Festival is gone.
    assert merged.is_working_day(D("2026-02-16"))  # Monday
    assert not merged.is_working_day(D("2026-02-14"))  # plain Saturday again
    assert not merged.is_working_day(D("2026-01-01"))
    # 2027 is now official.
    assert merged.due(D("2027-02-04"), 1, TimeUnit.WORKING_DAYS) == Deadline(
        D("2027-02-09"), False  # Fri 5 off, weekend, Mon 8 off -> Tue 9
    )
    assert merged.is_working_day(D("2027-02-20"))
    # Cached per override path; the packaged default is unaffected.
    assert WorkingCalendar.default(override) is merged
    assert WorkingCalendar.default() is WorkingCalendar.default()
    assert not WorkingCalendar.default().is_official(2027)


def test_empty_override_file(tmp_path: Path) -> None:
    override = tmp_path / "empty.yaml"
    override.write_text("# nothing yet\n", encoding="utf-8")
    assert load_official_schedules(override) == {}
    assert WorkingCalendar.default(override).official_years() == frozenset({2025, 2026})


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param(
            '2027:\n  source: "x"\n  days_off:\n    - 2027-01-01\n    - 2027-02-30\n',
            5,
            "bad date '2027-02-30'",
            id="impossible-date",
        ),
        pytest.param(
            '2027:\n  source: "x"\n  days_off: [2027-01-01, 2027-1-4]\n',
            3,
            "bad date '2027-1-4'",
            id="not-iso-date",
        ),
        pytest.param(
            '2027:\n  source: "x"\n  days_off: [2027-01-01]\n  workdays:\n    - 2027-02-15\n',
            5,
            "2027-02-15 is a Monday, not a Saturday or Sunday",
            id="weekday-as-workday",
        ),
        pytest.param(
            '2027:\n  source: "x"\n  days_off:\n    - 2026-12-31\n',
            4,
            "2026-12-31 is not in year 2027",
            id="date-outside-year",
        ),
        pytest.param(
            '2027:\n  source: "x"\n  days_off:\n    - 2027-01-31\n  workdays:\n    - 2027-01-31\n',
            6,
            "listed both as a day off (line 4) and as a workday",
            id="both-off-and-work",
        ),
        pytest.param(
            '2027:\n  source: "x"\n  workday: [2027-01-31]\n',
            3,
            "unknown field 'workday'",
            id="typo-field",
        ),
        pytest.param(
            '2025:\n  source: "x"\n2027:\n  days_off: []\n',
            3,
            "missing 'source'",
            id="missing-source",
        ),
        pytest.param(
            '2027:\n  source: "x"\n2027:\n  source: "y"\n',
            3,
            "duplicate key '2027'",
            id="duplicate-year",
        ),
        pytest.param(
            'twenty27:\n  source: "x"\n',
            1,
            "four-digit years",
            id="bad-year-key",
        ),
        pytest.param(
            '2027:\n  source: "x"\n  days_off: [2027-01-01\n',
            4,
            "invalid YAML",
            id="yaml-syntax",
        ),
    ],
)
def test_calendar_error_names_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(CalendarError) as excinfo:
        load_official_schedules(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message
    # The same error surfaces through WorkingCalendar.default(), and it is a ValueError.
    with pytest.raises(ValueError, match="bad.yaml"):
        WorkingCalendar.default(path)


def test_weekend_day_off_is_allowed(tmp_path: Path) -> None:
    path = _write(tmp_path, '2027:\n  source: "x"\n  days_off: [2027-02-06, 2027-02-07]\n')
    schedule = load_official_schedules(path)[2027]
    assert schedule.days_off == {D("2027-02-06"), D("2027-02-07")}  # Sat, Sun: redundant
    assert schedule.workdays == frozenset()
    assert schedule.source == "x"


def test_missing_file_is_calendar_error(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match="cannot read"):
        load_official_schedules(tmp_path / "nope.yaml")


# ---------------------------------------------------------------------------
# Property: bisect implementation == naive day-by-day reference
# ---------------------------------------------------------------------------

_REFERENCE_OFFICIAL = load_official_schedules(PACKAGED)


@functools.lru_cache(maxsize=None)
def _reference_library(year: int) -> tuple[frozenset[date], frozenset[date]]:
    estimate = holidays.country_holidays("CN", years=year)
    return frozenset(estimate), frozenset(estimate.weekend_workdays)


def reference_is_working(day: date) -> bool:
    schedule = _REFERENCE_OFFICIAL.get(day.year)
    if schedule is not None:
        off, work = schedule.days_off, schedule.workdays
    else:
        off, work = _reference_library(day.year)
    return day in work or (day.weekday() < 5 and day not in off)


def reference_add_working_days(start: date, n: int) -> date:
    day = start
    while n > 0:
        day += timedelta(days=1)
        if reference_is_working(day):
            n -= 1
    return day


_starts = st.dates(min_value=D("2025-01-01"), max_value=D("2027-12-31"))


@settings(max_examples=300, deadline=None)
@given(start=_starts, n=st.integers(min_value=1, max_value=300))
def test_add_working_days_matches_reference(start: date, n: int) -> None:
    cal = WorkingCalendar.default()
    due = cal.add_working_days(start, n)
    assert due == reference_add_working_days(start, n)
    assert cal.working_days_between(start, due) == n
    assert cal.is_working_day(due)
    assert cal.is_working_day(start) == reference_is_working(start)


@settings(max_examples=200, deadline=None)
@given(start=_starts, end=_starts)
def test_working_days_between_matches_reference(start: date, end: date) -> None:
    cal = WorkingCalendar.default()
    expected = sum(
        1 for i in range(1, (end - start).days + 1) if reference_is_working(start + timedelta(i))
    )
    assert cal.working_days_between(start, end) == expected
