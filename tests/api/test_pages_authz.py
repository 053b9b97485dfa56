"""The pages follow the engine's access rules, not role lists of their own, on every backend:
intake is for whoever the engine lets start a case (an applicant for themselves only, a window
for any applicant of its province: 无差别受理), the others get the 403 page with the engine's
reason; one lands on the first desk the engine lets one use; the step page shows where the step
is decided (its office, 办理地 and why it went there), as the step's JSON does, and names the
steps in "why it ended" by their own items."""

from __future__ import annotations

import html
import re
from datetime import date

from sqlalchemy import select

from engine.db.models import Case, Step
from engine.machine.actions import claim_step, reject_step, start_step
from engine.people.validators import make_id_number
from engine.records.queries import step_detail
from engine.records.labels import ROLE_LABELS
from tests.api.conftest import Api, actor_of
from tests.api.test_pages import case_id_of, get, intake_form, post
from tests.engine.records.test_material_display import COUNTY, PROVINCE, land_use_case
from tests.engine.sample_people import CHILD, GROOM, decider

HENGYANG_GROOM = make_id_number("430405", date(1991, 3, 9), 131)  # 衡阳市珠晖区
HENGYANG_BRIDE = make_id_number("430405", date(1993, 6, 12), 132)


def _case(api: Api, case_id: str) -> Case:
    with api.session() as session:
        return session.get_one(Case, case_id)


def test_an_applicant_applies_for_themselves_only(api: Api) -> None:
    assert get(api, "/ui/intake", "applicant_own").status_code == 200
    # The identifier is theirs, whatever the query names: shown read-only, their own data prefilled.
    form = get(api, f"/ui/intake/marriage?applicant_id={CHILD}", "applicant_own")
    assert form.status_code == 200, form.text
    field = re.search(r'<input type="text" id="applicant_id"[^>]*>', form.text)
    assert field and f'value="{GROOM}"' in field[0] and "readonly" in field[0]
    assert CHILD not in form.text
    # A posted identifier of someone else does not change whose case it is.
    accepted = post(api, "/ui/intake/marriage", "applicant_own", intake_form(applicant=CHILD, key="self-0000001"))
    case = _case(api, case_id_of(accepted))
    assert case.applicant_id == GROOM and case.received_in is None  # applied online: no receiving window


def test_a_window_files_for_an_applicant_of_another_county_of_the_province(api: Api) -> None:
    couple = {"groom_id_number": HENGYANG_GROOM, "bride_id_number": HENGYANG_BRIDE}
    form = get(api, f"/ui/intake/marriage?applicant_id={HENGYANG_GROOM}&applicant_name=测试衡", "clerk")
    assert form.status_code == 200, form.text
    field = re.search(r'<input type="text" id="applicant_id"[^>]*>', form.text)
    assert field and "readonly" not in field[0]  # the window names the applicant
    accepted = post(api, "/ui/intake/marriage", "clerk",
                    intake_form(applicant=HENGYANG_GROOM, name="测试衡", key="window-0000001", **couple))
    case = _case(api, case_id_of(accepted))
    assert (case.applicant_id, case.received_in) == (HENGYANG_GROOM, "430102")  # 受理地: the 430102 window


def test_officers_and_supervisors_get_the_403_page_with_the_engines_reason(api: Api) -> None:
    for who in ("officer", "supervisor"):
        role = actor_of(who).role
        # the engine's reason, Chinese first, English as the echo (issue 15: never "a officer")
        zh, en = f"{ROLE_LABELS[role]}无权受理申请", html.escape(f"{'an' if who == 'officer' else 'a'} {role.value} may not start a case")
        for response in (get(api, "/ui/intake", who), get(api, f"/ui/intake/marriage?applicant_id={GROOM}", who),
                         post(api, "/ui/intake/marriage", who, intake_form(key=f"{who}-0000001"))):
            assert response.status_code == 403, response.text
            assert zh in response.text and en in response.text
    with api.session() as session:
        assert session.scalars(select(Case)).first() is None  # nothing was accepted


def test_each_caller_lands_on_the_first_desk_the_engine_gives_them(api: Api) -> None:
    homes = {"applicant_own": "/ui/cases", "clerk": "/ui/intake", "officer": "/ui/departments/11",
             "supervisor": "/ui/supervision", "admin": "/ui/supervision"}
    for who, home in homes.items():
        response = get(api, "/ui/", who)
        assert (response.status_code, response.headers["location"]) == (303, home), who
        assert get(api, home, who).status_code == 200, who


def test_the_step_page_shows_where_the_step_is_decided(api: Api) -> None:
    case = api.case()
    registration = api.step(case.id)
    with api.session() as session:
        status = step_detail(session, api.runtime, step_id=registration.id, actor=actor_of("officer")).status
    assert status.office == "11@430102" and status.decided_in == "430102" and status.routing_reason
    page = get(api, f"/ui/steps/{registration.id}", "officer")
    assert page.status_code == 200, page.text
    assert "办理机构" in page.text and f'data-office="{status.office}"' in page.text
    shown = html.unescape(page.text)
    assert status.office_name and status.office_name in shown
    assert "办理地" in page.text and 'data-decided-in="430102"' in page.text and "芙蓉区" in page.text
    assert status.routing_reason in shown
    # The worklist link is for whoever may read the department's worklist: not the applicant.
    assert 'href="/ui/departments/11"' in page.text
    own = get(api, f"/ui/steps/{registration.id}", "applicant_own")
    assert own.status_code == 200 and 'href="/ui/departments/11"' not in own.text
    # The step's JSON carries the same routing.
    body = api.get(f"/steps/{registration.id}", "officer").json()["status"]
    assert (body["office"], body["office_name"], body["decided_in"], body["routing_reason"]) == (
        status.office, status.office_name, status.decided_in, status.routing_reason)


def test_why_it_ended_names_the_step_by_its_own_item(api: Api) -> None:
    with api.session() as session:
        case = land_use_case(session, api.runtime, land_approval_level="county")
        preapproval = next(s for s in case.steps if s.step_key == "land_preapproval")
        ratification = next(s for s in case.steps if s.step_key == "project_ratification")
        officer = decider(preapproval)
        step = claim_step(session, api.runtime, step_id=preapproval.id, actor=officer,
                          expected_version=preapproval.version)
        step = start_step(session, api.runtime, step_id=step.id, actor=officer, expected_version=step.version)
        reject_step(session, api.runtime, step_id=step.id, actor=officer, reason="选址不符合规划",
                    expected_version=step.version)
    with api.session() as session:
        assert session.get_one(Step, ratification.id).state == "cancelled"
    page = get(api, f"/ui/steps/{ratification.id}", "admin")
    assert page.status_code == 200, page.text
    ended = re.search(r"终止原因 <span class=\"en\" lang=\"en\">Why it ended</span></th><td>([^<]+)</td>", page.text)
    assert ended and f"“{COUNTY}”" in html.unescape(ended[1])  # the item the case chose, not the first mapped
    assert PROVINCE not in html.unescape(ended[1])
