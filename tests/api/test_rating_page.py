"""好差评 on the progress page (issue 13.1): the applicant of a decided case rates it, and then each
decided step, from the form the engine's rules allow; the invitation's link records the notice as
the channel; a window records the applicant's rating as the window's; nothing for an open case or
for anyone else."""

from __future__ import annotations

import re

from sqlalchemy import select

from engine.db.models import Notification, Rating
from tests.api.conftest import Api
from tests.api.test_pages import get, post
from tests.engine.machine.test_handover import work_off


def _decided(api: Api) -> str:
    with api.session() as session:
        return work_off(session, api.runtime, api.case()).id


def _ratings(api: Api, case_id: str) -> list[Rating]:
    with api.session() as session:
        return list(session.scalars(select(Rating).where(Rating.case_id == case_id).order_by(Rating.id)))


def test_the_applicant_rates_the_case_then_a_step_from_the_invitations_link(api: Api) -> None:
    case_id = _decided(api)
    with api.session() as session:
        [invitation] = session.scalars(select(Notification).where(
            Notification.case_id == case_id, Notification.template == "rating_invitation",
            Notification.channel == "inbox")).all()
    link = f"/ui/cases/{case_id}?via=notice#rating"
    assert link in invitation.body
    page = get(api, link.split("#")[0], "applicant_own").text
    assert 'action="/ui/cases/' + case_id + '/rate"' in page and 'name="channel" value="notice"' in page
    assert "整件事（一事一评）" in page and "非常不满意" in page

    wrong = post(api, f"/ui/cases/{case_id}/rate", "applicant_own",
                 {"level": "5", "reasons": "slow / 办事效率低", "channel": "notice"})
    assert wrong.status_code == 422 and "所选理由不适用于该评价等级" in wrong.text
    assert _ratings(api, case_id) == []
    done = post(api, f"/ui/cases/{case_id}/rate", "applicant_own",
                {"level": "5", "reasons": "quick / 办事效率高", "comment": "很快", "channel": "notice"})
    assert done.status_code == 303 and done.headers["location"] == f"/ui/cases/{case_id}?msg=rated"
    [rating] = _ratings(api, case_id)
    assert (rating.level, rating.channel, rating.step_id, rating.comment) == (5, "notice", None, "很快")
    after = get(api, done.headers["location"], "applicant_own").text
    assert "感谢您的评价" in after and "very satisfied / 非常满意" in after
    assert "整件事（一事一评）" not in after  # once per case; the steps remain
    step_id = re.search(r'<option value="([0-9a-f]{32})">', after)
    assert step_id
    bad = post(api, f"/ui/cases/{case_id}/rate", "applicant_own",
               {"level": "2", "reasons": "slow / 办事效率低", "step_id": step_id[1], "channel": "web"})
    assert bad.status_code == 303
    assert [(r.level, r.step_id) for r in _ratings(api, case_id)] == [(5, None), (2, step_id[1])]


def test_only_the_case_s_rater_sees_the_form_and_only_once_decided(api: Api) -> None:
    open_case = api.case()
    assert "/rate" not in get(api, f"/ui/cases/{open_case.id}", "applicant_own").text
    with api.session() as session:
        case_id = work_off(session, api.runtime, open_case).id
    for who in ("officer", "supervisor"):
        assert "/rate" not in get(api, f"/ui/cases/{case_id}", who).text, who
    assert get(api, f"/ui/cases/{case_id}", "applicant_other").status_code == 404
    refused = post(api, f"/ui/cases/{case_id}/rate", "officer", {"level": "5"})
    assert refused.status_code == 403 and _ratings(api, case_id) == []
    window = get(api, f"/ui/cases/{case_id}", "clerk").text
    assert 'name="channel" value="window"' in window
    recorded = post(api, f"/ui/cases/{case_id}/rate", "clerk", {"level": "4", "channel": "window"})
    assert recorded.status_code == 303
    assert [(r.level, r.channel) for r in _ratings(api, case_id)] == [(4, "window")]
