"""12345 诉求 over HTTP (issue 13.6): the hotline's token delivers a complaint once per ticket
(201, then 200 for the same ticket, 409 for another text), linked by receipt number or by applicant;
the office working the case answers, the hotline reopens with a fresh deadline; an overdue
complaint is carded; nobody else sees anyone's complaint."""

from __future__ import annotations

from engine.db.models import Card
from engine.time.supervision import issue_cards
from sqlalchemy import select
from tests.api.conftest import Api, problem
from tests.engine.sample_people import GROOM, another_couple


def test_delivered_once_answered_reopened_answered_again(api: Api) -> None:
    case = api.case()
    registration = api.step(case.id)
    body = {"ticket_no": "HL-20260302-0001", "receipt_no": case.receipt_no, "text": " 窗口等候时间过长 ",
            "category": "办事效率", "caller_phone_last4": "1234"}
    first = api.post("/complaints", "supervisor", body)
    assert first.status_code == 201, first.text
    complaint = first.json()
    assert (complaint["text"], complaint["office"], complaint["step_id"], complaint["state"]) == (
        "窗口等候时间过长", "11@430102", registration.id, "open")
    assert GROOM not in first.text and "applicant" not in complaint
    again = api.post("/complaints", "supervisor", body)
    assert again.status_code == 200 and again.json()["id"] == complaint["id"]
    clash = problem(api.post("/complaints", "supervisor", {**body, "text": "另一件事"}), 409)
    assert clash["field"] == "ticket_no"
    # The other city's hotline learns nothing of this case; a caller must name a case.
    far = problem(api.post("/complaints", "supervisor_other", {**body, "ticket_no": "ZZ-1"}), 404)
    assert far["field"] == "receipt_no"
    nameless = problem(api.post("/complaints", "supervisor", {"ticket_no": "HL-2", "text": "x"}), 422)
    assert nameless["field"] == "receipt_no"
    assert problem(api.post("/complaints", "supervisor", {**body, "caller_phone_last4": "13800001234"}),
                   422)["field"] == "caller_phone_last4"

    assert [c["id"] for c in api.get("/complaints", "officer").json()] == [complaint["id"]]
    assert api.get("/complaints", "officer_other").json() == []
    assert [c["id"] for c in api.get("/complaints", "applicant_own").json()] == [complaint["id"]]
    assert api.get("/complaints", "applicant_other").json() == []
    assert api.get("/complaints", "supervisor_other").json() == []

    assert problem(api.post(f"/complaints/{complaint['id']}/answer", "officer",
                            {"version": 3, "answer": "已致歉"}), 409)["field"] == "version"
    answered = api.post(f"/complaints/{complaint['id']}/answer", "officer", {"version": 0, "answer": "已致歉并增加窗口"})
    assert answered.status_code == 200, answered.text
    assert (answered.json()["state"], answered.json()["answer"]) == ("closed", "已致歉并增加窗口")
    assert api.get("/complaints", "officer").json() == []
    assert len(api.get("/complaints?open_only=false", "officer").json()) == 1

    api.clock.advance(days=10)
    reopened = api.post(f"/complaints/{complaint['id']}/reopen", "supervisor", {"version": 1, "reason": "来电人不满意"})
    assert reopened.status_code == 200, reopened.text
    out = reopened.json()
    assert (out["state"], out["answer"], out["reopen_count"]) == ("open", None, 1)
    assert out["due_on"] > complaint["due_on"]  # a fresh deadline from the reopening

    # Left past the fresh deadline, it is carded like a late step.
    api.clock.set_local(api.runtime.calendar.add_working_days(
        api.runtime.calendar.add_working_days(api.clock.now().date(), 5), 1))
    with api.session() as session:
        issue_cards(session, api.runtime)
        cards = session.scalars(select(Card).where(Card.followup_id == complaint["id"])).all()
        assert [c.colour for c in cards] == ["yellow"]
    done = api.post(f"/complaints/{complaint['id']}/answer", "officer", {"version": 2, "answer": "已当面致歉"})
    assert done.status_code == 200
    with api.session() as session:
        assert session.scalars(select(Card.resolved_at).where(Card.followup_id == complaint["id"])).one() is not None


def test_by_applicant_the_newest_case_within_the_hotline_region(api: Api) -> None:
    older = api.case()
    api.clock.advance(hours=1)
    newer = api.case(**another_couple())  # the same applicant, another couple's marriage
    made = api.post("/complaints", "supervisor", {"ticket_no": "HL-9", "applicant_id": GROOM, "text": "进度慢"})
    assert made.status_code == 201, made.text
    assert made.json()["case_id"] in {older.id, newer.id}
    assert made.json()["receipt_no"] == newer.receipt_no
    nobody = problem(api.post("/complaints", "supervisor",
                              {"ticket_no": "HL-10", "applicant_id": "430102199001010011", "text": "x"}), 404)
    assert nobody["field"] == "applicant_id" and "430102199001010011" not in nobody["detail"]
