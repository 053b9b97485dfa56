"""Per-office performance (电子监察 统计): how each office did on the steps it decided.

For every office (``<department>@<region>``, as :func:`~engine.time.supervision.office_of_step`
counts it) within a region: the steps it decided (done or rejected), how many of those on time
(closed on or before the due date), the average and the 90th percentile of the working days each
took (clock start to closing, on the working calendar), and its cards (yellow and red, a step's
highest only, resolved ones included). The supervision desk's report
(:mod:`engine.governance.office_report`) adds ratings, explanations and complaints and exports it as CSV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Card, Case, Step
from engine.machine.states import StepState
from engine.records.queries import work_scope
from engine.time.calendar import WorkingCalendar
from engine.time.clock import local_date
from engine.time.supervision import highest_card, office_of_step

_DECIDED = [StepState.DONE.value, StepState.REJECTED.value]


@dataclass(frozen=True)
class OfficePerformance:
    """One office's decided steps, their timeliness and its cards."""

    office: str
    decided: int
    on_time: int
    average_working_days: float | None
    """None when the office decided nothing yet."""
    p90_working_days: int | None
    """The nearest-rank 90th percentile of the working days per step."""
    yellow_cards: int
    red_cards: int

    @property
    def on_time_rate(self) -> float | None:
        """``on_time`` / ``decided`` (None when nothing was decided)."""
        return self.on_time / self.decided if self.decided else None


def p90(values: list[int]) -> int | None:
    """The nearest-rank 90th percentile of ``values`` (None if empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def office_performance(session: Session, calendar: WorkingCalendar, *, region: str | None) -> list[OfficePerformance]:
    """Every office with decided steps or cards in ``region`` (None: everywhere), by office."""
    office = office_of_step()
    steps = session.execute(
        select(office, Step.clock_start_on, Step.closed_at, Step.due_on)
        .join(Case, Case.id == Step.case_id)
        .where(Step.state.in_(_DECIDED), Step.closed_at.is_not(None), *work_scope(region))
    ).all()
    cards = session.execute(
        select(office, Card.colour)
        .join(Step, Step.id == Card.step_id).join(Case, Case.id == Step.case_id)
        .where(highest_card(), *work_scope(region))
    ).all()
    days: dict[str, list[int]] = {}
    on_time: dict[str, int] = {}
    for key, started, closed, due in steps:
        if closed is None:
            continue  # excluded by the query; narrows the type
        closed_on = local_date(closed)
        days.setdefault(key, []).append(calendar.working_days_between(started, closed_on) if started else 0)
        on_time[key] = on_time.get(key, 0) + (1 if due is None or closed_on <= due else 0)
    colours: dict[str, dict[str, int]] = {}
    for key, colour in cards:
        counts = colours.setdefault(key, {"yellow": 0, "red": 0})
        counts[colour] = counts.get(colour, 0) + 1
    rows = []
    for key in sorted(set(days) | set(colours)):
        taken = days.get(key, [])
        counts = colours.get(key, {})
        rows.append(OfficePerformance(
            office=key, decided=len(taken), on_time=on_time.get(key, 0),
            average_working_days=sum(taken) / len(taken) if taken else None, p90_working_days=p90(taken),
            yellow_cards=counts.get("yellow", 0), red_cards=counts.get("red", 0),
        ))
    return rows
