"""好差评 and 整改, asked of the engine directly, on both backends: a finished case is rated once and
each decided step once; a bad rating opens a rectification for the office rated, due in working
days; the office rectifies with a 回访 record, or appeals and a supervisor decides; the per-office
statistics count what a supervisor would."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, Followup, Rating
from engine.errors import Conflict, DomainError, Forbidden, IllegalTransition, NotFound
from engine.governance.rating_stats import rating_stats
from engine.governance.ratings import rate
from engine.governance.rectification import appeal, decide_appeal, rectify
from engine.machine.states import Actor, CaseState, Role
from engine.records.audit import verify_audit
from engine.runtime import Runtime
from engine.settings import get_settings
from engine.time.clock import local_date
from tests.engine.machine.test_handover import fresh, province_officer, received, work_off
from tests.engine.sample_people import applicant

SUPERVISOR = Actor(id="supervisor-43", role=Role.SUPERVISOR, region="430000")


@pytest.fixture
def finished(session: Session, runtime: Runtime) -> Case:
    case = work_off(session, runtime, received(session, runtime, region="430102"))
    assert case.state == CaseState.COMPLETED.value
    return case


def own(case: Case) -> Actor:
    return applicant(case.applicant_id)


def test_a_finished_case_is_rated_once_and_each_step_once(session: Session, runtime: Runtime, finished: Case) -> None:
    rating = rate(session, runtime, case_id=finished.id, actor=own(finished), level=5,
                  reasons=["quick / 办事效率高"], comment="很好")
    session.commit()
    assert rating.step_id is None and rating.level == 5
    with pytest.raises(Conflict, match=f"rating {rating.id}"):
        rate(session, runtime, case_id=finished.id, actor=own(finished), level=4)
    session.rollback()
    step = fresh(session, finished.id).steps[0]
    by_step = rate(session, runtime, case_id=finished.id, actor=own(finished), level=4, step_id=step.id)
    session.commit()
    assert by_step.office == step.office
    with pytest.raises(Conflict):
        rate(session, runtime, case_id=finished.id, actor=own(finished), level=3, step_id=step.id)
    session.rollback()
    assert session.scalar(select(Followup.id)) is None  # good ratings open nothing
    assert [e.action for e in session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == finished.id, AuditEvent.action == "rating.rated"))] == ["rating.rated"] * 2
    assert verify_audit(session, case_id=finished.id).ok


def test_only_the_applicant_rates_and_only_a_decided_case(session: Session, runtime: Runtime) -> None:
    open_case = received(session, runtime)
    session.commit()
    with pytest.raises(IllegalTransition):
        rate(session, runtime, case_id=open_case.id, actor=own(open_case), level=5)
    session.rollback()
    done = work_off(session, runtime, open_case)
    other = received(session, runtime)
    session.commit()
    with pytest.raises(NotFound):  # another applicant learns nothing of the case
        rate(session, runtime, case_id=done.id, actor=own(other), level=1)
    session.rollback()
    with pytest.raises(DomainError) as bad:
        rate(session, runtime, case_id=done.id, actor=own(done), level=7)
    assert bad.value.field == "level"
    session.rollback()
    with pytest.raises(DomainError) as long:
        rate(session, runtime, case_id=done.id, actor=own(done), level=5, comment="长" * 501)
    assert long.value.field == "comment"
    session.rollback()
    assert session.scalar(select(Rating.id)) is None


def test_a_bad_step_rating_opens_a_rectification_the_office_closes_with_a_call_back(
        session: Session, runtime: Runtime, finished: Case) -> None:
    step = fresh(session, finished.id).steps[0]
    rate(session, runtime, case_id=finished.id, actor=own(finished), level=1, step_id=step.id,
         reasons=["slow / 办事效率低"])
    session.commit()
    task = session.scalars(select(Followup)).one()
    today = local_date(runtime.clock.now())
    assert (task.kind, task.state, task.office, task.department) == ("rectification", "open", step.office,
                                                                     step.department)
    assert get_settings().rectification_working_days == 15
    assert task.due_on == runtime.calendar.add_working_days(today, 15)  # 15 working days, not calendar days
    stranger = Actor(id="officer-x", role=Role.OFFICER, department="99", region="430000")
    with pytest.raises(NotFound):
        rectify(session, runtime, followup_id=task.id, actor=stranger, measures="x",
                called_at=runtime.clock.now(), reached=True)
    session.rollback()
    officer = province_officer(step.department)
    rectify(session, runtime, followup_id=task.id, actor=officer, measures="加派窗口人员",
            called_at=runtime.clock.now() - timedelta(hours=1), reached=True, applicant_view="满意")
    session.commit()
    task = session.get_one(Followup, task.id, populate_existing=True)
    assert (task.state, task.outcome) == ("closed", "rectified")
    assert task.details["callback"]["reached"] is True
    stats = rating_stats(session, region=None, today=today)
    assert stats[step.office].bad == 1 and stats[step.office].rectifications_closed == 1


def test_an_appeal_upheld_stops_the_rating_counting_against_the_office(
        session: Session, runtime: Runtime, finished: Case) -> None:
    step = fresh(session, finished.id).steps[0]
    rate(session, runtime, case_id=finished.id, actor=own(finished), level=2, step_id=step.id)
    session.commit()
    task = session.scalars(select(Followup)).one()
    officer = province_officer(step.department)
    appeal(session, runtime, followup_id=task.id, actor=officer, reason="申请人未按约定时间到场")
    session.commit()
    with pytest.raises(Forbidden):
        decide_appeal(session, runtime, followup_id=task.id, actor=officer, uphold=True)
    session.rollback()
    decide_appeal(session, runtime, followup_id=task.id, actor=SUPERVISOR, uphold=False, note="理由不成立")
    session.commit()
    assert session.get_one(Followup, task.id, populate_existing=True).state == "open"
    appeal(session, runtime, followup_id=task.id, actor=officer, reason="补充监控录像")
    decide_appeal(session, runtime, followup_id=task.id, actor=SUPERVISOR, uphold=True)
    session.commit()
    task = session.get_one(Followup, task.id, populate_existing=True)
    assert (task.state, task.outcome) == ("closed", "appeal_upheld")
    stats = rating_stats(session, region=None, today=local_date(runtime.clock.now()))
    office = stats.get(step.office)
    assert office is None or (office.bad == 0 and office.appeals_upheld == 1)
    assert verify_audit(session, case_id=finished.id).ok
