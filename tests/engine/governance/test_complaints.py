"""12345 诉求, asked of the engine directly, on both backends: the hotline delivers a complaint once
per ticket (twice is the same complaint, another text a conflict, two racing deliveries one row),
linked to a case by receipt or by applicant within its region, assigned to the office working the
case, due in working days; the office answers, the hotline reopens, the office answers again; the
per-office counts and the lists see what each actor would; an overdue complaint is carded."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Card, Case, Followup
from engine.errors import Conflict, DomainError, Forbidden, NotFound
from engine.governance.complaints import (
    answer_complaint,
    complaint_counts,
    list_complaints,
    receive_complaint,
    reopen_complaint,
)
from engine.machine.actions import claim_step, complete_step
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import SYSTEM, Actor, CaseState, Role
from engine.records.audit import verify_audit
from engine.runtime import Runtime
from engine.settings import get_settings
from engine.time.clock import FixedClock, local_date
from engine.time.supervision import issue_cards
from tests.conftest import Database
from tests.engine.machine.test_handover import FAR_CLERK, fresh, province_officer, received, work_off
from tests.engine.sample_people import CLERK, another_couple, applicant, marriage_answers, officer

HOTLINE = Actor(id="hotline-4301", role=Role.SUPERVISOR, region="430100", label="12345 长沙")
"""The 长沙 12345 centre's integration token: a supervisor's, over the city."""
FAR_HOTLINE = Actor(id="hotline-4302", role=Role.SUPERVISOR, region="430200", label="12345 株洲")


def couple_case(session: Session, runtime: Runtime, subject: str, *, clerk: Actor = CLERK,
                region: str = "430102") -> Case:
    """A marriage case with ``subject`` as the applicant (a new couple's answers each time)."""
    answers = marriage_answers(**another_couple(), move_household=False, register_birth_plan=False)
    return accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(subject, "person"),
                       answers=answers, actor=clerk, region=region)


def complaints(session: Session) -> list[Followup]:
    return list(session.scalars(select(Followup).where(Followup.kind == "complaint").order_by(Followup.id)
                                .execution_options(populate_existing=True)))


def actions(session: Session, case_id: str) -> list[str]:
    return [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id)
                                              .order_by(AuditEvent.seq)) if e.action.startswith("followup.")]


def test_the_same_ticket_twice_is_one_complaint_and_another_text_a_conflict(session: Session,
                                                                             runtime: Runtime) -> None:
    case = received(session, runtime)
    session.commit()
    first, created = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="HL-20260302-0001",
                                       receipt_no=case.receipt_no, text="  结婚登记等候时间过长  ",
                                       category="办事效率", caller_phone_last4="1234")
    session.commit()
    assert created
    again, created_again = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="HL-20260302-0001",
                                             receipt_no=case.receipt_no, text="结婚登记等候时间过长")
    session.commit()
    assert (again.id, created_again) == (first.id, False)
    assert len(complaints(session)) == 1
    assert first.details == {"ticket_no": "HL-20260302-0001", "text": "结婚登记等候时间过长", "category": "办事效率",
                             "caller_phone_last4": "1234"}
    assert first.source_ref == "HL-20260302-0001" and first.case_id == case.id
    with pytest.raises(Conflict) as clash:
        receive_complaint(session, runtime, actor=HOTLINE, ticket_no="HL-20260302-0001",
                          receipt_no=case.receipt_no, text="另一件事")
    assert clash.value.field == "ticket_no" and str(first.id) in clash.value.message
    session.rollback()
    # Another region's hotline is told the ticket is taken, nothing about it.
    with pytest.raises(Conflict) as elsewhere:
        receive_complaint(session, runtime, actor=FAR_HOTLINE, ticket_no="HL-20260302-0001",
                          receipt_no=case.receipt_no, text="结婚登记等候时间过长")
    assert elsewhere.value.field == "ticket_no" and f"complaint {first.id}" not in elsewhere.value.message
    session.rollback()
    assert actions(session, case.id) == ["followup.complaint.open"]
    [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "followup.complaint.open"))
    assert event.payload["received_by"] == {"id": HOTLINE.id, "role": "supervisor"}
    assert verify_audit(session, case_id=case.id).ok


def test_linked_by_receipt_or_by_the_applicants_newest_open_case(session: Session, runtime: Runtime,
                                                                 clock: FixedClock) -> None:
    older_open = received(session, runtime)
    subject = older_open.applicant_id
    clock.advance(hours=1)
    newer_done = work_off(session, runtime, couple_case(session, runtime, subject))
    assert newer_done.state == CaseState.COMPLETED.value
    clock.advance(hours=1)
    couple_case(session, runtime, subject, clerk=FAR_CLERK, region="430200")  # newest, but 株洲's
    session.commit()

    by_receipt, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="R-1",
                                      receipt_no=newer_done.receipt_no, text="证件领取不便")
    by_applicant, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="A-1",
                                        applicant_id=subject, text="办理进度不清楚")
    session.commit()
    assert by_receipt.case_id == newer_done.id
    assert by_applicant.case_id == older_open.id  # open beats newer, 长沙's beats 株洲's

    work_off(session, runtime, older_open)
    session.commit()
    latest, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="A-2", applicant_id=subject.lower(),
                                  text="对办理结果有疑问")
    session.commit()
    assert latest.case_id == newer_done.id  # none open in 长沙: the newest there
    # the engine (unscoped) takes the applicant's newest open case anywhere
    anywhere, _ = receive_complaint(session, runtime, actor=SYSTEM, ticket_no="A-3", applicant_id=subject,
                                    text="异地办理咨询")
    session.commit()
    assert session.get_one(Case, anywhere.case_id).region == "430200"


def test_nothing_to_link_or_outside_the_region_is_not_found(session: Session, runtime: Runtime) -> None:
    case = received(session, runtime)
    session.commit()
    tries: list[tuple[Actor, dict[str, str], str]] = [
        (HOTLINE, {"receipt_no": "430102-20990101-99999"}, "receipt_no"),
        (HOTLINE, {"applicant_id": "430102199001019999"}, "applicant_id"),
        (FAR_HOTLINE, {"receipt_no": case.receipt_no}, "receipt_no"),
        (FAR_HOTLINE, {"applicant_id": case.applicant_id}, "applicant_id"),
        # a receipt whose case is someone else's: the hotline's data disagree, link nothing
        (HOTLINE, {"receipt_no": case.receipt_no, "applicant_id": "430102199001019999"}, "receipt_no"),
    ]
    for who, link, field in tries:
        with pytest.raises(NotFound) as missing:
            receive_complaint(session, runtime, actor=who, ticket_no="N-1", text="找不到办件", **link)
        assert missing.value.field == field and " / " in missing.value.message
        assert case.applicant_id not in missing.value.message  # the ID number is never echoed
        session.rollback()
    with pytest.raises(DomainError) as nameless:  # naming no case is bad input, not a missing case
        receive_complaint(session, runtime, actor=HOTLINE, ticket_no="N-1", text="x")
    assert nameless.value.field == "receipt_no" and not isinstance(nameless.value, NotFound)
    session.rollback()
    with pytest.raises(NotFound) as no_step:
        receive_complaint(session, runtime, actor=HOTLINE, ticket_no="N-2", receipt_no=case.receipt_no,
                          text="x", step_id="no-such-step")
    assert no_step.value.field == "step_id"
    session.rollback()
    assert complaints(session) == []


def test_only_the_hotline_or_the_engine_receives(session: Session, runtime: Runtime) -> None:
    case = received(session, runtime)
    session.commit()
    for who in (applicant(case.applicant_id), officer("11"), province_officer("11"), CLERK):
        with pytest.raises(Forbidden):
            receive_complaint(session, runtime, actor=who, ticket_no="F-1", receipt_no=case.receipt_no, text="x")
        session.rollback()
    assert complaints(session) == []
    admin = Actor(id="admin", role=Role.ADMIN)
    assert receive_complaint(session, runtime, actor=admin, ticket_no="F-1", receipt_no=case.receipt_no,
                             text="x")[1]


@pytest.mark.parametrize(("given", "field"), [
    ({"ticket_no": ""}, "ticket_no"),
    ({"ticket_no": "工单1"}, "ticket_no"),
    ({"ticket_no": "T" * 65}, "ticket_no"),
    ({"text": "   "}, "text"),
    ({"text": "长" * 2001}, "text"),
    ({"category": "类" * 65}, "category"),
    ({"caller_phone_last4": "13800001234"}, "caller_phone_last4"),
    ({"caller_phone_last4": "12a4"}, "caller_phone_last4"),
])
def test_bad_input_is_refused_naming_the_field(session: Session, runtime: Runtime, given: dict[str, str],
                                               field: str) -> None:
    case = received(session, runtime)
    session.commit()
    kwargs: dict[str, str] = {"ticket_no": "V-1", "text": "诉求", **given}
    with pytest.raises(DomainError) as refused:
        receive_complaint(session, runtime, actor=HOTLINE, receipt_no=case.receipt_no, **kwargs)
    assert refused.value.field == field and " / " in refused.value.message
    session.rollback()
    assert complaints(session) == []


def test_assigned_to_the_office_working_the_case_due_in_working_days(session: Session, runtime: Runtime) -> None:
    case = received(session, runtime)
    first = next(s for s in case.steps if s.state == "ready")
    named = next(s for s in case.steps if s.step_key == "marital_status_change")
    session.commit()
    now, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="O-1", receipt_no=case.receipt_no,
                               text="窗口排队时间长")
    session.commit()
    assert (now.office, now.department, now.region, now.step_id) == (first.office, first.department, "430102",
                                                                     first.id)
    assert now.office == "11@430102"
    assert get_settings().complaint_working_days == 5
    today = runtime.today()
    assert now.opened_on == today and now.due_on == runtime.calendar.add_working_days(today, 5)
    assert now.due_on - today > timedelta(days=5)  # working days, over a weekend: not calendar days

    # The first step decided, the next one is being worked: complaints go to its office.
    worker = province_officer(first.department)
    claim_step(session, runtime, step_id=first.id, actor=worker)
    complete_step(session, runtime, step_id=first.id, actor=worker)
    session.commit()
    routed = next(s for s in fresh(session, case.id).steps if s.id == named.id)
    later, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="O-2", receipt_no=case.receipt_no,
                                 text="户籍变更进度")
    assert (later.office, later.department, later.step_id) == (routed.office, "09", named.id)
    # The hotline names a step: that step's office.
    chosen, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="O-3", receipt_no=case.receipt_no,
                                  text="结婚登记态度", step_id=first.id)
    assert (chosen.office, chosen.step_id) == ("11@430102", first.id)
    # Everything decided: the step decided last.
    done = work_off(session, runtime, case)
    session.commit()
    last, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="O-4", receipt_no=done.receipt_no,
                                text="结果有误")
    session.commit()
    assert last.step_id == named.id and last.office == routed.office


def test_answered_by_the_office_reopened_by_the_hotline_answered_again(session: Session, runtime: Runtime,
                                                                        clock: FixedClock) -> None:
    case = received(session, runtime)
    session.commit()
    complaint, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="W-1", receipt_no=case.receipt_no,
                                     text="窗口人员态度差")
    session.commit()
    due = complaint.due_on
    for stranger in (officer("09"), officer("11", region="430200")):  # another department, another city
        with pytest.raises(NotFound):
            answer_complaint(session, runtime, followup_id=complaint.id, actor=stranger, answer="x")
        session.rollback()
    with pytest.raises(Forbidden):  # the applicant sees it, answering is not theirs
        answer_complaint(session, runtime, followup_id=complaint.id, actor=applicant(case.applicant_id), answer="x")
    session.rollback()
    with pytest.raises(DomainError) as empty:
        answer_complaint(session, runtime, followup_id=complaint.id, actor=officer("11"), answer="  ")
    assert empty.value.field == "answer"
    session.rollback()

    clock.advance(hours=3)
    answer_complaint(session, runtime, followup_id=complaint.id, actor=officer("11"), answer="已批评教育当事人员",
                     expected_version=0)
    session.commit()
    [row] = complaints(session)
    assert (row.state, row.outcome, row.version) == ("closed", "answered", 1)
    assert row.details["answer"] == {"text": "已批评教育当事人员", "by": officer("11").id,
                                     "at": clock.now().isoformat()}
    with pytest.raises(Forbidden):  # the office cannot reopen its own answer
        reopen_complaint(session, runtime, followup_id=complaint.id, actor=officer("11"), reason="x")
    session.rollback()
    with pytest.raises(NotFound):
        reopen_complaint(session, runtime, followup_id=complaint.id, actor=FAR_HOTLINE, reason="x")
    session.rollback()

    clock.advance(days=9)  # the caller rejects the answer a week and more later
    reopen_complaint(session, runtime, followup_id=complaint.id, actor=HOTLINE, reason="来电人对答复不满意")
    session.commit()
    [row] = complaints(session)
    # The office gets a fresh deadline from the reopening, not the old one (long past by now).
    renewed = runtime.calendar.add_working_days(local_date(clock.now()), get_settings().complaint_working_days)
    assert (row.state, row.outcome, row.closed_at, row.due_on) == ("open", "", None, renewed)
    assert renewed > due
    assert row.details["reopen_count"] == 1 and row.details["answer"] is None
    assert row.details["reopens"][0]["reason"] == "来电人对答复不满意"
    assert row.details["reopens"][0]["rejected_answer"]["text"] == "已批评教育当事人员"

    answer_complaint(session, runtime, followup_id=complaint.id, actor=province_officer("11"),
                     answer="已当面致歉并调整窗口")
    session.commit()
    [row] = complaints(session)
    assert (row.state, row.outcome, row.version) == ("closed", "answered", 3)
    assert actions(session, case.id) == ["followup.complaint.open", "followup.complaint.answer",
                                         "followup.complaint.reopen", "followup.complaint.answer"]
    assert verify_audit(session, case_id=case.id).ok


def test_counts_per_office_and_the_overdue_one_gets_a_card(session: Session, runtime: Runtime,
                                                           clock: FixedClock) -> None:
    one, two = received(session, runtime), received(session, runtime)
    elsewhere = received(session, runtime, clerk=FAR_CLERK, region="430200")
    session.commit()
    answered, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="C-1", receipt_no=one.receipt_no,
                                    text="a")
    late, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="C-2", receipt_no=two.receipt_no,
                                text="b")
    reopened, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="C-3", receipt_no=one.receipt_no,
                                    text="c")
    far, _ = receive_complaint(session, runtime, actor=FAR_HOTLINE, ticket_no="C-4",
                               receipt_no=elsewhere.receipt_no, text="d")
    session.commit()
    answer_complaint(session, runtime, followup_id=answered.id, actor=officer("11"), answer="已处理")
    answer_complaint(session, runtime, followup_id=reopened.id, actor=officer("11"), answer="已处理")
    reopen_complaint(session, runtime, followup_id=reopened.id, actor=HOTLINE, reason="不满意")
    session.commit()

    today = runtime.today()
    counts = complaint_counts(session, region="430100", today=today)
    assert set(counts) == {"11@430102"}
    office = counts["11@430102"]
    assert (office.received, office.open, office.overdue, office.answered, office.reopened) == (3, 2, 0, 1, 1)
    everywhere = complaint_counts(session, region=None, today=today)
    assert set(everywhere) == {"11@430102", far.office}
    assert everywhere[str(far.office)].received == 1

    clock.set_local(late.due_on + timedelta(days=1))
    counts = complaint_counts(session, region="430100", today=runtime.today())
    assert counts["11@430102"].overdue == 2 and counts["11@430102"].open == 2
    assert complaint_counts(session, region="430102", today=late.due_on)["11@430102"].overdue == 0  # due today

    cards = [c for c in issue_cards(session, runtime, red_after_working_days=3)
             if c.followup_id in {late.id, reopened.id}]
    assert sorted((c.followup_id, c.colour, c.department, c.region) for c in cards) == sorted(
        [(late.id, "yellow", "11", "430102"), (reopened.id, "yellow", "11", "430102")])
    assert session.scalar(select(func.count()).select_from(Card).where(Card.followup_id == answered.id)) == 0
    answer_complaint(session, runtime, followup_id=late.id, actor=officer("11"), answer="已答复")
    session.commit()
    session.expire_all()
    card = session.scalars(select(Card).where(Card.followup_id == late.id)).one()
    assert card.resolved_at is not None  # the answer resolves its card
    assert verify_audit(session, case_id=two.id).ok


def test_lists_show_what_each_actor_sees_newest_first(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    case = received(session, runtime)
    elsewhere = received(session, runtime, clerk=FAR_CLERK, region="430200")
    session.commit()
    older, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="L-1", receipt_no=case.receipt_no,
                                 text="a")
    clock.advance(minutes=5)
    newer, _ = receive_complaint(session, runtime, actor=HOTLINE, ticket_no="L-2", receipt_no=case.receipt_no,
                                 text="b")
    far, _ = receive_complaint(session, runtime, actor=FAR_HOTLINE, ticket_no="L-3",
                               receipt_no=elsewhere.receipt_no, text="c")
    session.commit()
    answer_complaint(session, runtime, followup_id=older.id, actor=officer("11"), answer="已处理")
    session.commit()

    def ids(who: Actor, **kwargs: object) -> list[int]:
        return [f.id for f in list_complaints(session, actor=who, **kwargs)]  # type: ignore[arg-type]

    assert ids(officer("11")) == [newer.id]
    assert ids(officer("11"), open_only=False) == [newer.id, older.id]
    assert ids(officer("11"), open_only=False, limit=1, offset=1) == [older.id]
    assert far.office == "11@430000"  # 株洲's marriage registration is routed to the province's office
    assert ids(officer("09")) == [] and ids(officer("11", region="430200")) == []
    assert ids(province_officer("11")) == [far.id, newer.id]
    assert ids(HOTLINE, open_only=False) == [newer.id, older.id]
    assert ids(SYSTEM) == [far.id, newer.id]
    assert ids(applicant(case.applicant_id), open_only=False) == [newer.id, older.id]
    assert ids(CLERK) == []
    with pytest.raises(DomainError) as bad:
        list_complaints(session, actor=HOTLINE, limit=0)
    assert bad.value.field == "limit"


def test_two_racing_deliveries_of_one_ticket_make_one_complaint(db: Database, session: Session,
                                                                runtime: Runtime) -> None:
    if db.backend == "sqlite":
        pytest.skip("SQLite takes one writer at a time: a second delivery waits and then sees the first")
    one, two = received(session, runtime), received(session, runtime)
    session.commit()
    results: list[tuple[Followup, bool]] = []
    errors: list[Exception] = []
    with db.session() as first, db.session() as second:
        winner, created = receive_complaint(first, runtime, actor=HOTLINE, ticket_no="RACE-1",
                                            receipt_no=one.receipt_no, text="同一诉求")
        assert created  # flushed, holding the ticket in the unique index, not committed

        def deliver() -> None:  # the same ticket, linked to another case: it waits on no case lock
            try:
                results.append(receive_complaint(second, runtime, actor=HOTLINE, ticket_no="RACE-1",
                                                      receipt_no=two.receipt_no, text="同一诉求"))
                second.commit()
            except Exception as error:  # noqa: BLE001  (reported below, off the test's thread)
                errors.append(error)

        racer = threading.Thread(target=deliver)
        racer.start()
        deadline = time.monotonic() + 10
        # Wait until the second delivery's insert is blocked on the first's uncommitted key.
        while time.monotonic() < deadline:
            waiting = session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                          "AND datname = current_database()"))
            session.rollback()
            if waiting:
                break
            time.sleep(0.02)
        else:  # pragma: no cover
            pytest.fail("the second delivery never waited on the first")
        first.commit()
        racer.join(10)
        assert not racer.is_alive()
    assert errors == []
    [(found, created_again)] = results
    assert (found.id, created_again) == (winner.id, False)
    assert [c.case_id for c in complaints(session)] == [one.id]
    assert actions(session, two.id) == []  # the loser's audit event was rolled back with its savepoint
    assert verify_audit(session, case_id=two.id).ok and verify_audit(session, case_id=one.id).ok
