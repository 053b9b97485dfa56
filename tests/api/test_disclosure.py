"""Disclosure through every adapter (issue 7): the JSON API, the pages and the printable documents.

The engine decides what each caller reads (tests/engine/records/test_disclosure.py); these tests check
that no adapter adds anything back: a self-service applicant never sees another person's
licence numbers or whether that person holds a licence, an officer sees other departments'
steps only as progress and no case documents, and a clerk's read of other people's licences
is in the access log.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from engine.db.models import AccessRecord
from api.demo import load_demo_data, seed_licences, synthetic_person
from engine.people.licences import store_licence
from engine.people.tokens import issue_token
from engine.people.validators import make_id_number
from tests.api.conftest import Api, case_body, problem
from tests.engine.sample_people import BRIDE, GROOM

PERSON_1, PERSON_2 = synthetic_person(1), synthetic_person(2)  # the issue's 430103195702020012 and 430104196403030027
STRANGER = make_id_number("430111", date(1980, 7, 7), 777)
CERTIFICATE = "L2000025-20260101-ABCDEF01-2"


def _demo(api: Api) -> None:
    """The demo people's licences, a marriage certificate of person 2, and an applicant token of person 1."""
    with api.session() as session:
        seed_licences(session, api.runtime, load_demo_data(), report=lambda _: None)
        store_licence(session, type_code="L2000025", holder_id=PERSON_2, number=CERTIFICATE, attributes={},
                      issuer="示例市民政局", valid_from=date(2020, 1, 1), now=api.clock.now())
        session.commit()
        api.tokens["person_1"] = issue_token(session, role="applicant", subject=PERSON_1, label="person_1",
                                             now=api.clock.now())


def _prefill(api: Api, who: str, groom: str) -> dict[str, Any]:
    body = {"bundle_id": "marriage", "applicant": {"id": PERSON_1, "kind": "person"},
            "answers": {"groom_id_number": groom, "bride_id_number": PERSON_1}}
    response = api.post("/prefill", who, body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_issues_prefill_as_a_self_service_applicant_reveals_no_one_else(api: Api) -> None:
    _demo(api)
    holder, nobody = _prefill(api, "person_1", PERSON_2), _prefill(api, "person_1", STRANGER)
    assert (holder["waived"], holder["to_supply"]) == (nobody["waived"], nobody["to_supply"])
    text = str(holder)
    assert CERTIFICATE not in text and f"ID-{PERSON_2[-8:]}" not in text and f"HK-{PERSON_2[-8:]}" not in text
    certificate = next(m for m in holder["waived"] if m["name"] == "结婚证")
    assert "已关联电子证照" not in certificate["reason"]  # issued by the bundle's first step, for anyone
    # the same on the intake page
    page = api.get(f"/ui/intake/marriage?a.groom_id_number={PERSON_2}&a.bride_id_number={PERSON_1}", "person_1")
    assert page.status_code == 200 and CERTIFICATE not in page.text and f"ID-{PERSON_2[-8:]}" not in page.text
    assert f"ID-{PERSON_1[-8:]}" in page.text  # the applicant's own ID card is linked


def test_a_clerks_prefill_shows_other_people_and_is_access_logged(api: Api) -> None:
    _demo(api)
    body = {"bundle_id": "marriage", "applicant": {"id": PERSON_1, "kind": "person"},
            "answers": {"groom_id_number": PERSON_2, "bride_id_number": PERSON_1}}
    shown = api.post("/prefill", "clerk", body).json()
    assert CERTIFICATE in str(shown) or f"ID-{PERSON_2[-8:]}" in str(shown)
    with api.session() as session:
        records = session.execute(select(AccessRecord.actor_id, AccessRecord.what)).all()
    assert [(actor, what.split(":")[0]) for actor, what in records] == [(api.actor_ids["clerk"], "prefill marriage")]
    assert PERSON_2 not in records[0][1]


def _completed_registration(api: Api) -> tuple[str, str]:
    """A self-service marriage case of GROOM (the bride holds an ID card); its registration done."""
    with api.session() as session:
        store_licence(session, type_code="L2000016", holder_id=BRIDE, number="ID-BRIDE-0001", attributes={"name": "测试乙"},
                      issuer="示例市公安局", valid_from=date(2020, 1, 1), now=api.clock.now())
        session.commit()
    created = api.post("/cases", "applicant_own", case_body())
    assert created.status_code == 201, created.text
    assert "ID-BRIDE-0001" not in created.text
    case_id = created.json()["case_id"]
    step = api.advance(api.step(case_id), "in_progress")
    done = api.post(f"/steps/{step.id}/complete", "officer", {"version": step.version,
                                                              "outputs": {"number": "J430102-2026-000123"}})
    assert done.status_code == 200, done.text
    return case_id, step.id


def test_the_applicant_reads_only_their_own_licences_everywhere(api: Api) -> None:
    case_id, registration = _completed_registration(api)
    household = api.step(case_id, "marital_status_change").id
    theirs = ("J430102-2026-000123-2", "ID-BRIDE-0001")  # the bride's licences (her ID number the applicant typed)
    for url in (f"/cases/{case_id}", f"/steps/{registration}", f"/steps/{household}", f"/ui/cases/{case_id}",
                f"/ui/steps/{registration}", f"/ui/steps/{household}", f"/ui/cases/{case_id}/receipt", "/ui/cases"):
        response = api.get(url, "applicant_own")
        assert response.status_code == 200, (url, response.text[:300])
        assert not [t for t in theirs if t in response.text], url
    steps = {s["step_key"]: s for s in api.get(f"/cases/{case_id}", "applicant_own").json()["steps"]}
    assert steps["marriage_registration"]["result"] == "结婚证 J430102-2026-000123-1"
    materials = {m["name"]: m for m in api.get(f"/steps/{household}", "applicant_own").json()["materials"]}
    assert materials["女方居民户口簿"]["waived"] is False and "由部门通过电子证照库核验" in materials["女方居民户口簿"]["reason"]
    assert materials["结婚证"]["waived"] and "J430102-2026-000123-1" in materials["结婚证"]["reason"]
    with api.session() as session:
        from engine.machine.actions import withdraw_case
        from tests.engine.sample_people import CLERK

        withdraw_case(session, api.runtime, case_id=case_id, actor=CLERK)
    notice = api.get(f"/ui/cases/{case_id}/notices/completion", "applicant_own")
    assert notice.status_code == 200 and not [t for t in (*theirs, BRIDE) if t in notice.text]
    # the window reads both spouses' licences (and the read is recorded)
    assert "J430102-2026-000123-2" in api.get(f"/cases/{case_id}", "clerk").text


def test_an_officer_reads_other_departments_steps_only_as_progress_and_no_documents(api: Api) -> None:
    case_id, _registration = _completed_registration(api)
    with api.session() as session:
        api.tokens["officer_23"] = issue_token(session, role="officer", department="23", region="430102",
                                               label="officer_23", now=api.clock.now())
    view = api.get(f"/cases/{case_id}", "officer_23")
    assert view.status_code == 200
    steps = {s["step_key"]: s for s in view.json()["steps"]}
    assert steps["marriage_registration"]["state"] == "done" and steps["marriage_registration"]["result"] == ""
    assert steps["marriage_registration"]["department_name"] == "民政局"
    assert "J430102-2026-000123" not in view.text and GROOM not in view.text
    page = api.get(f"/ui/cases/{case_id}", "officer_23")
    assert page.status_code == 200 and "J430102-2026-000123" not in page.text and "/receipt" not in page.text
    for document in ("receipt", "notices/completion"):
        refused = api.get(f"/ui/cases/{case_id}/{document}", "officer_23")
        assert refused.status_code == 403 and "J430102" not in refused.text and "测试乙" not in refused.text
    # the registration's own department still sees its result
    assert "J430102-2026-000123-1" in api.get(f"/cases/{case_id}", "officer").text
    assert problem(api.get(f"/steps/{_registration}", "officer_23"), 404)["field"] == "step_id"
