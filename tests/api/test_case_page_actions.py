"""The case page offers each step's actions as the engine allows them to the caller
(``allowed_actions`` with the case's bundle): the 补正 hand-in, a wait's no-objection declaration
and objection. Each form sits in its step's entry, posts to the step's route with ``back=case``
and comes back to the case page; staff see the requested materials without a form, and another
applicant sees nothing of the case. Every backend.

The marriage bundle is the step-page tests' (``test_step_page_actions``): its registration gives
5 working days to hand in 补正 materials, and a publicity timer that a no-objection ends and an
objection turns into an officer's decision follows it.
"""

from __future__ import annotations

import re

import pytest

from engine.db.models import Step
from tests.api.conftest import Api
from tests.api.test_document_pages import JPEG, send
from tests.api.test_pages import get, post
from tests.api.test_step_page_actions import load, publicity, runtime  # noqa: F401  (the timed marriage bundle)

CASE_FORMS = {"hand-in", "declare-no-objection", "raise-objection"}


def step_entry(html: str, key: str) -> str:
    """The markup of one step's entry (``<li data-step=…>``) on the case page."""
    found = re.search(rf'<li class="[a-z_]+" data-step="{key}"[^>]*>(.*?)\n  </li>', html, re.S)
    assert found, f"no step {key}"
    return found[1]


def step_forms(html: str, step: Step) -> set[str]:
    """The step actions the forms of ``html`` post for ``step``."""
    return set(re.findall(rf'<form method="post" action="/ui/steps/{step.id}/([a-z-]+)"', html))


def all_step_forms(html: str) -> list[str]:
    return re.findall(r'<form method="post" action="/ui/steps/[0-9a-f]{32}/([a-z-]+)"', html)


def test_the_applicant_uploads_on_the_case_page_and_the_officer_confirms(api: Api) -> None:
    """补正 of a material the notice names in the officer's words (合影照片): nothing is ticked; the
    applicant uploads a scan from the case page and comes back to it; the step waits for its
    officer's confirmation, which alone restarts it."""
    case = api.case()
    step = api.advance(api.step(case.id), "supplement_requested")
    page = get(api, f"/ui/cases/{case.id}", "applicant_own").text
    entry = step_entry(page, "marriage_registration")
    assert "合影照片" in entry and " checked" not in entry  # nothing pre-ticked
    assert 'type="file" name="files"' in entry and 'name="back" value="case"' in entry
    assert "请于该日（含）前提交，逾期未补正的视为撤回申请" in entry
    assert "/supplements" not in page  # the old case-level form is gone
    assert "hand-in" in all_step_forms(get(api, f"/ui/cases/{case.id}", "clerk").text)  # a window may, too
    for who in ("officer", "supervisor", "admin"):
        staff = get(api, f"/ui/cases/{case.id}", who).text
        assert "hand-in" not in all_step_forms(staff), who
        assert "合影照片" in step_entry(staff, "marriage_registration") and "补正期限" in staff, who

    handed = send(api, f"/ui/steps/{step.id}/hand-in", "applicant_own",
                  {"version": str(step.version), "material": "合影照片", "back": "case"}, [("files", JPEG)])
    assert handed.status_code == 303, handed.text[:1000]
    assert handed.headers["location"].startswith(f"/ui/cases/{case.id}?msg=supplement_handed_in")
    assert load(api, step.id).state == "supplement_requested"  # waits for the officer's confirmation
    confirmed = post(api, f"/ui/steps/{step.id}/receive-supplement", "officer",
                     {"version": str(load(api, step.id).version)})
    assert confirmed.status_code == 303 and load(api, step.id).state == "in_progress"
    after = get(api, f"/ui/cases/{case.id}", "applicant_own").text
    assert 'class="in_progress" data-step="marriage_registration"' in after
    assert "photo.jpg" in after  # the applicant's own file, listed


def test_no_objection_is_declared_on_the_case_page(api: Api) -> None:
    case, timer = publicity(api)
    page = get(api, f"/ui/cases/{case.id}", "applicant_own").text
    entry = step_entry(page, "publicity")
    assert step_forms(entry, timer) == {"declare-no-objection", "raise-objection"}
    assert sorted(all_step_forms(page)) == ["declare-no-objection", "raise-objection"]
    assert entry.count('name="back" value="case"') == 2 and "等待期至2026年3月9日" in entry
    for who in ("officer", "supervisor"):  # the wait is the applicant's to end
        assert not all_step_forms(get(api, f"/ui/cases/{case.id}", who).text), who

    declared = post(api, f"/ui/steps/{timer.id}/declare-no-objection", "applicant_own",
                    {"version": str(timer.version), "back": "case"})
    assert declared.headers["location"] == f"/ui/cases/{case.id}?msg=no_objection_declared"
    assert load(api, timer.id).state == "done"
    after = get(api, declared.headers["location"], "applicant_own").text
    assert "已声明无异议，等待期提前结束" in after and not all_step_forms(after)


@pytest.mark.parametrize("who", ["applicant_own", "clerk"])
def test_an_objection_is_raised_on_the_case_page(api: Api, who: str) -> None:
    case, timer = publicity(api)
    assert "raise-objection" in step_forms(get(api, f"/ui/cases/{case.id}", who).text, timer)
    raised = post(api, f"/ui/steps/{timer.id}/raise-objection", who,
                  {"version": str(timer.version), "grounds": "公示信息有误", "back": "case"})
    assert raised.headers["location"] == f"/ui/cases/{case.id}?msg=objection_raised"
    assert load(api, timer.id).kind == "human"  # the officer decides now
    after = get(api, raised.headers["location"], who).text
    assert "已提出异议" in after and not step_forms(after, timer)


def test_another_applicant_sees_nothing_of_the_case(api: Api) -> None:
    case = api.case()
    step = api.advance(api.step(case.id), "supplement_requested")
    for who in ("applicant_other", "clerk_other"):
        page = get(api, f"/ui/cases/{case.id}", who)
        assert page.status_code == 404, who
        assert not all_step_forms(page.text) and "合影照片" not in page.text and case.receipt_no not in page.text
        refused = post(api, f"/ui/steps/{step.id}/hand-in", who,
                       {"version": str(step.version), "materials": ["合影照片"], "back": "case"})
        assert refused.status_code == 404 and case.id not in refused.headers.get("location", ""), who
    assert load(api, step.id).state == "supplement_requested"


def test_a_window_signs_the_commitment_shown_on_the_case_page(api: Api) -> None:
    """告知承诺 at the window: the case page shows the letter with its fingerprint and a form that
    needs the ticked confirmation; signed, the step is done and the page says so."""
    from tests.engine.governance.test_commitments import COMPANY, land_use

    with api.session() as session:
        case = land_use(session, api.runtime, COMPANY)
    filing = api.step(case.id, "project_filing")
    page = get(api, f"/ui/cases/{case.id}", "clerk").text
    entry = step_entry(page, "project_filing")
    assert step_forms(entry, filing) == {"sign"} and "项目符合国家产业政策" in entry and 'name="text_hash"' in entry
    for who in ("officer", "supervisor"):  # staff read the case, the signature is not theirs
        assert "sign" not in all_step_forms(get(api, f"/ui/cases/{case.id}", who).text), who
    text_hash = re.search(r'name="text_hash" value="([0-9a-f]{64})"', entry)
    assert text_hash
    unticked = post(api, f"/ui/steps/{filing.id}/sign", "clerk",
                    {"version": str(filing.version), "back": "case", "text_hash": text_hash[1]})
    assert unticked.status_code == 422 and load(api, filing.id).state == "ready"
    signed = post(api, f"/ui/steps/{filing.id}/sign", "clerk",
                  {"version": str(filing.version), "back": "case", "text_hash": text_hash[1], "agree": "1"})
    assert signed.headers["location"] == f"/ui/cases/{case.id}?msg=commitment_signed"
    assert load(api, filing.id).state == "done"
    after = get(api, signed.headers["location"], "clerk").text
    assert "已签署告知承诺书" in after and "sign" not in all_step_forms(after)


def test_a_mark_found_at_signing_sends_the_page_to_normal_review(api: Api) -> None:
    """A serious credit mark recorded after the step was released: signing on the page turns the step
    to an officer's review and says so."""
    from engine.db.models import CreditMark
    from tests.engine.governance.test_commitments import COMPANY, land_use

    with api.session() as session:
        case = land_use(session, api.runtime, COMPANY)
        session.add(CreditMark(holder_id=COMPANY, severity="serious", reason="虚假承诺", case_id=case.id,
                               marked_at=api.clock.now()))
        session.commit()
    filing = api.step(case.id, "project_filing")
    entry = step_entry(get(api, f"/ui/cases/{case.id}", "clerk").text, "project_filing")
    text_hash = re.search(r'name="text_hash" value="([0-9a-f]{64})"', entry)
    assert text_hash
    signed = post(api, f"/ui/steps/{filing.id}/sign", "clerk",
                  {"version": str(filing.version), "back": "case", "text_hash": text_hash[1], "agree": "1"})
    assert signed.headers["location"] == f"/ui/cases/{case.id}?msg=review_instead"
    turned = load(api, filing.id)
    assert (turned.kind, turned.state) == ("human", "ready")
