"""告知承诺 over HTTP (issue 13.2): the company reads its filing's letter and signs it with its own
token; the step is done at once with its 备案证明; the 发改 office fails the post-check; the
licence is revoked, the energy office is told in its officers' inbox, and the company's next
filing goes to normal review (no letter to sign)."""

from __future__ import annotations

from sqlalchemy import select

from engine.db.models import Step
from engine.people.licences import valid_licences
from engine.people.tokens import issue_token
from engine.machine.states import Role
from tests.api.conftest import Api, problem
from tests.engine.governance.test_commitments import COMPANY, OTHER_COMPANY, land_use


def _company_token(api: Api, subject: str) -> dict[str, str]:
    with api.session() as session:
        token = issue_token(session, role=Role.APPLICANT, subject=subject, label=f"company {subject[-4:]}",
                            now=api.clock.now())
    return {"Authorization": f"Bearer {token}"}


def _officer_token(api: Api, office: str) -> dict[str, str]:
    department, region = office.split("@")
    with api.session() as session:
        token = issue_token(session, role=Role.OFFICER, department=department, region=region,
                            label=f"officer {office}", now=api.clock.now())
    return {"Authorization": f"Bearer {token}"}


def _steps(api: Api, case_id: str) -> dict[str, Step]:
    with api.session() as session:
        return {s.step_key: s for s in session.scalars(select(Step).where(Step.case_id == case_id))}


def test_sign_then_a_failed_post_check_revokes_and_the_next_filing_is_reviewed(api: Api) -> None:
    with api.session() as session:
        case = land_use(session, api.runtime, COMPANY)
    steps = _steps(api, case.id)
    filing, energy = steps["project_filing"], steps["energy_review"]
    company = _company_token(api, COMPANY)

    letter = api.client.get(f"/steps/{filing.id}/commitment", headers=company)
    assert letter.status_code == 200, letter.text
    body = letter.json()
    assert "项目符合国家产业政策" in body["text"] and len(body["text_hash"]) == 64
    english = api.client.get(f"/steps/{filing.id}/commitment?locale=en", headers=company).json()
    assert "industrial policy" in english["text"]
    assert problem(api.client.get(f"/steps/{filing.id}/commitment?locale=fr", headers=company), 422)["field"] == "locale"
    stranger = _company_token(api, OTHER_COMPANY)
    assert problem(api.client.get(f"/steps/{filing.id}/commitment", headers=stranger), 404)["field"] == "step_id"

    changed = api.client.post(f"/steps/{filing.id}/sign", headers=company,
                              json={"version": filing.version, "text_hash": "0" * 64})
    assert problem(changed, 409)["field"] == "text_hash"
    signed = api.client.post(f"/steps/{filing.id}/sign", headers=company,
                             json={"version": filing.version, "text_hash": body["text_hash"]})
    assert signed.status_code == 200, signed.text
    out = signed.json()
    assert out["step"]["state"] == "done" and out["review_instead"] is False and out["post_check_id"]
    again = api.client.post(f"/steps/{filing.id}/sign", headers=company,
                            json={"version": out["step"]["version"], "text_hash": body["text_hash"]})
    assert again.status_code == 409  # signed once: the step is done

    with api.session() as session:
        assert valid_licences(session, holders=[COMPANY], types=["L1000004"], today=api.runtime.today())
    inspector = _officer_token(api, str(filing.office))
    listed = api.client.get("/post-checks", headers=inspector).json()
    assert [p["id"] for p in listed] == [out["post_check_id"]] and listed[0]["state"] == "open"
    assert [p["id"] for p in api.client.get("/post-checks", headers=company).json()] == [out["post_check_id"]]
    assert api.client.get("/post-checks", headers=stranger).json() == []
    refused = api.client.post(f"/post-checks/{out['post_check_id']}/fail", headers=company,
                              json={"version": 0, "findings": "x"})
    assert refused.status_code == 403
    failed = api.client.post(f"/post-checks/{out['post_check_id']}/fail", headers=inspector,
                             json={"version": 0, "findings": "项目实际总投资与备案不符"})
    assert failed.status_code == 200, failed.text
    assert (failed.json()["state"], failed.json()["outcome"]) == ("closed", "failed")
    with api.session() as session:
        assert valid_licences(session, holders=[COMPANY], types=["L1000004"], today=api.runtime.today()) == {}

    # The energy office's officers read the notice in the case's inbox.
    energy_officer = _officer_token(api, str(_steps(api, case.id)["energy_review"].office or energy.office))
    inbox = api.client.get(f"/cases/{case.id}/notifications", headers=energy_officer)
    assert inbox.status_code == 200, inbox.text
    assert "office_result_revoked" in {n["template"] for n in inbox.json()["notifications"]}
    assert "result_revoked" in {n["template"] for n in api.client.get(f"/cases/{case.id}/notifications",
                                                                      headers=company).json()["notifications"]}

    with api.session() as session:
        nxt = land_use(session, api.runtime, COMPANY)
    review = _steps(api, nxt.id)["project_filing"]
    assert review.kind == "human"
    assert problem(api.client.get(f"/steps/{review.id}/commitment", headers=company), 409)["field"] == "step_id"
