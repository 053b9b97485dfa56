"""Issue 7.4: idempotency keys belong to the caller (the token), and the fingerprint covers the
whole request, so one caller's key never returns another's case and a changed body is a 409."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.records.audit import case_history
from engine.db.models import Case
from engine.people.tokens import issue_token
from tests.api.conftest import Api, case_body, problem
from tests.engine.sample_people import another_couple


def _clerk(api: Api, region: str, label: str = "cli clerk") -> dict[str, str]:
    with api.session() as session:
        token = issue_token(session, role="clerk", region=region, label=label, now=api.clock.now())
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": "visit-0001"}


def test_two_clerks_with_the_same_label_and_key_get_their_own_cases(api: Api) -> None:
    changsha, zhuzhou = _clerk(api, "430102"), _clerk(api, "430200")
    couple: dict[str, Any] = another_couple()
    body, other_body = case_body(region=None), case_body(region=None, **couple)
    first = api.client.post("/cases", json=body, headers=changsha)
    second = api.client.post("/cases", json=other_body, headers=zhuzhou)
    assert first.status_code == 201 and second.status_code == 201, (first.text, second.text)
    assert first.json()["case_id"] != second.json()["case_id"]
    assert second.json()["receipt_no"].startswith("430200-")
    # Each clerk's retry still answers with that clerk's own case.
    assert api.client.post("/cases", json=body, headers=changsha).json()["case_id"] == first.json()["case_id"]
    assert api.client.post("/cases", json=other_body, headers=zhuzhou).json()["case_id"] == second.json()["case_id"]


def test_two_tokens_with_one_label_are_two_actors_in_the_audit_trail(api: Api) -> None:
    one, two = _clerk(api, "430102"), _clerk(api, "430102")
    couples: list[dict[str, Any]] = [another_couple(), another_couple()]
    ids = [api.client.post("/cases", json=case_body(**couple), headers=h).json()["case_id"]
           for h, couple in zip((one, two), couples, strict=True)]
    with api.session() as session:
        actors = {case_history(session, case_id=case_id)[0].actor_id for case_id in ids}
        creators = set(session.scalars(select(Case.created_by).where(Case.id.in_(ids))))
    assert len(actors) == 2 and actors == creators
    assert not actors & {"cli clerk"}


def test_the_fingerprint_covers_region_and_applicant_name(api: Api) -> None:
    headers = _clerk(api, "430100")
    assert api.client.post("/cases", json=case_body(region="430102"), headers=headers).status_code == 201
    moved = problem(api.client.post("/cases", json=case_body(region="430103"), headers=headers), 409)
    assert moved["type"] == "/problems/idempotency_conflict"
    renamed = case_body(region="430102")
    renamed["applicant"]["name"] = "测试己"
    problem(api.client.post("/cases", json=renamed, headers=headers), 409)
    # Key order and the spelling of an omitted default do not make a body "different".
    same = case_body(region="430102")
    same["answers"] = dict(reversed(list(same["answers"].items())))
    assert api.client.post("/cases", json=same, headers=headers).status_code == 201
