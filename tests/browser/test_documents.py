"""Handed-in files in headless Chromium against a live server (issue 12).

Clerk (desktop): the marriage intake for the demo groom; an .exe renamed .pdf is refused naming
the photo material, then a two-page PDF and a JPEG are uploaded and checked, the case accepted;
the receipt lists them with their pages. Officer of 民政 (11): the step page shows the JPEG
inline and the PDF in the browser (the page's own frame policy), asks for the photo again (补正,
ticked, nothing ticked beforehand). The applicant on a phone-sized screen uploads a photo for the
notice; the officer confirms the receipt and the step runs again. Screenshots go to
test-artifacts/screenshots/ (documents-*).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api.demo import synthetic_person
from tests.browser.conftest import LiveServer
from tests.browser.test_e2e import DESKTOP, PHONE, Desk
from tests.engine.documents.test_inspection import image, pdf

pytestmark = pytest.mark.browser

PHOTO = "3张2寸男女双方近期半身免冠合影照片"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200


def upload(name: str, data: bytes, mime: str) -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


def fill_marriage(page: Any) -> None:
    """The marriage intake's answers for the demo couple (as tests/browser/test_e2e.py types them)."""
    groom, bride = synthetic_person(1), synthetic_person(2)
    page.click("a[data-bundle='marriage']")
    page.fill("#applicant_id", groom)
    page.fill("#applicant_name", "测试甲")
    page.fill("#id-groom_id_number", groom)
    page.fill("#id-bride_id_number", bride)
    page.click("#identify button[type=submit]")
    page.fill("#a-applicant_phone", "13800000001")
    page.check("input[name='a.previously_married'][value='false']")
    page.check("input[name='a.both_hunan_household'][value='true']")
    page.check("input[name='a.move_household'][value='true']")
    page.check("input[name='a.register_birth_plan'][value='true']")


def test_files_from_the_window_to_the_officer_and_a_supplement_from_a_phone(
        browser: Any, live_server: LiveServer, screenshots: Path) -> None:
    # --- clerk: a bad file refused at its material, then a PDF and a JPEG checked and accepted ---
    clerk = Desk(browser, live_server, screenshots, "clerk", DESKTOP)
    clerk.login()
    page = clerk.page
    fill_marriage(page)
    photo = f"fieldset[data-material='{PHOTO}']"
    # any other material still to supply: its paper original seen at the window
    for box in page.locator("fieldset.material").all():
        if box.get_attribute("data-material") != PHOTO:
            box.locator("input[type=checkbox][name$='.paper']").check()
            box.locator("input[type=radio][value=accepted]").check()
    page.set_input_files(f"{photo} input[type=file][name$='.files']", [upload("setup.pdf", EXE, "application/pdf")])
    page.check(f"{photo} input[type=radio][value=accepted]")
    page.click("#application button[type=submit]")
    page.wait_for_load_state()
    box = page.locator(photo)
    assert "invalid" in (box.get_attribute("class") or "")
    assert "setup.pdf" in box.inner_text() and PHOTO in page.inner_text("#problems")
    assert page.is_checked(f"{photo} input[type=radio][value=accepted]")  # what was chosen is kept
    clerk.errors.remove(next(e for e in clerk.errors if "422" in e))  # the refusal's own status, expected
    clerk.shot("documents-01-clerk-bad-file-refused")

    page.set_input_files(f"{photo} input[type=file][name$='.files']",
                         [upload("scan.pdf", pdf(2), "application/pdf"), upload("photo.jpg", image("JPEG", (320, 240)), "image/jpeg")])
    page.click("#application button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/cases/[0-9a-f]{32}/receipt\?msg=accepted$"))
    received = page.inner_text("table.received")
    assert PHOTO in received and "2 个文件，共 3 页" in received
    case_url = page.url.split("/receipt")[0]
    clerk.shot("documents-02-clerk-receipt-lists-files")
    clerk.close()

    # --- officer of 民政: the image inline, the PDF in the browser; asks for the photo again ----
    civil = Desk(browser, live_server, screenshots, "officer11", DESKTOP)
    civil.login()
    page = civil.page
    page.locator("#worklist tr[data-step='marriage_registration'] a").first.click()
    step_url = page.url
    view = page.locator(f"section.material-view[data-material='{PHOTO}']")
    img = view.locator("img.file-view")
    img.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth === 320", arg=img.element_handle())
    frame = view.locator("iframe.file-view.pdf")
    assert frame.count() == 1
    served = page.request.get(live_server.base_url + (frame.get_attribute("src") or ""))
    assert served.status == 200 and served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"].startswith("inline;")
    assert "2 页" in view.inner_text() and "核验通过" in view.inner_text()
    civil.shot("documents-03-officer-viewer")
    page.click("form[action$='/claim'] button[type=submit]")
    assert not page.is_checked(f"#supplement input[name=material][value='{PHOTO}']")  # nothing ticked
    page.check(f"#supplement input[name=material][value='{PHOTO}']")
    page.fill("#note", "照片不清晰，请重新上传")
    page.click("form[action$='/request-supplement'] button[type=submit]")
    assert "一次性告知" in page.inner_text(".flash")
    civil.errors.clear()  # the PDF viewer's own console chatter is not the page's

    # --- the applicant on a phone hands in a new photo ---------------------------------------
    applicant = Desk(browser, live_server, screenshots, "applicant", PHONE)
    applicant.login()
    page = applicant.page
    page.goto(case_url)
    entry = page.locator("li[data-step='marriage_registration'] .supplement")
    assert PHOTO in entry.inner_text() and "尚未提交" in entry.inner_text()
    form = entry.locator(f"form.hand-in[data-material='{PHOTO}']")
    assert form.locator("input[capture=environment]").count() == 1  # the camera on a phone
    form.locator("input[type=file][name=files]:not([capture])").set_input_files(
        [upload("new-photo.png", image("PNG", (300, 200)), "image/png")])
    applicant.shot("documents-04-applicant-supplement-phone")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "待办理部门确认收到" in page.inner_text(".flash")
    assert "new-photo.png" in page.inner_text("li[data-step='marriage_registration'] .supplement")
    assert "supplement_requested" in (page.get_attribute("li[data-step='marriage_registration']", "class") or "")
    applicant.shot("documents-05-applicant-handed-in-phone")

    # --- the officer confirms the receipt: the clock runs again -------------------------------
    page = civil.page
    page.goto(step_url)
    assert "new-photo.png" in page.inner_text(".supplement")
    page.click("form[action$='/receive-supplement'] button[type=submit]")
    assert "已确认收到补正材料" in page.inner_text(".flash")
    civil.errors.clear()
    civil.shot("documents-06-officer-confirmed")
    civil.close()
    page = applicant.page
    page.reload()
    assert "in_progress" in (page.get_attribute("li[data-step='marriage_registration']", "class") or "")
    applicant.close()


def test_a_deferred_material_is_handed_in_from_a_phone_and_then_the_step_completes(
        browser: Any, live_server: LiveServer, screenshots: Path) -> None:
    """容缺受理: the window accepted a newborn case without the 知情告知书 (promised for 9 March); the
    step needing it cannot complete; the applicant hands it in from a phone; the officer then may."""
    from datetime import date

    from engine.db.models import Step
    from engine.documents.files import MaterialHandIn
    from engine.errors import Conflict
    from engine.machine.actions import claim_step, complete_step
    from engine.machine.intake import Applicant, accept_case, preview_application
    from tests.engine.machine.test_eligibility import newborn_answers
    from tests.engine.sample_people import CLERK, decider

    notice = "出生医学证明签发知情告知书"
    father = synthetic_person(1)
    # the names come from the demo father's e-licences (prefill locks them)
    answers = {k: v for k, v in newborn_answers(father_id_number=father).items() if k not in ("applicant_name", "father_name")}
    with live_server.sessions() as session:
        runtime = live_server.runtime
        preview = preview_application(session, runtime, bundle_id="newborn", applicant=Applicant(father, "person", "测试甲"),
                                      answers=answers, actor=CLERK)
        to_supply = {m.name for m in preview.prefill.to_supply} - {notice}
        materials = {name: MaterialHandIn(paper=True, check="accepted") for name in to_supply}
        materials[notice] = MaterialHandIn(deferred_until=date(2026, 3, 9))
        case = accept_case(session, runtime, bundle_id="newborn", applicant=Applicant(father, "person", "测试甲"),
                           answers=answers, actor=CLERK, region="430102", materials=materials)
        needing = next(s for s in case.steps if s.state == "ready" and notice in {
            m.name for m in runtime.spec_for(session, case).step(s.step_key).materials})
        claim_step(session, runtime, step_id=needing.id, actor=decider(needing))
        with pytest.raises(Conflict, match=notice):
            complete_step(session, runtime, step_id=needing.id, actor=decider(needing))
        case_id, step_id = case.id, needing.id

    applicant = Desk(browser, live_server, screenshots, "applicant", PHONE)
    applicant.login()
    page = applicant.page
    page.goto(f"{live_server.base_url}/ui/cases/{case_id}")
    entry = page.locator(f"li[data-deferred='{notice}']")
    assert "2026年3月9日" in entry.inner_text()
    entry.locator("input[type=file][name=files]:not([capture])").set_input_files(
        [upload("notice.pdf", pdf(1), "application/pdf")])
    applicant.shot("documents-06-applicant-deferred-phone")
    entry.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "容缺材料已补交" in page.inner_text(".flash") and "notice.pdf" in page.inner_text("body")
    applicant.close()

    with live_server.sessions() as session:
        step = session.get_one(Step, step_id)
        assert complete_step(session, live_server.runtime, step_id=step_id, actor=decider(step)).state == "done"
