"""容缺受理 after acceptance, on both backends: the step needing a deferred material cannot complete
(409 naming it and the promised date) until the material is supplied (files, one audit event
with their hashes); the sweep records one reminder ``defer_remind_days`` working days before the
promised date, once; the applicant sees it on the case's progress."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, CaseFile, DeferredMaterial, Step
from engine.documents.files import MaterialHandIn, stage_files
from engine.documents.inspection import Upload
from engine.errors import Conflict, Forbidden, NotFound
from engine.machine.actions import claim_step, complete_step, supply_deferred
from engine.machine.intake import Applicant, accept_case
from engine.machine.timers import remind_deferred_materials
from engine.records.queries import DeferredStatus, case_status
from engine.runtime import Runtime
from engine.time.clock import FixedClock
from tests.engine.documents.test_inspection import image, pdf
from tests.engine.machine.test_eligibility import MOTHER, newborn_answers
from tests.engine.sample_people import CLERK, GROOM, applicant, decider

NOTICE = "出生医学证明签发知情告知书"
RECORD = "新生儿出生医学记录"
CERTIFICATE = "中华人民共和国结婚证"
PROMISED = date(2026, 3, 9)  # Monday: five working days after Monday 2 March would be the latest


def deferred_case(session: Session, runtime: Runtime) -> Case:
    """A newborn case the window accepted on Monday 2 March without the 告知书, promised by the 9th."""
    record = stage_files(session, runtime, actor=CLERK, bundle_id="newborn", material=RECORD,
                         uploads=[Upload("record.pdf", pdf(2))])
    return accept_case(session, runtime, bundle_id="newborn", applicant=Applicant(MOTHER, "person", "测试乙"),
                       answers=newborn_answers(), actor=CLERK, region="430102", materials={
                           RECORD: MaterialHandIn(files=tuple(v.id for v in record), check="accepted"),
                           CERTIFICATE: MaterialHandIn(paper=True, check="accepted"),
                           NOTICE: MaterialHandIn(deferred_until=PROMISED)})


def certificate_step(case: Case) -> Step:
    return next(s for s in case.steps if s.step_key == "birth_certificate")


def test_the_step_needing_it_cannot_complete_until_it_is_supplied(session: Session, runtime: Runtime) -> None:
    case = deferred_case(session, runtime)
    step = certificate_step(case)
    desk = decider(step)
    claim_step(session, runtime, step_id=step.id, actor=desk)
    with pytest.raises(Conflict, match=NOTICE) as refused:
        complete_step(session, runtime, step_id=step.id, actor=desk)
    assert "2026-03-09" in refused.value.message and refused.value.field == "materials"
    session.refresh(step)
    assert step.state == "assigned"

    with pytest.raises(NotFound):  # someone else's case
        supply_deferred(session, runtime, case_id=case.id, actor=applicant(GROOM), material=NOTICE,
                        uploads=[Upload("notice.pdf", pdf())])
    with pytest.raises(Forbidden):  # paper is the window's record
        supply_deferred(session, runtime, case_id=case.id, actor=applicant(MOTHER), material=NOTICE, paper=True)
    with pytest.raises(NotFound, match="not deferred"):
        supply_deferred(session, runtime, case_id=case.id, actor=CLERK, material=RECORD, paper=True)

    scan = pdf(1)
    supply_deferred(session, runtime, case_id=case.id, actor=applicant(MOTHER), material=NOTICE,
                    uploads=[Upload("notice.pdf", scan)])
    row = session.get_one(DeferredMaterial, (case.id, NOTICE))
    assert row.supplied_at == runtime.clock.now()
    files = session.scalars(select(CaseFile).where(CaseFile.case_id == case.id, CaseFile.material == NOTICE)).all()
    assert [(f.channel, f.step_id, f.sha256) for f in files] == [("online", step.id, hashlib.sha256(scan).hexdigest())]
    supplied = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                        AuditEvent.action == "case.supply_deferred")).all()
    assert len(supplied) == 1
    assert supplied[0].payload["files"][0]["sha256"] == hashlib.sha256(scan).hexdigest()
    assert supplied[0].payload["deferred"] == {"material": NOTICE, "promised_on": "2026-03-09", "paper": False}
    with pytest.raises(Conflict, match="already supplied"):
        supply_deferred(session, runtime, case_id=case.id, actor=CLERK, material=NOTICE, paper=True)

    assert complete_step(session, runtime, step_id=step.id, actor=desk).state == "done"


def test_the_reminder_comes_the_set_working_days_before_once_and_the_applicant_sees_it(
    session: Session, runtime: Runtime, clock: FixedClock
) -> None:
    case = deferred_case(session, runtime)
    mine = applicant(MOTHER)
    assert case_status(session, runtime, case_id=case.id, actor=mine).deferred == (
        DeferredStatus(material=NOTICE, promised_on=PROMISED, reminded=False, supplied=False),)
    clock.set_local(date(2026, 3, 4))  # Wednesday: 3 working days left (5, 6, 9 March)
    assert remind_deferred_materials(session, runtime, days_before=2) == []
    clock.set_local(date(2026, 3, 5))  # Thursday: 2 working days left
    assert remind_deferred_materials(session, runtime, days_before=2) == [(case.id, NOTICE)]
    assert remind_deferred_materials(session, runtime, days_before=2) == []  # once
    clock.set_local(date(2026, 3, 6))
    assert remind_deferred_materials(session, runtime, days_before=2) == []
    reminders = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                         AuditEvent.action == "case.remind_deferred")).all()
    assert [(r.role, r.payload["reminded"]) for r in reminders] == [
        ("system", [{"material": NOTICE, "promised_on": "2026-03-09"}])]
    shown = case_status(session, runtime, case_id=case.id, actor=mine).deferred
    assert shown == (DeferredStatus(material=NOTICE, promised_on=PROMISED, reminded=True, supplied=False),)

    supply_deferred(session, runtime, case_id=case.id, actor=CLERK, material=NOTICE, paper=True)
    assert case_status(session, runtime, case_id=case.id, actor=mine).deferred[0].supplied
    assert session.scalars(select(CaseFile).where(CaseFile.material == NOTICE)).all() == []  # paper: a record only


def test_a_supplied_material_is_not_reminded(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    case = deferred_case(session, runtime)
    supply_deferred(session, runtime, case_id=case.id, actor=CLERK, material=NOTICE,
                    uploads=[Upload("notice.png", image("PNG"))])
    clock.set_local(PROMISED)
    assert remind_deferred_materials(session, runtime, days_before=2) == []
