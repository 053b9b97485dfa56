"""The outbox: automated work queued by a transaction, performed after it commits.

A request never waits for Prefect. Releasing an automated step writes an outbox row in the
same transaction; the dispatch flow (``flows/dispatch.py``) later drains the outbox in
batches. Processing one message is one transaction that locks the case, runs the step's
handler, completes or rejects the step and marks the message processed — so a crash either
leaves everything as it was (the message is retried) or everything done (it is never re-run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clock import local_date
from engine.db.models import OutboxMessage
from engine.handlers import HandlerContext, StepRefused
from engine.progress import close_step, settle
from engine.runtime import Runtime
from engine.states import SYSTEM, StepState
from engine.transitions import transition_step
from engine.work import in_transaction, load_step, record_completion

MAX_ATTEMPTS = 8


class Outcome(StrEnum):
    COMPLETED = "completed"
    REFUSED = "refused"
    STALE = "stale"
    """The step was no longer ready (withdrawn, cancelled): nothing to do."""
    FAILED = "failed"
    """The handler raised; the message will be retried later."""


@dataclass(frozen=True)
class MessageResult:
    message_id: int
    outcome: Outcome
    detail: str = ""


def pending_message_ids(session: Session, runtime: Runtime, *, limit: int = 100) -> list[int]:
    """Ids of messages due now, oldest first."""
    ids = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.processed_at.is_(None),
                OutboxMessage.available_at <= runtime.clock.now(),
                OutboxMessage.attempts < MAX_ATTEMPTS,
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )
    session.rollback()
    return ids


def process_message(session: Session, runtime: Runtime, *, message_id: int) -> MessageResult:
    """Perform one outbox message exactly once (see the module docstring)."""
    try:
        return in_transaction(session, lambda: _process(session, runtime, message_id))
    except Exception as exc:  # a handler failure must not lose the message: record and retry
        _record_failure(session, runtime, message_id, exc)
        return MessageResult(message_id, Outcome.FAILED, f"{type(exc).__name__}: {exc}")


def _process(session: Session, runtime: Runtime, message_id: int) -> MessageResult:
    probe = session.get(OutboxMessage, message_id)
    if probe is None or probe.step_id is None:
        return MessageResult(message_id, Outcome.STALE, "no such message")
    case, step = load_step(session, probe.step_id)
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.id == message_id).execution_options(populate_existing=True)
    ).one()
    now = runtime.clock.now()
    if message.processed_at is not None:
        return MessageResult(message_id, Outcome.STALE, "already processed")
    message.processed_at = now
    if step.state != StepState.READY.value:
        return MessageResult(message_id, Outcome.STALE, f"step is {step.state}")
    spec = runtime.spec_for(session, case)
    step_spec = spec.step(step.step_key)
    handler = runtime.handlers[step_spec.handler or ""]
    transition_step(session, case=case, step=step, action="start", actor=SYSTEM, at=now)
    context = HandlerContext(
        session=session, case_id=case.id, receipt_no=case.receipt_no, step_id=step.id, step_key=step.step_key,
        item_code=step.item_code, department=step.department, result_name=step_spec.outputs.result,
        applicant_id=case.applicant_id, answers=case.answers, element=step.context, fields=step_spec.fields,
        today=local_date(now),
    )
    try:
        outputs = handler(context)
    except StepRefused as refused:
        close_step(session, case=case, step=step, action="reject", at=now, reason=refused.reason)
        settle(session, runtime, case=case, spec=spec, at=now)
        return MessageResult(message_id, Outcome.REFUSED, refused.reason)
    transition_step(session, case=case, step=step, action="complete", actor=SYSTEM, at=now,
                    payload={"outputs": outputs})
    record_completion(session, runtime, case, step, outputs, now)
    settle(session, runtime, case=case, spec=spec, at=now)
    return MessageResult(message_id, Outcome.COMPLETED)


def _record_failure(session: Session, runtime: Runtime, message_id: int, exc: Exception) -> None:
    def work() -> None:
        message = session.get(OutboxMessage, message_id)
        if message is None:
            return
        message.attempts += 1
        message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        # Exponential back-off: 1, 2, 4 … minutes.
        message.available_at = runtime.clock.now() + timedelta(minutes=2 ** (message.attempts - 1))

    in_transaction(session, work)


def drain_outbox(session: Session, runtime: Runtime, *, limit: int = 100) -> list[MessageResult]:
    """Process every due message (one transaction each); the flow calls this in batches."""
    return [process_message(session, runtime, message_id=m) for m in pending_message_ids(session, runtime, limit=limit)]
