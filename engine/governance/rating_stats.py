"""Per-office 好差评 statistics for the supervision page and its CSV (:func:`rating_stats`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from engine.db.models import Followup, Rating
from engine.governance.followups import FollowupKind
from engine.governance.ratings import BAD_AT_MOST
from engine.people.regions import region_prefix

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


def _within(column: Any, region: str | None) -> list[ColumnElement[bool]]:
    return [] if region is None else [column.startswith(region_prefix(region), autoescape=True)]


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(sql_case((condition, 1), else_=0)), 0)


def rating_stats(session: Session, *, region: str | None, today: date) -> dict[str, OfficeRatingStats]:
    """Per office (``<dept>@<region>``; ``"-"`` for none) within ``region`` (None: everywhere):
    ratings, mean level, share satisfied, bad ratings, rectifications open / overdue on ``today`` /
    closed, appeals upheld. Two grouped statements, whatever the number of ratings."""
    rectification = Followup.kind == FollowupKind.RECTIFICATION.value
    upheld = (select(Followup.id).where(rectification, Followup.outcome == "appeal_upheld",
                                        Followup.rating_id == Rating.id).exists())
    office = func.coalesce(Rating.office, NO_OFFICE).label("office")
    ratings = session.execute(
        select(office, func.count(Rating.id), func.coalesce(func.sum(Rating.level), 0),
               _count(Rating.level >= 4), _count(Rating.level <= BAD_AT_MOST))
        .where(~upheld, *_within(Rating.region, region)).group_by(office)
    ).all()
    is_open = Followup.closed_at.is_(None)
    followup_office = func.coalesce(Followup.office, NO_OFFICE).label("office")
    followups = session.execute(
        select(followup_office, _count(is_open), _count(and_(is_open, Followup.due_on < today)),
               _count(Followup.closed_at.is_not(None)), _count(Followup.outcome == "appeal_upheld"))
        .where(rectification, *_within(Followup.region, region)).group_by(followup_office)
    ).all()
    stats: dict[str, OfficeRatingStats] = {}
    for key, count, level_sum, satisfied, bad in ratings:
        stats[str(key)] = OfficeRatingStats(office=str(key), ratings=int(count), level_sum=int(level_sum),
                                            satisfied=int(satisfied), bad=int(bad))
    for key, opened, overdue, closed, appeals in followups:
        entry = stats.setdefault(str(key), OfficeRatingStats(office=str(key)))
        entry.rectifications_open, entry.rectifications_overdue = int(opened), int(overdue)
        entry.rectifications_closed, entry.appeals_upheld = int(closed), int(appeals)
    return stats
