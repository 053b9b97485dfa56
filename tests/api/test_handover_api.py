"""出件 over HTTP, on every backend: ``POST /cases/{case_id}/handover``.

A 430102 clerk receives a marriage case for GROOM filed for 衡阳 (430405: 异地代收); the offices
decide its steps (``work_off``, as the engine's tests do); the receiving window hands the results
out, to the applicant at the window or to an agent by post, and ``GET /cases/{id}`` shows it, the
agent's ID number only masked and the clerk only to staff. Bad input is a 422 naming the field, a
second hand-over a 409 naming the first; an open case, another window, an officer and the applicant
are refused.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine.db.models import Case
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import CaseState
from engine.people.identifiers import mask_id_number
from engine.people.tokens import issue_token
from tests.api.conftest import Api, problem
from tests.engine.machine.test_handover import AGENT, work_off
from tests.engine.sample_people import CLERK, GROOM, marriage_answers

URL = "/cases/{}/handover"


def received(api: Api, *, region: str = "430405") -> Case:
    """GROOM's marriage case (no household move, no birth plan), received by 430102's window for ``region``."""
    with api.session() as session:
        return accept_case(session, api.runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                           answers=marriage_answers(move_household=False, register_birth_plan=False), actor=CLERK,
                           region=region)


def finished(api: Api, *, region: str = "430405") -> Case:
    """:func:`received`, every step done by its department's province officer."""
    with api.session() as session:
        case = work_off(session, api.runtime, received(api, region=region))
    assert case.state == CaseState.COMPLETED.value and case.received_in == "430102"
    return case


def caller(api: Api, label: str, *, role: str, region: str | None = None, department: str | None = None,
           subject: str | None = None) -> str:
    """A further caller ``label`` of the API (a token of ``role`` at ``region``, or for ``subject``)."""
    with api.session() as session:
        api.tokens[label] = issue_token(session, role=role, subject=subject, department=department, region=region,
                                        label=label, now=api.clock.now())
    return label


def test_the_receiving_window_hands_the_results_to_the_applicant_at_the_window(api: Api) -> None:
    case = finished(api)
    api.clock.advance(hours=2)
    response = api.post(URL.format(case.id), "clerk", {"recipient": "applicant", "method": "window"})
    assert response.status_code == 201, response.text
    out = response.json()
    assert out == {
        "case_id": case.id, "recipient": "applicant", "method": "window",
        "handed_at": api.clock.now().isoformat().replace("+00:00", "Z"), "region": "430102", "agent_name": "",
        "agent_id_number_masked": None, "tracking_no": None, "note": "", "handed_by": api.actor_ids["clerk"],
        "recipient_label": "申请人本人", "method_label": "窗口领取"}

    read = api.get(f"/cases/{case.id}", "clerk").json()
    assert (read["region"], read["received_in"]) == ("430405", "430102")
    assert read["handover"] == out
    # the applicant reads the record, never who acted
    own = api.get(f"/cases/{case.id}", "applicant_own").json()
    assert own["handover"] == {**out, "handed_by": None}


def test_an_agent_collects_by_post_and_their_id_number_is_only_shown_masked(api: Api) -> None:
    case = finished(api)
    api.clock.advance(hours=3)
    posted_at = api.clock.now() - timedelta(hours=1)
    body = {"recipient": "agent", "method": "post", "agent_name": "测试代", "agent_id_number": AGENT,
            "tracking_no": "SF1234567890", "handed_at": posted_at.isoformat(), "note": "申请人委托代领"}
    response = api.post(URL.format(case.id), "clerk", body)
    assert response.status_code == 201, response.text
    out = response.json()
    assert (out["recipient_label"], out["method_label"], out["tracking_no"]) == ("代领人", "邮寄送达", "SF1234567890")
    assert out["agent_name"] == "测试代" and out["agent_id_number_masked"] == mask_id_number(AGENT)
    assert out["handed_at"] == posted_at.isoformat().replace("+00:00", "Z") and out["note"] == "申请人委托代领"
    assert AGENT not in response.text
    supervisor = caller(api, "supervisor_hengyang", role="supervisor", region="430400")  # the case's city
    for who in ("clerk", "applicant_own", supervisor, "admin"):
        read = api.get(f"/cases/{case.id}", who)
        assert read.status_code == 200, (who, read.text)
        assert read.json()["handover"]["agent_id_number_masked"] == mask_id_number(AGENT), who
        assert AGENT not in read.text, who


def test_an_unfinished_case_has_no_handover_in_its_json(api: Api) -> None:
    case = received(api)
    read = api.get(f"/cases/{case.id}", "clerk").json()
    assert read["handover"] is None and read["received_in"] == "430102" and read["region"] == "430405"


GOOD: dict[str, Any] = {"recipient": "applicant", "method": "window"}
AGENT_BY_WINDOW: dict[str, Any] = {"recipient": "agent", "method": "window", "agent_name": "测试代",
                                   "agent_id_number": AGENT}


@pytest.mark.parametrize(("body", "field"), [
    # the schema's limits (the engine's own)
    ({**GOOD, "recipient": "neighbour"}, "recipient"),
    ({**GOOD, "method": "courier"}, "method"),
    ({"method": "window"}, "recipient"),
    ({**GOOD, "note": "x" * 501}, "note"),
    ({**GOOD, "note": "a\x00b"}, "note"),
    ({**AGENT_BY_WINDOW, "agent_name": "代" * 51}, "agent_name"),
    ({**AGENT_BY_WINDOW, "agent_id_number": "43010219700601"}, "agent_id_number"),
    ({**GOOD, "method": "post", "tracking_no": "顺丰"}, "tracking_no"),
    ({**GOOD, "method": "post", "tracking_no": "SF1"}, "tracking_no"),
    ({**GOOD, "handed_at": "2026-03-02T09:30:00"}, "handed_at"),
    ({**GOOD, "handed_at": "yesterday"}, "handed_at"),
    ({**GOOD, "handled_by": "me"}, "handled_by"),
    # the engine's rules across fields
    ({**AGENT_BY_WINDOW, "agent_name": ""}, "agent_name"),
    ({**AGENT_BY_WINDOW, "agent_id_number": None}, "agent_id_number"),
    ({**AGENT_BY_WINDOW, "agent_id_number": AGENT[:-1] + ("0" if AGENT[-1] != "0" else "1")}, "agent_id_number"),
    ({**GOOD, "agent_name": "测试代"}, "agent_name"),
    ({**GOOD, "tracking_no": "SF1234567890"}, "tracking_no"),
    ({**GOOD, "method": "post"}, "tracking_no"),
    ({**GOOD, "handed_at": "2026-03-03T09:00:00+08:00"}, "handed_at"),  # tomorrow
    ({**GOOD, "handed_at": "2026-03-01T09:00:00+08:00"}, "handed_at"),  # before the case closed
])
def test_bad_input_is_a_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    case = finished(api)
    refused = problem(api.post(URL.format(case.id), "clerk", body), 422)
    assert refused["field"] == field, refused
    assert api.get(f"/cases/{case.id}", "clerk").json()["handover"] is None


def test_a_second_hand_over_is_a_409_naming_the_first(api: Api) -> None:
    case = finished(api)
    first = api.post(URL.format(case.id), "clerk", {"recipient": "applicant", "method": "post",
                                                    "tracking_no": "EMS-20260302-01"})
    assert first.status_code == 201, first.text
    again = problem(api.post(URL.format(case.id), "clerk", GOOD), 409)
    assert "2026-03-02" in again["detail"] and "邮寄送达" in again["detail"]
    assert api.get(f"/cases/{case.id}", "clerk").json()["handover"] == first.json()


def test_only_a_clerk_of_the_receiving_window_hands_out(api: Api) -> None:
    case = finished(api)
    home = caller(api, "clerk_hengyang", role="clerk", region="430405")  # sees the case, did not receive it
    province_officer = caller(api, "officer_43", role="officer", region="430000", department="11")
    supervisor = caller(api, "supervisor_hengyang", role="supervisor", region="430400")
    assert api.get(f"/cases/{case.id}", home).status_code == 200
    assert "430102" in problem(api.post(URL.format(case.id), home, GOOD), 403)["detail"]
    for who in ("applicant_own", province_officer, supervisor, "admin"):
        assert api.get(f"/cases/{case.id}", who).status_code == 200, who
        problem(api.post(URL.format(case.id), who, GOOD), 403)
    for who in ("clerk_other", "applicant_other"):  # for them the case does not exist
        problem(api.post(URL.format(case.id), who, GOOD), 404)
    problem(api.post(URL.format(case.id), None, GOOD), 401)
    assert api.get(f"/cases/{case.id}", "clerk").json()["handover"] is None
    assert api.post(URL.format(case.id), "clerk", GOOD).status_code == 201


def test_an_open_case_has_nothing_to_hand_out(api: Api) -> None:
    case = received(api)
    refused = problem(api.post(URL.format(case.id), "clerk", GOOD), 409)
    assert refused["type"] == "/problems/illegal_transition", refused


def test_an_unknown_case_is_a_404(api: Api) -> None:
    assert problem(api.post(URL.format("0" * 32), "clerk", GOOD), 404)["field"] == "case_id"
    problem(api.post(URL.format("not-an-id"), "clerk", GOOD), 422)


def test_the_openapi_document_declares_every_answer(api: Api) -> None:
    spec = api.get("/openapi.json", None).json()
    operation = spec["paths"]["/cases/{case_id}/handover"]["post"]
    assert set(operation["responses"]) == {"201", "401", "403", "404", "409", "413", "422", "503"}
    assert operation["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HandoverOut"}
    schema = spec["components"]["schemas"]["HandoverIn"]["properties"]
    assert schema["recipient"]["enum"] == ["applicant", "agent"] and schema["method"]["enum"] == ["window", "post"]
    assert schema["note"]["maxLength"] == 500
    case_out = spec["components"]["schemas"]["CaseOut"]["properties"]
    assert {"handover", "received_in"} <= set(case_out)
