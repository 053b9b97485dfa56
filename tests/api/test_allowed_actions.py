"""The JSON step view tells the caller what they may do (issue 9, item 3): ``allowed_actions`` on
every step the API returns, asked from :func:`engine.machine.permissions.allowed_actions` — the
same answer the pages turn into buttons — for an officer, the assignee, a colleague, a
supervisor and the applicant; every action it lists succeeds, and the others are refused."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.db.models import ApiToken
from engine.people.tokens import issue_token
from tests.api.conftest import Api
from tests.api.receipts import confirm_receipt

WORKING = ["unclaim", "start", "complete", "reject", "request_supplement"]
"""What the assignee of a claimed (not yet started) step may do, in the gate's order."""


def _colleague(api: Api, label: str = "wang") -> str:
    """Another officer of 民政 (department 11) in 430102, with a token of their own."""
    with api.session() as session:
        api.tokens[label] = issue_token(session, role="officer", department="11", region="430102", label=label,
                                        now=api.clock.now())
        api.actor_ids[label] = session.scalars(select(ApiToken.id).where(ApiToken.label == label)).one()
    return label


def _actions(api: Api, step_id: str, who: str) -> list[str]:
    answer = api.get(f"/steps/{step_id}", who)
    assert answer.status_code == 200, answer.text
    found: list[str] = answer.json()["status"]["allowed_actions"]
    return found


def _case_actions(api: Api, case_id: str, who: str) -> dict[str, list[str]]:
    answer = api.get(f"/cases/{case_id}", who)
    assert answer.status_code == 200, answer.text
    return {step["step_key"]: step["allowed_actions"] for step in answer.json()["steps"]}


def test_a_ready_step_may_be_claimed_by_its_departments_officers_only(api: Api) -> None:
    case = api.case()
    step = api.step(case.id)
    colleague = _colleague(api)
    assert _actions(api, step.id, "officer") == ["claim"]
    assert _actions(api, step.id, colleague) == ["claim"]
    assert _actions(api, step.id, "supervisor") == []  # nothing to take off anyone yet
    assert _actions(api, step.id, "applicant_own") == []
    assert _actions(api, step.id, "clerk") == []
    # the case view carries the same answer for each step; another department's step: nothing
    officers = _case_actions(api, case.id, "officer")
    assert officers.pop("marriage_registration") == ["claim"] and officers
    assert all(actions == [] for actions in officers.values())
    assert all(actions == [] for actions in _case_actions(api, case.id, "applicant_own").values())


def test_a_claimed_step_is_its_assignees_and_a_supervisors_to_hand_over(api: Api) -> None:
    step = api.step(api.case().id)
    colleague = _colleague(api)
    claimed = api.post(f"/steps/{step.id}/claim", "officer", {"version": step.version})
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["allowed_actions"] == WORKING  # the action's answer says what comes next
    assert _actions(api, step.id, "officer") == WORKING
    assert _actions(api, step.id, colleague) == []
    assert _actions(api, step.id, "supervisor") == ["unclaim", "reassign"]
    assert _actions(api, step.id, "admin") == ["unclaim", "reassign"]
    assert _actions(api, step.id, "applicant_own") == []
    version = claimed.json()["version"]
    # what is not listed is refused: the colleague may not claim, start or complete it
    for action in ("claim", "start", "complete"):
        body: dict[str, Any] = {"version": version}
        refused = api.post(f"/steps/{step.id}/{action}", colleague, body)
        assert refused.status_code in (403, 409), (action, refused.text)
    assert api.step_version(step.id) == version
    # and what is listed succeeds: the assignee starts it
    started = api.post(f"/steps/{step.id}/start", "officer", {"version": version})
    assert started.status_code == 200, started.text
    assert started.json()["allowed_actions"] == ["unclaim", "complete", "reject", "request_supplement"]


def test_the_applicant_is_offered_the_hand_in_of_requested_materials(api: Api) -> None:
    case = api.case()
    step = api.advance(api.step(case.id), "supplement_requested")
    assert _actions(api, step.id, "officer") == []  # the clock is stopped: the applicant's turn
    assert _actions(api, step.id, "supervisor") == ["reassign"]
    assert _actions(api, step.id, "applicant_own") == ["hand_in_supplement"]
    assert _case_actions(api, case.id, "applicant_own")["marriage_registration"] == ["hand_in_supplement"]
    assert _actions(api, step.id, "clerk") == ["hand_in_supplement"]
    handed_in = api.post(f"/cases/{case.id}/supplements", "clerk",
                         {"step_id": step.id, "materials": ["合影照片"], "expected_version": step.version})
    assert handed_in.status_code == 200, handed_in.text
    assert handed_in.json()["state"] == "supplement_requested"
    assert handed_in.json()["allowed_actions"] == ["hand_in_supplement"]
    # everything is in: the step's officer is offered the confirmation of receipt (§32)
    assert _actions(api, step.id, "officer") == ["receive_supplement"]
    received = confirm_receipt(api, step.id)
    # §32: the step's one 补正 notice is sent, so no second one is offered
    assert _actions(api, step.id, "officer") == ["unclaim", "complete", "reject"]
    done = api.post(f"/steps/{step.id}/complete", "officer",
                    {"version": received.version, "outputs": {"number": "J430102-2026-000123"}})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "done" and done.json()["allowed_actions"] == []


def test_the_schema_lists_the_actions_a_caller_may_be_offered(api: Api) -> None:
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("StepOut", "StepActionOut"):
        field = schemas[name]["properties"]["allowed_actions"]
        assert "allowed_actions" in schemas[name]["required"]
        assert field["type"] == "array" and field["items"]["enum"] == [
            "claim", "unclaim", "reassign", "start", "complete", "reject", "request_supplement", "hand_in_supplement",
            "receive_supplement", "end_wait", "raise_objection", "request_extension", "approve_extension", "refuse_extension",
            "sign"]
        assert "POST /steps/{id}/<action>" in field["description"]
