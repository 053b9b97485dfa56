"""告知承诺, asked of the engine directly, on both backends (issue 13.2): the applicant reads the
letter of land use's 项目备案 and signs exactly it; the step is approved at once and its 备案证明
issued; a post-check opens for the office, drawn reproducibly; the chain commitment → failed
post-check → revoked licence → later step's office notified → the next application falls back to
normal review; a mark arriving between release and signing turns the step to review at signing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, Commitment, CreditMark, Followup, Licence, Notification, Step
from engine.errors import Conflict, DomainError, Forbidden, IllegalTransition, NotFound
from engine.governance.commitments import (
    commitment_letter,
    fail_post_check,
    pass_post_check,
    post_check_draw,
    sign_commitment,
)
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import Actor, Role
from engine.people.identifiers import make_credit_code
from engine.people.licences import valid_licences
from engine.records.audit import verify_audit
from engine.runtime import Runtime
from engine.settings import get_settings
from engine.spec.loader import BUNDLES_DIR, load_draft
from engine.time.clock import FixedClock, local_date
from tests.engine.sample_people import CLERK, GROOM, applicant

COMPANY = make_credit_code("430100", "MA4L88001")
OTHER_COMPANY = make_credit_code("430100", "MA4L88002")


def land_use(session: Session, runtime: Runtime, company: str = COMPANY, *, energy: int = 2000) -> Case:
    """A filed (备案) project of ``company`` in 芙蓉区 using ``energy`` tce a year (≥ 1000: 节能审查 applies,
    after the filing)."""
    answers = {
        "company_credit_code": company, "company_name": "示例科技有限公司", "legal_representative": "测试戊",
        "agent_name": "测试己", "agent_id_number": GROOM, "applicant_phone": "13800000001",
        "project_name": "示例厂房建设项目", "project_location": "长沙市芙蓉区", "total_investment": "50000",
        "investment_procedure": "filing", "needs_new_land": False,
        "annual_energy_tce": energy, "annual_electricity_10k_kwh": 10, "eia_document": "registration_form",
    }
    return accept_case(session, runtime, bundle_id="land_use", applicant=Applicant(company, "enterprise", "示例科技有限公司"),
                       answers=answers, actor=CLERK)


def step_of(session: Session, case: Case, key: str) -> Step:
    return session.scalars(select(Step).where(Step.case_id == case.id, Step.step_key == key)
                           .execution_options(populate_existing=True)).one()


def office_officer(step: Step) -> Actor:
    department, region = (step.office or "").split("@")
    return Actor(id=f"officer-{department}-{region}", role=Role.OFFICER, department=department, region=region)


def events(session: Session, case: Case, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.action == action)
                                .order_by(AuditEvent.seq)))


def test_the_applicant_signs_the_letter_read_and_the_step_is_approved_at_once(session: Session,
                                                                             runtime: Runtime) -> None:
    case = land_use(session, runtime)
    filing = step_of(session, case, "project_filing")
    assert (filing.kind, filing.state) == ("commitment", "ready")
    assert step_of(session, case, "energy_review").state == "pending"  # it waits for the filing
    holder = applicant(COMPANY)
    letter = commitment_letter(session, runtime, step_id=filing.id, actor=holder)
    assert letter.text_hash == hashlib.sha256(letter.text.encode()).hexdigest()
    assert "项目符合国家产业政策" in letter.text and "记入企业信用记录" in letter.text and COMPANY in letter.text
    english = commitment_letter(session, runtime, step_id=filing.id, actor=holder, locale="en")
    assert "industrial policy" in english.text and english.text_hash != letter.text_hash
    with pytest.raises(DomainError) as bad_locale:
        commitment_letter(session, runtime, step_id=filing.id, actor=holder, locale="fr")
    assert bad_locale.value.field == "locale"
    with pytest.raises(NotFound):  # another company learns nothing of this case
        commitment_letter(session, runtime, step_id=filing.id, actor=applicant(OTHER_COMPANY))

    with pytest.raises(Conflict) as changed:
        sign_commitment(session, runtime, step_id=filing.id, actor=holder, text_hash="0" * 64)
    assert changed.value.field == "text_hash"
    with pytest.raises(Forbidden):  # the office does not promise for the company
        sign_commitment(session, runtime, step_id=filing.id, actor=office_officer(filing), text_hash=letter.text_hash)

    signed = sign_commitment(session, runtime, step_id=filing.id, actor=holder, text_hash=letter.text_hash,
                             expected_version=filing.version)
    filing = step_of(session, case, "project_filing")
    assert filing.state == "done" and not signed.review_instead
    commitment = session.scalars(select(Commitment).where(Commitment.step_id == filing.id)).one()
    assert (commitment.signer, commitment.holder_id, commitment.text, commitment.text_hash, commitment.locale) == (
        holder.id, COMPANY, letter.text, letter.text_hash, "zh")
    assert filing.outputs["commitment"]["id"] == commitment.id
    certificate = valid_licences(session, holders=[COMPANY], types=["L1000004"], today=runtime.today())[
        (COMPANY, "L1000004")]
    assert certificate.attributes["project_name"] == "示例厂房建设项目"
    assert step_of(session, case, "energy_review").state == "ready"  # released by the approval
    # land use checks every filing (rate 1): the post-check is the office's, due in 20 working days
    post_check = signed.post_check
    assert post_check is not None and post_check.kind == "post_check"
    assert (post_check.office, post_check.department, post_check.state) == (filing.office, filing.department, "open")
    assert post_check.due_on == runtime.calendar.add_working_days(runtime.today(), 20)
    [event] = events(session, case, "step.sign")
    assert event.payload["commitment"]["text_hash"] == letter.text_hash
    assert event.payload["post_check"]["sampled"] is True and event.payload["licences"][0]["type"] == "L1000004"
    assert [n.template for n in session.scalars(select(Notification).where(
        Notification.case_id == case.id, Notification.channel == "inbox")) if n.template == "step_done"]
    verify_audit(session, case_id=case.id)


def _signed(session: Session, runtime: Runtime, company: str = COMPANY) -> tuple[Case, Step, Followup]:
    case = land_use(session, runtime, company)
    filing = step_of(session, case, "project_filing")
    letter = commitment_letter(session, runtime, step_id=filing.id, actor=applicant(company))
    signed = sign_commitment(session, runtime, step_id=filing.id, actor=applicant(company), text_hash=letter.text_hash)
    assert signed.post_check is not None
    return case, step_of(session, case, "project_filing"), signed.post_check


def test_a_failed_post_check_revokes_marks_notifies_and_the_next_filing_is_reviewed(
        session: Session, runtime: Runtime, clock: FixedClock) -> None:
    case, filing, post_check = _signed(session, runtime)
    energy = step_of(session, case, "energy_review")
    inspector = office_officer(filing)
    with pytest.raises(DomainError) as empty:
        fail_post_check(session, runtime, followup_id=post_check.id, actor=inspector, findings=" ")
    assert empty.value.field == "findings"
    stranger = Actor(id="officer-16", role=Role.OFFICER, department="16", region=inspector.region)
    with pytest.raises(NotFound):  # another department does not check the filing office's commitments
        fail_post_check(session, runtime, followup_id=post_check.id, actor=stranger, findings="x")
    with pytest.raises(Forbidden):  # the company sees its post-check, deciding it is not its to do
        fail_post_check(session, runtime, followup_id=post_check.id, actor=applicant(COMPANY), findings="x")
    clock.advance(days=7)
    fail_post_check(session, runtime, followup_id=post_check.id, actor=inspector,
                    findings="现场核查：项目实际总投资与备案不符，且属于须核准项目", expected_version=0)

    session.expire_all()
    checked = session.get_one(Followup, post_check.id)
    assert (checked.state, checked.outcome) == ("closed", "failed")
    filing = step_of(session, case, "project_filing")
    assert filing.state == "done" and filing.outputs["revoked"]["reason"].startswith("现场核查")
    assert valid_licences(session, holders=[COMPANY], types=["L1000004"], today=runtime.today()) == {}
    certificate = session.scalars(select(Licence).where(Licence.source_step_id == filing.id)).one()
    assert certificate.revoked_at is not None
    [mark] = session.scalars(select(CreditMark).where(CreditMark.holder_id == COMPANY)).all()
    assert (mark.severity, mark.case_id, mark.followup_id, mark.lifted_at) == ("serious", case.id, post_check.id, None)
    assert mark.expires_on is not None and mark.expires_on.year == local_date(clock.now()).year + get_settings().credit_mark_years
    # the energy office (its step waited for the filing) is told; so is the applicant
    office_notices = session.scalars(select(Notification).where(Notification.recipient == energy.office)).all()
    assert [n.template for n in office_notices] == ["office_result_revoked"]
    assert "节能审查" in office_notices[0].body or energy.item_code in office_notices[0].body
    assert "result_revoked" in {n.template for n in session.scalars(select(Notification).where(
        Notification.recipient == COMPANY))}
    [revoke] = events(session, case, "step.revoke_result")
    assert revoke.payload["revoked"][0]["type"] == "L1000004"
    [failed] = events(session, case, "followup.post_check.fail")
    assert failed.payload["credit_mark"]["id"] == mark.id and failed.payload["notified_offices"] == [energy.office]
    verify_audit(session, case_id=case.id)

    # The company files its next project: no commitment path while the mark stands.
    nxt = land_use(session, runtime)
    review = step_of(session, nxt, "project_filing")
    assert (review.kind, review.state) == ("human", "ready")
    [released] = [e for e in events(session, nxt, "step.release") if e.step_id == review.id]
    assert released.payload["review_instead"]["credit_mark"] == mark.id
    with pytest.raises(IllegalTransition):
        commitment_letter(session, runtime, step_id=review.id, actor=applicant(COMPANY))
    # another company is not affected
    other = step_of(session, land_use(session, runtime, OTHER_COMPANY), "project_filing")
    assert other.kind == "commitment"


def test_a_passed_post_check_closes_and_marks_nothing(session: Session, runtime: Runtime) -> None:
    case, filing, post_check = _signed(session, runtime)
    pass_post_check(session, runtime, followup_id=post_check.id, actor=office_officer(filing), findings="经核查属实")
    session.expire_all()
    assert session.get_one(Followup, post_check.id).outcome == "passed"
    assert session.scalars(select(CreditMark)).all() == []
    assert len(valid_licences(session, holders=[COMPANY], types=["L1000004"], today=runtime.today())) == 1
    with pytest.raises(IllegalTransition):  # decided once
        fail_post_check(session, runtime, followup_id=post_check.id, actor=office_officer(filing), findings="x")


def test_a_mark_between_release_and_signing_turns_the_step_to_review(session: Session, runtime: Runtime) -> None:
    _case, first, post_check = _signed(session, runtime)
    waiting = land_use(session, runtime)  # released while the company is still in good standing
    pending = step_of(session, waiting, "project_filing")
    letter = commitment_letter(session, runtime, step_id=pending.id, actor=applicant(COMPANY))
    fail_post_check(session, runtime, followup_id=post_check.id, actor=office_officer(first), findings="虚假承诺")
    signed = sign_commitment(session, runtime, step_id=pending.id, actor=applicant(COMPANY), text_hash=letter.text_hash)
    assert signed.review_instead and signed.commitment is None
    turned = step_of(session, waiting, "project_filing")
    assert (turned.kind, turned.state) == ("human", "ready")
    assert events(session, waiting, "step.review_instead")[0].payload["review_instead"]["credit_mark"]
    assert session.scalars(select(Commitment).where(Commitment.step_id == pending.id)).all() == []


def test_the_draw_is_reproducible_and_the_rate_decides(session: Session, runtime: Runtime, tmp_path: Path) -> None:
    assert post_check_draw("abc", seed="s") == post_check_draw("abc", seed="s")
    assert post_check_draw("abc", seed="s") != post_check_draw("abc", seed="t")
    draws = [post_check_draw(f"{i:032x}", seed="onevisit") for i in range(4000)]
    assert 0.27 < sum(d < 0.3 for d in draws) / len(draws) < 0.33  # a uniform draw: the rate is the share
    text = (BUNDLES_DIR / "land_use.yaml").read_text(encoding="utf-8").replace(
        "post_check: {working_days: 20, rate: 1}", "post_check: {working_days: 20, rate: 0}")
    path = tmp_path / "land_use.yaml"
    path.write_text(text, encoding="utf-8")
    never = runtime.with_draft(load_draft(path, runtime.registry))
    case = land_use(session, never)
    filing = step_of(session, case, "project_filing")
    letter = commitment_letter(session, never, step_id=filing.id, actor=applicant(COMPANY))
    signed = sign_commitment(session, never, step_id=filing.id, actor=applicant(COMPANY), text_hash=letter.text_hash)
    assert signed.post_check is None and step_of(session, case, "project_filing").state == "done"
    [event] = events(session, case, "step.sign")
    assert event.payload["post_check"] == {"sampled": False, "rate": 0, "draw": round(post_check_draw(
        filing.id, seed=get_settings().post_check_seed), 6)}
