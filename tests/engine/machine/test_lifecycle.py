"""Sample bundles driven from acceptance to completion, on every database backend."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from engine.records.audit import case_history, verify_audit
from engine.time.clock import FixedClock
from engine.db.models import Case, Step
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime
from engine.machine.states import CaseState, StepState
from engine.machine.actions import claim_step, complete_step
from tests.engine.sample_people import BRIDE, CLERK, DECEASED, GROOM, CHILD, decider, marriage_answers, post_death_answers


def states(case: Case) -> dict[str, str]:
    return {f"{s.step_key}#{s.instance}" if s.instance else s.step_key: s.state for s in case.steps}


def ready_steps(case: Case) -> list[Step]:
    return [s for s in case.steps if s.state == StepState.READY.value]


def work_off(session: Session, runtime: Runtime, case: Case) -> list[str]:
    """Officers claim and complete whatever is ready until nothing is; returns the order."""
    order: list[str] = []
    while ready := ready_steps(case):
        for step in ready:
            actor = decider(step)
            claim_step(session, runtime, step_id=step.id, actor=actor, expected_version=step.version)
            complete_step(session, runtime, step_id=step.id, actor=actor, outputs={"result": "ok"},
                          expected_version=step.version)
            order.append(step.step_key)
        session.refresh(case)
    return order


def test_marriage_from_acceptance_to_completion(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    case = accept_case(
        session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
        answers=marriage_answers(), actor=CLERK,
    )
    assert case.state == CaseState.ACCEPTED
    assert case.receipt_no == "430102-20260302-00001"
    # Accepted Monday 2 March 2026: 15 working days later is Monday 23 March.
    assert case.due_on == date(2026, 3, 23) and not case.due_provisional
    assert states(case) == {
        "marriage_registration": "ready",
        "marital_status_change": "pending",
        "spouse_household_move": "pending",
        "birth_plan_registration": "pending",
    }
    registration = case.steps[0]
    assert registration.due_on == date(2026, 3, 30)  # 20 working days
    clock.advance(days=1)
    order = work_off(session, runtime, case)
    assert order[0] == "marriage_registration"
    assert set(order[1:]) == {"marital_status_change", "spouse_household_move", "birth_plan_registration"}
    session.refresh(case)
    assert case.state == CaseState.COMPLETED
    assert case.closed_at is not None
    report = verify_audit(session)
    assert report.ok and report.cases == 1
    actions = [e.action for e in case_history(session, case_id=case.id)]
    assert actions[0] == "case.accept" and actions[-1] == "case.complete"


def test_marriage_skips_household_move_for_collective_household(session: Session, runtime: Runtime) -> None:
    case = accept_case(
        session, runtime, bundle_id="marriage", applicant=Applicant(BRIDE, "person"),
        answers=marriage_answers(receiving_household_type="collective", register_birth_plan=False), actor=CLERK,
    )
    assert states(case)["spouse_household_move"] == "skipped"
    assert states(case)["birth_plan_registration"] == "skipped"
    work_off(session, runtime, case)
    session.refresh(case)
    assert case.state == CaseState.COMPLETED
    assert [s.state for s in case.steps].count("done") == 2


@pytest.mark.parametrize("death_kind", ["natural", "unnatural"])
def test_post_death_from_acceptance_to_completion(
    session: Session, runtime: Runtime, clock: FixedClock, death_kind: str
) -> None:
    case = accept_case(
        session, runtime, bundle_id="post_death", applicant=Applicant(CHILD, "person", "测试丙"),
        answers=post_death_answers(death_kind=death_kind), actor=CLERK,
    )
    s = states(case)
    taken, untaken = (
        ("death_certificate", "unnatural_death_certificate")
        if death_kind == "natural"
        else ("unnatural_death_certificate", "death_certificate")
    )
    assert s[taken] == "ready" and s[untaken] == "skipped"
    assert s["will_lookup"] == "ready" and s["shareholding_lookup"] == "skipped"
    # one deposit-withdrawal step per heir, each waiting on the death certificate
    assert s["small_deposit_withdrawal"] == "pending" and s["small_deposit_withdrawal#1"] == "pending"
    assert {st.instance_label for st in case.steps if st.step_key == "small_deposit_withdrawal"} == {"测试丙", "测试戊"}
    order = work_off(session, runtime, case)
    assert order.index("household_cancellation") < order.index("pension_suspension") < order.index("survivor_benefit")
    assert order.index("medical_insurance_termination") < order.index("medical_account_withdrawal")
    session.refresh(case)
    assert case.state == CaseState.COMPLETED
    assert verify_audit(session, case_id=case.id).ok
    assert DECEASED in str(case.answers)
