"""POST /prefill: the one form before submission, with sources and waived materials."""

from __future__ import annotations

from datetime import date

from engine.people.licences import store_licence
from engine.people.validators import make_id_number
from tests.api.conftest import Api, case_body, prefill_body, problem
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


def _rules(body: dict[str, object]) -> dict[str, str]:
    rules = body["eligibility"]
    assert isinstance(rules, list)
    return {r["rule"]: r["outcome"] for r in rules}


def test_prefill_shows_the_eligibility_refusal_before_the_form_is_filled_in(api: Api) -> None:
    """前置校验: two ID numbers typed are enough for the clerk to see the guide's reasons."""
    young = make_id_number("430102", date(2008, 6, 1), 11)  # 17 at the test date
    body = api.post("/prefill", "clerk", prefill_body(groom_id_number=young, bride_id_number=young)).json()
    assert body["eligible"] is False
    failed = {r["rule"]: r for r in body["eligibility"] if r["outcome"] == "failed"}
    assert set(failed) == {"groom_age", "bride_age", "two_people"}  # the bride is the same 17-year-old man
    assert failed["groom_age"]["reason_zh"] == "男不得早于二十二周岁，女不得早于二十周岁（男方）"
    assert failed["two_people"]["fields"] == ["groom_id_number", "bride_id_number"]
    # the same answers are refused at submission, naming the rules and the fields (problem+json)
    refused = problem(api.post("/cases", "clerk", case_body(groom_id_number=young, bride_id_number=young)), 422)
    codes = {e["code"] for e in refused["errors"]}
    assert {"eligibility.groom_age", "eligibility.two_people"} <= codes
    assert {"groom_id_number", "bride_id_number"} <= set(refused["fields"])


def test_prefill_of_an_eligible_couple_and_of_unknowns(api: Api) -> None:
    seed(api)
    body = api.post("/prefill", "clerk", prefill_body()).json()
    assert body["eligible"] is True and set(_rules(body).values()) == {"met"}
    # nothing typed yet: the rules on the spouses wait for their ID numbers
    empty = api.post("/prefill", "clerk", {"bundle_id": "marriage", "applicant": {"id": GROOM, "kind": "person"},
                                           "answers": {}}).json()
    assert empty["eligible"] is True and _rules(empty)["groom_age"] == "unknown"


def test_prefill_shows_a_licence_refusal_to_a_clerk_but_not_to_an_applicant(api: Api) -> None:
    with api.db.session() as session:
        store_licence(session, type_code="L2000025", holder_id=BRIDE, number="JH-OLD", attributes={},
                      issuer="示例民政局", valid_from=date(2020, 1, 1), now=api.clock.now())
        session.commit()
    clerk = api.post("/prefill", "clerk", prefill_body()).json()
    assert clerk["eligible"] is False and _rules(clerk)["bride_unmarried"] == "failed"
    own = api.post("/prefill", "applicant_own", prefill_body()).json()
    assert own["eligible"] is True and _rules(own)["bride_unmarried"] == "unknown"
    assert _rules(own)["groom_unmarried"] == "met"  # the applicant's own records are read
