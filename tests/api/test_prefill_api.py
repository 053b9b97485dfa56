"""POST /prefill: the one form before submission, with sources and waived materials."""

from __future__ import annotations

from datetime import date

from engine.people.licences import store_licence
from tests.api.conftest import Api, prefill_body, problem
from tests.engine.sample_people import BRIDE, GROOM


def seed(api: Api) -> None:
    with api.db.session() as session:
        for holder, name, number in ((GROOM, "测试甲", "ID-G"), (BRIDE, "测试乙", "ID-B")):
            store_licence(session, type_code="L2000016", holder_id=holder, number=number, attributes={"name": name},
                          issuer="长沙市公安局", valid_from=date(2020, 1, 1), now=api.clock.now())
        store_licence(session, type_code="L2000017", holder_id=GROOM, number="HK-G",
                      attributes={"household_type": "family"}, issuer="长沙市公安局", valid_from=date(2020, 1, 1),
                      now=api.clock.now())
        session.commit()


def test_clerk_sees_every_prefilled_field_with_its_source(api: Api) -> None:
    seed(api)
    response = api.post("/prefill", "clerk", prefill_body())
    assert response.status_code == 200, response.text
    body = response.json()
    fields = {f["field"]: (f["value"], f["source"], f["detail"], f["correctable"]) for f in body["fields"]}
    assert fields == {
        "groom_name": ("测试甲", "licence", "居民身份证 ID-G", False),
        "bride_name": ("测试乙", "licence", "居民身份证 ID-B", False),
        "receiving_household_type": ("family", "licence", "居民户口簿 HK-G", True),
    }
    waived = {(m["step"], m["name"]) for m in body["waived"]}
    assert ("marriage_registration", "女方居民身份证") in waived
    assert ("marital_status_change", "结婚证") in waived  # issued by the first step
    assert {m["name"] for m in body["to_supply"]} >= {"3张2寸男女双方近期半身免冠合影照片", "女方居民户口簿"}


def test_an_applicant_only_gets_their_own_data(api: Api) -> None:
    seed(api)
    body = api.post("/prefill", "applicant_own", prefill_body()).json()
    # the spouse's name is not disclosed to a self-service applicant who typed her ID number
    assert {f["field"] for f in body["fields"]} == {"groom_name", "receiving_household_type"}


def test_prefill_refuses_bad_input_naming_the_field(api: Api) -> None:
    bad_id = prefill_body(applicant=GROOM[:-1] + ("1" if GROOM[-1] != "1" else "2"))
    assert problem(api.post("/prefill", "clerk", bad_id), 422)["field"] == "applicant.id"
    unknown = {**prefill_body(), "bundle_id": "no_such_bundle"}
    assert problem(api.post("/prefill", "clerk", unknown), 404)["field"] == "bundle_id"
    missing = {"bundle_id": "marriage"}
    assert problem(api.post("/prefill", "clerk", missing), 422)["field"] == "applicant"
    wrong_kind = {**prefill_body(), "applicant": {"id": GROOM, "kind": "enterprise"}}
    assert problem(api.post("/prefill", "clerk", wrong_kind), 422)["field"] == "applicant.kind"
