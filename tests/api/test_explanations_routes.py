"""Supervision that follows through, over HTTP (issue 13.3): the chain reminder → yellow → red →
explanation → accepted, and a returned explanation explained again."""

from __future__ import annotations

from datetime import date, timedelta

from engine.time.reminders import remind_officers
from engine.time.supervision import issue_cards
from tests.api.conftest import Api, problem

RED_AFTER = 5


def _sweep(api: Api, day: date) -> None:
    api.clock.set_local(day)
    with api.session() as session:
        remind_officers(session, api.runtime, days_before=2)
    with api.session() as session:
        issue_cards(session, api.runtime, red_after_working_days=RED_AFTER)


def _late_registration(api: Api) -> tuple[str, str, date]:
    """The marriage registration claimed by ``officer`` and left; the case, the step, its due date."""
    case = api.case()
    step = api.advance(api.step(case.id), "assigned")
    assert step.due_on is not None
    return case.id, step.id, step.due_on


def _red_card(api: Api, step_id: str) -> dict[str, object]:
    [card] = [c for c in api.get("/supervision/cards", "supervisor").json() if c["step_id"] == step_id]
    return card  # type: ignore[no-any-return]


def test_chain_reminder_yellow_red_explanation_accepted(api: Api) -> None:
    case_id, step_id, due = _late_registration(api)
    calendar = api.runtime.calendar
    # 预警: a working day before the due date, the assignee is reminded in the case's inbox, once
    before = due - timedelta(days=1)
    while not calendar.is_working_day(before):
        before -= timedelta(days=1)
    _sweep(api, before)
    reminders = [n for n in api.get(f"/cases/{case_id}/notifications", "officer").json()["notifications"]
                 if n["template"] == "officer_reminder"]
    assert len(reminders) == 1 and due.isoformat() in reminders[0]["body"]
    assert [c for c in api.get("/supervision/cards", "supervisor").json() if c["step_id"] == step_id] == []
    # yellow the day after the due date: nothing to explain yet
    _sweep(api, due + timedelta(days=1))
    yellow = _red_card(api, step_id)
    assert (yellow["colour"], yellow["explanation_state"]) == ("yellow", "")
    assert problem(api.post(f"/cards/{yellow['id']}/explanation", "officer",
                            {"reason": "x", "corrective_action": "y"}), 409)
    # red RED_AFTER working days after it: the step shows that one, and its office owes an explanation
    _sweep(api, calendar.add_working_days(due, RED_AFTER))
    red = _red_card(api, step_id)
    assert (red["colour"], red["explanation_state"]) == ("red", "required")
    [owed] = [c for c in api.get("/explanations", "officer").json() if c["step_id"] == step_id]
    assert (owed["card_id"], owed["explanation_state"], owed["rounds"]) == (red["id"], "required", [])
    assert api.get("/explanations", "officer_other").json() == []
    assert problem(api.post(f"/cards/{red['id']}/explanation", "officer_other",
                            {"reason": "x", "corrective_action": "y"}), 404)
    assert problem(api.post(f"/cards/{red['id']}/explanation", "officer",
                            {"reason": " ", "corrective_action": "y"}), 422)["field"] == "reason"
    submitted = api.post(f"/cards/{red['id']}/explanation", "officer", {
        "reason": "经办人员病假", "corrective_action": "建立AB岗", "responsible": "张三"})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["explanation_state"] == "submitted"
    assert [c for c in api.get("/explanations", "officer").json() if c["step_id"] == step_id] == []
    assert [c["card_id"] for c in api.get("/explanations", "supervisor").json()] == [red["id"]]
    assert problem(api.post(f"/cards/{red['id']}/explanation/accept", "officer", {}), 403)
    assert problem(api.post(f"/cards/{red['id']}/explanation/accept", "supervisor_other", {}), 404)
    accepted = api.post(f"/cards/{red['id']}/explanation/accept", "supervisor", {"note": "属实"}).json()
    assert accepted["explanation_state"] == "accepted"
    [round_] = accepted["rounds"]
    assert round_["submitted"]["reason"] == "经办人员病假" and round_["decision"]["action"] == "accept"
    assert _red_card(api, step_id)["explanation_state"] == "accepted"
    assert problem(api.post(f"/cards/{red['id']}/explanation", "officer",
                            {"reason": "x", "corrective_action": "y"}), 409)


def test_a_returned_explanation_is_explained_again(api: Api) -> None:
    _case_id, step_id, due = _late_registration(api)
    _sweep(api, api.runtime.calendar.add_working_days(due, RED_AFTER))
    red = _red_card(api, step_id)
    api.post(f"/cards/{red['id']}/explanation", "officer", {"reason": "忙", "corrective_action": "加班"})
    assert problem(api.post(f"/cards/{red['id']}/explanation/return", "supervisor", {}), 422)["field"] == "note"
    returned = api.post(f"/cards/{red['id']}/explanation/return", "supervisor", {"note": "原因不具体"}).json()
    assert returned["explanation_state"] == "returned"
    assert [c["explanation_state"] for c in api.get("/explanations", "officer").json()] == ["returned"]
    again = api.post(f"/cards/{red['id']}/explanation", "officer",
                     {"reason": "系统故障三天", "corrective_action": "已报修并建立应急流程"}).json()
    assert again["explanation_state"] == "submitted" and len(again["rounds"]) == 2
    assert again["rounds"][0]["decision"]["note"] == "原因不具体"
