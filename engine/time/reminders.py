"""Reminders before a due date (电子监察 预警): the deadline sweep reminds the officer of every open
step whose due date is at most ``remind_before_days`` working days away (a bundle may set its own,
``supervision.remind_before_days``), once per step.

The reminder is an inbox notice (:func:`engine.notify.queue.queue_officer_reminder`) to the
officer the step is assigned to (who claimed it), or, unclaimed, to its office (``<department>@<region>``), and an
audit event ``step.remind_officer`` in the case's chain, written in the same transaction under the
case lock. The event is the record: a step with one is never reminded again, so passes may
overlap or repeat. A step whose clock is stopped (补正, §45) or which is already overdue is not
reminded (it gets cards instead).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, Exists, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from engine.db.models import AuditEvent, Case, Step
from engine.machine.states import SYSTEM
from engine.machine.unit_of_work import in_transaction, load_step
from engine.notify.queue import queue_officer_reminder
from engine.records.audit import append_event
from engine.records.queries import open_work
from engine.runtime import Runtime
from engine.time.supervision import bundle_thresholds, office_of_step

REMIND_ACTION = "step.remind_officer"
"""The audit action recording a step's reminder (at most one per step)."""


def _reminded(step_id: ColumnElement[str] | InstrumentedAttribute[str] | str) -> Exists:
    """The step already has its reminder (the audit event)."""
    return select(AuditEvent.id).where(AuditEvent.action == REMIND_ACTION, AuditEvent.step_id == step_id).exists()


def step_name(session: Session, runtime: Runtime, case: Case, step: Step) -> str:
    """What the reminder calls the step: the service item the case's answers chose, else its key."""
    spec = next((s for s in runtime.spec_for(session, case).steps if s.id == step.step_key), None)
    items = runtime.registry.catalog.items
    code = spec.chosen_item(case.answers) if spec is not None else None
    return items[code].name if code is not None and code in items else step.step_key


def remind_officers(session: Session, runtime: Runtime, *, days_before: int, limit: int = 500) -> list[str]:
    """Remind the officer of each open, released step due within ``days_before`` working days
    (a bundle's own ``supervision.remind_before_days`` for its steps; today included, not yet
    overdue) and not reminded before; return the step ids reminded. 0 turns reminders off."""
    own = bundle_thresholds(runtime, "remind_before_days", days_before)
    longest = max([days_before, *own.values()])
    if longest < 1:
        return []
    today = runtime.today()
    # working days are at most this many calendar days (weekends, the longest holidays): a bound for SQL
    horizon = today + timedelta(days=2 * longest + 14)
    rows = session.execute(
        select(Step.id, Step.due_on, Step.assigned_to, office_of_step(), Case.bundle_id)
        .join(Case, Case.id == Step.case_id)
        .where(*open_work(None), Step.due_on >= today, Step.due_on <= horizon, Step.clock_stopped_on.is_(None),
               ~_reminded(Step.id))
        .order_by(Step.due_on, Step.id)
        .limit(limit)
    ).all()
    due = [(step_id, assigned_to or office, own.get(bundle_id, days_before))
           for step_id, due_on, assigned_to, office, bundle_id in rows
           if due_on is not None and runtime.calendar.working_days_between(today, due_on) <= own.get(bundle_id, days_before)]
    session.rollback()  # end the read transaction before locking case by case
    done = []
    for step_id, recipient, ahead in due:

        def work(step_id: str = step_id, recipient: str = recipient, ahead: int = ahead) -> bool:
            case, step = load_step(session, step_id)
            if session.scalar(select(_reminded(step_id))) or step.clock_stopped_on is not None:
                return False  # reminded by another pass, or its clock stopped meanwhile
            now = runtime.clock.now()
            queue_officer_reminder(session, runtime.channels, case=case, step=step, officer=recipient, at=now,
                                   step_name=step_name(session, runtime, case, step))
            append_event(session, case=case, actor=SYSTEM, action=REMIND_ACTION, at=now, step_id=step.id,
                         payload={"due_on": step.due_on, "days_before": ahead})
            return True

        if in_transaction(session, work):
            done.append(step_id)
    return done
