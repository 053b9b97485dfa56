"""整改, 核查 and 诉求 on the pages (issues 13.1, 13.2, 13.6): /ui/followups offers each reader exactly
the actions the follow-up gate allows them: the office's officer rectifies (with 回访) or appeals a
bad rating, passes or fails a post-check, answers a complaint; the city's supervisor decides the
appeal and reopens an answer; nobody sees another office's or region's follow-ups."""

from __future__ import annotations

import re

from sqlalchemy import select

from engine.db.models import Followup
from engine.governance.complaints import receive_complaint
from engine.governance.ratings import rate
from engine.machine.unit_of_work import in_transaction
from tests.api.conftest import Api, actor_of
from tests.api.test_pages import get, post
from tests.engine.machine.test_handover import work_off


def _followup(api: Api, followup_id: int) -> Followup:
    with api.session() as session:
        return session.get_one(Followup, followup_id)


def _forms(html: str, followup_id: int) -> set[str]:
    return set(re.findall(rf'action="/ui/followups/{followup_id}/([a-z_]+)"', html))


def test_a_bad_rating_is_appealed_dismissed_and_rectified_on_the_page(api: Api) -> None:
    with api.session() as session:
        case = work_off(session, api.runtime, api.case())
        step = api.step(case.id)
        rating = in_transaction(session, lambda: rate(session, api.runtime, case_id=case.id, step_id=step.id,
                                                      actor=actor_of("applicant_own"), level=1))
        followup = session.scalars(select(Followup.id).where(Followup.rating_id == rating.id)).one()
    page = get(api, "/ui/followups", "officer").text
    assert _forms(page, followup) == {"rectify", "appeal"} and case.receipt_no in page
    assert f"followup-{followup}" not in get(api, "/ui/followups", "officer_other").text
    assert _forms(get(api, "/ui/followups", "supervisor").text, followup) == set()  # nothing to decide yet
    assert _forms(get(api, "/ui/followups", "applicant_own").text, followup) == set()  # sees it, acts on nothing

    appealed = post(api, f"/ui/followups/{followup}/appeal", "officer", {"version": "0", "reason": "非本部门原因"})
    assert appealed.headers["location"] == "/ui/followups?msg=followup_done"
    assert _forms(get(api, "/ui/followups", "supervisor").text, followup) == {"uphold_appeal", "dismiss_appeal"}
    assert post(api, f"/ui/followups/{followup}/dismiss_appeal", "officer", {"version": "1"}).status_code == 403
    post(api, f"/ui/followups/{followup}/dismiss_appeal", "supervisor", {"version": "1", "note": "理由不足"})
    stale = post(api, f"/ui/followups/{followup}/rectify", "officer", {"version": "0", "measures": "x"})
    assert stale.status_code == 409  # the form was read before the decision
    done = post(api, f"/ui/followups/{followup}/rectify", "officer",
                {"version": "2", "measures": "已培训窗口人员", "reached": "true", "applicant_view": "满意"})
    assert done.status_code == 303
    closed = _followup(api, followup)
    assert (closed.state, closed.outcome) == ("closed", "rectified")
    assert closed.details["callback"]["reached"] is True


def test_a_complaint_is_answered_and_reopened_on_the_page(api: Api) -> None:
    case = api.case()
    with api.session() as session:
        complaint, _ = in_transaction(session, lambda: receive_complaint(
            session, api.runtime, actor=actor_of("supervisor"), ticket_no="P-1", receipt_no=case.receipt_no,
            text="等候太久"))
    assert _forms(get(api, "/ui/followups", "officer").text, complaint.id) == {"answer"}
    empty = post(api, f"/ui/followups/{complaint.id}/answer", "officer", {"version": "0", "answer": " "})
    assert empty.status_code == 422 and "答复" in empty.text
    post(api, f"/ui/followups/{complaint.id}/answer", "officer", {"version": "0", "answer": "已致歉"})
    assert _forms(get(api, "/ui/followups", "supervisor").text, complaint.id) == {"reopen"}
    assert f"followup-{complaint.id}" not in get(api, "/ui/followups", "supervisor_other").text
    post(api, f"/ui/followups/{complaint.id}/reopen", "supervisor", {"version": "1", "reason": "来电人不满意"})
    assert _followup(api, complaint.id).state == "open"
    assert post(api, f"/ui/followups/{complaint.id}/nonsense", "officer", {"version": "2"}).status_code in (404, 422)


def test_a_post_check_is_failed_on_the_page(api: Api) -> None:
    from engine.governance.commitments import commitment_letter, sign_commitment
    from engine.machine.states import SYSTEM, Role
    from engine.people.tokens import issue_token
    from tests.engine.governance.test_commitments import COMPANY, land_use
    from tests.engine.sample_people import CLERK

    with api.session() as session:
        case = land_use(session, api.runtime, COMPANY)
        filing = next(s for s in case.steps if s.step_key == "project_filing")
        letter = commitment_letter(session, api.runtime, step_id=filing.id, actor=SYSTEM)
        signed = sign_commitment(session, api.runtime, step_id=filing.id, actor=CLERK, text_hash=letter.text_hash)
        assert signed.post_check is not None and filing.office
        department, region = filing.office.split("@")
        api.tokens["inspector"] = issue_token(session, role=Role.OFFICER, department=department, region=region,
                                              label="inspector", now=api.clock.now())
    check = signed.post_check.id
    assert _forms(get(api, "/ui/followups", "inspector").text, check) == {"pass", "fail"}
    assert f"followup-{check}" not in get(api, "/ui/followups", "officer").text  # 民政 does not check 发改's
    failed = post(api, f"/ui/followups/{check}/fail", "inspector", {"version": "0", "findings": "备案信息不实"})
    assert failed.status_code == 303
    assert (_followup(api, check).outcome) == "failed"
