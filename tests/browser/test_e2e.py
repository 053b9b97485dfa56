"""One case through every desk, in headless Chromium against a live server.

Clerk: intake of the marriage bundle for the demo groom (names prefilled from the ID cards,
materials waived) → receipt. Officer of 民政 (11): worklist → claim → complete. Applicant (on a
phone-sized screen): marriage registration done, the three following steps ready. Officer of 公安
(09): asks for supplementary materials on one of them; the applicant sees the list and confirms
the hand-in. Weeks later the card sweep runs and the supervisor's dashboard shows the overdue
row, the chart and the cards. A screenshot of each stage goes to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api.demo import synthetic_person
from engine.time.supervision import issue_cards
from tests.engine.documents.test_inspection import image, pdf
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


class Desk:
    """One user's browser context (own cookies), failing on any console error (e.g. a CSP block)."""

    def __init__(self, browser: Any, server: LiveServer, shots: Path, user: str, viewport: dict[str, int]) -> None:
        self.context = browser.new_context(viewport=viewport, locale="zh-CN")
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.server, self.shots, self.user = server, shots, user

    def _console(self, msg: Any) -> None:
        if msg.type == "error" and not str(msg.location.get("url", "")).endswith("/favicon.ico"):
            self.errors.append(f"{msg.text} at {msg.location.get('url')}")

    def login(self) -> None:
        page = self.page
        page.goto(f"{self.server.base_url}/ui/login")
        page.fill("#token", self.server.tokens[self.user])
        page.click("form[action='/ui/login'] button[type=submit]")
        page.wait_for_load_state()

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        assert not self.errors, self.errors

    def close(self) -> None:
        self.context.close()


def test_one_case_through_every_desk(browser: Any, live_server: LiveServer, screenshots: Path) -> None:
    groom, bride = synthetic_person(1), synthetic_person(2)
    base = live_server.base_url

    # --- clerk: intake with prefill, then the receipt -------------------------------------
    clerk = Desk(browser, live_server, screenshots, "clerk", DESKTOP)
    clerk.login()
    page = clerk.page
    assert page.url.endswith("/ui/intake")
    page.click("a[data-bundle='marriage']")
    page.fill("#applicant_id", groom)
    page.fill("#applicant_name", "测试甲")
    page.fill("#id-groom_id_number", groom)
    page.fill("#id-bride_id_number", bride)
    page.click("#identify button[type=submit]")
    assert page.input_value("#a-groom_name") == "测试甲"
    assert page.input_value("#a-bride_name") == "测试乙"
    assert "已从 居民身份证" in page.inner_text("[data-field='a-groom_name'] .source")
    assert "男方居民身份证" in page.inner_text("#waived") and "已关联电子证照" in page.inner_text("#waived")
    page.fill("#a-applicant_phone", "13800000001")
    page.check("input[name='a.previously_married'][value='false']")
    assert page.is_hidden("[data-field='a-move_household']")  # asked only for Hunan households
    page.check("input[name='a.both_hunan_household'][value='true']")
    page.check("input[name='a.move_household'][value='true']")
    assert page.input_value("#a-receiving_household_type") == "family"  # from the household register
    page.check("input[name='a.register_birth_plan'][value='true']")
    clerk.shot("01-clerk-intake-prefilled")
    page.click("#application button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/cases/[0-9a-f]{32}/receipt\?msg=accepted$"))
    receipt_no = page.inner_text(".doc-no strong")
    assert re.fullmatch(r"430102-20260302-\d{5}", receipt_no)
    assert "受理成功" in page.inner_text("#toolbar")
    case_url = page.url.split("/receipt")[0]
    clerk.shot("02-clerk-receipt")
    clerk.close()

    # --- officer of 民政: worklist, claim, complete ---------------------------------------
    civil = Desk(browser, live_server, screenshots, "officer11", DESKTOP)
    civil.login()
    page = civil.page
    assert page.url.endswith("/ui/departments/11")
    row = page.locator("#worklist tr[data-step='marriage_registration']")
    assert receipt_no in row.inner_text() and groom not in page.content()  # IDs masked in lists
    civil.shot("03-officer-worklist")
    row.locator("a").click()
    page.click("form[action$='/claim'] button[type=submit]")
    assert "已认领" in page.inner_text(".flash")
    civil.shot("04-officer-claimed")
    page.fill("#result", "结婚证")
    page.fill("#number", "J430102-2026-000001")
    page.click("form[action$='/complete'] button[type=submit]")
    assert "已办结" in page.inner_text(".flash")
    civil.shot("05-officer-completed")
    civil.close()

    # --- applicant on a phone: progress --------------------------------------------------
    applicant = Desk(browser, live_server, screenshots, "applicant", PHONE)
    applicant.login()
    page = applicant.page
    assert page.url.endswith("/ui/cases")
    assert receipt_no in page.inner_text("main")
    page.locator(f"a[href='{case_url.removeprefix(base)}']").first.click()
    page.wait_for_url(case_url)
    assert "done" in (page.get_attribute("li[data-step='marriage_registration']", "class") or "")
    for key in ("marital_status_change", "spouse_household_move", "birth_plan_registration"):
        assert "ready" in (page.get_attribute(f"li[data-step='{key}']", "class") or ""), key
    applicant.shot("06-applicant-progress-phone")

    # --- officer of 公安 asks for supplements on one of the released steps -----------------
    police = Desk(browser, live_server, screenshots, "officer09", DESKTOP)
    police.login()
    page = police.page
    page.locator("#worklist tr[data-step='marital_status_change'] a").click()
    page.click("form[action$='/claim'] button[type=submit]")
    page.fill("#materials", "户口簿原件\n结婚证复印件")
    page.fill("#note", "请携带原件到窗口核验")
    page.click("form[action$='/request-supplement'] button[type=submit]")
    assert "一次性告知" in page.inner_text(".flash")
    police.shot("07-officer-supplement-requested")
    police.close()

    # --- the applicant sees the list and uploads each material from the phone -------------
    page = applicant.page
    page.reload()
    box = page.locator("li[data-step='marital_status_change'] .supplement")
    assert "户口簿原件" in box.inner_text() and "结婚证复印件" in box.inner_text()
    applicant.shot("08-applicant-supplements-phone")
    for name, scan in (("户口簿原件", pdf(2)), ("结婚证复印件", image("JPEG"))):
        form = page.locator(f"li[data-step='marital_status_change'] form.hand-in[data-material='{name}']")
        kind = "application/pdf" if scan.startswith(b"%PDF") else "image/jpeg"
        form.locator("input[type=file][name=files]:not([capture])").set_input_files(
            [{"name": f"{name}.{'pdf' if kind.endswith('pdf') else 'jpg'}", "mimeType": kind, "buffer": scan}])
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert "待办理部门确认收到" in page.inner_text(".flash")
    assert "supplement_requested" in (page.get_attribute("li[data-step='marital_status_change']", "class") or "")
    applicant.shot("09-applicant-handed-in-phone")
    applicant.close()

    # --- the officer confirms the receipt: only this restarts the clock (§32) ---------------
    police = Desk(browser, live_server, screenshots, "officer09", DESKTOP)
    police.login()
    page = police.page
    page.locator("#worklist tr[data-step='marital_status_change'] a").click()
    page.click("form[action$='/receive-supplement'] button[type=submit]")
    assert "已确认收到补正材料" in page.inner_text(".flash")
    police.close()

    # --- weeks later: the card sweep, and the supervisor's dashboard ----------------------
    live_server.clock.advance(days=45)
    with live_server.sessions() as session:
        assert issue_cards(session, live_server.runtime)
    supervisor = Desk(browser, live_server, screenshots, "supervisor", DESKTOP)
    supervisor.login()
    page = supervisor.page
    assert page.url.endswith("/ui/supervision")
    assert page.locator("#chart rect.overdue").count() >= 1 and page.locator("#chart rect.open").count() >= 1
    assert page.locator("#departments tr.overdue").count() >= 1
    assert page.locator("#cards tr[data-card]").count() >= 1 and receipt_no in page.inner_text("#cards")
    supervisor.shot("10-supervisor-dashboard")
    supervisor.close()
