"""The outbox: automated work queued by a transaction, performed after it commits.

A request never waits for Prefect. Releasing an automated step writes an outbox row in the
same transaction; dispatchers (the dispatch flow, ``flows/dispatch.py``, on any number of
workers) later perform it in three short steps:

1. **Claim** a batch of due messages: one transaction sets ``claimed_by`` and a lease
   (``claimed_until``). On PostgreSQL the rows are selected ``FOR UPDATE SKIP LOCKED``, so
   two dispatchers never take the same message; on SQLite the transaction holds the write
   lock (``BEGIN IMMEDIATE``). A message whose lease ran out (its worker was killed) is
   claimed again and that counts as a failed attempt.
2. Run the step's **handler outside any lock**: a slow department system holds up nobody.
   Handlers receive the message id as an idempotency key, since one may run again.
3. **Complete** under the case lock: if the step's version is still the one the handler saw,
   the step completes (or is refused) and the message is marked processed in one transaction.
   The engine therefore changes a step exactly once, whatever crashed when.

A notice (topic ``notify``, :mod:`engine.notify`) takes the same three steps without the case
lock: its channel sends it, and the attempt is recorded whether it went or not.

A failure (the handler raised, or completion did) is the engine's only retry mechanism:
``attempts`` goes up, the message waits 1, 2, 4 … minutes, and after :data:`MAX_ATTEMPTS` it
becomes a **dead letter** (``dead_at``) that stays visible — ``onevisit outbox``,
:func:`outbox_health` for the supervision page — until a person retries it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from engine.time.clock import local_date
from engine.db.models import Case, OutboxMessage, Step
from engine.errors import Conflict, NotFound
from engine.interprovince.exchange import POLL_EVERY, prepare_transfer, take_answer
from engine.interprovince.systems import TRANSFER_TOPIC, RemoteAnswer
from engine.machine.handlers import HandlerContext, StepRefused
from engine.machine.effects import Inputs
from engine.machine.progress import settle
from engine.records.queries import in_scope
from engine.runtime import Runtime
from engine.machine.states import SYSTEM, StepState
from engine.machine.transitions import transition_step
from engine.machine.unit_of_work import in_transaction, load_step
from engine.notify.delivery import Sending, prepare_notice, record_attempt, without_address
from engine.notify.queue import NOTIFY_TOPIC

MAX_ATTEMPTS = 8
"""Failed attempts after which a message is a dead letter."""
DEFAULT_LEASE = timedelta(minutes=5)
"""How long a claim holds: longer than any handler takes, short enough to recover a killed worker."""
MAX_BACKOFF = timedelta(hours=1)
LOCAL = "local"
"""The dispatcher name of in-process callers (tests, the demo)."""


class Outcome(StrEnum):
    COMPLETED = "completed"
    REFUSED = "refused"
    STALE = "stale"
    """Nothing to do: the step moved on (withdrawn, cancelled) or the message was already done."""
    FAILED = "failed"
    """The handler or the completion raised; the message is retried after a back-off."""
    DEAD = "dead"
    """The last allowed attempt failed: a dead letter."""
    WAITING = "waiting"
    """Another province's system has the step and has not decided yet: asked again later."""


@dataclass(frozen=True)
class MessageResult:
    message_id: int
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class Claimed:
    """A message this dispatcher now holds, with what the flow groups work by."""

    message_id: int
    department: str
    bundle_id: str


def backoff(attempts: int) -> timedelta:
    """How long a message waits after its ``attempts``-th failure: 1, 2, 4 … minutes, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}"[:2000] if text else type(exc).__name__


# --- 1. claim ----------------------------------------------------------------------------------


def _open() -> list[ColumnElement[bool]]:
    return [OutboxMessage.processed_at.is_(None), OutboxMessage.dead_at.is_(None)]


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    return or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now)


def _claim(session: Session, runtime: Runtime, *, worker: str, lease: timedelta, limit: int,
           where: Sequence[ColumnElement[bool]]) -> list[Claimed]:
    def work() -> list[Claimed]:
        now = runtime.clock.now()
        stmt = (
            select(OutboxMessage, Step.department, Case.bundle_id)
            .join(Case, Case.id == OutboxMessage.case_id)
            .outerjoin(Step, Step.id == OutboxMessage.step_id)
            .where(*_open(), _unclaimed(now), *where)
            .order_by(OutboxMessage.available_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(of=OutboxMessage, skip_locked=True)  # rendered on PostgreSQL only
            .execution_options(populate_existing=True)
        )
        claimed: list[Claimed] = []
        for message, department, bundle_id in session.execute(stmt):
            if message.claimed_by is not None:  # its lease ran out: that worker stopped mid-way
                message.attempts += 1
                message.last_error = f"dispatcher {message.claimed_by} stopped before finishing (lease expired)"
                if message.attempts >= MAX_ATTEMPTS:
                    message.dead_at = now
                    message.claimed_by = message.claimed_until = None
                    continue
            message.claimed_by = worker[:64]
            message.claimed_until = now + lease
            claimed.append(Claimed(message.id, department or "", bundle_id))
        return claimed

    return in_transaction(session, work)


def claim_messages(session: Session, runtime: Runtime, *, worker: str, limit: int = 100,
                   lease: timedelta = DEFAULT_LEASE) -> list[Claimed]:
    """Claim up to ``limit`` due messages, oldest first, for ``worker`` (one transaction)."""
    return _claim(session, runtime, worker=worker, lease=lease, limit=limit,
                  where=[OutboxMessage.available_at <= runtime.clock.now()])


# --- 2. run the handler, 3. complete --------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    step_id: str
    version: int
    call: Callable[[], Any]
    """What runs outside the lock: the step's handler with its context, or another province's system."""
    finish: Callable[[Session, Runtime, int, _Prepared, Any], MessageResult]
    """What applies the call's answer under the case lock."""


def _fresh_message(session: Session, message_id: int, *, lock: bool = False) -> OutboxMessage | None:
    stmt = select(OutboxMessage).where(OutboxMessage.id == message_id).execution_options(populate_existing=True)
    return session.scalars(stmt.with_for_update() if lock else stmt).one_or_none()


def _prepare(session: Session, runtime: Runtime, message_id: int, worker: str) -> _Prepared | MessageResult:
    """Read what the handler needs (no case lock); settle at once what needs no handler."""
    message = _fresh_message(session, message_id)
    if message is None:
        return MessageResult(message_id, Outcome.STALE, "no such message")
    if message.processed_at is not None:
        return MessageResult(message_id, Outcome.STALE, "already processed")
    if message.claimed_by != worker[:64]:
        return MessageResult(message_id, Outcome.STALE, f"claimed by {message.claimed_by or 'nobody'}")
    now = runtime.clock.now()
    if message.topic == NOTIFY_TOPIC:
        return _prepare_notice(session, runtime, message)
    step = session.get(Step, message.step_id, populate_existing=True) if message.step_id else None
    if message.topic == TRANSFER_TOPIC and step is not None:
        return _prepare_transfer(session, runtime, message, step)
    if step is None or step.state != StepState.READY.value:
        # A released automated step only leaves READY for good (started, withdrawn, cancelled),
        # so the message is done with; only the outbox row changes, no case lock is needed.
        message.processed_at = now
        return MessageResult(message_id, Outcome.STALE, f"step is {step.state}" if step else "no step")
    case = session.get_one(Case, step.case_id, populate_existing=True)
    step_spec = runtime.spec_for(session, case).step(step.step_key)
    handler = runtime.handlers[step_spec.handler or ""]
    context = HandlerContext(
        session=session, case_id=case.id, receipt_no=case.receipt_no, step_id=step.id, step_key=step.step_key,
        item_code=step.item_code, department=step.department, result_name=step_spec.outputs.result,
        applicant_id=case.applicant_id, answers=dict(case.answers), element=dict(step.entry),
        fields=step_spec.fields, today=local_date(now), message_id=message_id,
    )

    def call() -> dict[str, Any] | StepRefused:
        try:
            return handler(context)
        except StepRefused as refused:
            return refused

    return _Prepared(step.id, step.version, call, _complete)


def _prepare_transfer(session: Session, runtime: Runtime, message: OutboxMessage, step: Step) -> _Prepared | MessageResult:
    """A step for another province (跨省通办): send it, or ask where it stands (engine.interprovince.exchange)."""
    case = session.get_one(Case, step.case_id, populate_existing=True)
    call = prepare_transfer(session, runtime, case=case, step=step, now=runtime.clock.now())
    if isinstance(call, str):
        message.processed_at = runtime.clock.now()
        return MessageResult(message.id, Outcome.STALE, call)
    return _Prepared(step.id, step.version, call, _complete_transfer)


def _complete_transfer(session: Session, runtime: Runtime, message_id: int, prepared: _Prepared,
                       answer: RemoteAnswer) -> MessageResult:
    """Apply the other system's answer under the case lock; while it has not decided, the same
    message waits and asks again (a successful answer: the failed attempts start afresh)."""
    case, step = load_step(session, prepared.step_id)
    message = _fresh_message(session, message_id)
    assert message is not None  # outbox rows are never deleted
    if message.processed_at is not None:
        return MessageResult(message_id, Outcome.STALE, "already processed (by another dispatcher)")
    now = runtime.clock.now()
    if step.version != prepared.version:
        message.processed_at = now
        return MessageResult(message_id, Outcome.STALE, f"step changed while its province was asked (now {step.state})")
    if take_answer(session, runtime, case=case, step=step, answer=answer, at=now):
        message.processed_at = now
        return MessageResult(message_id, Outcome.COMPLETED if step.state == StepState.DONE.value else Outcome.REFUSED,
                             answer.reason)
    message.attempts, message.last_error = 0, ""
    message.claimed_by = message.claimed_until = None
    message.available_at = now + POLL_EVERY
    return MessageResult(message_id, Outcome.WAITING, f"{answer.remote_reference}: not decided yet")


def _prepare_notice(session: Session, runtime: Runtime, message: OutboxMessage) -> _Prepared | MessageResult:
    """A notice (engine.notify): sent outside any lock; a failed send is recorded, not raised."""
    sending = prepare_notice(session, runtime.channels, message)
    if isinstance(sending, str):
        message.processed_at = runtime.clock.now()
        return MessageResult(message.id, Outcome.STALE, sending)

    def call() -> str:
        try:
            sending.send()
        except Exception as exc:  # noqa: BLE001 - any failure of a channel is retried the same way
            return without_address(one_line(exc), sending.address) or type(exc).__name__
        return ""

    def finish(session: Session, runtime: Runtime, message_id: int, _prepared: _Prepared, error: str) -> MessageResult:
        return _complete_notice(session, runtime, message_id, sending, error)

    return _Prepared("", 0, call, finish)


def _complete_notice(session: Session, runtime: Runtime, message_id: int, sending: Sending,
                     error: str) -> MessageResult:
    """Record the attempt; a failure waits out the outbox's back-off, the last one is a dead letter."""
    message = _fresh_message(session, message_id, lock=True)
    assert message is not None  # outbox rows are never deleted
    if message.processed_at is not None:
        return MessageResult(message_id, Outcome.STALE, "already processed (by another dispatcher)")
    now = runtime.clock.now()
    record_attempt(session, sending, at=now, error=error)
    if not error:
        message.processed_at = now
        return MessageResult(message_id, Outcome.COMPLETED)
    message.attempts += 1
    message.last_error = error
    message.claimed_by = message.claimed_until = None
    if message.attempts >= MAX_ATTEMPTS:
        message.dead_at = now
        return MessageResult(message_id, Outcome.DEAD, error)
    message.available_at = now + backoff(message.attempts)
    return MessageResult(message_id, Outcome.FAILED, error)


def _complete(session: Session, runtime: Runtime, message_id: int, prepared: _Prepared,
              verdict: dict[str, Any] | StepRefused) -> MessageResult:
    """Apply the handler's verdict under the case lock, if the step is still as the handler saw it."""
    case, step = load_step(session, prepared.step_id)  # locks the case: completions of a message serialise here
    message = _fresh_message(session, message_id)
    assert message is not None  # outbox rows are never deleted
    if message.processed_at is not None:
        return MessageResult(message_id, Outcome.STALE, "already processed (by another dispatcher)")
    now = runtime.clock.now()
    message.processed_at = now
    if step.version != prepared.version or step.state != StepState.READY.value:
        return MessageResult(message_id, Outcome.STALE, f"step changed while its handler ran (now {step.state})")
    spec = runtime.spec_for(session, case)
    transition_step(session, runtime, case=case, step=step, action="start", actor=SYSTEM, at=now)
    if isinstance(verdict, StepRefused):
        transition_step(session, runtime, case=case, step=step, action="reject", actor=SYSTEM, at=now,
                        inputs=Inputs(reason=verdict.reason))
        settle(session, runtime, case=case, spec=spec, at=now)
        return MessageResult(message_id, Outcome.REFUSED, verdict.reason)
    transition_step(session, runtime, case=case, step=step, action="complete", actor=SYSTEM, at=now,
                    inputs=Inputs(outputs=verdict))
    settle(session, runtime, case=case, spec=spec, at=now)
    return MessageResult(message_id, Outcome.COMPLETED)


def _record_failure(session: Session, runtime: Runtime, *, message_id: int, worker: str,
                    exc: BaseException) -> MessageResult:
    def work() -> MessageResult:
        message = _fresh_message(session, message_id, lock=True)
        if message is None or message.processed_at is not None or message.claimed_by != worker[:64]:
            # Someone else holds or finished it (our lease ran out meanwhile): theirs to record.
            return MessageResult(message_id, Outcome.STALE, f"failed after losing the claim: {one_line(exc)}")
        now = runtime.clock.now()
        message.attempts += 1
        message.last_error = one_line(exc)
        message.claimed_by = message.claimed_until = None
        if message.attempts >= MAX_ATTEMPTS:
            message.dead_at = now
            return MessageResult(message_id, Outcome.DEAD, message.last_error)
        message.available_at = now + backoff(message.attempts)
        return MessageResult(message_id, Outcome.FAILED, message.last_error)

    return in_transaction(session, work)


def run_claimed(session: Session, runtime: Runtime, *, message_id: int, worker: str) -> MessageResult:
    """Perform a message ``worker`` has claimed: handler outside the lock, completion under it."""
    try:
        prepared = in_transaction(session, lambda: _prepare(session, runtime, message_id, worker))
        if isinstance(prepared, MessageResult):
            return prepared
        try:
            verdict = prepared.call()
        finally:
            session.rollback()  # end whatever the handler read; it must not hold a transaction open
        return in_transaction(session, lambda: prepared.finish(session, runtime, message_id, prepared, verdict))
    except Exception as exc:  # a failure must not lose the message: record it, retry after a back-off
        return _record_failure(session, runtime, message_id=message_id, worker=worker, exc=exc)


def process_message(session: Session, runtime: Runtime, *, message_id: int, worker: str = LOCAL,
                    lease: timedelta = DEFAULT_LEASE) -> MessageResult:
    """Claim one message (due or not) and perform it; a processed, dead or held one is left alone."""
    if not _claim(session, runtime, worker=worker, lease=lease, limit=1, where=[OutboxMessage.id == message_id]):
        message = session.get(OutboxMessage, message_id, populate_existing=True)
        session.rollback()
        if message is None:
            return MessageResult(message_id, Outcome.STALE, "no such message")
        if message.processed_at is not None:
            return MessageResult(message_id, Outcome.STALE, "already processed")
        if message.dead_at is not None:
            return MessageResult(message_id, Outcome.DEAD, message.last_error)
        return MessageResult(message_id, Outcome.STALE, f"claimed by {message.claimed_by}")
    return run_claimed(session, runtime, message_id=message_id, worker=worker)


def release_claims(session: Session, runtime: Runtime, *, worker: str) -> int:
    """Give back what ``worker`` still holds (a run stopping early); no attempt is counted."""

    def work() -> int:
        stmt = (select(OutboxMessage).where(OutboxMessage.claimed_by == worker[:64], *_open())
                .with_for_update(skip_locked=True).execution_options(populate_existing=True))
        held = list(session.scalars(stmt))
        for message in held:
            message.claimed_by = message.claimed_until = None
        return len(held)

    return in_transaction(session, work)


def drain_outbox(session: Session, runtime: Runtime, *, limit: int = 100, worker: str = LOCAL) -> list[MessageResult]:
    """Claim the due messages and perform them one after another (the demo and tests; the
    dispatch flow does the same in parallel, grouped by department)."""
    claimed = claim_messages(session, runtime, worker=worker, limit=limit)
    return [run_claimed(session, runtime, message_id=c.message_id, worker=worker) for c in claimed]


def pending_message_ids(session: Session, runtime: Runtime, *, limit: int = 100) -> list[int]:
    """Ids of messages due now and not held by a dispatcher, oldest first (a read; claims nothing)."""
    now = runtime.clock.now()
    try:
        return list(session.scalars(
            select(OutboxMessage.id).where(*_open(), _unclaimed(now), OutboxMessage.available_at <= now)
            .order_by(OutboxMessage.available_at, OutboxMessage.id).limit(limit)
        ))
    finally:
        session.rollback()


# --- what people see: stuck messages, dead letters, retry -------------------------------------


class MessageState(StrEnum):
    DONE = "done"
    DEAD = "dead"
    """Failed every attempt; waits for a person (``onevisit outbox retry``)."""
    CLAIMED = "claimed"
    """A dispatcher holds it now."""
    ABANDONED = "abandoned"
    """Its dispatcher stopped holding it (lease expired); the next claim retries it."""
    BACKING_OFF = "backing-off"
    """Failed; waits for its next attempt."""
    DUE = "due"


def message_state(message: OutboxMessage, now: datetime) -> MessageState:
    if message.processed_at is not None:
        return MessageState.DONE
    if message.dead_at is not None:
        return MessageState.DEAD
    if message.claimed_until is not None:
        return MessageState.CLAIMED if message.claimed_until > now else MessageState.ABANDONED
    return MessageState.BACKING_OFF if message.available_at > now else MessageState.DUE


@dataclass(frozen=True)
class StuckMessage:
    """An outbox message that needs looking at, with where it belongs (no personal data)."""

    message_id: int
    state: MessageState
    attempts: int
    last_error: str
    created_at: datetime
    available_at: datetime
    claimed_by: str | None
    dead_at: datetime | None
    case_id: str
    receipt_no: str
    region: str
    bundle_id: str
    step_key: str
    department: str


def _stuck_query(now: datetime, late_after: timedelta, region: str | None) -> Any:
    stuck = or_(
        OutboxMessage.dead_at.is_not(None),
        OutboxMessage.attempts > 0,
        OutboxMessage.claimed_until <= now,
        and_(OutboxMessage.claimed_until.is_(None), OutboxMessage.available_at <= now - late_after),
    )
    return (
        select(OutboxMessage, Case.receipt_no, Case.region, Case.bundle_id, Step.step_key, Step.department)
        .join(Case, Case.id == OutboxMessage.case_id)
        .outerjoin(Step, Step.id == OutboxMessage.step_id)
        .where(OutboxMessage.processed_at.is_(None), stuck, *in_scope(region))
    )


def _stuck(row: Any, now: datetime) -> StuckMessage:
    message, receipt_no, region, bundle_id, step_key, department = row
    return StuckMessage(
        message_id=message.id, state=message_state(message, now), attempts=message.attempts,
        last_error=message.last_error, created_at=message.created_at, available_at=message.available_at,
        claimed_by=message.claimed_by, dead_at=message.dead_at, case_id=message.case_id, receipt_no=receipt_no,
        region=region, bundle_id=bundle_id, step_key=step_key or "", department=department or "",
    )


def stuck_messages(session: Session, runtime: Runtime, *, region: str | None = None, limit: int = 100,
                   late_after: timedelta = timedelta(minutes=5)) -> list[StuckMessage]:
    """Dead letters first, then messages that failed and wait to be retried, claims whose
    dispatcher stopped, and due messages nobody took for ``late_after`` (no worker running?)."""
    now = runtime.clock.now()
    stmt = _stuck_query(now, late_after, region).order_by(
        OutboxMessage.dead_at.is_(None), OutboxMessage.available_at, OutboxMessage.id).limit(limit)
    try:
        return [_stuck(row, now) for row in session.execute(stmt)]
    finally:
        session.rollback()


def dead_letters(session: Session, runtime: Runtime, *, region: str | None = None,
                 limit: int = 50) -> list[StuckMessage]:
    """The dead letters in ``region`` (None: everywhere), newest first."""
    now = runtime.clock.now()
    stmt = (_stuck_query(now, timedelta(0), region).where(OutboxMessage.dead_at.is_not(None))
            .order_by(OutboxMessage.dead_at.desc(), OutboxMessage.id.desc()).limit(limit))
    try:
        return [_stuck(row, now) for row in session.execute(stmt)]
    finally:
        session.rollback()


@dataclass(frozen=True)
class OutboxHealth:
    """The outbox at a glance, for the supervision page and monitoring."""

    due: int
    """Waiting for a dispatcher now."""
    backing_off: int
    claimed: int
    dead: int
    oldest_due_at: datetime | None
    dead_letters: tuple[StuckMessage, ...]
    """The newest few dead letters, to show with their last error."""


def outbox_health(session: Session, runtime: Runtime, *, region: str | None = None, show: int = 10) -> OutboxHealth:
    """Counts per state of the unprocessed messages in ``region``, and the newest dead letters."""
    now = runtime.clock.now()
    held = and_(OutboxMessage.claimed_until.is_not(None), OutboxMessage.claimed_until > now)
    live = and_(OutboxMessage.dead_at.is_(None), ~held)
    stmt = (
        select(
            func.count().filter(live, OutboxMessage.available_at <= now),
            func.count().filter(live, OutboxMessage.available_at > now),
            func.count().filter(OutboxMessage.dead_at.is_(None), held),
            func.count().filter(OutboxMessage.dead_at.is_not(None)),
            func.min(OutboxMessage.available_at).filter(live, OutboxMessage.available_at <= now),
        )
        .select_from(OutboxMessage).join(Case, Case.id == OutboxMessage.case_id)
        .where(OutboxMessage.processed_at.is_(None), *in_scope(region))
    )
    try:
        due, backing_off, claimed, dead, oldest = session.execute(stmt).one()
    finally:
        session.rollback()
    return OutboxHealth(due=due, backing_off=backing_off, claimed=claimed, dead=dead, oldest_due_at=oldest,
                        dead_letters=tuple(dead_letters(session, runtime, region=region, limit=show)))


def retry_message(session: Session, runtime: Runtime, *, message_id: int) -> StuckMessage:
    """Queue a dead (or backing-off, or abandoned) message again, due now, with a fresh set of
    attempts; returns the message as it was before."""

    def work() -> StuckMessage:
        now = runtime.clock.now()
        message = _fresh_message(session, message_id, lock=True)
        if message is None:
            raise NotFound(f"no outbox message {message_id}", field="id")
        state = message_state(message, now)
        if state is MessageState.DONE:
            raise Conflict(f"outbox message {message_id} was processed at {message.processed_at:%Y-%m-%d %H:%M}; "
                           "nothing to retry", field="id")
        if state is MessageState.CLAIMED:
            raise Conflict(f"outbox message {message_id} is being run by {message.claimed_by}", field="id")
        before = _stuck(session.execute(_stuck_query(now, timedelta(0), None)
                                        .where(OutboxMessage.id == message_id)).one(), now)
        message.dead_at = message.claimed_by = message.claimed_until = None
        message.attempts = 0
        message.available_at = now
        return before

    return in_transaction(session, work)
