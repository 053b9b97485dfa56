"""Counts for monitoring: the work waiting in departments and in the outbox, right now.

Read by ``/metrics`` (Prometheus gauges) on every scrape, so each figure is one aggregate
query over indexed columns; no row is loaded and nothing personal is returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db.models import OutboxMessage, Step
from engine.machine.states import STEP_ACTIVE, STEP_OPEN

_OPEN = [s.value for s in STEP_OPEN]
_ACTIVE = [s.value for s in STEP_ACTIVE]


@dataclass(frozen=True)
class WorkLoad:
    """Open steps per (department, state), overdue steps per department, and the outbox."""

    open_steps: dict[tuple[str, str], int]
    overdue_steps: dict[str, int]
    outbox_pending: int
    """Messages not yet processed that will still be tried (claimed or not)."""
    outbox_oldest_age_seconds: float
    """Age of the oldest of those (0 when there is none)."""
    dead_letters: int
    """Messages that failed every attempt (``dead_at``) and wait for a person (``onevisit outbox``)."""


def work_load(session: Session, *, now: datetime, today: date) -> WorkLoad:
    """The current counts; a read-only transaction, rolled back at the end."""
    try:
        open_steps = {
            (department, state): count
            for department, state, count in session.execute(
                select(Step.department, Step.state, func.count()).where(Step.state.in_(_OPEN))
                .group_by(Step.department, Step.state)
            )
        }
        overdue = {
            department: count
            for department, count in session.execute(
                select(Step.department, func.count())
                .where(Step.state.in_(_ACTIVE), Step.due_on < today, Step.clock_stopped_on.is_(None))
                .group_by(Step.department)
            )
        }
        pending, oldest = session.execute(
            select(func.count(), func.min(OutboxMessage.created_at))
            .where(OutboxMessage.processed_at.is_(None), OutboxMessage.dead_at.is_(None))
        ).one()
        dead = session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.dead_at.is_not(None)))
    finally:
        session.rollback()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return WorkLoad(
        open_steps=open_steps,
        overdue_steps=overdue,
        outbox_pending=int(pending or 0),
        outbox_oldest_age_seconds=max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
        dead_letters=int(dead or 0),
    )
