"""情况说明 on the pages (issue 13.3): the late office's officer explains its red card from
/ui/explanations; the city's supervisor returns it with a reason, the officer explains again, the
supervisor accepts; nobody else sees or decides the office's cards."""

from __future__ import annotations

from sqlalchemy import select

from engine.db.models import Card
from engine.time.supervision import issue_cards
from tests.api.conftest import Api
from tests.api.test_pages import get, post


def _red_card(api: Api) -> int:
    step = api.advance(api.step(api.case().id), "assigned")
    assert step.due_on is not None
    api.clock.set_local(api.runtime.calendar.add_working_days(step.due_on, 5))
    with api.session() as session:
        issue_cards(session, api.runtime, red_after_working_days=5)
        return session.scalars(select(Card.id).where(Card.step_id == step.id, Card.colour == "red")).one()


def _state(api: Api, card_id: int) -> str:
    with api.session() as session:
        return session.get_one(Card, card_id).explanation_state


def test_explained_returned_explained_again_and_accepted(api: Api) -> None:
    card = _red_card(api)
    page = get(api, "/ui/explanations", "officer").text
    assert f'action="/ui/cards/{card}/explanation"' in page
    assert f"card-{card}" not in get(api, "/ui/explanations", "officer_other").text
    assert f"card-{card}" not in get(api, "/ui/explanations", "supervisor").text  # nothing submitted yet

    empty = post(api, f"/ui/cards/{card}/explanation", "officer", {"reason": "", "corrective_action": "x"})
    assert empty.status_code == 422 and _state(api, card) == "required"
    sent = post(api, f"/ui/cards/{card}/explanation", "officer",
                {"reason": "经办人员病假", "corrective_action": "建立AB岗", "responsible": "张三"})
    assert sent.headers["location"] == "/ui/explanations?msg=explanation_submitted"
    assert _state(api, card) == "submitted"

    review = get(api, "/ui/explanations", "supervisor").text
    assert "经办人员病假" in review and f'action="/ui/cards/{card}/explanation/accept"' in review
    assert f"card-{card}" not in get(api, "/ui/explanations", "supervisor_other").text
    assert post(api, f"/ui/cards/{card}/explanation/accept", "officer", {}).status_code == 403
    back = post(api, f"/ui/cards/{card}/explanation/return", "supervisor", {"note": "原因不具体"})
    assert back.status_code == 303 and _state(api, card) == "returned"
    again = get(api, "/ui/explanations", "officer").text
    assert "原因不具体" in again and f'action="/ui/cards/{card}/explanation"' in again
    post(api, f"/ui/cards/{card}/explanation", "officer",
         {"reason": "经办人员病假两周，未移交", "corrective_action": "建立AB岗并每日清查到期件"})
    done = post(api, f"/ui/cards/{card}/explanation/accept", "supervisor", {"note": "说明属实"})
    assert done.headers["location"] == "/ui/explanations?msg=explanation_accepted"
    assert _state(api, card) == "accepted"
