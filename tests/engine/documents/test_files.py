"""Files handed in for a case's materials (issue 12), on SQLite and PostgreSQL, with the runtime's
real file store (a local folder): staging, intake with files, paper originals and 容缺, every
refusal naming the material, the clerk's and the officer's check, who sees which files, and
downloads recorded in the access log.

The newborn bundle: its 出生医学证明 step (卫健, 23) needs three handed-in materials, the
知情告知书 deferrable for 5 working days; its 社会保障卡 step (人社, 14) an optional photo. The
test clock's day is Monday 2 March 2026 (5 working days later: Monday 9 March).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AccessRecord, AuditEvent, Case, CaseFile, DeferredMaterial
from engine.documents.files import (
    FileView,
    MaterialHandIn,
    case_files,
    check_material,
    file_for_download,
    stage_files,
)
from engine.documents.inspection import BadFile, Upload
from engine.documents.storage import FileMissing, LocalFileStore
from engine.errors import Forbidden, InvalidApplication, NotFound
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import Actor, Role
from engine.runtime import Runtime
from tests.engine.documents.test_inspection import image, pdf
from tests.engine.machine.test_eligibility import FATHER, MOTHER, newborn_answers
from tests.engine.sample_people import CLERK, applicant, officer

NOTICE = "出生医学证明签发知情告知书"
RECORD = "新生儿出生医学记录"
CERTIFICATE = "中华人民共和国结婚证"
PHOTO = "个人照片"
MOTHER_ONLINE = applicant(MOTHER)
HEALTH = officer("23")
SOCIAL = officer("14")


def stage(session: Session, runtime: Runtime, material: str, *files: tuple[str, bytes],
          actor: Actor = CLERK) -> list[FileView]:
    uploads = [Upload(name, data) for name, data in files] or [Upload("scan.pdf", pdf(2))]
    return stage_files(session, runtime, actor=actor, bundle_id="newborn", material=material, uploads=uploads)


def ids(views: list[FileView]) -> tuple[str, ...]:
    return tuple(v.id for v in views)


def accept(session: Session, runtime: Runtime, materials: Mapping[str, MaterialHandIn] | None, *,
           actor: Actor = CLERK, **answers: object) -> Case:
    return accept_case(session, runtime, bundle_id="newborn", applicant=Applicant(MOTHER, "person", "测试乙"),
                       answers=newborn_answers(**answers), actor=actor, region="430102", materials=materials)


def checked(files: tuple[str, ...] = (), **kw: Any) -> MaterialHandIn:
    return MaterialHandIn(files=files, check="accepted", **kw)


def window_hand_in(session: Session, runtime: Runtime) -> dict[str, MaterialHandIn]:
    """At the window: the record scanned (two files), the certificate's original seen, the notice deferred."""
    record = stage(session, runtime, RECORD, ("record-1.pdf", pdf(3)), ("record-2.png", image("PNG")))
    return {RECORD: checked(ids(record)), CERTIFICATE: checked(paper=True),
            NOTICE: MaterialHandIn(deferred_until=date(2026, 3, 9))}


def problems(error: InvalidApplication) -> dict[str, str]:
    return {p.field: p.code for p in error.problems}


def refused(session: Session, runtime: Runtime, materials: Mapping[str, MaterialHandIn], *,
            actor: Actor = CLERK) -> dict[str, str]:
    with pytest.raises(InvalidApplication) as info:
        accept(session, runtime, materials, actor=actor)
    session.rollback()
    assert session.scalar(select(Case.id).limit(1)) is None  # nothing accepted
    return problems(info.value)


# --- staging ---------------------------------------------------------------------------------


def test_staged_files_are_stored_by_hash_and_wait_for_their_uploader(session: Session, runtime: Runtime) -> None:
    content = pdf(3)
    [view] = stage(session, runtime, RECORD, ("出生记录.pdf", content))
    assert (view.material, view.filename, view.media_type, view.pages, view.size) == (
        RECORD, "出生记录.pdf", "application/pdf", 3, len(content))
    assert (view.check_state, view.channel) == ("pending", "window")
    assert runtime.files.get(view.sha256_full) == content and view.sha256 == view.sha256_full[:12]
    row = session.get(CaseFile, view.id)
    assert row is not None and row.case_id is None and row.staged_by == CLERK.id
    [online] = stage(session, runtime, RECORD, actor=MOTHER_ONLINE)
    assert online.channel == "online"


def test_a_bad_file_refuses_the_batch_naming_the_material_and_stores_nothing(session: Session,
                                                                            runtime: Runtime) -> None:
    assert isinstance(runtime.files, LocalFileStore)
    before = sorted(p.name for p in runtime.files.root.rglob("*") if p.is_file())
    with pytest.raises(BadFile) as info:
        stage(session, runtime, RECORD, ("good.pdf", pdf(1)), ("bad.pdf", b"not a pdf at all"))
    assert info.value.field == f"materials.{RECORD}"
    assert sorted(p.name for p in runtime.files.root.rglob("*") if p.is_file()) == before
    assert session.scalar(select(CaseFile.id).limit(1)) is None


def test_files_for_a_material_the_bundle_lacks_are_refused(session: Session, runtime: Runtime) -> None:
    with pytest.raises(InvalidApplication) as info:
        stage(session, runtime, "营业执照")
    assert problems(info.value) == {"materials.营业执照": "material.unknown"}


def test_who_may_start_no_case_may_stage_nothing(session: Session, runtime: Runtime) -> None:
    with pytest.raises(Forbidden):
        stage(session, runtime, RECORD, actor=HEALTH)


# --- intake ----------------------------------------------------------------------------------


def test_the_window_accepts_with_files_a_paper_original_and_a_deferred_notice(session: Session,
                                                                              runtime: Runtime) -> None:
    materials = window_hand_in(session, runtime)
    case = accept(session, runtime, materials)
    rows = session.scalars(select(CaseFile).where(CaseFile.case_id == case.id)).all()
    birth = next(s for s in case.steps if s.step_key == "birth_certificate")
    assert {(r.material, r.step_id, r.check_state, r.checked_by) for r in rows} == {
        (RECORD, birth.id, "accepted", CLERK.id)}
    assert len(rows) == 2
    [deferred] = session.scalars(select(DeferredMaterial).where(DeferredMaterial.case_id == case.id)).all()
    assert (deferred.material, deferred.promised_on, deferred.committed_by) == (NOTICE, date(2026, 3, 9), CLERK.id)
    event = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.seq == 1)).one()
    assert sorted(event.payload["files"], key=lambda f: str(f["id"])) == sorted(
        ({"id": r.id, "material": RECORD, "sha256": r.sha256, "size": r.size, "pages": r.pages} for r in rows),
        key=lambda f: str(f["id"]))
    assert event.payload["paper"] == [CERTIFICATE]
    assert event.payload["deferred"] == [{"material": NOTICE, "until": "2026-03-09"}]


def test_the_applicant_hands_in_files_online_and_they_wait_for_the_check(session: Session, runtime: Runtime) -> None:
    materials = {name: MaterialHandIn(files=ids(stage(session, runtime, name, actor=MOTHER_ONLINE)))
                 for name in (RECORD, CERTIFICATE, NOTICE)}
    case = accept(session, runtime, materials, actor=MOTHER_ONLINE)
    rows = session.scalars(select(CaseFile).where(CaseFile.case_id == case.id)).all()
    assert {(r.material, r.channel, r.check_state) for r in rows} == {
        (name, "online", "pending") for name in (RECORD, CERTIFICATE, NOTICE)}


def test_without_materials_intake_records_no_files(session: Session, runtime: Runtime) -> None:
    case = accept(session, runtime, None)
    assert session.scalar(select(CaseFile.id).where(CaseFile.case_id == case.id)) is None
    event = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.seq == 1)).one()
    assert "files" not in event.payload


def test_every_material_to_supply_must_be_handed_in(session: Session, runtime: Runtime) -> None:
    materials = window_hand_in(session, runtime)
    del materials[CERTIFICATE]
    materials[RECORD] = MaterialHandIn()
    assert refused(session, runtime, materials) == {f"materials.{CERTIFICATE}": "material.missing",
                                                    f"materials.{RECORD}": "material.missing"}


def test_an_optional_material_may_be_left_out(session: Session, runtime: Runtime) -> None:
    case = accept(session, runtime, window_hand_in(session, runtime))  # no 个人照片
    assert case.state in ("accepted", "in_progress")


@pytest.mark.parametrize(("until", "code"), [
    (date(2026, 3, 1), "material.defer_date"),   # before today
    (date(2026, 3, 10), "material.defer_date"),  # 6 working days: over the bundle's 5
])
def test_a_promised_date_outside_the_limit_is_refused(session: Session, runtime: Runtime, until: date,
                                                      code: str) -> None:
    materials = {**window_hand_in(session, runtime), NOTICE: MaterialHandIn(deferred_until=until)}
    assert refused(session, runtime, materials) == {f"materials.{NOTICE}.deferred_until": code}


def test_only_a_deferrable_material_may_be_deferred(session: Session, runtime: Runtime) -> None:
    materials = {**window_hand_in(session, runtime), CERTIFICATE: MaterialHandIn(deferred_until=date(2026, 3, 4))}
    assert refused(session, runtime, materials) == {f"materials.{CERTIFICATE}.deferred_until": "material.not_deferrable"}


def test_a_paper_original_is_seen_at_the_window_only(session: Session, runtime: Runtime) -> None:
    materials = {RECORD: MaterialHandIn(files=ids(stage(session, runtime, RECORD, actor=MOTHER_ONLINE))),
                 CERTIFICATE: MaterialHandIn(paper=True), NOTICE: MaterialHandIn(deferred_until=date(2026, 3, 9))}
    assert refused(session, runtime, materials, actor=MOTHER_ONLINE) == {
        f"materials.{CERTIFICATE}.paper": "material.paper_online"}


def test_the_window_checks_each_material_before_accepting(session: Session, runtime: Runtime) -> None:
    materials = window_hand_in(session, runtime)
    materials[RECORD] = replace(materials[RECORD], check=None)
    assert refused(session, runtime, materials) == {f"materials.{RECORD}.check": "material.unchecked"}


def test_a_returned_material_refuses_the_acceptance_with_its_reason(session: Session, runtime: Runtime) -> None:
    materials = window_hand_in(session, runtime)
    materials[RECORD] = replace(materials[RECORD], check="returned", check_reason="缺少医院盖章")
    with pytest.raises(InvalidApplication) as info:
        accept(session, runtime, materials)
    session.rollback()
    [problem] = info.value.problems
    assert (problem.field, problem.code) == (f"materials.{RECORD}.check", "material.returned")
    assert "缺少医院盖章" in problem.message_zh and "缺少医院盖章" in problem.message_en


def test_unknown_waived_and_foreign_files_are_refused_naming_the_field(session: Session, runtime: Runtime) -> None:
    materials = window_hand_in(session, runtime)
    others = stage(session, runtime, RECORD, actor=MOTHER_ONLINE)
    notice_file = stage(session, runtime, NOTICE)
    materials.update({
        "营业执照": checked(paper=True),                                   # not a material of the bundle
        "新生儿出生一件事申请表": checked(paper=True),                       # generated from the form: waived
        CERTIFICATE: checked(ids(others) + ids(notice_file)),              # someone else's; another material's
    })
    with pytest.raises(InvalidApplication) as info:
        accept(session, runtime, materials)
    session.rollback()
    assert sorted((p.field, p.code) for p in info.value.problems) == sorted([
        ("materials.营业执照", "material.unknown"),
        ("materials.新生儿出生一件事申请表", "material.not_asked"),
        (f"materials.{CERTIFICATE}.files", "file.not_staged"),
        (f"materials.{CERTIFICATE}.files", "file.other_material"),
    ])


def test_a_file_already_handed_in_is_not_handed_in_again(session: Session, runtime: Runtime) -> None:
    materials = window_hand_in(session, runtime)
    accept(session, runtime, materials)
    with pytest.raises(InvalidApplication) as info:
        accept(session, runtime, materials, mother_name="测试乙")
    session.rollback()
    assert problems(info.value)[f"materials.{RECORD}.files"] == "file.not_staged"


# --- checking and reading ---------------------------------------------------------------------


@pytest.fixture
def online_case(session: Session, runtime: Runtime) -> Case:
    """The mother's online application: the record (two files), the certificate, the notice deferred,
    and the optional photo."""
    record = stage(session, runtime, RECORD, ("a.pdf", pdf(2)), ("b.jpg", image("JPEG")), actor=MOTHER_ONLINE)
    certificate = stage(session, runtime, CERTIFICATE, actor=MOTHER_ONLINE)
    photo = stage(session, runtime, PHOTO, ("photo.png", image("PNG")), actor=MOTHER_ONLINE)
    return accept(session, runtime, {RECORD: MaterialHandIn(files=ids(record)),
                                     CERTIFICATE: MaterialHandIn(files=ids(certificate)),
                                     NOTICE: MaterialHandIn(deferred_until=date(2026, 3, 6)),
                                     PHOTO: MaterialHandIn(files=ids(photo))}, actor=MOTHER_ONLINE)


def by_name(session: Session, runtime: Runtime, case: Case, viewer: Actor) -> dict[str, Any]:
    return {m.name: m for m in case_files(session, runtime, case=case, viewer=viewer)}


def test_the_window_and_the_officer_check_materials(session: Session, runtime: Runtime, online_case: Case) -> None:
    [one] = check_material(session, runtime, case_id=online_case.id, material=CERTIFICATE, actor=CLERK,
                           state="accepted")
    assert one.check_state == "accepted"
    returned = check_material(session, runtime, case_id=online_case.id, material=RECORD, actor=HEALTH,
                              state="returned", reason="第二页不清晰")
    assert {(f.check_state, f.check_reason) for f in returned} == {("returned", "第二页不清晰")}
    event = session.scalars(select(AuditEvent).where(AuditEvent.case_id == online_case.id)
                            .order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert (event.action, event.actor_id, event.payload["material"], event.payload["state"]) == (
        "material.check", HEALTH.id, RECORD, "returned")


def test_a_check_needs_a_reason_to_return_and_a_reach(session: Session, runtime: Runtime, online_case: Case) -> None:
    with pytest.raises(Exception) as info:
        check_material(session, runtime, case_id=online_case.id, material=RECORD, actor=CLERK, state="returned")
    assert getattr(info.value, "field", None) == "reason"
    with pytest.raises(Forbidden):  # 人社 sees the case (its photo step) but the record is 卫健's
        check_material(session, runtime, case_id=online_case.id, material=RECORD, actor=SOCIAL, state="accepted")
    with pytest.raises(Forbidden):
        check_material(session, runtime, case_id=online_case.id, material=RECORD, actor=MOTHER_ONLINE,
                       state="accepted")
    with pytest.raises(NotFound):
        check_material(session, runtime, case_id=online_case.id, material=RECORD, actor=applicant(FATHER),
                       state="accepted")


def test_an_officer_sees_only_the_materials_of_their_step(session: Session, runtime: Runtime,
                                                          online_case: Case) -> None:
    health = by_name(session, runtime, online_case, HEALTH)
    assert {NOTICE, RECORD, CERTIFICATE, "出生医学证明首次签发表"} <= set(health)
    assert health["出生医学证明首次签发表"].waived and health["出生医学证明首次签发表"].reason
    assert PHOTO not in health and len(health[RECORD].files) == 2
    assert health[NOTICE].deferred_until == date(2026, 3, 6) and health[NOTICE].files == ()
    social = by_name(session, runtime, online_case, SOCIAL)
    assert PHOTO in social and RECORD not in social and CERTIFICATE not in social


def test_the_applicant_and_the_window_see_every_material(session: Session, runtime: Runtime,
                                                        online_case: Case) -> None:
    for viewer in (MOTHER_ONLINE, CLERK):
        seen = by_name(session, runtime, online_case, viewer)
        assert {RECORD, CERTIFICATE, NOTICE, PHOTO} <= set(seen)
        waived = {name: m.reason for name, m in seen.items() if m.waived}
        assert "新生儿出生一件事申请表" in waived and all(waived.values())
    with pytest.raises(NotFound):
        case_files(session, runtime, case=online_case, viewer=applicant(FATHER))


def test_a_download_is_authorised_like_the_step_and_recorded(session: Session, runtime: Runtime,
                                                             online_case: Case) -> None:
    record = by_name(session, runtime, online_case, MOTHER_ONLINE)[RECORD].files[0]
    view, data = file_for_download(session, runtime, file_id=record.id, actor=HEALTH)
    assert view.id == record.id and runtime.files.get(record.sha256_full) == data
    logged = session.execute(select(AccessRecord.actor_id, AccessRecord.case_id, AccessRecord.what)).all()
    assert (HEALTH.id, online_case.id, f"file {record.id} ({RECORD})") in logged
    _, mine = file_for_download(session, runtime, file_id=record.id, actor=MOTHER_ONLINE)
    assert mine == data
    for outsider in (applicant(FATHER), SOCIAL, officer("23", region="430103")):
        with pytest.raises(NotFound):
            file_for_download(session, runtime, file_id=record.id, actor=outsider)
    with pytest.raises(NotFound):
        file_for_download(session, runtime, file_id="0" * 32, actor=CLERK)


def test_a_staged_file_is_its_uploader_s_alone(session: Session, runtime: Runtime) -> None:
    [view] = stage(session, runtime, RECORD, actor=MOTHER_ONLINE)
    assert file_for_download(session, runtime, file_id=view.id, actor=MOTHER_ONLINE)[0].id == view.id
    with pytest.raises(NotFound):
        file_for_download(session, runtime, file_id=view.id, actor=CLERK)


def test_a_file_the_store_lost_is_file_missing(session: Session, runtime: Runtime, online_case: Case) -> None:
    record = by_name(session, runtime, online_case, CLERK)[RECORD].files[0]
    runtime.files.delete(record.sha256_full)
    with pytest.raises(FileMissing):
        file_for_download(session, runtime, file_id=record.id, actor=CLERK)


def test_an_admin_may_read_any_case_s_files(session: Session, runtime: Runtime, online_case: Case) -> None:
    admin = Actor(id="admin-1", role=Role.ADMIN)
    assert {RECORD, PHOTO} <= set(by_name(session, runtime, online_case, admin))
