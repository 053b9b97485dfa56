"""The time routes over HTTP, on every backend: a wait the applicant's no-objection ends, an
objection that makes it an officer's decision, a §42 extension asked for and approved or refused,
the one-time 补正 notice (a second is 409) and its hand-in date in the step's read model."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from engine.db.models import AuditEvent, Step
from engine.machine.actions import complete_step
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime
from engine.spec.loader import BundleRegistry
from engine.spec.models import BundleSpec
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from tests.api.conftest import Api, problem
from tests.api.receipts import confirm_receipt
from tests.engine.machine.test_time import PARALLEL_BUNDLE, PHASED_BUNDLE, THURSDAY_BEFORE_QINGMING, TIMED_BUNDLE
from tests.engine.sample_people import CLERK, GROOM


@pytest.fixture
def runtime(registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock) -> Runtime:
    """The real bundles and the time test bundles (review 11 民政 → publicity timer → decide)."""
    specs = [BundleSpec.model_validate(b) for b in (TIMED_BUNDLE, PARALLEL_BUNDLE, PHASED_BUNDLE)]
    custom = BundleRegistry(catalog=registry.catalog, fields=registry.fields,
                            bundles={**registry.bundles, **{s.id: s for s in specs}})
    return Runtime(registry=custom, calendar=calendar, clock=clock)


def timed_case(api: Api) -> tuple[str, Step]:
    with api.session() as session:
        case = accept_case(session, api.runtime, bundle_id="timed_demo", applicant=Applicant(GROOM, "person", "测试甲"),
                           answers={"groom_name": "测试甲", "groom_id_number": GROOM}, actor=CLERK)
        return case.id, next(s for s in case.steps if s.step_key == "review")


def to_publicity(api: Api) -> Step:
    case_id, review = timed_case(api)
    step = api.advance(review, "in_progress")
    api.clock.set_local(THURSDAY_BEFORE_QINGMING)
    with api.session() as session:
        complete_step(session, api.runtime, step_id=step.id, actor=api.officer_for(step.department))
    return api.step(case_id, "publicity")


def test_no_objection_ends_the_wait(api: Api) -> None:
    publicity = to_publicity(api)
    assert publicity.not_before == date(2026, 4, 10)
    view = api.get(f"/steps/{publicity.id}", "applicant_own").json()["status"]
    assert view["allowed_actions"] == ["end_wait", "raise_objection"]
    problem(api.post(f"/steps/{publicity.id}/declare-no-objection", "officer", {"version": publicity.version}), 404)
    answer = api.post(f"/steps/{publicity.id}/declare-no-objection", "applicant_own", {"version": publicity.version})
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "done"
    problem(api.post(f"/steps/{publicity.id}/declare-no-objection", "applicant_own",
                     {"version": answer.json()["version"]}), 409)


def test_an_objection_goes_to_the_department(api: Api) -> None:
    publicity = to_publicity(api)
    problem(api.post(f"/steps/{publicity.id}/raise-objection", "clerk", {"version": publicity.version, "grounds": ""}),
            422)
    answer = api.post(f"/steps/{publicity.id}/raise-objection", "clerk",
                      {"version": publicity.version, "grounds": "公示对象信息有误"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["state"], answer.json()["kind"]) == ("ready", "human")


def test_an_extension_over_http(api: Api) -> None:
    _case_id, review = timed_case(api)
    step = api.advance(review, "in_progress")
    url = f"/steps/{step.id}"
    problem(api.post(f"{url}/request-extension", "officer", {"version": step.version, "days": 11, "reason": "核查"}), 422)
    problem(api.post(f"{url}/approve-extension", "supervisor", {"version": step.version}), 409)
    asked = api.post(f"{url}/request-extension", "officer", {"version": step.version, "days": 5, "reason": "需现场核查"})
    assert asked.status_code == 200, asked.text
    assert asked.json()["extension_requested_days"] == 5
    problem(api.post(f"{url}/approve-extension", "officer", {"version": asked.json()["version"]}), 403)
    granted = api.post(f"{url}/approve-extension", "supervisor", {"version": asked.json()["version"]})
    assert granted.status_code == 200, granted.text
    assert granted.json()["due_on"] > asked.json()["due_on"] and granted.json()["extension_requested_days"] is None
    again = api.post(f"{url}/request-extension", "officer", {"version": granted.json()["version"], "days": 2,
                                                            "reason": "再延"})
    refused = api.post(f"{url}/refuse-extension", "supervisor", {"version": again.json()["version"], "reason": "不予延期"})
    assert refused.status_code == 200, refused.text
    assert refused.json()["due_on"] == granted.json()["due_on"]
    with api.session() as session:
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.step_id == step.id)))
    assert actions.count("step.approve_extension") == actions.count("step.refuse_extension") == 1


def test_the_second_supplement_notice_is_a_conflict(api: Api) -> None:
    case_id, review = timed_case(api)
    step = api.advance(review, "in_progress")
    api.clock.set_local(THURSDAY_BEFORE_QINGMING)
    asked = api.post(f"/steps/{step.id}/request-supplement", "officer",
                     {"version": step.version, "materials": ["户口簿"]})
    assert asked.status_code == 200, asked.text
    assert asked.json()["supplement_due_on"] == "2026-04-10"  # 5 working days, 清明 skipped
    handed = api.post(f"/cases/{case_id}/supplements", "clerk",
                      {"step_id": step.id, "expected_version": asked.json()["version"], "materials": ["户口簿"]})
    assert handed.status_code == 200, handed.text
    version = confirm_receipt(api, step.id).version
    again = problem(api.post(f"/steps/{step.id}/request-supplement", "officer",
                             {"version": version, "materials": ["照片"]}), 409)
    assert "一次性告知" in again["detail"]


def test_the_time_routes_are_documented(api: Api) -> None:
    paths = api.get("/openapi.json", None).json()["paths"]
    for route in ("declare-no-objection", "raise-objection", "request-extension", "approve-extension",
                  "refuse-extension"):
        responses = paths[f"/steps/{{step_id}}/{route}"]["post"]["responses"]
        assert {"200", "401", "403", "404", "409", "422"} <= set(responses), route


def test_the_case_view_offers_what_the_bundle_declares(api: Api) -> None:
    publicity = to_publicity(api)
    case = api.get(f"/cases/{publicity.case_id}", "applicant_own").json()
    offered = {s["step_key"]: s["allowed_actions"] for s in case["steps"]}
    assert offered["publicity"] == ["end_wait", "raise_objection"]
