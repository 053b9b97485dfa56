"""Injected time, so tests can jump weeks.

Every date and time the engine records or counts with (acceptance, due dates, clocks, audit
events, documents) comes from ``runtime.clock``; only :class:`SystemClock` reads the system's.
The one exception: an identifier validator called without ``today`` checks "birth date not in
the future" against the system's date (checking an applicant's ID number at intake does that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
"""Deadlines count in local (Beijing) dates, whatever the server's time zone."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stands still until moved: ``clock.advance(days=14)``."""

    current: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 1, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current

    def set_local(self, day: date, hour: int = 9) -> datetime:
        """Move to ``hour`` o'clock Beijing time on ``day``."""
        self.current = datetime(day.year, day.month, day.day, hour, tzinfo=CHINA).astimezone(UTC)
        return self.current


def local_date(moment: datetime) -> date:
    """The Beijing calendar date of an aware datetime."""
    return moment.astimezone(CHINA).date()
