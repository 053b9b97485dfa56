"""Every role's pages in headless Chromium, checked by axe-core (issue 15).

Each role signs in and walks its pages — the applicant on a phone-sized screen — and on each one
axe-core (vendored in ``tests/browser/vendor``: the test machine, like a government intranet, may
have no internet) finds no serious or critical violation, and nothing on the page is loaded from
another host. A screenshot of each page goes to ``test-artifacts/screenshots/walk-*.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from api.demo import synthetic_person
from engine.machine.intake import Applicant, accept_case
from engine.people.tokens import authenticate
from tests.browser.conftest import LiveServer
from tests.engine.sample_people import marriage_answers

pytestmark = pytest.mark.browser

AXE = Path(__file__).with_name("vendor") / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SERIOUS = ("serious", "critical")


class Walker:
    """One user's browser: pages are loaded with outside hosts refused, then checked by axe."""

    def __init__(self, browser: Any, server: LiveServer, shots: Path, user: str | None, viewport: dict[str, int],
                 *, language: str = "zh") -> None:
        # bypass_csp: the pages' own policy (nonces) would refuse the injected axe script
        self.context = browser.new_context(viewport=viewport, locale="zh-CN", bypass_csp=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.outside: list[str] = []
        host = urlsplit(server.base_url).netloc
        self.context.route("**/*", lambda route: self._only_local(route, host))
        self.server, self.shots, self.user = server, shots, user
        self.failures: list[str] = []
        if user is not None:
            self.page.goto(f"{server.base_url}/ui/login")
            self.page.fill("#token", server.tokens[user])
            self.page.click("form[action='/ui/login'] button[type=submit]")
            self.page.wait_for_load_state()
        if language != "zh":
            self.page.goto(f"{server.base_url}/ui/login")
            self.page.click("form.language button[type=submit]")

    def _only_local(self, route: Any, host: str) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == host:
            route.continue_()
        else:  # an intranet has no internet: a page that needs it is broken there
            self.outside.append(url)
            route.abort()

    def visit(self, path: str, name: str, *, axe: bool = True) -> Any:
        self.page.goto(f"{self.server.base_url}{path}")
        self.page.wait_for_load_state("networkidle")
        return self.check(name, axe=axe)

    def check(self, name: str, *, axe: bool = True) -> Any:
        """axe on the page as it is now; a screenshot; any serious violation is recorded."""
        page = self.page
        found = []
        if axe:
            page.add_script_tag(path=str(AXE))
            found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
        bad = [v for v in found if v.get("impact") in SERIOUS]
        for violation in bad:
            nodes = "; ".join(n["target"][0] if isinstance(n["target"][0], str) else json.dumps(n["target"])
                              for n in violation["nodes"][:5])
            self.failures.append(f"{name} ({page.url}): {violation['id']} [{violation['impact']}] "
                                 f"{violation['help']} — {nodes}")
        page.screenshot(path=str(self.shots / f"walk-{name}.png"), full_page=True)
        if self.outside:
            self.failures.append(f"{name}: loaded from outside: {self.outside}")
            self.outside.clear()
        return page

    def close(self) -> list[str]:
        self.context.close()
        return self.failures


def _case(server: LiveServer, groom_no: int = 1, bride_no: int = 2) -> tuple[str, str]:
    """A marriage case of a demo couple (the applicant user is person 1), accepted at the clerk's
    window: (case id, first step id)."""
    with server.sessions() as session:
        clerk = authenticate(session, token=server.tokens["clerk"], now=server.clock.now())
        assert clerk is not None
        groom, bride = synthetic_person(groom_no), synthetic_person(bride_no)
        case = accept_case(session, server.runtime, bundle_id="marriage", applicant=Applicant(groom, "person"),
                           answers=marriage_answers(groom_id_number=groom, bride_id_number=bride, groom_name="测试甲",
                                                    bride_name="测试乙"), actor=clerk)
        return case.id, case.steps[0].id


def test_every_role_walks_its_pages_with_no_serious_accessibility_violation(
    browser: Any, live_server: LiveServer, screenshots: Path
) -> None:
    case_id, step_id = _case(live_server)
    failures: list[str] = []

    anonymous = Walker(browser, live_server, screenshots, None, DESKTOP)
    anonymous.visit("/ui/login", "anon-login")
    # Swagger UI is a developer's tool with markup of its own (axe finds nested controls in it): it is
    # checked for loading nothing from outside, not by axe; every page of the service is.
    docs = anonymous.visit("/docs", "anon-api-docs", axe=False)
    docs.wait_for_selector(".swagger-ui .opblock")  # rendered from the vendored assets alone
    failures += anonymous.close()

    clerk = Walker(browser, live_server, screenshots, "clerk", DESKTOP)
    clerk.visit("/ui/intake", "clerk-bundles")
    page = clerk.visit("/ui/intake/marriage", "clerk-identify")
    page.fill("#applicant_id", synthetic_person(3))
    page.fill("#id-groom_id_number", synthetic_person(3))
    page.fill("#id-bride_id_number", synthetic_person(4))
    page.click("#identify button[type=submit]")
    page.wait_for_load_state()
    assert "/identify" in page.url and synthetic_person(3) not in page.url  # a POST: no ID in the address
    clerk.check("clerk-intake-form")
    page.click("#application button[type=submit]")  # nothing answered: every problem at once
    page.wait_for_load_state()
    assert page.locator("#problems li").count() >= 3
    assert page.evaluate("document.activeElement.id") == "problems"
    clerk.check("clerk-intake-errors")
    clerk.visit(f"/ui/cases/{case_id}/receipt", "clerk-receipt")
    clerk.visit(f"/ui/cases/{case_id}", "clerk-case")
    clerk.visit("/ui/licences", "clerk-licences")
    failures += clerk.close()

    officer = Walker(browser, live_server, screenshots, "officer11", DESKTOP)
    officer.visit("/ui/departments/11", "officer-worklist")
    officer.visit(f"/ui/steps/{step_id}", "officer-step")
    officer.visit("/ui/inbox", "officer-inbox")
    failures += officer.close()

    applicant = Walker(browser, live_server, screenshots, "applicant", PHONE)
    applicant.visit("/ui/cases", "applicant-cases-phone")
    applicant.visit(f"/ui/cases/{case_id}", "applicant-progress-phone")
    applicant.visit("/ui/intake/marriage", "applicant-intake-phone")
    failures += applicant.close()

    supervisor = Walker(browser, live_server, screenshots, "supervisor", DESKTOP, language="zh-en")
    supervisor.visit("/ui/supervision", "supervisor-dashboard-bilingual")
    supervisor.visit("/ui/explanations", "supervisor-explanations-bilingual")
    supervisor.visit("/ui/followups", "supervisor-followups-bilingual")
    failures += supervisor.close()

    assert not failures, "\n".join(failures)


def test_the_language_switch_shows_or_hides_the_english(browser: Any, live_server: LiveServer,
                                                        screenshots: Path) -> None:
    walker = Walker(browser, live_server, screenshots, None, PHONE)
    page = walker.visit("/ui/login", "anon-login-zh")
    assert not page.is_visible("main .en")
    page.click("form.language button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith("/ui/login") and page.is_visible("main .en")
    walker.check("anon-login-bilingual")
    assert not walker.close()


def test_a_refusal_asks_first_and_a_dismissed_dialog_changes_nothing(browser: Any, live_server: LiveServer,
                                                                     screenshots: Path) -> None:
    _case_id, step_id = _case(live_server, 7, 8)
    walker = Walker(browser, live_server, screenshots, "officer11", DESKTOP)
    page = walker.visit(f"/ui/steps/{step_id}", "officer-step-to-claim", axe=False)
    page.click("form[action$='/claim'] button[type=submit]")
    page.wait_for_load_state()
    page.fill("#reason", "不符合《婚姻登记条例》第六条规定")
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("form[action$='/reject'] button[type=submit]")
    assert asked and "不予办理" in asked[0]
    assert "/ui/steps/" in page.url and page.locator("form[action$='/reject']").count() == 1  # nothing sent
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[action$='/reject'] button[type=submit]")
    page.wait_for_url("**msg=rejected")
    walker.check("officer-step-rejected")
    assert not walker.close()


def test_the_materials_follow_the_answers_before_any_submit(browser: Any, live_server: LiveServer,
                                                           screenshots: Path) -> None:
    """Issue 15: the materials list refreshed only after a submit; a divorce certificate is asked
    for as soon as 是否有过婚史 is answered yes (progressive: without scripts the next submit shows it)."""
    walker = Walker(browser, live_server, screenshots, "clerk", DESKTOP)
    page = walker.visit("/ui/intake/marriage", "clerk-identify-materials", axe=False)
    page.fill("#applicant_id", synthetic_person(5))
    page.fill("#id-groom_id_number", synthetic_person(5))
    page.fill("#id-bride_id_number", synthetic_person(6))
    page.click("#identify button[type=submit]")
    page.wait_for_load_state()
    assert "离婚证" not in page.inner_text("#to-supply") + page.inner_text("#waived")
    page.check("input[name='a.previously_married'][value='true']")
    page.wait_for_selector("#application[data-materials-refreshed]")
    assert "离婚证" in page.inner_text("#to-supply") + page.inner_text("#waived")
    walker.check("clerk-intake-materials-refreshed")
    assert not walker.close()
