"""A §42 extension and the §32 restart, on SQLite and PostgreSQL.

行政许可法 §42 counts the decision period (20 days, extendable by 10 with the head's approval)
from acceptance; §32 makes the day the requested materials arrive the day of acceptance. So a
补正 receipt starts a new count, and an extension granted on the old count lapses with it: the
restarted due date is the receipt plus the step's limit, the granted days no longer use up the
bundle's maximum (the new count may be extended afresh, with a new approval), and a request still
waiting for approval is dropped (it asked for time on the old count). The record keeps every
grant and says what lapsed; the receipt's one audit event says so too.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from engine.errors import DomainError, IllegalTransition
from engine.machine.actions import (
    approve_extension,
    request_extension,
    request_supplement,
)
from engine.machine.permissions import allowed_actions
from engine.records.audit import verify_audit
from engine.spec.loader import BundleRegistry
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from tests.engine.machine.test_time import SUPERVISOR, events, start, step_of, timed_runtime, work
from tests.engine.supplements import bring_supplement

FRIDAY = date(2026, 3, 20)
"""The review is released on it: 20 working days end on Monday 20 April (清明 skipped)."""
NOTICE = date(2026, 4, 2)
"""The 补正 notice (its 5-working-day window ends on 10 April)."""
RECEIPT = date(2026, 4, 7)
"""The Tuesday after Qingming: the materials arrive."""


def test_a_granted_extension_lapses_with_the_old_count(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = timed_runtime(registry, calendar, clock)
    clock.set_local(FRIDAY)
    case = start(session, runtime)
    review = step_of(case, "review")
    desk = work(session, runtime, review)
    request_extension(session, runtime, step_id=review.id, actor=desk, days=6, reason="需现场核查")
    approve_extension(session, runtime, step_id=review.id, actor=SUPERVISOR)
    assert review.due_on == date(2026, 4, 28)

    clock.set_local(NOTICE)
    request_supplement(session, runtime, step_id=review.id, actor=desk, materials=["户口簿"])
    clock.set_local(RECEIPT)
    bring_supplement(session, runtime, review, officer=desk)

    # §32: 20 working days from the receipt, without the 6 granted on the old count
    restarted = calendar.add_working_days(RECEIPT, 20)
    assert review.due_on == restarted == date(2026, 5, 8)
    received = events(session, case, "step.receive_supplement")[0]
    assert received["due"] == {"from": "2026-04-28", "to": "2026-05-08"}
    assert received["extension"] == {"lapsed": 6, "dropped": None}
    record = review.outputs["extension"]
    assert record["granted_days"] == 0
    assert record["lapsed"] == [{"on": "2026-04-07", "granted_days": 6}]
    assert [g["days"] for g in record["granted"]] == [6]  # the grant stays on record

    # the new count may be extended afresh, up to the bundle's whole maximum (10)
    with pytest.raises(DomainError, match="at most 10"):
        request_extension(session, runtime, step_id=review.id, actor=desk, days=11, reason="再次核查")
    request_extension(session, runtime, step_id=review.id, actor=desk, days=10, reason="再次核查")
    approve_extension(session, runtime, step_id=review.id, actor=SUPERVISOR)
    assert review.due_on == calendar.add_working_days(restarted, 10)
    assert review.outputs["extension"]["granted_days"] == 10
    # the whole maximum is granted on this count: no further request is offered
    assert "request_extension" not in allowed_actions(desk, review, case=case, spec=runtime.spec_for(session, case))
    assert verify_audit(session, case_id=case.id).ok


def test_a_pending_request_is_dropped_by_the_restart(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = timed_runtime(registry, calendar, clock)
    clock.set_local(FRIDAY)
    case = start(session, runtime)
    spec = runtime.spec_for(session, case)
    review = step_of(case, "review")
    desk = work(session, runtime, review)
    request_extension(session, runtime, step_id=review.id, actor=desk, days=4, reason="需专家论证")
    clock.set_local(NOTICE)
    request_supplement(session, runtime, step_id=review.id, actor=desk, materials=["户口簿"])
    clock.set_local(RECEIPT)
    bring_supplement(session, runtime, review, officer=desk)

    assert "pending" not in review.outputs["extension"]
    assert review.outputs["extension"]["lapsed"][0]["pending"]["days"] == 4
    assert events(session, case, "step.receive_supplement")[0]["extension"] == {"lapsed": 0, "dropped": 4}
    # nothing is left for the supervisor to approve; the officer may ask again on the new count
    assert "approve_extension" not in allowed_actions(SUPERVISOR, review, case=case, spec=spec)
    with pytest.raises(IllegalTransition, match="no extension request"):
        approve_extension(session, runtime, step_id=review.id, actor=SUPERVISOR)
    assert "request_extension" in allowed_actions(desk, review, case=case, spec=spec)
    assert review.due_on == calendar.add_working_days(RECEIPT, 20)
    assert verify_audit(session, case_id=case.id).ok


def test_a_restart_without_an_extension_records_none(
    session: Session, registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock
) -> None:
    runtime = timed_runtime(registry, calendar, clock)
    clock.set_local(FRIDAY)
    case = start(session, runtime)
    review = step_of(case, "review")
    desk = work(session, runtime, review)
    clock.set_local(NOTICE)
    request_supplement(session, runtime, step_id=review.id, actor=desk, materials=["户口簿"])
    clock.set_local(RECEIPT)
    bring_supplement(session, runtime, review, officer=desk)
    received = events(session, case, "step.receive_supplement")[0]
    assert "extension" not in received and "extension" not in review.outputs
    assert review.due_on == calendar.add_working_days(RECEIPT, 20)
