"""The outbox dispatcher: claims, the handler outside the case lock, completion with a version
check, the engine's back-off, dead letters and leases, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.db.models import AuditEvent, Case, OutboxMessage
from engine.machine.dispatch import (
    DEFAULT_LEASE,
    MAX_ATTEMPTS,
    MessageState,
    Outcome,
    backoff,
    claim_messages,
    dead_letters,
    drain_outbox,
    outbox_health,
    process_message,
    release_claims,
    retry_message,
    run_claimed,
    stuck_messages,
)
from engine.errors import Conflict
from engine.machine.handlers import HandlerContext, HandlerRegistry, default_handlers
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import BundleRegistry
from engine.machine.states import Actor, Role, StepState
from engine.machine.actions import withdraw_case
from tests.conftest import Database
from tests.engine.automated import automated_runtime
from tests.engine.sample_people import CLERK, GROOM

ANSWERS = {"groom_name": "测试甲", "groom_id_number": GROOM}


def with_check(registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock,
               check: Callable[[HandlerContext], dict[str, Any]]) -> Runtime:
    handlers = HandlerRegistry()
    handlers.register("data_check")(check)
    return automated_runtime(registry, calendar, clock, handlers=handlers)


def new_case(session: Session, runtime: Runtime) -> Case:
    publish_bundles(session, runtime)
    return accept_case(session, runtime, bundle_id="automated_demo", applicant=Applicant(GROOM, "person"),
                       answers=ANSWERS, actor=CLERK)


def completions(session: Session, step_id: str) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(AuditEvent)
                          .where(AuditEvent.step_id == step_id, AuditEvent.action == "step.complete")) or 0


def only_message(session: Session) -> OutboxMessage:
    session.rollback()
    return session.scalars(select(OutboxMessage).execution_options(populate_existing=True)).one()


def test_a_handler_that_fails_twice_completes_once_after_the_engines_back_off(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    calls: list[str] = []
    real = default_handlers()["data_check"]

    def flaky(ctx: HandlerContext) -> dict[str, Any]:
        calls.append(ctx.idempotency_key)
        if len(calls) <= 2:
            raise ConnectionError("department system unreachable")
        return real(ctx)

    runtime = with_check(registry, calendar, clock, flaky)
    case = new_case(session, runtime)
    [first] = drain_outbox(session, runtime)
    assert first.outcome is Outcome.FAILED and "unreachable" in first.detail
    message = only_message(session)
    assert message.attempts == 1 and message.available_at == clock.now() + backoff(1) == clock.now() + timedelta(minutes=1)
    assert message.claimed_by is None and message.last_error == "ConnectionError: department system unreachable"
    assert drain_outbox(session, runtime) == []  # backing off: nothing runs before the minute is up
    clock.advance(seconds=59)
    assert drain_outbox(session, runtime) == []
    clock.advance(seconds=1)
    [second] = drain_outbox(session, runtime)
    assert second.outcome is Outcome.FAILED
    assert only_message(session).available_at == clock.now() + timedelta(minutes=2)  # 1, 2, 4 … minutes
    clock.advance(minutes=1)
    assert drain_outbox(session, runtime) == []
    clock.advance(minutes=1)
    [third] = drain_outbox(session, runtime)
    assert third.outcome is Outcome.COMPLETED
    assert process_message(session, runtime, message_id=third.message_id).outcome is Outcome.STALE
    clock.advance(days=1)
    assert drain_outbox(session, runtime) == []
    assert len(calls) == 3 and len(set(calls)) == 1  # the same idempotency key on every attempt
    assert calls[0] == f"onevisit-outbox-{third.message_id}"
    message = only_message(session)
    assert message.attempts == 2 and message.processed_at is not None and message.dead_at is None
    session.refresh(case)
    assert case.steps[0].state == StepState.DONE
    assert completions(session, case.steps[0].id) == 1


def test_a_handler_that_always_fails_ends_as_a_visible_dead_letter(
    db: Database, session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    broken = True
    real = default_handlers()["data_check"]

    def down(ctx: HandlerContext) -> dict[str, Any]:
        if broken:
            raise TimeoutError("民政 interface timed out")
        return real(ctx)

    runtime = with_check(registry, calendar, clock, down)
    case = new_case(session, runtime)
    outcomes = []
    for _ in range(MAX_ATTEMPTS + 3):
        outcomes += [r.outcome for r in drain_outbox(session, runtime)]
        clock.advance(hours=2)  # past every back-off
    assert outcomes == [Outcome.FAILED] * (MAX_ATTEMPTS - 1) + [Outcome.DEAD]  # never tried again
    message = only_message(session)
    assert message.attempts == MAX_ATTEMPTS and message.dead_at is not None
    session.refresh(case)
    assert case.steps[0].state == StepState.READY  # the step waits for a person, visibly
    [stuck] = stuck_messages(session, runtime)
    assert stuck.state is MessageState.DEAD and stuck.last_error == "TimeoutError: 民政 interface timed out"
    assert (stuck.receipt_no, stuck.step_key, stuck.department) == (case.receipt_no, "check", "11")
    health = outbox_health(session, runtime)
    assert (health.due, health.backing_off, health.claimed, health.dead) == (0, 0, 0, 1)
    assert [d.message_id for d in health.dead_letters] == [message.id]
    assert dead_letters(session, runtime, region="430102") and not dead_letters(session, runtime, region="440000")

    broken = False  # the department fixed its system; a person retries the message
    assert retry_message(session, runtime, message_id=message.id).state is MessageState.DEAD
    assert outbox_health(session, runtime).dead == 0
    [result] = drain_outbox(session, runtime)
    assert result.outcome is Outcome.COMPLETED
    with pytest.raises(Conflict):
        retry_message(session, runtime, message_id=message.id)
    assert completions(session, case.steps[0].id) == 1


def test_the_handler_runs_outside_the_case_lock_and_a_changed_step_is_not_completed(
    db: Database, session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow(ctx: HandlerContext) -> dict[str, Any]:
        calls.append(ctx.message_id)
        entered.set()
        assert release.wait(60)
        return {"verified": list(ctx.fields)}

    runtime = with_check(registry, calendar, clock, slow)
    case = new_case(session, runtime)
    [claimed] = claim_messages(session, runtime, worker="w1")
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(lambda: run_claimed(db.session(), runtime, message_id=claimed.message_id, worker="w1"))
        assert entered.wait(60)
        # While the handler waits on its department, the case is not locked: the applicant withdraws.
        with db.session() as other:
            applicant = Actor(id="applicant", role=Role.APPLICANT, subject=GROOM)
            withdraw_case(other, runtime, case_id=case.id, actor=applicant, reason="不办了")
        release.set()
        result = running.result(timeout=60)
    assert result.outcome is Outcome.STALE and "changed while its handler ran" in result.detail
    session.refresh(case)
    assert case.steps[0].state == StepState.CANCELLED
    assert completions(session, case.steps[0].id) == 0 and calls == [claimed.message_id]
    assert only_message(session).processed_at is not None


def test_two_dispatchers_never_claim_the_same_message(
    db: Database, session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = automated_runtime(registry, calendar, clock)
    for _ in range(30):
        new_case(session, runtime)
    start = threading.Barrier(2)

    def claim(worker: str) -> list[int]:
        with db.session() as own:
            start.wait()
            return [c.message_id for c in claim_messages(own, runtime, worker=worker, limit=20)]

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(claim, ["w1", "w2"])
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(m.id for m in session.scalars(select(OutboxMessage)))
    assert claim_messages(session, runtime, worker="w3") == []  # everything is held


def test_a_killed_workers_claim_is_taken_over_after_its_lease_and_done_once(
    db: Database, session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = automated_runtime(registry, calendar, clock)
    case = new_case(session, runtime)
    [held] = claim_messages(session, runtime, worker="killed")  # …and the worker dies here
    assert claim_messages(session, runtime, worker="survivor") == []
    clock.advance(seconds=DEFAULT_LEASE.total_seconds() - 1)
    assert claim_messages(session, runtime, worker="survivor") == []
    clock.advance(seconds=1)
    [taken] = claim_messages(session, runtime, worker="survivor")
    message = only_message(session)
    assert taken.message_id == held.message_id and message.claimed_by == "survivor"
    assert message.attempts == 1 and "killed stopped before finishing" in message.last_error
    assert run_claimed(session, runtime, message_id=held.message_id, worker="killed").outcome is Outcome.STALE
    assert run_claimed(session, runtime, message_id=taken.message_id, worker="survivor").outcome is Outcome.COMPLETED
    assert run_claimed(session, runtime, message_id=taken.message_id, worker="survivor").outcome is Outcome.STALE
    assert completions(session, case.steps[0].id) == 1


def test_a_message_whose_worker_keeps_dying_becomes_a_dead_letter_and_released_claims_cost_nothing(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = automated_runtime(registry, calendar, clock)
    new_case(session, runtime)
    assert len(claim_messages(session, runtime, worker="stopping")) == 1
    assert release_claims(session, runtime, worker="stopping") == 1  # a graceful stop gives it back
    assert only_message(session).attempts == 0
    for _ in range(MAX_ATTEMPTS):
        claim_messages(session, runtime, worker="crashing")
        clock.advance(seconds=DEFAULT_LEASE.total_seconds())
    assert claim_messages(session, runtime, worker="crashing") == []
    message = only_message(session)
    assert message.attempts == MAX_ATTEMPTS and message.dead_at is not None and message.claimed_by is None
    assert [m.state for m in stuck_messages(session, runtime)] == [MessageState.DEAD]


def test_onevisit_outbox_lists_dead_letters_and_retries_one(
    db: Database, session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if db.backend != "sqlite":
        pytest.skip("the CLI is given the SQLite file's URL; the queries themselves run on both backends above")
    from api.cli import main

    runtime = automated_runtime(registry, calendar, clock)
    case = new_case(session, runtime)
    message = only_message(session)
    message.attempts, message.dead_at, message.last_error = MAX_ATTEMPTS, clock.now(), "OSError: no route to host"
    session.commit()
    url = f"sqlite:///{Path(str(db.engine.url.database))}"
    assert main(["outbox", "--db", url]) == 0
    listing = capsys.readouterr().out
    assert "1 dead" in listing and f"{message.id}  dead" in listing and case.receipt_no in listing
    assert "automated_demo/check" in listing and "last error: OSError: no route to host" in listing
    assert main(["outbox", "retry", str(message.id), "--db", url]) == 0
    assert f"message {message.id}" in capsys.readouterr().out
    assert main(["outbox", "--db", url]) == 0
    assert "nothing stuck" in capsys.readouterr().out
    assert main(["outbox", "retry", "999", "--db", url]) == 1
    assert capsys.readouterr().err.strip() == "onevisit: no outbox message 999"
