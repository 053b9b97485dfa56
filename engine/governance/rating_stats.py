"""Per-office 好差评 statistics for the supervision page and its CSV (:func:`rating_stats`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Followup, Rating
from engine.governance.followups import FollowupKind
from engine.machine.access import region_covers

__all__ = ["OfficeRatingStats", "rating_stats"]

NO_OFFICE = "-"
"""The key for ratings of a case with no office rated (the receiving window's region only)."""


@dataclass
class OfficeRatingStats:
    """One office's ratings and rectifications. Ratings whose appeal was upheld are left out."""

    office: str
    ratings: int = 0
    level_sum: int = 0
    satisfied: int = 0
    bad: int = 0
    rectifications_open: int = 0
    rectifications_overdue: int = 0
    rectifications_closed: int = 0
    appeals_upheld: int = 0

    @property
    def mean_level(self) -> float | None:
        return round(self.level_sum / self.ratings, 2) if self.ratings else None

    @property
    def satisfied_share(self) -> float | None:
        """Share of ratings 满意 or better (level ≥ 4)."""
        return round(self.satisfied / self.ratings, 4) if self.ratings else None


def rating_stats(session: Session, *, region: str | None, today: date) -> dict[str, OfficeRatingStats]:
    """Per office (``<dept>@<region>``; ``"-"`` for none) within ``region`` (None: everywhere):
    ratings, mean level, share satisfied, bad ratings, rectifications open / overdue on ``today`` /
    closed, appeals upheld."""
    stats: dict[str, OfficeRatingStats] = {}

    def row(office: str | None) -> OfficeRatingStats:
        key = office or NO_OFFICE
        return stats.setdefault(key, OfficeRatingStats(office=key))

    followups = [f for f in session.scalars(select(Followup).where(Followup.kind == FollowupKind.RECTIFICATION.value))
                 if region_covers(region, f.region)]
    upheld = {f.rating_id for f in followups if f.outcome == "appeal_upheld"}
    for rating in session.scalars(select(Rating)):
        if not region_covers(region, rating.region) or rating.id in upheld:
            continue
        entry = row(rating.office)
        entry.ratings += 1
        entry.level_sum += rating.level
        entry.satisfied += rating.level >= 4
        entry.bad += rating.level <= 2
    for f in followups:
        entry = row(f.office)
        if f.closed_at is None:
            entry.rectifications_open += 1
            entry.rectifications_overdue += today > f.due_on
        else:
            entry.rectifications_closed += 1
            entry.appeals_upheld += f.outcome == "appeal_upheld"
    return stats
