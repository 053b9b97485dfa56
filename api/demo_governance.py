"""The demo's governance part (issue 13), after every bundle ran: each rule a province is assessed
on, exercised through the engine as the people involved would.

* 好差评: the marriage couple rates its case 非常满意; the post-death heir rates a step 不满意, and
  the office rectifies with its 回访 call-back.
* 告知承诺: 示例科技 files a project on commitment and the 发改 office's post-check finds it true;
  示例建材 files one that the check finds false: its 备案证明 is revoked, the energy office told,
  the company marked; its next filing goes to normal review, is left late until its red card,
  and the office's 情况说明 is accepted by the city's supervisor.
* 12345: the hotline passes on a complaint about the marriage case; the office answers it.

The data (the filing's answers, which company, the complaint) is in ``demo_scenarios.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.demo import DemoData, DemoResult, Report, dated, synthetic_company, work_off
from engine.db.models import Card, Case, Followup, Step
from engine.governance.commitments import commitment_letter, fail_post_check, pass_post_check, sign_commitment
from engine.governance.complaints import answer_complaint, receive_complaint
from engine.governance.explanations import accept_explanation, submit_explanation
from engine.governance.ratings import rate
from engine.governance.rectification import rectify
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import Actor, Role
from engine.machine.unit_of_work import in_transaction
from engine.runtime import Runtime
from engine.settings import get_settings
from engine.time.clock import FixedClock
from engine.time.supervision import issue_cards

CLERK = Actor(id="demo-clerk", role=Role.CLERK, region="430102")
HOTLINE = Actor(id="demo-hotline-4301", role=Role.SUPERVISOR, region="430100", label="12345 长沙")
"""The 长沙 12345 centre's integration token: a supervisor's, over the city."""
SUPERVISOR = Actor(id="demo-supervisor-4301", role=Role.SUPERVISOR, region="430100")


@dataclass(frozen=True)
class GovernanceResult:
    """What the governance demo did, for the report and the test."""

    ratings: int
    rectified: int
    post_checks_passed: int
    post_checks_failed: int
    reviewed_instead: bool
    explanations_accepted: int
    complaints_answered: int


def _office_officer(office: str | None) -> Actor:
    department, region = (office or "").split("@")
    return Actor(id=f"demo-officer-{department}", role=Role.OFFICER, department=department, region=region)


def _applicant(case: Case) -> Actor:
    return Actor(id=f"demo-applicant-{case.applicant_id[-4:]}", role=Role.APPLICANT, subject=case.applicant_id)


def _case(session: Session, results: list[DemoResult], bundle_id: str) -> Case:
    receipt = next(r.receipt_no for r in results if r.bundle_id == bundle_id)
    return session.scalars(select(Case).where(Case.receipt_no == receipt)).one()


def _first_done(session: Session, case: Case) -> Step:
    return session.scalars(select(Step).where(Step.case_id == case.id, Step.state == "done")
                           .order_by(Step.position)).first() or case.steps[0]


def _ratings(session: Session, runtime: Runtime, clock: FixedClock, results: list[DemoResult],
             report: Report) -> tuple[int, int]:
    marriage = _case(session, results, "marriage")
    in_transaction(session, lambda: rate(session, runtime, case_id=marriage.id, actor=_applicant(marriage), level=5,
                                         reasons=["quick / 办事效率高"], comment="一次就办好了", channel="web"))
    heirs = _case(session, results, "post_death")
    step = _first_done(session, heirs)
    rating = in_transaction(session, lambda: rate(session, runtime, case_id=heirs.id, actor=_applicant(heirs), level=2,
                                                  reasons=["slow / 办事效率低"], step_id=step.id, channel="notice"))
    followup = session.scalars(select(Followup).where(Followup.rating_id == rating.id)).one()
    report(f"[governance] 好差评: {marriage.receipt_no} rated 非常满意; {heirs.receipt_no} {step.step_key} rated 不满意 "
           f"→ rectification #{followup.id} for {followup.office}, due {followup.due_on}")
    clock.advance(days=2)
    in_transaction(session, lambda: rectify(
        session, runtime, followup_id=followup.id, actor=_office_officer(followup.office),
        measures="已优化窗口排队与材料预审流程", called_at=clock.now(), reached=True, applicant_view="满意"))
    report(f"[governance]   rectification #{followup.id} closed with its 回访 call-back")
    return 2, 1


def _file(session: Session, runtime: Runtime, data: DemoData, code: str) -> Case:
    """A filing of the company with credit code ``code`` (the yaml's ``{company: N}``, expanded)."""
    name = next(c["name"] for n, c in data.companies.items() if synthetic_company(n) == code)
    answers: dict[str, Any] = {"company_credit_code": code, **data.governance["filing"]["answers"]}
    return accept_case(session, runtime, bundle_id="land_use", applicant=Applicant(code, "enterprise", name),
                       answers=dated(answers, runtime.today()), actor=CLERK, region="430102")


def _filing(session: Session, case: Case) -> Step:
    return session.scalars(select(Step).where(Step.case_id == case.id, Step.step_key == "project_filing")).one()


def _sign(session: Session, runtime: Runtime, case: Case) -> Followup:
    step = _filing(session, case)
    holder = _applicant(case)
    letter = commitment_letter(session, runtime, step_id=step.id, actor=holder)
    signed = sign_commitment(session, runtime, step_id=step.id, actor=holder, text_hash=letter.text_hash)
    assert signed.post_check is not None, "land use checks every filing (post_check rate 1)"
    return signed.post_check


def _commitments(session: Session, runtime: Runtime, clock: FixedClock, data: DemoData,
                 report: Report) -> tuple[int, int, bool, int]:
    honest = _file(session, runtime, data, str(data.governance["true_filing"]))
    check = _sign(session, runtime, honest)
    report(f"[governance] 告知承诺: {honest.receipt_no} filed on commitment → post-check #{check.id} due {check.due_on}")
    work_off(session, runtime, clock, case=honest, report=report)
    pass_post_check(session, runtime, followup_id=check.id, actor=_office_officer(check.office),
                    findings="经核查，项目备案信息属实")
    report(f"[governance]   post-check #{check.id} passed")

    false = _file(session, runtime, data, str(data.governance["false_filing"]))
    check = _sign(session, runtime, false)
    work_off(session, runtime, clock, case=false, report=report)
    fail_post_check(session, runtime, followup_id=check.id, actor=_office_officer(check.office),
                    findings="现场核查：项目实际建设内容与备案信息不符")
    report(f"[governance]   {false.receipt_no}: post-check #{check.id} failed → 备案证明 revoked, credit mark, "
           "the energy office told")

    again = _file(session, runtime, data, str(data.governance["false_filing"]))
    review = _filing(session, again)
    reviewed_instead = review.kind == "human"
    report(f"[governance]   {again.receipt_no}: the company's next filing goes to normal review ({review.kind})")
    # Nobody works it until it is red: the 发改 office then owes a 情况说明.
    assert review.due_on is not None
    red_after = get_settings().red_after_days
    clock.set_local(runtime.calendar.add_working_days(review.due_on, red_after))
    issue_cards(session, runtime, red_after_working_days=red_after)
    card = session.scalars(select(Card).where(Card.step_id == review.id, Card.colour == "red")).one()
    officer = _office_officer(review.office)
    in_transaction(session, lambda: submit_explanation(
        session, runtime, card_id=card.id, actor=officer, reason="经办人员病假，未及时移交",
        corrective_action="建立AB岗，每日清查到期件", responsible=officer.id))
    in_transaction(session, lambda: accept_explanation(session, runtime, card_id=card.id, actor=SUPERVISOR,
                                                       note="说明属实，整改措施可行"))
    report(f"[governance]   red card #{card.id} explained by {review.office}, accepted by the supervisor")
    work_off(session, runtime, clock, case=again, report=report)
    return 1, 1, reviewed_instead, 1


def _complaint(session: Session, runtime: Runtime, results: list[DemoResult], data: DemoData,
               report: Report) -> int:
    marriage = _case(session, results, "marriage")
    registration = _first_done(session, marriage)
    given = data.governance["complaint"]
    complaint, _ = in_transaction(session, lambda: receive_complaint(
        session, runtime, actor=HOTLINE, ticket_no=given["ticket_no"], receipt_no=marriage.receipt_no,
        text=given["text"], category=given.get("category", ""), caller_phone_last4=given.get("caller_phone_last4", ""),
        step_id=registration.id))
    report(f"[governance] 12345: ticket {given['ticket_no']} → complaint #{complaint.id} for {complaint.office}, "
           f"due {complaint.due_on}")
    in_transaction(session, lambda: answer_complaint(session, runtime, followup_id=complaint.id,
                                                     actor=_office_officer(complaint.office),
                                                     answer="已核实，增设预约时段并向来电人致歉"))
    report(f"[governance]   complaint #{complaint.id} answered")
    return 1


def run_governance(session: Session, runtime: Runtime, clock: FixedClock, *, data: DemoData,
                   results: list[DemoResult], report: Report) -> GovernanceResult:
    """Exercise ratings, commitments, supervision and the hotline on the demo's finished cases."""
    ratings, rectified = _ratings(session, runtime, clock, results, report)
    passed, failed, reviewed, explained = _commitments(session, runtime, clock, data, report)
    answered = _complaint(session, runtime, results, data, report)
    return GovernanceResult(ratings=ratings, rectified=rectified, post_checks_passed=passed,
                            post_checks_failed=failed, reviewed_instead=reviewed, explanations_accepted=explained,
                            complaints_answered=answered)
