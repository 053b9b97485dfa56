"""好差评 and 整改 over HTTP (issue 13.1): the applicant rates a decided case once and each step
once; a bad rating's rectification reaches the office's officer, who rectifies or appeals; a
supervisor decides; an overdue rectification is carded like a step — the chain rating →
rectification → overdue → card."""

from __future__ import annotations

from datetime import timedelta

from engine.db.models import Case
from engine.time.supervision import issue_cards
from tests.api.conftest import Api, problem
from tests.engine.machine.test_handover import work_off


def _decided(api: Api, case: Case | None = None) -> str:
    with api.session() as session:
        return work_off(session, api.runtime, case or api.case()).id


def _registration(api: Api, case_id: str) -> str:
    return api.step(case_id).id


def test_the_applicant_rates_a_decided_case_once_and_each_step_once(api: Api) -> None:
    open_case = api.case()
    assert problem(api.post(f"/cases/{open_case.id}/ratings", "applicant_own", {"level": 5}), 409)["field"] == "case_id"
    case_id = _decided(api, open_case)
    rated = api.post(f"/cases/{case_id}/ratings", "applicant_own",
                     {"level": 4, "reasons": ["quick / 办事效率高"], "comment": " 很快 "})
    assert rated.status_code == 201, rated.text
    body = rated.json()
    assert (body["level"], body["level_label"], body["reasons"], body["comment"], body["channel"], body["step_id"]) == (
        4, "satisfied / 满意", ["quick / 办事效率高"], "很快", "api", None)
    again = problem(api.post(f"/cases/{case_id}/ratings", "applicant_own", {"level": 1}), 409)
    assert again["field"] == "case_id" and str(body["id"]) in again["detail"]
    step = api.post(f"/cases/{case_id}/ratings", "applicant_own",
                    {"level": 5, "step_id": _registration(api, case_id), "channel": "web"})
    assert step.status_code == 201 and step.json()["channel"] == "web"
    listed = api.get(f"/cases/{case_id}/ratings", "officer").json()
    assert [(r["step_id"] is None, r["level"]) for r in listed] == [(True, 4), (False, 5)]
    assert "rater" not in listed[0]
    assert api.get("/rectifications?open_only=false", "officer").json() == []  # good ratings open none


def test_a_rating_is_checked_before_anything_is_stored(api: Api) -> None:
    case_id = _decided(api)
    assert problem(api.post(f"/cases/{case_id}/ratings", "applicant_own", {"level": 6}), 422)["field"] == "level"
    wrong = problem(api.post(f"/cases/{case_id}/ratings", "applicant_own",
                             {"level": 5, "reasons": ["slow / 办事效率低"]}), 422)
    assert wrong["field"] == "reasons"
    assert problem(api.post(f"/cases/{case_id}/ratings", "applicant_own",
                            {"level": 5, "channel": "window"}), 422)["field"] == "channel"
    assert problem(api.post(f"/cases/{case_id}/ratings", "applicant_own",
                            {"level": 5, "comment": "好" * 501}), 422)["field"] == "comment"
    assert api.get(f"/cases/{case_id}/ratings", "applicant_own").json() == []
    # a window records a rating given at its pad, as the window channel
    recorded = api.post(f"/cases/{case_id}/ratings", "clerk", {"level": 3})
    assert recorded.status_code == 201 and recorded.json()["channel"] == "window"


def test_a_bad_rating_is_rectified_by_its_office_with_a_call_back(api: Api) -> None:
    case_id = _decided(api)
    step_id = _registration(api, case_id)
    assert api.post(f"/cases/{case_id}/ratings", "applicant_own",
                    {"level": 1, "step_id": step_id, "reasons": ["slow / 办事效率低"]}).status_code == 201
    [task] = api.get("/rectifications", "officer").json()
    assert (task["step_id"], task["office"], task["state"], task["details"]["level"]) == (step_id, "11@430102", "open", 1)
    expected_due = api.runtime.calendar.add_working_days(api.clock.now().date(), 15)
    assert task["due_on"] == expected_due.isoformat()
    assert api.get("/rectifications", "officer_other").json() == []  # another department's desk
    assert [t["id"] for t in api.get("/rectifications", "supervisor").json()] == [task["id"]]
    assert [t["id"] for t in api.get("/rectifications", "applicant_own").json()] == [task["id"]]
    assert api.get("/rectifications", "applicant_other").json() == []
    url = f"/rectifications/{task['id']}/rectify"
    body = {"version": 0, "measures": " 已培训窗口人员 ", "called_at": api.clock.now().isoformat(), "reached": True,
            "applicant_view": "认可"}
    assert problem(api.post(url, "officer", {**body, "version": 3}), 409)["field"] == "version"
    future = (api.clock.now() + timedelta(days=1)).isoformat()
    assert problem(api.post(url, "officer", {**body, "called_at": future}), 422)["field"] == "called_at"
    done = api.post(url, "officer", body)
    assert done.status_code == 200, done.text
    closed = done.json()
    assert (closed["state"], closed["outcome"], closed["version"]) == ("closed", "rectified", 1)
    assert closed["details"]["rectification"]["measures"] == "已培训窗口人员"
    assert closed["details"]["callback"]["reached"] is True
    assert api.get("/rectifications", "officer").json() == []
    assert problem(api.post(url, "officer", {**body, "version": 1}), 409)


def test_an_appeal_is_decided_by_a_supervisor(api: Api) -> None:
    case_id = _decided(api)
    api.post(f"/cases/{case_id}/ratings", "applicant_own", {"level": 2, "step_id": _registration(api, case_id)})
    [task] = api.get("/rectifications", "officer").json()
    appealed = api.post(f"/rectifications/{task['id']}/appeal", "officer", {"version": 0, "reason": "申请人未按时补正"})
    assert appealed.json()["state"] == "appealed"
    assert problem(api.post(f"/rectifications/{task['id']}/appeal", "officer",
                            {"version": 1, "reason": "again"}), 409)
    dismissed = api.post(f"/rectifications/{task['id']}/decide-appeal", "supervisor", {"version": 1, "uphold": False})
    assert (dismissed.json()["state"], dismissed.json()["due_on"]) == ("open", task["due_on"])
    api.post(f"/rectifications/{task['id']}/appeal", "officer", {"version": 2, "reason": "补充证据"})
    upheld = api.post(f"/rectifications/{task['id']}/decide-appeal", "admin",
                      {"version": 3, "uphold": True, "note": "属实"}).json()
    assert (upheld["state"], upheld["outcome"]) == ("closed", "appeal_upheld")


def test_chain_bad_rating_rectification_overdue_card(api: Api) -> None:
    """rating → rectification → overdue → card: the rectification nobody worked is carded yellow the
    day after its due date and red later, on the supervision desk; rectifying it resolves them."""
    case_id = _decided(api)
    api.post(f"/cases/{case_id}/ratings", "applicant_own", {"level": 1, "step_id": _registration(api, case_id)})
    [task] = api.get("/rectifications", "officer").json()
    due = api.runtime.calendar.add_working_days(api.clock.now().date(), 15)
    api.clock.set_local(due + timedelta(days=1))
    with api.session() as session:
        issue_cards(session, api.runtime, red_after_working_days=5)
    cards = [c for c in api.get("/supervision/cards", "supervisor").json() if c.get("followup_id") == task["id"]]
    assert [(c["colour"], c["followup_kind"]) for c in cards] == [("yellow", "rectification")]
    api.clock.set_local(api.runtime.calendar.add_working_days(due, 6))
    with api.session() as session:
        issue_cards(session, api.runtime, red_after_working_days=5)
    cards = [c for c in api.get("/supervision/cards", "supervisor").json() if c.get("followup_id") == task["id"]]
    assert [(c["colour"], c["explanation_state"]) for c in cards] == [("red", "required")]
    done = api.post(f"/rectifications/{task['id']}/rectify", "officer", {
        "version": 0, "measures": "已整改", "called_at": api.clock.now().isoformat(), "reached": False})
    assert done.status_code == 200, done.text
    assert [c for c in api.get("/supervision/cards", "supervisor").json() if c.get("followup_id") == task["id"]] == []
