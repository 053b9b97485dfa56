"""补正 with files (行政许可法 §32) in the engine, on both backends: the officer's one notice; the
applicant uploads (or a window records a paper original) material by material, nothing ticked
for them, a partial hand-in staying partial with the clock stopped; the officer's confirmation of
receipt is refused until everything is in and alone restarts the clock, on its day; a file the
officer returns makes its material missing again; the audit events carry the files' hashes."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, CaseFile, Step
from engine.documents.files import check_material
from engine.documents.inspection import Upload
from engine.errors import Conflict, DomainError, Forbidden, NotFound
from engine.machine.actions import claim_step, hand_in_supplement, receive_supplement, request_supplement, start_step
from engine.machine.intake import Applicant, accept_case
from engine.machine.permissions import allowed_actions
from engine.machine.states import CaseState, StepState
from engine.records.audit import verify_audit
from engine.runtime import Runtime
from engine.time.clock import FixedClock
from tests.engine.documents.test_inspection import image, pdf
from tests.engine.sample_people import CHILD, CLERK, GROOM, applicant, decider, marriage_answers

PHOTO = "3张2寸男女双方近期半身免冠合影照片"
DEATH = "丧偶证明材料"


def waiting(session: Session, runtime: Runtime, clock: FixedClock) -> tuple[Case, Step]:
    """A marriage case whose registration asked, on Wednesday 4 March, for the photo and the
    proof of widowhood in one notice."""
    case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(previously_married=True), actor=CLERK)
    step = next(s for s in case.steps if s.step_key == "marriage_registration")
    desk = decider(step)
    claim_step(session, runtime, step_id=step.id, actor=desk)
    start_step(session, runtime, step_id=step.id, actor=desk)
    clock.set_local(date(2026, 3, 4))
    request_supplement(session, runtime, step_id=step.id, actor=desk, materials=[PHOTO, DEATH], note="照片须为红底")
    return case, step


def payloads(session: Session, case: Case, action: str) -> list[dict[str, object]]:
    rows = session.scalars(select(AuditEvent.payload).where(AuditEvent.case_id == case.id, AuditEvent.action == action)
                           .order_by(AuditEvent.seq))
    return [dict(p) for p in rows]


def test_a_partial_hand_in_stays_partial_and_only_the_confirmation_restarts_the_clock(
    session: Session, runtime: Runtime, clock: FixedClock
) -> None:
    case, step = waiting(session, runtime, clock)
    assert len(payloads(session, case, "step.request_supplement")) == 1  # one notice names everything
    assert step.supplement.get("handed_in") is None  # nothing ticked for the applicant
    groom = applicant(GROOM)
    assert allowed_actions(groom, step, case=case) == ["hand_in_supplement"]
    assert "receive_supplement" not in allowed_actions(decider(step), step, case=case)

    clock.set_local(date(2026, 3, 5))
    photo = image("PNG")
    step = hand_in_supplement(session, runtime, step_id=step.id, actor=groom, material=PHOTO,
                              uploads=[Upload("photo.png", photo)])
    # partial: the step still waits, both clocks stay stopped
    session.refresh(case)
    assert step.state == StepState.SUPPLEMENT_REQUESTED and step.clock_stopped_on == date(2026, 3, 4)
    assert case.state == CaseState.SUPPLEMENT_REQUESTED and case.clock_stopped_on == date(2026, 3, 4)
    rows = session.scalars(select(CaseFile).where(CaseFile.case_id == case.id)).all()
    assert [(r.material, r.channel, r.notice, r.step_id, r.check_state) for r in rows] == [
        (PHOTO, "supplement", 1, step.id, "pending")]
    assert runtime.files.get(rows[0].sha256) == photo  # stored before the transaction that names it
    with pytest.raises(Conflict, match=DEATH) as refused:
        receive_supplement(session, runtime, step_id=step.id, actor=decider(step))
    assert PHOTO not in refused.value.message and refused.value.field == "materials"

    clock.set_local(date(2026, 3, 6))
    scan = pdf(2)
    hand_in_supplement(session, runtime, step_id=step.id, actor=groom, material=DEATH,
                       uploads=[Upload("death.pdf", scan)])
    assert "receive_supplement" in allowed_actions(decider(step), step, case=case)
    clock.set_local(date(2026, 3, 11))  # the officer confirms the next Wednesday
    step = receive_supplement(session, runtime, step_id=step.id, actor=decider(step))
    session.refresh(case)
    assert step.state == StepState.IN_PROGRESS and step.clock_start_on == date(2026, 3, 11)  # §32: that day
    assert step.due_on == runtime.calendar.add_working_days(date(2026, 3, 11), 20)
    assert case.state == CaseState.IN_PROGRESS and case.clock_stopped_on is None
    assert case.paused_days == 5  # 5, 6, 9, 10, 11 March: stopped until the confirmation, not the last upload

    hand_ins = payloads(session, case, "step.hand_in_supplement")
    assert [h["supplement"] for h in hand_ins] == [
        {"handed_in": PHOTO, "round": 1, "paper": False, "missing": [DEATH]},
        {"handed_in": DEATH, "round": 1, "paper": False, "missing": []}]
    assert [[(f["material"], f["sha256"], f["pages"]) for f in h["files"]] for h in hand_ins] == [
        [(PHOTO, hashlib.sha256(photo).hexdigest(), 1)], [(DEATH, hashlib.sha256(scan).hexdigest(), 2)]]
    received = payloads(session, case, "step.receive_supplement")
    assert len(received) == 1 and received[0]["supplement"]["received"] == [PHOTO, DEATH]
    assert verify_audit(session, case_id=case.id).ok


def test_a_returned_file_makes_its_material_missing_again(session: Session, runtime: Runtime,
                                                          clock: FixedClock) -> None:
    case, step = waiting(session, runtime, clock)
    groom = applicant(GROOM)
    hand_in_supplement(session, runtime, step_id=step.id, actor=groom, material=PHOTO,
                       uploads=[Upload("blurred.jpg", image("JPEG"))])
    hand_in_supplement(session, runtime, step_id=step.id, actor=groom, material=DEATH,
                       uploads=[Upload("death.pdf", pdf())])
    check_material(session, runtime, case_id=case.id, material=PHOTO, actor=decider(step), state="returned",
                   reason="照片模糊 blurred")
    with pytest.raises(Conflict, match=PHOTO):
        receive_supplement(session, runtime, step_id=step.id, actor=decider(step))
    hand_in_supplement(session, runtime, step_id=step.id, actor=groom, material=PHOTO,
                       uploads=[Upload("sharp.png", image("PNG"))])
    assert receive_supplement(session, runtime, step_id=step.id, actor=decider(step)).state == StepState.IN_PROGRESS


def test_a_window_records_the_paper_original_and_only_a_window_may(session: Session, runtime: Runtime,
                                                                   clock: FixedClock) -> None:
    case, step = waiting(session, runtime, clock)
    with pytest.raises(Forbidden, match="窗口"):
        hand_in_supplement(session, runtime, step_id=step.id, actor=applicant(GROOM), material=PHOTO, paper=True)
    for material in (PHOTO, DEATH):
        hand_in_supplement(session, runtime, step_id=step.id, actor=CLERK, material=material, paper=True)
    assert session.scalars(select(CaseFile).where(CaseFile.case_id == case.id)).all() == []  # no file, a record
    assert [e["paper"] for e in step.supplement["handed_in"][PHOTO]] == [True]
    assert [h["supplement"]["paper"] for h in payloads(session, case, "step.hand_in_supplement")] == [True, True]
    # the window does not confirm the receipt: the step's officer does
    with pytest.raises(Forbidden):
        receive_supplement(session, runtime, step_id=step.id, actor=CLERK)
    assert receive_supplement(session, runtime, step_id=step.id, actor=decider(step)).state == StepState.IN_PROGRESS


def test_only_the_materials_of_the_notice_and_only_for_ones_own_case(session: Session, runtime: Runtime,
                                                                     clock: FixedClock) -> None:
    case, step = waiting(session, runtime, clock)
    version = step.version
    with pytest.raises(DomainError, match="does not ask for") as wrong:
        hand_in_supplement(session, runtime, step_id=step.id, actor=CLERK, material="户口簿", paper=True)
    assert wrong.value.field == "material"
    with pytest.raises(NotFound):  # another applicant: the case does not exist for them, nothing is stored
        hand_in_supplement(session, runtime, step_id=step.id, actor=applicant(CHILD), material=PHOTO,
                           uploads=[Upload("photo.png", image("PNG", (41, 31)))])
    with pytest.raises(DomainError, match="no file"):
        hand_in_supplement(session, runtime, step_id=step.id, actor=applicant(GROOM), material=PHOTO)
    session.refresh(step)
    assert step.version == version and session.scalars(select(CaseFile)).all() == []
    assert not runtime.files.exists(hashlib.sha256(image("PNG", (41, 31))).hexdigest())


def test_a_material_the_notice_names_in_words_is_handed_in_as_files_and_read_by_the_steps_readers(
    session: Session, runtime: Runtime, clock: FixedClock
) -> None:
    """户口簿原件 is no material of the bundle, only the officer's words in the notice: the applicant
    uploads a scan (under the bundle's default limits), the step's officer and the applicant see and
    download it, an officer of another department does not; a name the notice does not use is refused."""
    from engine.documents.files import case_files, file_for_download
    from tests.engine.sample_people import officer

    case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(), actor=CLERK)
    step = next(s for s in case.steps if s.step_key == "marriage_registration")
    desk = decider(step)
    claim_step(session, runtime, step_id=step.id, actor=desk)
    start_step(session, runtime, step_id=step.id, actor=desk)
    request_supplement(session, runtime, step_id=step.id, actor=desk, materials=["户口簿原件"])
    groom = applicant(GROOM)
    with pytest.raises(DomainError, match="is not a material"):
        hand_in_supplement(session, runtime, step_id=step.id, actor=groom, material="别的材料",
                           uploads=[Upload("x.pdf", pdf(1))])
    scan = pdf(2)
    hand_in_supplement(session, runtime, step_id=step.id, actor=groom, material="户口簿原件",
                       uploads=[Upload("hukou.pdf", scan)])
    session.refresh(case)
    for reader in (groom, desk):
        (listed,) = [m for m in case_files(session, runtime, case=case, viewer=reader) if m.name == "户口簿原件"]
        assert [(f.filename, f.pages) for f in listed.files] == [("hukou.pdf", 2)]
        assert file_for_download(session, runtime, file_id=listed.files[0].id, actor=reader)[1] == scan
    stranger = officer("09")  # 公安, no step of this material
    assert "户口簿原件" not in {m.name for m in case_files(session, runtime, case=case, viewer=stranger)}
    with pytest.raises(NotFound):
        file_for_download(session, runtime, file_id=listed.files[0].id, actor=stranger)
    receive_supplement(session, runtime, step_id=step.id, actor=desk)
