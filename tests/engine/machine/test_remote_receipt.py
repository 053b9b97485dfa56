"""异地代收代办 end to end in the engine (no HTTP), on both backends: a 芙蓉区 (430102) window receives
a land-use application for a 衡阳 (430405) company; its steps are decided in 衡阳 (the city's and
珠晖区's offices) and at the province (用地预审, 省级权限); only those offices may work them — the
same department's 芙蓉区 officer is refused by the engine — and once the case is finished the results
are handed out where it came in, 430102, not at the company's home window."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Case, Handover, Step
from engine.errors import Forbidden, NotFound
from engine.machine.actions import claim_step, complete_step
from engine.machine.handover import hand_over
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import Actor, CaseState, Role, StepState
from engine.people.identifiers import make_credit_code, make_id_number
from engine.runtime import Runtime
from tests.engine.sample_people import CLERK, decider, officer

HENGYANG_COMPANY = make_credit_code("430405", "MA4L88001")
HOME_CLERK = Actor(id="clerk-zhuhui", role=Role.CLERK, region="430405")
AGENT = make_id_number("430405", date(1985, 3, 9), 21)


def received(session: Session, runtime: Runtime) -> Case:
    answers = {
        "company_credit_code": HENGYANG_COMPANY, "company_name": "衡阳示例制造有限公司", "legal_representative": "测试庚",
        "agent_name": "测试辛", "agent_id_number": AGENT, "applicant_phone": "13800000002",
        "project_name": "示例生产线项目", "project_location": "衡阳市珠晖区", "total_investment": "80000",
        "investment_procedure": "ratification", "needs_new_land": True, "land_approval_level": "province",
        "annual_energy_tce": 100, "annual_electricity_10k_kwh": 10, "eia_document": "report",
    }
    return accept_case(session, runtime, bundle_id="land_use",
                       applicant=Applicant(HENGYANG_COMPANY, "enterprise", "衡阳示例制造有限公司"),
                       answers=answers, actor=CLERK, region="430405")


def fresh(session: Session, case_id: str) -> Case:
    session.rollback()
    case = session.get_one(Case, case_id, populate_existing=True)
    session.scalars(select(Step).where(Step.case_id == case_id).execution_options(populate_existing=True)).all()
    return case


def test_received_in_changsha_decided_in_hengyang_and_the_province_handed_out_in_changsha(
    session: Session, runtime: Runtime
) -> None:
    case = received(session, runtime)
    assert (case.received_in, case.region) == ("430102", "430405")
    decided: dict[str, str] = {}
    refused_locally = 0
    for _ in range(12):
        case = fresh(session, case.id)
        ready = [s for s in case.steps if s.state == StepState.READY.value]
        if not ready:
            break
        for step in ready:
            assert step.decided_in is not None
            decided[step.step_key] = step.decided_in
            # The same department's officer at the receiving window's county may not decide it.
            with pytest.raises((NotFound, Forbidden)):
                claim_step(session, runtime, step_id=step.id, actor=officer(step.department, "430102"))
            claim_step(session, runtime, step_id=step.id, actor=decider(step))
            complete_step(session, runtime, step_id=step.id, actor=decider(step))
            refused_locally += 1
    case = fresh(session, case.id)
    assert case.state == CaseState.COMPLETED.value, {s.step_key: s.state for s in case.steps}
    assert decided["land_preapproval"] == "430000"  # 省级权限: the province's 自然资源厅
    assert all(region == "430000" or region.startswith("4304") for region in decided.values()), decided
    assert any(region.startswith("4304") for region in decided.values())
    assert refused_locally == len(decided) >= 3

    # The company's home window did not receive it, so it does not hand the results out.
    with pytest.raises(Forbidden, match="430102"):
        hand_over(session, runtime, case_id=case.id, actor=HOME_CLERK, recipient="applicant", method="window")
    view = hand_over(session, runtime, case_id=case.id, actor=CLERK, recipient="agent", method="window",
                     agent_name="测试辛", agent_id_number=AGENT)
    assert view.region == "430102" and view.agent_id_number_masked != AGENT
    row = session.get_one(Handover, case.id)
    assert (row.region, row.handed_by) == ("430102", CLERK.id)
