"""Authorisation inside the engine (issue 11, item 4): the engine's own actions and reads refuse a
caller outside their region, department, level or case — with no HTTP in between, so a CLI
command, a flow or a script gets the same answers as the API (engine.machine.access).

Cases are accepted through the engine and released (routed) by it, so each step is decided where
routing sends it: a marriage registration by the county's 民政 office (11@430102), the
province-level 用地预审 of a land-use case by the province's 自然资源厅 (15@430000).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.db.models import ApiToken, Case, Step
from engine.errors import DomainError, Forbidden, NotFound
from engine.machine import actions
from engine.machine.access import ACCESS_RULES, Access, Target, permits
from engine.machine.intake import Applicant, accept_case
from engine.machine.permissions import allowed_actions
from engine.machine.states import CASE_STARTERS, LEADS, WORKLIST_READERS, Actor, Role
from engine.people.identifiers import make_credit_code
from engine.people.tokens import issue_token
from engine.records.queries import case_status, check_case_scope, check_step_scope, department_worklist, step_detail
from engine.runtime import Runtime
from tests.engine.sample_people import CLERK, GROOM, another_couple, applicant, marriage_answers, officer

COMPANY = make_credit_code("430100", "MA4L77001")
STRANGER = make_credit_code("430100", "MA4L77002")
"""An applicant (a company) with no case here."""


def _officer(department: str, region: str, name: str = "") -> Actor:
    return Actor(id=name or f"officer-{department}-{region}", role=Role.OFFICER, department=department, region=region)


def _marriage(session: Session, runtime: Runtime, *, actor: Actor = CLERK, region: str | None = None) -> Case:
    return accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(**another_couple()), actor=actor, region=region)


def _land_use(session: Session, runtime: Runtime, level: str) -> tuple[Case, Step]:
    """A land-use case of 430102 whose 用地预审 is decided at ``level``, and that step (released)."""
    answers = {
        "company_credit_code": COMPANY, "company_name": "示例科技有限公司", "legal_representative": "测试戊",
        "agent_name": "测试己", "agent_id_number": GROOM, "applicant_phone": "13800000001",
        "project_name": "示例厂房建设项目", "project_location": "长沙市芙蓉区", "total_investment": "50000",
        "investment_procedure": "ratification", "needs_new_land": True, "land_approval_level": level,
        "annual_energy_tce": 100, "annual_electricity_10k_kwh": 10, "eia_document": "report",
    }
    case = accept_case(session, runtime, bundle_id="land_use", applicant=Applicant(COMPANY, "enterprise", "示例科技有限公司"),
                       answers=answers, actor=CLERK)
    step = next(s for s in case.steps if s.step_key == "land_preapproval")
    assert step.state == "ready", step.state
    return case, step


def _version(session: Session, step_id: str) -> int:
    session.expire_all()
    return session.get_one(Step, step_id).version


def test_an_officer_of_another_city_cannot_claim_through_the_engine(session: Session, runtime: Runtime) -> None:
    """The issue's case: claim_step for an officer of 430200 on a 430102 case used to succeed."""
    case = _marriage(session, runtime)
    step = case.steps[0]
    before = step.version
    far = _officer("11", "430200")
    with pytest.raises(NotFound) as hidden:
        actions.claim_step(session, runtime, step_id=step.id, actor=far, expected_version=step.version)
    with pytest.raises(NotFound) as missing:
        actions.claim_step(session, runtime, step_id="f" * 32, actor=far)
    assert hidden.value.message.replace(step.id, "X") == missing.value.message.replace("f" * 32, "X")
    assert hidden.value.field == missing.value.field == "step_id" and case.receipt_no not in hidden.value.message
    assert _version(session, step.id) == before
    assert allowed_actions(far, step, case=case) == []
    with pytest.raises(NotFound):
        check_step_scope(session, actor=far, step_id=step.id)
    with pytest.raises(NotFound):
        check_case_scope(session, actor=far, case_id=case.id)
    claimed = actions.claim_step(session, runtime, step_id=step.id, actor=officer("11"), expected_version=before)
    assert claimed.state == "assigned"


def test_every_engine_action_refuses_a_caller_outside_its_scope(session: Session, runtime: Runtime) -> None:
    """Each action of engine.machine.actions checks, under the case lock, before anything else:
    for a stranger the step or case does not exist, whatever its state or the version sent."""
    case = _marriage(session, runtime)
    step = case.steps[0]
    strangers = [_officer("11", "430200"), _officer("30", "430102"), Actor(id="clerk-far", role=Role.CLERK,
                 region="430200"), Actor(id="sup-far", role=Role.SUPERVISOR, region="430200"), applicant(STRANGER)]
    calls: dict[str, Callable[[Actor], Any]] = {
        "claim_step": lambda who: actions.claim_step(session, runtime, step_id=step.id, actor=who, expected_version=99),
        "unclaim_step": lambda who: actions.unclaim_step(session, runtime, step_id=step.id, actor=who),
        "reassign_step": lambda who: actions.reassign_step(session, runtime, step_id=step.id, actor=who, to="x"),
        "start_step": lambda who: actions.start_step(session, runtime, step_id=step.id, actor=who),
        "complete_step": lambda who: actions.complete_step(session, runtime, step_id=step.id, actor=who),
        "reject_step": lambda who: actions.reject_step(session, runtime, step_id=step.id, actor=who, reason="不符"),
        "request_supplement": lambda who: actions.request_supplement(session, runtime, step_id=step.id, actor=who,
                                                                     materials=["照片"]),
        "hand_in_supplement": lambda who: actions.hand_in_supplement(session, runtime, step_id=step.id, actor=who,
                                                                     material="照片", paper=True),
        "receive_supplement": lambda who: actions.receive_supplement(session, runtime, step_id=step.id, actor=who),
        "supply_deferred": lambda who: actions.supply_deferred(session, runtime, case_id=case.id, actor=who,
                                                               material="照片", paper=True),
        "declare_no_objection": lambda who: actions.declare_no_objection(session, runtime, step_id=step.id, actor=who),
        "raise_objection": lambda who: actions.raise_objection(session, runtime, step_id=step.id, actor=who,
                                                               grounds="有误"),
        "request_extension": lambda who: actions.request_extension(session, runtime, step_id=step.id, actor=who,
                                                                   days=3, reason="核查"),
        "approve_extension": lambda who: actions.approve_extension(session, runtime, step_id=step.id, actor=who),
        "refuse_extension": lambda who: actions.refuse_extension(session, runtime, step_id=step.id, actor=who),
        "withdraw_case": lambda who: actions.withdraw_case(session, runtime, case_id=case.id, actor=who),
    }
    public = {name for name, value in vars(actions).items() if callable(value) and not name.startswith("_")
              and getattr(value, "__module__", "") == actions.__name__ and name != "assignable_officers"}
    assert public == set(calls), "every action of engine.machine.actions is tried here"
    before = step.version
    for name, call in calls.items():
        for who in strangers:
            with pytest.raises(NotFound) as refused:
                call(who)
            assert refused.value.field == ("case_id" if name in ("withdraw_case", "supply_deferred") else "step_id"), (
                name, who)
    assert _version(session, step.id) == before



def test_a_county_officer_never_decides_a_province_level_step(session: Session, runtime: Runtime) -> None:
    case, step = _land_use(session, runtime, "province")
    assert step.department == "15" and step.decided_in == "430000" and step.office == "15@430000"
    county, city, province = _officer("15", "430102"), _officer("15", "430100"), _officer("15", "430000")
    for below in (county, city):
        with pytest.raises(NotFound):
            actions.claim_step(session, runtime, step_id=step.id, actor=below)
        with pytest.raises(NotFound):
            step_detail(session, runtime, step_id=step.id, actor=below)
        assert allowed_actions(below, step, case=case) == []
        listed = department_worklist(session, actor=below, department="15", today=runtime.today())
        assert step.id not in {i.step_id for i in listed.items}
    listed = department_worklist(session, actor=province, department="15", today=runtime.today())
    assert step.id in {i.step_id for i in listed.items}
    assert allowed_actions(province, step, case=case) == ["claim"]
    claimed = actions.claim_step(session, runtime, step_id=step.id, actor=province)
    started = actions.start_step(session, runtime, step_id=step.id, actor=province, expected_version=claimed.version)
    done = actions.complete_step(session, runtime, step_id=step.id, actor=province, expected_version=started.version)
    assert done.state == "done"
    # The county officer reads the case it works on (its other steps) only as progress for this step.
    status = case_status(session, runtime, case_id=case.id, actor=Actor(id="o4", role=Role.OFFICER, department="04",
                                                                        region="430100"))
    shown = next(s for s in status.steps if s.step_key == "land_preapproval")
    assert shown.state == "done" and shown.result == ""


def test_a_province_officer_of_the_department_may_decide_a_county_level_step(session: Session, runtime: Runtime) -> None:
    case, step = _land_use(session, runtime, "county")
    assert step.decided_in == "430102"
    county, province, far = _officer("15", "430102"), _officer("15", "430000"), _officer("15", "430400")
    assert allowed_actions(county, step, case=case) == allowed_actions(province, step, case=case) == ["claim"]
    assert allowed_actions(far, step, case=case) == []
    claimed = actions.claim_step(session, runtime, step_id=step.id, actor=province)
    assert claimed.assigned_to == province.id


def test_supervisors_take_over_only_the_work_of_their_regions_offices(session: Session, runtime: Runtime) -> None:
    case, step = _land_use(session, runtime, "province")
    now = runtime.clock.now()
    issue_token(session, role="officer", department="15", region="430000", label="prov-15", now=now)
    issue_token(session, role="officer", department="15", region="430102", label="county-15", now=now)
    ids = {label: token_id for label, token_id in session.execute(select(ApiToken.label, ApiToken.id))}
    first = Actor(id=ids["prov-15"], role=Role.OFFICER, department="15", region="430000")
    claimed = actions.claim_step(session, runtime, step_id=step.id, actor=_officer("15", "430000", "prov-other"))
    city, province = (Actor(id="sup-cs", role=Role.SUPERVISOR, region="430100"),
                      Actor(id="sup-hn", role=Role.SUPERVISOR, region="430000"))
    # The city's supervisor follows the case (it is the city's) but the province's office decides the step.
    assert check_step_scope(session, actor=city, step_id=step.id).id == step.id
    assert allowed_actions(city, claimed, case=case) == []
    with pytest.raises(Forbidden):
        actions.unclaim_step(session, runtime, step_id=step.id, actor=city)
    assert allowed_actions(province, claimed, case=case) == ["unclaim", "reassign"]
    assert [label for _, label in actions.assignable_officers(session, case=case, step=claimed, now=now)] == ["prov-15"]
    with pytest.raises(DomainError) as refused:
        actions.reassign_step(session, runtime, step_id=step.id, actor=province, to=ids["county-15"])
    assert refused.value.field == "to"
    moved = actions.reassign_step(session, runtime, step_id=step.id, actor=province, to=first.id)
    assert moved.assigned_to == first.id


def _received_in(session: Session, case: Case, region: str) -> None:
    """The receiving window's region (受理地), as intake records it for a clerk's case."""
    session.execute(update(Case).where(Case.id == case.id).values(received_in=region))
    session.commit()
    session.refresh(case)


def test_the_receiving_window_follows_the_case_it_took_in_for_another_region(
    session: Session, runtime: Runtime
) -> None:
    case = _marriage(session, runtime, region="430405")
    _received_in(session, case, "430102")
    step = case.steps[0]
    here, there, elsewhere = (CLERK, Actor(id="clerk-hy", role=Role.CLERK, region="430405"),
                              Actor(id="clerk-zz", role=Role.CLERK, region="430200"))
    for window in (here, there):
        assert check_case_scope(session, actor=window, case_id=case.id).id == case.id
        assert case_status(session, runtime, case_id=case.id, actor=window).receipt_no == case.receipt_no
        assert check_step_scope(session, actor=window, step_id=step.id).id == step.id
    for outside in (elsewhere, Actor(id="sup-cs", role=Role.SUPERVISOR, region="430100")):
        with pytest.raises(NotFound):
            check_case_scope(session, actor=outside, case_id=case.id)
    # The step is decided where the applicant lives: the receiving window's officers do not work it.
    assert step.decided_in != "430102"
    assert allowed_actions(officer("11"), step, case=case) == []
    # The receiving window hands in the 补正 materials and may withdraw for the applicant.
    decider = _officer("11", step.decided_in or case.region)
    claimed = actions.claim_step(session, runtime, step_id=step.id, actor=decider)
    started = actions.start_step(session, runtime, step_id=step.id, actor=decider, expected_version=claimed.version)
    waiting = actions.request_supplement(session, runtime, step_id=step.id, actor=decider, materials=["合影照片"],
                                         expected_version=started.version)
    assert allowed_actions(here, waiting, case=case) == ["hand_in_supplement"]
    with pytest.raises(NotFound):
        actions.hand_in_supplement(session, runtime, step_id=step.id, actor=elsewhere, material="合影照片", paper=True)
    handed = actions.hand_in_supplement(session, runtime, step_id=step.id, actor=here, material="合影照片", paper=True)
    assert handed.state == "supplement_requested"  # the deciding office's officer confirms the receipt
    assert "receive_supplement" in allowed_actions(decider, handed, case=case)
    back = actions.receive_supplement(session, runtime, step_id=step.id, actor=decider)
    assert back.state == "in_progress"
    with pytest.raises(NotFound):
        actions.withdraw_case(session, runtime, case_id=case.id, actor=elsewhere)
    assert actions.withdraw_case(session, runtime, case_id=case.id, actor=here).state == "withdrawn"


def test_in_sight_but_not_ones_role_is_forbidden(session: Session, runtime: Runtime) -> None:
    case = _marriage(session, runtime)
    step = case.steps[0]
    for who in (CLERK, Actor(id="sup", role=Role.SUPERVISOR, region="430100"), Actor(id="admin", role=Role.ADMIN),
                applicant(GROOM)):
        with pytest.raises(Forbidden):
            actions.claim_step(session, runtime, step_id=step.id, actor=who)
    with pytest.raises(Forbidden):
        actions.withdraw_case(session, runtime, case_id=case.id, actor=officer("11"))
    with pytest.raises(Forbidden):
        department_worklist(session, actor=officer("11"), department="09", today=runtime.today())
    with pytest.raises(Forbidden):
        department_worklist(session, actor=Actor(id="nowhere", role=Role.SUPERVISOR), department="11",
                            today=runtime.today())


def test_the_table_names_the_role_groups_of_the_states_module() -> None:
    """The access table and the role groups other modules name agree (one source each)."""
    def roles(access: Access) -> set[Role]:
        return {role for grant in ACCESS_RULES if grant.access is access for role in grant.roles}

    assert roles(Access.START_CASE) == set(CASE_STARTERS)
    assert roles(Access.READ_WORKLIST) == set(WORKLIST_READERS)
    assert roles(Access.READ_SUPERVISION) == set(LEADS)
    assert not permits(Actor(id="s", role=Role.SUPERVISOR), Access.READ_SUPERVISION, Target())
