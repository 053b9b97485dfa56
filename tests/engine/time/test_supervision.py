"""Yellow and red cards: the clock jumps past due dates; sweeps are set-based and idempotent."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.db.models import Card, Case
from engine.errors import DomainError
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime
from engine.time.supervision import card_counts, issue_cards, list_cards, red_cutoff, resolve_cards
from engine.machine.actions import claim_step, complete_step, request_supplement, start_step
from tests.engine.sample_people import CLERK, GROOM, another_couple, marriage_answers, officer


def _case(session: Session, runtime: Runtime) -> Case:
    return accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(**another_couple()), actor=CLERK)


def _cards(session: Session) -> set[tuple[str, str | None]]:
    return {(c.colour, c.step_id) for c in session.scalars(select(Card))}


def _first_day_with(calendar: WorkingCalendar, due: date, working_days: int) -> date:
    day = due
    while calendar.working_days_between(due, day) < working_days:
        day += timedelta(days=1)
    return day


def test_yellow_then_red_cards_once_each(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    case = _case(session, runtime)
    registration = case.steps[0]
    assert (case.due_on, registration.due_on) == (date(2026, 3, 23), date(2026, 3, 30))
    clock.set_local(case.due_on)
    assert issue_cards(session, runtime) == []  # due today is not yet overdue
    clock.set_local(case.due_on + timedelta(days=1))
    first = issue_cards(session, runtime)
    assert [(c.colour, c.step_id, c.department, c.region, c.working_days_overdue) for c in first] == [
        ("yellow", None, None, "430102", 1)
    ]
    assert issue_cards(session, runtime) == []  # a second sweep issues nothing again
    clock.set_local(registration.due_on + timedelta(days=1))
    second = issue_cards(session, runtime)
    case_late = runtime.calendar.working_days_between(case.due_on, runtime.today())
    assert case_late >= 5
    assert {(c.colour, c.step_id, c.working_days_overdue) for c in second} == {
        ("yellow", registration.id, 1), ("red", None, case_late)
    }
    step_card = next(c for c in second if c.step_id == registration.id)
    assert step_card.department == "11" and step_card.issued_on == runtime.today() and step_card.resolved_at is None
    # The step turns red on the first day it is five working days late, not a day before.
    red_day = _first_day_with(runtime.calendar, registration.due_on, 5)
    clock.set_local(red_day - timedelta(days=1))
    assert issue_cards(session, runtime) == []
    clock.set_local(red_day)
    red = issue_cards(session, runtime)
    assert [(c.colour, c.step_id, c.working_days_overdue) for c in red] == [("red", registration.id, 5)]
    clock.advance(days=30)
    assert issue_cards(session, runtime) == [] and issue_cards(session, runtime) == []
    assert session.scalar(select(func.count()).select_from(Card)) == 4
    assert card_counts(session.scalars(select(Card))) == {"yellow": 2, "red": 2}


def test_stopped_clocks_get_no_card_and_closed_work_resolves(
    session: Session, runtime: Runtime, clock: FixedClock
) -> None:
    waiting, working = _case(session, runtime), _case(session, runtime)
    actor = officer("11")
    step = waiting.steps[0]
    claim_step(session, runtime, step_id=step.id, actor=actor)
    start_step(session, runtime, step_id=step.id, actor=actor)
    request_supplement(session, runtime, step_id=step.id, actor=actor, materials=["合影照片"])
    clock.set_local(date(2026, 4, 15))
    issued = issue_cards(session, runtime, red_after_working_days=3)
    assert waiting.id not in {c.case_id for c in issued}  # 补正 stopped both the step's and the case's clock
    assert {(c.colour, c.step_id) for c in issued} == {
        ("yellow", working.steps[0].id), ("red", working.steps[0].id), ("yellow", None), ("red", None)
    }
    assert resolve_cards(session, runtime) == 0
    target = working.steps[0]
    claim_step(session, runtime, step_id=target.id, actor=actor)
    complete_step(session, runtime, step_id=target.id, actor=actor)
    assert resolve_cards(session, runtime) == 2  # the step's two cards; the case is still open
    assert resolve_cards(session, runtime) == 0
    open_cards = list_cards(session, region="430100")
    # the case's red card supersedes its yellow one: one card shown per case (and per step)
    assert {(c.colour, c.step_id, c.receipt_no) for c in open_cards} == {("red", None, working.receipt_no)}
    assert len(list_cards(session, region="430000", open_only=False)) == 2
    assert session.scalar(select(func.count()).select_from(Card)) == 4  # both rows kept as history
    assert [c.step_key for c in list_cards(session, region=None, colour="red", open_only=False)
            if c.step_id] == ["marriage_registration"]
    assert list_cards(session, region="430200") == []
    with pytest.raises(DomainError):
        list_cards(session, region=None, colour="green")


def test_red_cutoff_matches_working_day_count(calendar: WorkingCalendar) -> None:
    for today in (date(2026, 3, 2), date(2026, 4, 7), date(2026, 10, 9), date(2027, 1, 4)):
        for n in (1, 2, 5, 10):
            cutoff = red_cutoff(calendar, today, n)
            assert calendar.working_days_between(cutoff, today) >= n
            assert calendar.working_days_between(cutoff + timedelta(days=1), today) < n
    with pytest.raises(DomainError):
        red_cutoff(calendar, date(2026, 3, 2), 0)


def test_sweep_task_counts_cards(session: Session, runtime: Runtime, clock: FixedClock, db: object) -> None:
    from flows.context import FlowContext, use_context
    from flows.sweep import issue_cards as issue_cards_task

    _case(session, runtime)
    clock.set_local(date(2026, 3, 31))
    use_context(FlowContext(db.sessions, runtime))  # type: ignore[attr-defined]
    try:
        assert issue_cards_task.fn() == {"yellow_cards": 2, "red_cards": 1, "cards_resolved": 0}
        assert issue_cards_task.fn() == {"yellow_cards": 0, "red_cards": 0, "cards_resolved": 0}
    finally:
        use_context(None)
    assert _cards(session) == {("yellow", None), ("red", None), ("yellow", _first_step(session))}


def _first_step(session: Session) -> str:
    case = session.scalars(select(Case)).one()
    return case.steps[0].id


# --- issue 9, item 5: the dashboard counts what the worklists show, through the open-steps index


def test_dashboard_open_counts_agree_with_the_worklists(session: Session, runtime: Runtime) -> None:
    from engine.db.models import OPEN_WORK_STATES, Step
    from engine.machine.states import STEP_ACTIVE
    from engine.records.queries import worklist
    from engine.time.supervision import supervision_stats

    assert set(OPEN_WORK_STATES) == {s.value for s in STEP_ACTIVE}
    _case(session, runtime), _case(session, runtime)
    pending = session.scalar(select(func.count()).select_from(Step).where(Step.state == "pending"))
    assert pending, "the marriage bundle has steps waiting on others: they must not count as open work"
    stats = supervision_stats(session, region="430000", today=runtime.today())
    assert stats.departments
    for load in stats.departments:
        listed = worklist(session, department=load.department, region="430000", state=None, due_within_days=None,
                          overdue=False, today=runtime.today(), limit=1000)
        assert load.open == listed.total, load.department
    released = session.scalar(select(func.count()).select_from(Step).where(Step.state.in_(OPEN_WORK_STATES)))
    assert sum(load.open for load in stats.departments) == released


def test_dashboard_query_uses_the_partial_open_steps_index(session: Session, runtime: Runtime) -> None:
    from engine.time.supervision import supervision_stats

    _case(session, runtime)
    captured: list[tuple[str, object]] = []
    bind = session.get_bind()
    from sqlalchemy import event

    def keep(_conn: object, _cursor: object, statement: str, parameters: object, *_args: object) -> None:
        captured.append((statement, parameters))

    event.listen(bind, "before_cursor_execute", keep)
    try:
        supervision_stats(session, region=None, today=runtime.today())
    finally:
        event.remove(bind, "before_cursor_execute", keep)
    loads, parameters = next(c for c in captured if "GROUP BY steps.department" in c[0])
    # The WHERE names the index predicate's states as literals, in its order.
    assert "steps.state IN ('ready', 'assigned', 'in_progress', 'supplement_requested')" in loads
    if session.get_bind().dialect.name == "postgresql":
        connection = session.connection()
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + loads, parameters))  # type: ignore[arg-type]
        session.rollback()
        # either partial index of the open steps (revision 0012 added one by due date): never all steps
        assert "ix_steps_open_department" in plan or "ix_steps_active_due" in plan, plan
    else:
        rows = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + loads, parameters)  # type: ignore[arg-type]
        plan = "\n".join(str(r[-1]) for r in rows)
        # either partial index of the open steps (revision 0012 added one by due date): never all steps
        assert "ix_steps_open_department" in plan or "ix_steps_active_due" in plan, plan
