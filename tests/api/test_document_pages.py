"""Handed-in files on the pages (issue 12), on every backend, without a browser: intake with files
(the window's scans and checks, nothing stored of a refused file, every problem at its material,
staged files kept for the next try), the step page's viewer (images inline, PDFs framed, OFD as a
download, the officer's check, the e-licence of a waived material), the file route's safe headers
and its access log, 补正 with files (upload forms per requested material, nothing ticked, partial
stays partial, the officer's confirmation) and 容缺 (the promised date and its upload form).

The marriage bundle's photo (合影照片) is the material handed in: optional, every file type.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import func, select

from engine.db.models import AccessRecord, Case, CaseFile, DeferredMaterial, Step
from engine.documents.files import FileView, MaterialHandIn, stage_files
from engine.documents.inspection import Upload
from engine.machine.actions import claim_step, request_supplement, start_step
from engine.machine.intake import Applicant, accept_case
from tests.api.conftest import Api
from tests.api.test_pages import csrf, get, intake_form, post
from tests.engine.documents.test_inspection import image, ofd, pdf
from tests.engine.machine.test_eligibility import newborn_answers
from tests.engine.sample_people import CLERK, GROOM, marriage_answers

PHOTO = "3张2寸男女双方近期半身免冠合影照片"
RECORD = "新生儿出生医学记录"
CERTIFICATE = "中华人民共和国结婚证"
NOTICE = "出生医学证明签发知情告知书"
PAPERS = ("女方居民身份证", "男方居民身份证", "女方居民户口簿", "男方居民户口簿")
"""Without the demo licences the couple's ID cards and household registers are to supply: the
window sees their paper originals."""
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200


# --- builders (the page matrix in test_pages uses them too) ---------------------------------------


def case_with_files(api: Api) -> tuple[Case, list[FileView]]:
    """A marriage case the window accepted with a JPEG and a two-page PDF of the photo, checked."""
    with api.session() as session:
        views = stage_files(session, api.runtime, actor=CLERK, bundle_id="marriage", material=PHOTO,
                            uploads=[Upload("photo.jpg", image("JPEG")), Upload("scan.pdf", pdf(2))])
        case = accept_case(session, api.runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                           answers=marriage_answers(), actor=CLERK,
                           materials={PHOTO: MaterialHandIn(files=tuple(v.id for v in views), check="accepted"),
                                      **paper_originals()})
        return case, views


def paper_originals() -> dict[str, MaterialHandIn]:
    return {name: MaterialHandIn(paper=True, check="accepted") for name in PAPERS}


def deferred_case(api: Api) -> Case:
    """A newborn case (the father GROOM applies) accepted with its 知情告知书 deferred to 9 March."""
    with api.session() as session:
        record = stage_files(session, api.runtime, actor=CLERK, bundle_id="newborn", material=RECORD,
                             uploads=[Upload("record.pdf", pdf(3))])
        return accept_case(
            session, api.runtime, bundle_id="newborn", applicant=Applicant(GROOM, "person", "测试甲"),
            answers=newborn_answers(father_id_number=GROOM), actor=CLERK, region="430102", materials={
                RECORD: MaterialHandIn(files=(record[0].id,), check="accepted"),
                CERTIFICATE: MaterialHandIn(paper=True, check="accepted"),
                NOTICE: MaterialHandIn(deferred_until=date(2026, 3, 9))})


def asking_for(api: Api, *materials: str) -> Step:
    """A marriage case whose registration officer (``officer``) sent a 补正 notice for ``materials``."""
    case = api.case()
    step = api.step(case.id)
    actor = api.officer_for(step.department)
    with api.session() as session:
        step = claim_step(session, api.runtime, step_id=step.id, actor=actor, expected_version=step.version)
        step = start_step(session, api.runtime, step_id=step.id, actor=actor, expected_version=step.version)
        return request_supplement(session, api.runtime, step_id=step.id, actor=actor, materials=list(materials),
                                  expected_version=step.version)


def send(api: Api, url: str, who: str, data: dict[str, Any], files: list[tuple[str, tuple[str, bytes, str]]]) -> Any:
    """A multipart form POST with the caller's CSRF value."""
    return api.client.post(url, data={"csrf_token": csrf(api), **data}, files=files, headers=api.auth(who),
                           follow_redirects=False)


def rows(api: Api) -> list[CaseFile]:
    with api.session() as session:
        return list(session.scalars(select(CaseFile).order_by(CaseFile.uploaded_at, CaseFile.filename)))


def box(html: str, material: str) -> str:
    """The markup of one material's box on the intake form."""
    found = re.search(rf'<fieldset class="material[^"]*" id="mat-\d+" data-material="{re.escape(material)}">.*?</fieldset>',
                      html, re.S)
    assert found, f"no box for {material}"
    return found[0]


def section(html: str, material: str) -> str:
    """The markup of one material on the step page."""
    found = re.search(rf'<section class="panel material-view[^"]*" data-material="{re.escape(material)}">.*?</section>',
                      html, re.S)
    assert found, f"no section for {material}"
    return found[0]


JPEG = ("photo.jpg", image("JPEG"), "image/jpeg")
PDF = ("scan.pdf", pdf(2), "application/pdf")


# --- intake ----------------------------------------------------------------------------------


def intake(**extra: Any) -> dict[str, Any]:
    """The marriage intake form with the photo as ``m.0`` and the other materials' paper originals seen."""
    papers = {}
    for n, name in enumerate(PAPERS, start=1):
        papers.update({f"m.{n}.name": name, f"m.{n}.paper": "true", f"m.{n}.check": "accepted"})
    return {**intake_form(), "materials_form": "1", "m.0.name": PHOTO, **papers, **extra}


def test_the_intake_form_offers_a_file_input_per_material_and_the_window_its_check(api: Api) -> None:
    page = get(api, f"/ui/intake/marriage?applicant_id={GROOM}", "clerk").text
    assert 'enctype="multipart/form-data"' in page and 'name="materials_form" value="1"' in page
    photo = box(page, PHOTO)
    n = re.search(r'name="m\.(\d+)\.name"', photo)
    assert n and f'<input type="hidden" name="m.{n[1]}.name" value="{PHOTO}">' in photo
    assert f'type="file" name="m.{n[1]}.files"' in photo and 'multiple accept=".pdf,.jpg,.jpeg,.png,.ofd"' in photo
    assert f'name="m.{n[1]}.check" value="accepted"' in photo and f'name="m.{n[1]}.paper" value="true"' in photo
    assert "checked" not in photo and "capture" not in photo  # nothing ticked; the window scans
    online = box(get(api, "/ui/intake/marriage", "applicant_own").text, PHOTO)
    assert 'capture="environment"' in online and ".check" not in online and ".paper" not in online


def test_the_window_uploads_a_pdf_and_a_jpeg_checks_them_and_accepts(api: Api) -> None:
    accepted = send(api, "/ui/intake/marriage", "clerk", intake(**{"m.0.check": "accepted"}),
                    [("m.0.files", PDF), ("m.0.files", JPEG)])
    assert accepted.status_code == 303, accepted.text[:3000]
    case_id = accepted.headers["location"].split("/")[3]
    files = rows(api)
    assert {(f.case_id, f.material, f.filename, f.pages, f.check_state, f.channel) for f in files} == {
        (case_id, PHOTO, "scan.pdf", 2, "accepted", "window"), (case_id, PHOTO, "photo.jpg", 1, "accepted", "window")}


def test_a_bad_file_is_refused_at_its_material_nothing_stored_and_the_form_kept(api: Api) -> None:
    refused = send(api, "/ui/intake/marriage", "clerk", intake(**{"m.0.check": "accepted", "a.applicant_phone": "13912345678"}),
                   [("m.0.files", ("setup.pdf", EXE, "application/pdf")), ("m.0.files", JPEG)])
    assert refused.status_code == 422
    photo = box(refused.text, PHOTO)
    assert 'class="material panel invalid"' in photo and "setup.pdf" in photo and PHOTO in photo
    anchor = re.search(r'id="(mat-\d+)"', photo)
    assert anchor and f'<a href="#{anchor[1]}">材料「{PHOTO}」</a>' in refused.text  # the summary links the box
    assert 'value="13912345678"' in refused.text and 'value="accepted" checked' in photo  # what was typed
    assert rows(api) == []  # neither the bad file nor its good companion
    with api.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_every_problem_is_named_at_its_material_and_the_staged_files_are_kept(api: Api) -> None:
    unchecked = send(api, "/ui/intake/marriage", "clerk", intake(), [("m.0.files", PDF)])
    assert unchecked.status_code == 422
    photo = box(unchecked.text, PHOTO)
    assert "请先核验材料" in photo and "scan.pdf" in photo
    [staged] = re.findall(r'name="m\.\d+\.staged" value="([0-9a-f]{32})" checked', photo)
    returned = send(api, "/ui/intake/marriage", "clerk",
                    intake(**{"m.0.staged": staged, "m.0.check": "returned", "m.0.reason": "照片模糊"}), [])
    assert returned.status_code == 422 and "照片模糊" in box(returned.text, PHOTO)
    accepted = send(api, "/ui/intake/marriage", "clerk", intake(**{"m.0.staged": staged, "m.0.check": "accepted"}), [])
    assert accepted.status_code == 303, accepted.text[:2000]
    assert [(f.id, f.check_state) for f in rows(api)] == [(staged, "accepted")]  # uploaded once


def test_someone_elses_staged_file_is_not_taken(api: Api) -> None:
    with api.session() as session:
        [theirs] = stage_files(session, api.runtime, actor=CLERK, bundle_id="marriage", material=PHOTO,
                               uploads=[Upload("theirs.pdf", pdf())])
    refused = send(api, "/ui/intake/marriage", "clerk", intake(**{"m.0.staged": theirs.id, "m.0.check": "accepted"}),
                   [])
    assert refused.status_code == 303  # the photo is optional: accepted without it
    assert [f.case_id for f in rows(api)] == [None]  # the other clerk's file stays theirs


# --- the step page's viewer ---------------------------------------------------------------------


def test_the_officer_sees_the_image_inline_and_the_pdf_framed(api: Api) -> None:
    case, (jpeg, scan) = case_with_files(api)
    step = api.step(case.id)
    response = get(api, f"/ui/steps/{step.id}", "officer")
    policy = response.headers["content-security-policy"]
    assert "frame-src 'self'" in policy and "object-src 'self'" in policy and "frame-ancestors 'none'" in policy
    photo = section(response.text, PHOTO)
    assert f'<img class="file-view" src="/ui/files/{jpeg.id}"' in photo
    assert f'<iframe class="file-view pdf" src="/ui/files/{scan.id}"' in photo
    assert "2 页" in photo and "核验通过" in photo and 'action="/ui/cases/' in photo  # the officer may check it
    assert "frame-src" not in get(api, f"/ui/cases/{case.id}", "officer").headers["content-security-policy"]


def test_a_file_is_served_with_safe_headers_and_the_read_is_logged(api: Api) -> None:
    case, (jpeg, scan) = case_with_files(api)
    served = get(api, f"/ui/files/{scan.id}", "officer")
    assert served.status_code == 200 and served.content.startswith(b"%PDF")
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"] == "inline; filename*=UTF-8''scan.pdf"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"].startswith("sandbox")
    assert served.headers["cache-control"] == "private, no-store"
    saved = get(api, f"/ui/files/{jpeg.id}?download=1", "applicant_own")
    assert saved.status_code == 200 and saved.headers["content-disposition"].startswith("attachment;")
    with api.session() as session:
        logged = session.scalars(select(AccessRecord.what).where(AccessRecord.case_id == case.id)).all()
    assert f"file {scan.id} ({PHOTO})" in logged
    for who in ("applicant_other", "officer_other", "clerk_other"):
        assert get(api, f"/ui/files/{scan.id}", who).status_code == 404, who
    assert get(api, "/ui/files/" + "0" * 32, "officer").status_code == 404


def test_an_ofd_is_offered_as_a_download_with_its_pages(api: Api) -> None:
    with api.session() as session:
        views = stage_files(session, api.runtime, actor=CLERK, bundle_id="marriage", material=PHOTO,
                            uploads=[Upload("photo.ofd", ofd(3))])
        case = accept_case(session, api.runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                           answers=marriage_answers(), actor=CLERK,
                           materials={PHOTO: MaterialHandIn(files=(views[0].id,), check="accepted"),
                                      **paper_originals()})
    photo = section(get(api, f"/ui/steps/{api.step(case.id).id}", "officer").text, PHOTO)
    assert f'href="/ui/files/{views[0].id}?download=1" download>下载（3页）' in photo and "<iframe" not in photo


def test_the_officer_returns_a_material_with_a_reason(api: Api) -> None:
    case, _views = case_with_files(api)
    step = api.step(case.id)
    form = {"step_id": step.id, "material": PHOTO, "state": "returned"}
    nothing = post(api, f"/ui/cases/{case.id}/materials/check", "officer", form)
    assert nothing.status_code == 422 and "退回材料须说明理由" in nothing.text
    returned = post(api, f"/ui/cases/{case.id}/materials/check", "officer", {**form, "reason": "照片不清晰"})
    assert returned.status_code == 303 and returned.headers["location"] == f"/ui/steps/{step.id}?msg=material_returned"
    assert {f.check_state for f in rows(api)} == {"returned"}
    photo = section(get(api, f"/ui/steps/{step.id}", "officer").text, PHOTO)
    assert photo.count("已退回") == 2 and "照片不清晰" in photo
    assert "照片不清晰" in get(api, f"/ui/cases/{case.id}", "applicant_own").text  # the applicant reads why
    assert post(api, f"/ui/cases/{case.id}/materials/check", "applicant_own",
                {**form, "reason": "x"}).status_code == 403


def test_a_waived_e_licence_material_shows_the_licence(api: Api) -> None:
    from api.demo import load_demo_data, seed_licences, synthetic_person

    with api.session() as session:
        seed_licences(session, api.runtime, load_demo_data(), report=lambda _: None)
        groom, bride = synthetic_person(1), synthetic_person(2)
        case = accept_case(session, api.runtime, bundle_id="marriage", applicant=Applicant(groom, "person", "测试甲"),
                           answers=marriage_answers(groom_id_number=groom, bride_id_number=bride), actor=CLERK)
    card = section(get(api, f"/ui/steps/{api.step(case.id).id}", "officer").text, "男方居民身份证")
    assert '<div class="licence">' in card and "居民身份证" in card and "测试甲" in card
    assert groom not in card  # ID numbers masked, as everywhere


# --- 补正 with files ------------------------------------------------------------------------------


def test_the_applicant_uploads_a_requested_material_and_the_officer_confirms(api: Api) -> None:
    step = asking_for(api, PHOTO, "户口簿原件")
    page = get(api, f"/ui/cases/{step.case_id}", "applicant_own").text
    entry = page[page.index(f'id="supplement-{step.id}"'):]
    assert entry.count(f'action="/ui/steps/{step.id}/hand-in" enctype="multipart/form-data"') == 2
    assert 'type="checkbox"' not in entry[:entry.index("</div>")]  # nothing pre-ticked
    handed = send(api, f"/ui/steps/{step.id}/hand-in", "applicant_own",
                  {"version": str(step.version), "material": PHOTO, "back": "case"}, [("files", JPEG)])
    assert handed.status_code == 303, handed.text[:2000]
    assert handed.headers["location"].startswith(f"/ui/cases/{step.case_id}?msg=supplement_handed_in")
    assert api.step(step.case_id).state == "supplement_requested"  # partial stays partial
    after = get(api, handed.headers["location"], "applicant_own").text
    assert "待办理部门确认收到" in after and "photo.jpg" in after and "尚未提交" in after

    desk = get(api, f"/ui/steps/{step.id}", "officer").text
    listed = desk[desk.index(f'id="hand-in-{step.id}"'):]
    assert "photo.jpg" in listed and 'data-requested="户口簿原件" class="missing"' in listed
    assert "receive-supplement" not in desk  # offered once everything asked for has something handed in
    version = api.step_version(step.id)
    early = post(api, f"/ui/steps/{step.id}/receive-supplement", "officer", {"version": str(version)})
    assert early.status_code == 409 and "户口簿原件" in early.text
    paper = post(api, f"/ui/steps/{step.id}/hand-in", "clerk",
                 {"version": str(version), "material": "户口簿原件", "paper": "true"})
    assert paper.status_code == 303, paper.text[:2000]
    desk = get(api, f"/ui/steps/{step.id}", "officer").text
    assert f'action="/ui/steps/{step.id}/receive-supplement"' in desk and "补正材料已齐" in desk
    confirmed = post(api, f"/ui/steps/{step.id}/receive-supplement", "officer",
                     {"version": str(api.step_version(step.id))})
    assert confirmed.status_code == 303 and confirmed.headers["location"].endswith("msg=supplement_received")
    assert api.step(step.case_id).state == "in_progress"


def test_a_bad_supplement_file_is_refused_naming_the_material(api: Api) -> None:
    step = asking_for(api, PHOTO)
    refused = send(api, f"/ui/steps/{step.id}/hand-in", "applicant_own",
                   {"version": str(step.version), "material": PHOTO, "back": "case"},
                   [("files", ("setup.pdf", EXE, "application/pdf"))])
    assert refused.status_code == 422 and PHOTO in refused.text and "setup.pdf" in refused.text
    assert 'class="stack hand-in invalid"' in refused.text
    assert rows(api) == [] and api.step_version(step.id) == step.version


def test_the_officer_asks_for_the_steps_materials_by_ticking_them(api: Api) -> None:
    step = api.advance(api.step(api.case().id), "in_progress")
    page = get(api, f"/ui/steps/{step.id}", "officer").text
    form = page[page.index('id="supplement"'):]
    assert f'name="material" value="{PHOTO}">' in form and "checked" not in form[:form.index("</form>")]
    asked = post(api, f"/ui/steps/{step.id}/request-supplement", "officer",
                 {"version": str(step.version), "material": [PHOTO], "materials": "户口簿原件"})
    assert asked.status_code == 303
    with api.session() as session:
        assert session.get_one(Step, step.id).supplement["requested"] == [PHOTO, "户口簿原件"]


# --- 容缺 --------------------------------------------------------------------------------------


def test_the_applicant_sees_the_promised_date_and_hands_the_material_in(api: Api) -> None:
    case = deferred_case(api)
    page = get(api, f"/ui/cases/{case.id}", "applicant_own").text
    deferred = page[page.index('id="deferred"'):]
    assert NOTICE in deferred and "请于2026年3月9日前补交" in deferred
    assert f'action="/ui/cases/{case.id}/deferred" enctype="multipart/form-data"' in deferred
    handed = send(api, f"/ui/cases/{case.id}/deferred", "applicant_own", {"material": NOTICE},
                  [("files", ("notice.png", image("PNG"), "image/png"))])
    assert handed.status_code == 303 and handed.headers["location"] == f"/ui/cases/{case.id}?msg=deferred_supplied"
    with api.session() as session:
        assert session.get_one(DeferredMaterial, (case.id, NOTICE)).supplied_at is not None
    after = get(api, handed.headers["location"], "applicant_own").text
    assert "容缺材料已补交" in after and "notice.png" in after


def test_the_window_promises_a_date_at_intake(api: Api) -> None:
    form = {"applicant_id": GROOM, "applicant_name": "测试甲", "idempotency_key": "key-newborn-1", "materials_form": "1",
            **{f"a.{k}": ("true" if v else "false") if isinstance(v, bool) else v
               for k, v in newborn_answers(father_id_number=GROOM).items()},
            "m.0.name": NOTICE, "m.0.until": "2026-03-10",
            "m.1.name": RECORD, "m.1.check": "accepted", "m.2.name": CERTIFICATE, "m.2.paper": "true",
            "m.2.check": "accepted"}
    page = get(api, f"/ui/intake/newborn?applicant_id={GROOM}&a.father_id_number={GROOM}", "clerk").text
    notice = box(page, NOTICE)
    assert 'type="date"' in notice and 'max="2026-03-09"' in notice and "容缺受理" in notice
    late = send(api, "/ui/intake/newborn", "clerk", form, [("m.1.files", PDF)])
    assert late.status_code == 422
    assert "承诺补交日期须在" in box(late.text, NOTICE)
    staged = re.findall(r'name="m\.\d+\.staged" value="([0-9a-f]{32})"', box(late.text, RECORD))
    accepted = send(api, "/ui/intake/newborn", "clerk", {**form, "m.0.until": "2026-03-09", "m.1.staged": staged}, [])
    assert accepted.status_code == 303, accepted.text[:3000]
