"""The per-office report of the supervision desk (电子监察 统计) and its CSV export.

One row per office (``<department>@<region>``; ``-`` for what has no office, e.g. a case-level
card or a rating of a case with none) that decided steps, was carded, rated, complained about or
owes an explanation within a region: timeliness (:mod:`engine.time.performance`: decided, on
time, average and p90 working days, a step's highest card), 好差评 (:mod:`engine.governance.rating_stats`:
ratings, mean level, share satisfied, bad ones, rectifications), red cards whose 情况说明 is still
owed (:func:`engine.governance.explanations.unexplained_red_cards`) and 12345 complaints
(:func:`engine.governance.complaints.complaint_counts`). Each source is a few grouped statements.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from engine.governance.complaints import ComplaintCounts, complaint_counts
from engine.governance.explanations import unexplained_red_cards
from engine.governance.rating_stats import OfficeRatingStats, rating_stats
from engine.time.calendar import WorkingCalendar
from engine.time.performance import OfficePerformance, office_performance

__all__ = ["CSV_HEADER", "OfficeReport", "office_report", "office_report_csv"]


@dataclass(frozen=True)
class OfficeReport:
    """Everything the desk reports of one office."""

    office: str
    performance: OfficePerformance
    ratings: OfficeRatingStats
    unexplained_red_cards: int
    complaints: ComplaintCounts


def office_report(session: Session, calendar: WorkingCalendar, *, region: str | None, today: date) -> list[OfficeReport]:
    """Every office with anything to report within ``region`` (None: everywhere), by office."""
    performance = {row.office: row for row in office_performance(session, calendar, region=region)}
    ratings = rating_stats(session, region=region, today=today)
    unexplained = unexplained_red_cards(session, region=region, today=today)
    complaints = complaint_counts(session, region=region, today=today)
    rows = []
    for office in sorted(set(performance) | set(ratings) | set(unexplained) | set(complaints)):
        rows.append(OfficeReport(
            office=office,
            performance=performance.get(office) or OfficePerformance(
                office=office, decided=0, on_time=0, average_working_days=None, p90_working_days=None,
                yellow_cards=0, red_cards=0),
            ratings=ratings.get(office) or OfficeRatingStats(office=office),
            unexplained_red_cards=unexplained.get(office, 0),
            complaints=complaints.get(office) or ComplaintCounts(office=office),
        ))
    return rows


CSV_HEADER = ("office", "office_name", "decided", "on_time", "on_time_rate", "average_working_days",
              "p90_working_days", "yellow_cards", "red_cards", "unexplained_red_cards", "ratings", "mean_level",
              "satisfied_share", "bad_ratings", "rectifications_open", "rectifications_overdue",
              "rectifications_closed", "appeals_upheld", "complaints", "complaints_open", "complaints_overdue",
              "complaints_reopened")


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def office_report_csv(rows: Iterable[OfficeReport], *, names: dict[str, str]) -> str:
    """``rows`` as CSV: a header, then one line per office; empty cells for what is undefined (an
    office that decided nothing has no on-time rate)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        p, r, c = row.performance, row.ratings, row.complaints
        writer.writerow([
            row.office, names.get(row.office, ""), p.decided, p.on_time, _number(p.on_time_rate, 3),
            _number(p.average_working_days, 2), "" if p.p90_working_days is None else p.p90_working_days,
            p.yellow_cards, p.red_cards, row.unexplained_red_cards, r.ratings, _number(r.mean_level, 2),
            _number(r.satisfied_share, 3), r.bad, r.rectifications_open, r.rectifications_overdue,
            r.rectifications_closed, r.appeals_upheld, c.received, c.open, c.overdue, c.reopened,
        ])
    return out.getvalue()
