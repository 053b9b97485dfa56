"""The step page's forms for the time actions, on every backend: a §42 extension (the assignee
asks with days and a reason, a supervisor approves or refuses), a wait's no-objection declaration
and objection (the applicant, or a clerk), and the 补正 hand-in — each offered exactly when the
engine allows it to the caller, posted with the CSRF value, its errors shown on the page.

The marriage bundle here declares what those actions need (the real one declares none): its
registration may be extended by 10 working days and gives 5 working days to hand in 补正
materials, and a publicity timer of department 11 follows it, which a no-objection ends and an
objection turns into the officer's decision.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy.orm import Session

from api.pages.common import templates
from engine.db.models import Case, Step
from engine.machine.actions import complete_step
from engine.machine.states import Actor, Role
from engine.machine.timers import lapse_supplement_windows
from engine.records.queries import StepStatus, step_detail
from engine.runtime import Runtime
from engine.spec.loader import BundleRegistry
from engine.spec.models import BundleSpec
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from tests.api.conftest import Api
from tests.api.test_document_pages import JPEG, send
from tests.api.test_pages import get, post
from tests.engine.sample_people import GROOM

PUBLICITY: dict[str, Any] = {
    "id": "publicity", "item": "11-HHZM", "kind": "timer", "depends_on": ["marriage_registration"],
    "min_wait": {"working_days": 5}, "time_limit": {"working_days": 5},
    "on_no_objection": "end_wait", "on_objection": "officer_decides",
}


@pytest.fixture
def runtime(registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock) -> Runtime:
    marriage = registry.bundles["marriage"]
    steps = [
        {**s.model_dump(), "max_extension": {"working_days": 10}, "supplement_window": {"working_days": 5}}
        if s.id == "marriage_registration" else s.model_dump()
        for s in marriage.steps
    ]
    timed = BundleSpec.model_validate({**marriage.model_dump(), "steps": [*steps, PUBLICITY]})
    custom = BundleRegistry(catalog=registry.catalog, fields=registry.fields, bundles={**registry.bundles, "marriage": timed})
    return Runtime(registry=custom, calendar=calendar, clock=clock)


def forms_of(html: str) -> set[str]:
    """The actions the page's forms post to (the last part of each form's URL)."""
    return set(re.findall(r'<form method="post" action="/ui/steps/[0-9a-f]{32}/([a-z-]+)"', html))


def load(api: Api, step_id: str) -> Step:
    with api.session() as session:
        return session.get_one(Step, step_id)


def publicity(api: Api) -> tuple[Case, Step]:
    """A case whose registration the officer completed: its publicity waits (until 9 March)."""
    case = api.case()
    registration = api.advance(api.step(case.id), "in_progress")
    with api.session() as session:
        complete_step(session, api.runtime, step_id=registration.id, actor=api.officer_for("11"),
                      expected_version=registration.version)
    return case, api.step(case.id, "publicity")


TIME_FORMS = {"request-extension", "approve-extension", "refuse-extension", "declare-no-objection", "raise-objection",
              "hand-in"}


# --- §42 extensions ----------------------------------------------------------------------------


def test_the_assignee_asks_for_an_extension_and_a_supervisor_decides(api: Api) -> None:
    step = api.advance(api.step(api.case().id), "in_progress")
    assert step.due_on == date(2026, 3, 30)
    page = get(api, f"/ui/steps/{step.id}", "officer").text
    assert forms_of(page) & TIME_FORMS == {"request-extension"}
    assert "最多还可延长10个工作日" in page
    for who in ("supervisor", "admin", "applicant_own", "clerk"):
        assert not forms_of(get(api, f"/ui/steps/{step.id}", who).text) & TIME_FORMS, who

    # errors come back on the page, and change nothing
    garbled = post(api, f"/ui/steps/{step.id}/request-extension", "officer",
                   {"version": str(step.version), "days": "three", "reason": "需现场核查"})
    assert garbled.status_code == 422 and "positive number of days" in garbled.text
    too_many = post(api, f"/ui/steps/{step.id}/request-extension", "officer",
                    {"version": str(step.version), "days": "11", "reason": "需现场核查"})
    assert too_many.status_code == 422 and "at most 10" in too_many.text
    no_reason = post(api, f"/ui/steps/{step.id}/request-extension", "officer",
                     {"version": str(step.version), "days": "3", "reason": " "})
    assert no_reason.status_code == 422 and "延期须说明理由" in no_reason.text
    assert load(api, step.id).version == step.version

    asked = post(api, f"/ui/steps/{step.id}/request-extension", "officer",
                 {"version": str(step.version), "days": "3", "reason": "需现场核查"})
    assert asked.status_code == 303 and asked.headers["location"] == f"/ui/steps/{step.id}?msg=extension_requested"
    shown = get(api, asked.headers["location"], "officer").text
    assert "已提交延长办理时限申请" in shown and "申请延长3个工作日，待审批" in shown
    assert "request-extension" not in forms_of(shown)  # one request at a time

    lead = get(api, f"/ui/steps/{step.id}", "supervisor").text
    assert forms_of(lead) & TIME_FORMS == {"approve-extension", "refuse-extension"} and "需现场核查" in lead
    version = load(api, step.id).version
    stale = post(api, f"/ui/steps/{step.id}/approve-extension", "supervisor", {"version": str(version - 1)})
    assert stale.status_code == 409 and "已被他人修改" in stale.text
    approved = post(api, f"/ui/steps/{step.id}/approve-extension", "supervisor", {"version": str(version)})
    assert approved.headers["location"] == f"/ui/steps/{step.id}?msg=extension_approved"
    assert load(api, step.id).due_on == date(2026, 4, 2)  # three working days later
    assert "已延长3个工作日" in get(api, f"/ui/steps/{step.id}", "officer").text

    # a second request, refused with a reason: the due date stays
    again = load(api, step.id)
    post(api, f"/ui/steps/{step.id}/request-extension", "officer",
         {"version": str(again.version), "days": "7", "reason": "再次核查"})
    refused = post(api, f"/ui/steps/{step.id}/refuse-extension", "supervisor",
                   {"version": str(again.version + 1), "reason": "理由不充分"})
    assert refused.headers["location"] == f"/ui/steps/{step.id}?msg=extension_refused"
    final = load(api, step.id)
    assert final.due_on == date(2026, 4, 2) and "pending" not in final.outputs["extension"]
    history = get(api, f"/ui/steps/{step.id}", "officer").text
    assert "申请延长办理时限" in history and "批准延期" in history and "不予批准延期" in history


# --- a wait's declarations ---------------------------------------------------------------------


@pytest.mark.parametrize("who", ["applicant_own", "clerk"])
def test_no_objection_is_declared_on_the_step_page(api: Api, who: str) -> None:
    case, timer = publicity(api)
    page = get(api, f"/ui/steps/{timer.id}", who).text
    assert forms_of(page) & TIME_FORMS == {"declare-no-objection", "raise-objection"}
    assert "等待期至2026年3月9日" in page
    for other in ("officer", "supervisor"):
        assert not forms_of(get(api, f"/ui/steps/{timer.id}", other).text) & TIME_FORMS, other
    declared = post(api, f"/ui/steps/{timer.id}/declare-no-objection", who, {"version": str(timer.version)})
    assert declared.headers["location"] == f"/ui/steps/{timer.id}?msg=no_objection_declared"
    done = load(api, timer.id)
    assert done.state == "done" and done.outputs["ended_early"] == "no_objection"
    after = get(api, f"/ui/steps/{timer.id}", who).text
    assert "等待期提前结束" in after and not forms_of(after) & TIME_FORMS


def test_an_objection_needs_grounds_and_goes_to_the_officer(api: Api) -> None:
    case, timer = publicity(api)
    empty = post(api, f"/ui/steps/{timer.id}/raise-objection", "applicant_own",
                 {"version": str(timer.version), "grounds": "  "})
    assert empty.status_code == 422 and "异议须说明理由" in empty.text
    assert load(api, timer.id).version == timer.version
    raised = post(api, f"/ui/steps/{timer.id}/raise-objection", "applicant_own",
                  {"version": str(timer.version), "grounds": "公示信息有误"})
    assert raised.headers["location"] == f"/ui/steps/{timer.id}?msg=objection_raised"
    assert load(api, timer.id).kind == "human"
    desk = get(api, f"/ui/steps/{timer.id}", "officer").text
    assert "提出异议，请审查后决定" in desk and "公示信息有误" in desk and "claim" in forms_of(desk)
    assert not forms_of(get(api, f"/ui/steps/{timer.id}", "applicant_own").text) & TIME_FORMS


# --- 补正 hand-in ------------------------------------------------------------------------------


def test_the_applicant_hands_in_on_the_step_page(api: Api) -> None:
    step = api.advance(api.step(api.case().id), "supplement_requested")
    page = get(api, f"/ui/steps/{step.id}", "applicant_own").text
    assert forms_of(page) & TIME_FORMS == {"hand-in"}
    assert "请于2026年3月9日（含）前提交，逾期未补正的视为撤回申请" in page and "合影照片" in page
    for other in ("officer", "supervisor"):
        assert "hand-in" not in forms_of(get(api, f"/ui/steps/{step.id}", other).text), other

    nothing = post(api, f"/ui/steps/{step.id}/hand-in", "applicant_own",
                   {"version": str(step.version), "material": "合影照片"})
    assert nothing.status_code == 422 and load(api, step.id).version == step.version  # no file, nothing recorded
    paper = post(api, f"/ui/steps/{step.id}/hand-in", "applicant_own",
                 {"version": str(step.version), "material": "合影照片", "paper": "true"})
    assert paper.status_code == 403  # a paper original is a window's record
    handed = send(api, f"/ui/steps/{step.id}/hand-in", "applicant_own",
                  {"version": str(step.version), "material": "合影照片"}, [("files", JPEG)])
    assert handed.headers["location"] == f"/ui/steps/{step.id}?msg=supplement_handed_in"
    assert load(api, step.id).state == "supplement_requested"  # the officer confirms the receipt
    confirmed = post(api, f"/ui/steps/{step.id}/receive-supplement", "officer",
                     {"version": str(load(api, step.id).version)})
    assert confirmed.status_code == 303 and load(api, step.id).state == "in_progress"


def test_after_the_window_the_hand_in_is_refused_and_the_page_says_why_the_step_ended(api: Api) -> None:
    case = api.case()
    step = api.advance(api.step(case.id), "supplement_requested")
    api.clock.set_local(date(2026, 3, 10))  # the window ended on Monday 9 March
    late = send(api, f"/ui/steps/{step.id}/hand-in", "applicant_own",
                {"version": str(step.version), "material": "合影照片"}, [("files", JPEG)])
    assert late.status_code == 409 and "逾期未补正的视为撤回申请" in late.text
    with api.session() as session:
        assert lapse_supplement_windows(session, api.runtime) == [step.id]
    page = get(api, f"/ui/steps/{step.id}", "applicant_own").text
    assert "补正期限（2026-03-09）届满未补正，视为撤回本事项申请" in page and not forms_of(page) & TIME_FORMS
    progress = get(api, f"/ui/cases/{case.id}", "applicant_own").text
    assert "补正期限（2026-03-09）届满未补正" in progress  # the case page's reason, in plain words
    assert "前序事项“内地居民结婚登记”已终止" in progress  # its dependents


# --- the case page's forms (the macro its template includes) ----------------------------------


def test_the_case_page_macro_posts_to_the_steps_and_returns_to_the_case(api: Api) -> None:
    case, timer = publicity(api)
    with api.session() as session:
        status = _status(session, api, timer.id)
    html = templates().from_string(
        '{% import "pages/_page_macros.html" as p with context %}{{ p.case_step_actions(step, actions) }}'
    ).render(step=status, actions=["end_wait", "raise_objection"], csrf="c", csrf_field="csrf_token", path="/ui")
    assert forms_of(html) == {"declare-no-objection", "raise-objection"}
    assert html.count('name="back" value="case"') == 2 and f'id="grounds-{timer.id}"' in html
    assert forms_of(templates().from_string(
        '{% import "pages/_page_macros.html" as p with context %}{{ p.case_step_actions(step, actions) }}'
    ).render(step=status, actions=[], csrf="c", csrf_field="csrf_token", path="/ui")) == set()

    declared = post(api, f"/ui/steps/{timer.id}/declare-no-objection", "applicant_own",
                    {"version": str(timer.version), "back": "case"})
    assert declared.headers["location"] == f"/ui/cases/{case.id}?msg=no_objection_declared"
    # only the case page is a way back: anything else returns to the step
    household = api.step(case.id, "marital_status_change")
    elsewhere = post(api, f"/ui/steps/{household.id}/claim", "officer_09",
                     {"version": str(household.version), "back": "https://elsewhere.example"})
    assert elsewhere.headers["location"] == f"/ui/steps/{household.id}?msg=claimed"


def _status(session: Session, api: Api, step_id: str) -> StepStatus:
    applicant = Actor(id="applicant", role=Role.APPLICANT, subject=GROOM)
    return step_detail(session, api.runtime, step_id=step_id, actor=applicant).status


def test_the_step_page_keeps_the_result_and_certificate_number_after_completion(api: Api) -> None:
    """Issue 15: the number typed at completion vanished from the step page once the step was done."""
    step = api.advance(api.step(api.case().id), "in_progress")
    done = post(api, f"/ui/steps/{step.id}/complete", "officer",
                {"version": str(api.step_version(step.id)), "result": "结婚证", "number": "J430102-2026-000777"})
    assert done.status_code == 303, done.text
    page = get(api, f"/ui/steps/{step.id}", "officer").text
    assert re.search(r'id="certificate-number">J430102-2026-000777<', page)
    assert re.search(r'id="result-issued">结婚证<', page)
