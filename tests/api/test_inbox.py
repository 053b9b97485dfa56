"""The applicant's inbox over HTTP and on the progress page, on every backend.

After acceptance the applicant's ``GET /cases/{id}/notifications`` and the case page's 消息 section
show the acceptance notice, unread; marking it read (JSON or the page's form) sticks, the first
time counting; another applicant, and a notice not of the case, are 404 as for an unknown case.
"""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, problem
from tests.api.test_pages import get, post
from tests.engine.sample_people import another_couple

SUBJECT = "您的申请已受理（回执号 {}）"


def _inbox(api: Api, case_id: str, who: str = "applicant_own") -> dict[str, Any]:
    response = api.get(f"/cases/{case_id}/notifications", who)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_applicant_sees_the_acceptance_notice_and_marks_it_read(api: Api) -> None:
    case = api.case()
    listed = _inbox(api, case.id)
    assert listed["unread"] == 1
    [notice] = listed["notifications"]
    assert notice["subject"] == SUBJECT.format(case.receipt_no)
    assert notice["template"] == "case_accepted" and notice["unread"] and notice["read_at"] is None
    assert "承诺办结日期" in notice["body"]

    read = api.post(f"/cases/{case.id}/notifications/{notice['id']}/read", "applicant_own")
    assert read.status_code == 200, read.text
    assert read.json()["unread"] is False
    first = read.json()["read_at"]
    api.clock.advance(minutes=5)
    again = api.post(f"/cases/{case.id}/notifications/{notice['id']}/read", "applicant_own")
    assert again.status_code == 200 and again.json()["read_at"] == first  # the first time counts
    assert _inbox(api, case.id)["unread"] == 0


def test_another_applicant_and_a_foreign_notice_are_not_found(api: Api) -> None:
    case = api.case()
    [notice] = _inbox(api, case.id)["notifications"]
    problem(api.get(f"/cases/{case.id}/notifications", "applicant_other"), 404)
    problem(api.post(f"/cases/{case.id}/notifications/{notice['id']}/read", "applicant_other"), 404)
    other = api.case(**another_couple())  # GROOM's too, so only the notice's case is wrong
    problem(api.post(f"/cases/{other.id}/notifications/{notice['id']}/read", "applicant_own"), 404)
    problem(api.post(f"/cases/{case.id}/notifications/999999/read", "applicant_own"), 404)
    assert _inbox(api, case.id)["unread"] == 1  # nothing of it was marked
    # staff who see the case read their own notices about it: the applicant's are not theirs
    assert _inbox(api, case.id, "clerk") == {"notifications": [], "unread": 0}
    problem(api.get(f"/cases/{case.id}/notifications", "clerk_other"), 404)


def test_the_case_page_shows_the_notice_and_its_form_marks_it_read(api: Api) -> None:
    case = api.case()
    page = get(api, f"/ui/cases/{case.id}", "applicant_own")
    assert page.status_code == 200
    html = page.text
    assert 'id="messages"' in html and SUBJECT.format(case.receipt_no) in html
    assert "未读" in html and f'action="/ui/cases/{case.id}/notifications/read"' in html
    [notice] = _inbox(api, case.id)["notifications"]

    done = post(api, f"/ui/cases/{case.id}/notifications/read", "applicant_own", {"notification_id": str(notice["id"])})
    assert done.status_code == 303 and done.headers["location"] == f"/ui/cases/{case.id}#messages"
    assert _inbox(api, case.id)["unread"] == 0
    html = get(api, f"/ui/cases/{case.id}", "applicant_own").text
    assert SUBJECT.format(case.receipt_no) in html and "未读" not in html

    refused = post(api, f"/ui/cases/{case.id}/notifications/read", "applicant_other", {})
    assert refused.status_code == 404
    assert SUBJECT.format(case.receipt_no) not in get(api, f"/ui/cases/{case.id}", "clerk").text
