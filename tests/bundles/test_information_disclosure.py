"""依申请公开, the 11th bundle, written as data only (政府信息公开条例 §30-§33): driven as an office
would — the §33 limit counts from receipt, a third party is consulted only when the registering
officer says so and that time does not count, one 补正 notice, a §42-style extension of at most
20 working days with approval — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from engine.db.models import Case, Step
from engine.errors import DomainError
from engine.machine.actions import (
    approve_extension,
    claim_step,
    complete_step,
    request_extension,
    request_supplement,
    start_step,
)
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import Actor, CaseState, Role, StepState
from engine.runtime import Runtime
from engine.time.clock import FixedClock
from tests.engine.sample_people import CLERK, GROOM, officer

OFFICE = "01"
SUPERVISOR = Actor(id="supervisor-01", role=Role.SUPERVISOR, department=OFFICE, region="430102")


def request(session: Session, runtime: Runtime) -> Case:
    return accept_case(
        session, runtime, bundle_id="information_disclosure", applicant=Applicant(GROOM, "person", "测试甲"),
        answers={"applicant_name": "测试甲", "applicant_id_number": GROOM, "applicant_phone": "13800000001",
                 "information_description": "2025年度示例区老旧小区改造项目资金使用情况",
                 "provision_form": "electronic", "delivery_method": "email"},
        actor=CLERK,
    )


def step(case: Case, key: str) -> Step:
    return next(s for s in case.steps if s.step_key == key)


def work(session: Session, runtime: Runtime, target: Step, outputs: dict[str, object]) -> None:
    desk = officer(target.department)
    claim_step(session, runtime, step_id=target.id, actor=desk)
    complete_step(session, runtime, step_id=target.id, actor=desk, outputs=outputs)


def test_the_answer_is_due_twenty_working_days_after_receipt(session: Session, runtime: Runtime,
                                                             clock: FixedClock) -> None:
    case = request(session, runtime)  # Monday 2 March 2026
    assert case.due_on == date(2026, 3, 30)  # 20 working days
    clock.set_local(date(2026, 3, 4))
    work(session, runtime, step(case, "registration"), {"result": "已登记"})
    answer = step(case, "answer")
    assert step(case, "third_party_consultation").state == StepState.SKIPPED  # no third party recorded
    # counted from the registration's release (receipt), not from the day registering finished
    assert answer.state == StepState.READY and answer.due_on == date(2026, 3, 30)
    work(session, runtime, answer, {"result": "公开", "answer": "予以公开"})
    assert case.state == CaseState.COMPLETED


def test_third_party_consultation_does_not_count(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    case = request(session, runtime)
    work(session, runtime, step(case, "registration"), {"result": "已登记", "third_party": True})
    consultation = step(case, "third_party_consultation")
    assert consultation.state == StepState.READY and step(case, "answer").state == StepState.PENDING
    clock.set_local(date(2026, 3, 16))  # two weeks with the third party: 10 working days
    work(session, runtime, consultation, {"result": "第三方不同意公开"})
    # the bundle's clock stood still while only the excluded consultation ran
    assert case.paused_days == 10 and case.due_on == date(2026, 4, 14)


def test_one_notice_and_an_extension_of_at_most_twenty_days(session: Session, runtime: Runtime) -> None:
    case = request(session, runtime)
    work(session, runtime, step(case, "registration"), {"result": "已登记"})
    answer = step(case, "answer")
    desk = officer(OFFICE)
    claim_step(session, runtime, step_id=answer.id, actor=desk)
    start_step(session, runtime, step_id=answer.id, actor=desk)
    with pytest.raises(DomainError, match="at most 20 more working_days"):
        request_extension(session, runtime, step_id=answer.id, actor=desk, days=21, reason="需调取档案")
    request_extension(session, runtime, step_id=answer.id, actor=desk, days=20, reason="需调取档案")
    before = answer.due_on
    approve_extension(session, runtime, step_id=answer.id, actor=SUPERVISOR)
    assert before is not None and answer.due_on is not None and answer.due_on > before
    request_supplement(session, runtime, step_id=answer.id, actor=desk, materials=["申请内容描述"])
    assert answer.state == StepState.SUPPLEMENT_REQUESTED
