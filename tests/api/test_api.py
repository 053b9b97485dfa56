"""Every endpoint against a real database: happy paths, bad input, retries, races, versions."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from engine.db.models import AccessRecord, Case, Step
from engine.machine.intake import Applicant, accept_case
from engine.time.supervision import issue_cards
from engine.people.validators import mask_id_number
from tests.api.conftest import Api, case_body, problem
from tests.api.receipts import confirm_receipt
from tests.engine.sample_people import BRIDE, CHILD, CLERK, GROOM, another_couple, post_death_answers


def test_bundles_are_public_with_their_form(api: Api) -> None:
    listed = api.get("/bundles", None)
    assert listed.status_code == 200
    marriage = next(b for b in listed.json() if b["id"] == "marriage")
    assert marriage == {
        "id": "marriage", "name": {"zh": "结婚落户“一件事”", "en": "Marriage and household registration"},
        "version": 2, "theme_code": "43PCP0007", "applicant_kind": "person",
        "time_limit": {"amount": 15, "unit": "working_days"}, "step_count": 4,
    }
    form = api.get("/bundles/marriage", None).json()
    fields = {f["id"]: f for f in form["fields"]}
    assert fields["groom_id_number"]["type"] == "id_number" and fields["groom_id_number"]["sensitive"]
    assert fields["move_household"]["when"] == {"field": "both_hunan_household", "eq": True}
    assert [o["value"] for o in fields["receiving_household_type"]["options"]] == ["family", "collective"]
    assert fields["register_birth_plan"]["required"] is False
    registration = form["steps"][0]
    assert registration["department"] == "11" and registration["department_name"] == "民政局"
    assert registration["time_limit"] == {"amount": 20, "unit": "working_days"}
    assert {m["supply"] for m in registration["materials"]} == {1, 2, 4}
    assert form["steps"][1]["depends_on"] == ["marriage_registration"]
    heirs = {f["id"]: f for f in api.get("/bundles/post_death", None).json()["fields"]}["heirs"]
    assert [f["id"] for f in heirs["item_fields"]][:2] == ["heir_name", "heir_id_number"]
    assert problem(api.get("/bundles/no_such_bundle", None), 404)["field"] == "bundle_id"
    assert problem(api.get("/bundles/Not-An-Id", None), 422)["field"] == "bundle_id"


def test_clerk_applies_and_gets_receipt_steps_and_due_dates(api: Api) -> None:
    response = api.post("/cases", "clerk", case_body())
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["receipt_no"] == "430102-20260302-00001" and case["state"] == "accepted"
    assert case["due_on"] == "2026-03-23" and case["due_provisional"] is False
    steps = {s["step_key"]: s for s in case["steps"]}
    assert steps["marriage_registration"]["state"] == "ready" and steps["marriage_registration"]["due_on"] == "2026-03-30"
    assert steps["marriage_registration"]["department_name"] == "民政局"
    assert steps["marital_status_change"]["waiting_on"] == ["内地居民结婚登记"]
    assert case["applicant"] == {"id": GROOM, "kind": "person", "name": "测试甲"}


def test_applicant_applies_for_self_in_default_region(api: Api) -> None:
    response = api.post("/cases", "applicant_own", case_body(region=None))
    assert response.status_code == 201, response.text
    assert response.json()["region"] == "430100"


def test_bad_input_is_422_naming_the_field(api: Api) -> None:
    body = case_body()
    del body["applicant"]
    assert problem(api.post("/cases", "clerk", body), 422)["field"] == "applicant"
    assert problem(api.post("/cases", "clerk", {**case_body(), "answers": []}), 422)["field"] == "answers"
    wrong = case_body()
    wrong["applicant"]["id"] = GROOM[:-1] + ("0" if GROOM[-1] != "0" else "1")
    checksum = problem(api.post("/cases", "clerk", wrong), 422)
    assert checksum["field"] == "applicant.id" and checksum["errors"][0]["code"].startswith("id_number.")
    assert checksum["errors"][0]["message_zh"] and checksum["errors"][0]["message_en"]
    answers = problem(api.post("/cases", "clerk", case_body(bride_id_number="12345", applicant_phone=None)), 422)
    assert set(answers["fields"]) == {"bride_id_number", "applicant_phone"}
    assert problem(api.post("/cases", "clerk", {**case_body(), "bundle_id": "no_such"}), 404)["field"] == "bundle_id"
    malformed = api.client.post("/cases", content=b'{"bundle_id": "marriage",', headers={
        **api.auth("clerk"), "Content-Type": "application/json"})
    assert problem(malformed, 422)["field"] == "body"
    assert problem(api.post("/cases", "clerk", {**case_body(), "surprise": 1}), 422)["field"] == "surprise"
    assert problem(api.post("/cases", "clerk", {**case_body(), "region": "43xx02"}), 422)["field"] == "region"
    assert problem(api.post("/cases", "admin", {**case_body(), "region": "439999"}), 422)["field"] == "region"
    nested = problem(api.post("/cases", "clerk", {**case_body(), "applicant": {"id": 5, "kind": "robot"}}), 422)
    assert set(nested["fields"]) == {"applicant.id", "applicant.kind"}
    with api.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_idempotent_retries_make_one_case(api: Api) -> None:
    key = {"Idempotency-Key": "3c6b1f0e-retry-1"}
    first = api.post("/cases", "clerk", case_body(), headers=key)
    again = api.post("/cases", "clerk", case_body(), headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json()["case_id"] == again.json()["case_id"]
    assert first.json()["receipt_no"] == again.json()["receipt_no"]
    conflict = problem(api.post("/cases", "clerk", case_body(register_birth_plan=False), headers=key), 409)
    assert conflict["field"] == "Idempotency-Key"
    # keys belong to their caller: another clerk's identical key is another request
    couple: dict[str, Any] = another_couple()
    other = api.post("/cases", "admin", case_body(**couple), headers=key)
    assert other.status_code == 201 and other.json()["case_id"] != first.json()["case_id"]
    with api.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 2
    assert problem(api.post("/cases", "clerk", case_body(), headers={"Idempotency-Key": "bad key"}), 422)[
        "field"] == "Idempotency-Key"


def test_case_view_full_id_for_applicant_masked_for_officer_and_staff_reads_audited(api: Api) -> None:
    case = api.case()
    own = api.get(f"/cases/{case.id}", "applicant_own")
    assert own.status_code == 200 and own.json()["applicant"]["id"] == GROOM
    assert api.get(f"/cases/{case.id}", "clerk").json()["applicant"]["id"] == GROOM
    masked = api.get(f"/cases/{case.id}", "officer").json()["applicant"]["id"]
    assert masked == mask_id_number(GROOM) and GROOM not in masked
    with api.session() as session:
        records = session.execute(select(AccessRecord.actor_id, AccessRecord.role, AccessRecord.what)
                                  .where(AccessRecord.case_id == case.id).order_by(AccessRecord.id)).all()
    assert records == [(api.actor_ids["clerk"], "clerk", "case_status"),
                       (api.actor_ids["officer"], "officer", "case_status")]
    assert problem(api.get("/cases/" + "0" * 32, "admin"), 404)["field"] == "case_id"
    assert problem(api.get("/cases/not-an-id", "admin"), 422)["field"] == "case_id"


def test_worklist_masks_ids_paginates_and_filters(api: Api) -> None:
    cases = [api.case(**(another_couple() if i else {})) for i in range(3)]
    page = api.get("/departments/11/steps", "officer")
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 3 and body["department_name"] == "民政局"
    assert [i["receipt_no"] for i in body["items"]] == [c.receipt_no for c in cases]
    assert all(i["applicant_id_masked"] == mask_id_number(GROOM) for i in body["items"])
    assert GROOM not in page.text and BRIDE not in page.text
    second = api.get("/departments/11/steps?limit=2&offset=2", "officer").json()
    assert second["total"] == 3 and [i["receipt_no"] for i in second["items"]] == [cases[2].receipt_no]
    # by keyset: the first page names the next; a page by cursor has no total, the last no next
    first = api.get("/departments/11/steps?limit=2", "officer").json()
    assert first["next_after"] and [i["receipt_no"] for i in first["items"]] == [c.receipt_no for c in cases[:2]]
    rest = api.get(f"/departments/11/steps?limit=2&after={first['next_after']}", "officer").json()
    assert (rest["total"], rest["next_after"]) == (None, None)
    assert [i["receipt_no"] for i in rest["items"]] == [cases[2].receipt_no]
    assert problem(api.get(f"/departments/11/steps?after={first['next_after']}&offset=2", "officer"),
                   422)["field"] == "offset"
    assert problem(api.get("/departments/11/steps?after=nonsense", "officer"), 422)["field"] == "after"
    api.advance(api.step(cases[0].id), "assigned")
    assigned = api.get("/departments/11/steps?state=assigned", "officer").json()
    assert [i["case_id"] for i in assigned["items"]] == [cases[0].id]
    assert api.get("/departments/11/steps?overdue=true", "officer").json()["total"] == 0
    assert api.get("/departments/11/steps?due_within_days=10", "officer").json()["total"] == 0
    assert api.get("/departments/11/steps?due_within_days=28", "officer").json()["total"] == 3
    api.clock.set_local(date(2026, 3, 31))
    late = api.get("/departments/11/steps?overdue=true", "officer").json()
    assert late["total"] == 3 and all(i["overdue"] for i in late["items"])
    assert api.get("/departments/09/steps", "officer_09").json()["total"] == 0  # household steps still pending
    assert problem(api.get("/departments/11/steps?state=bogus", "officer"), 422)["field"] == "state"
    assert problem(api.get("/departments/11/steps?limit=0", "officer"), 422)["field"] == "limit"
    assert problem(api.get("/departments/1/steps", "admin"), 422)["field"] == "code"
    assert api.get("/departments/11/steps", "supervisor_other").json()["total"] == 0


def test_step_detail_shows_only_declared_fields_and_is_audited(api: Api) -> None:
    case = api.case()
    birth = api.step(case.id, "birth_plan_registration")
    detail = api.get(f"/steps/{birth.id}", "admin").json()
    assert [f["id"] for f in detail["fields"]] == ["groom_name", "bride_name"]
    assert GROOM not in str(detail) and "13800000000" not in str(detail)
    registration = api.get(f"/steps/{api.step(case.id).id}", "officer").json()
    values = {f["id"]: f["value"] for f in registration["fields"]}
    assert values == {"groom_name": "测试甲", "groom_id_number": GROOM, "bride_name": "测试乙",
                      "bride_id_number": BRIDE, "previously_married": False}
    assert registration["item_legal_basis"] and registration["status"]["item_name"] == "内地居民结婚登记"
    assert "离婚证或法院判决离婚证明材料" not in [m["name"] for m in registration["materials"]]  # condition false
    with api.session() as session:
        records = session.execute(select(AccessRecord.actor_id, AccessRecord.step_id, AccessRecord.what)
                                  .order_by(AccessRecord.id)).all()
    assert records == [(api.actor_ids["admin"], birth.id, "step_detail"),
                       (api.actor_ids["officer"], api.step(case.id).id, "step_detail")]
    assert problem(api.get("/steps/" + "f" * 32, "admin"), 404)["field"] == "step_id"


def test_for_each_step_detail_shows_its_own_entry(api: Api) -> None:
    with api.session() as session:
        case = accept_case(session, api.runtime, bundle_id="post_death", applicant=Applicant(CHILD, "person", "测试丙"),
                           answers=post_death_answers(), actor=CLERK)
        second = next(s for s in case.steps if s.step_key == "small_deposit_withdrawal" and s.instance == 1)
    detail = api.get(f"/steps/{second.id}", "admin").json()
    values = {f["id"]: f["value"] for f in detail["fields"]}
    assert values["heir_name"] == "测试戊" and values["deceased_name"] == "测试丁"
    assert detail["status"]["instance_label"] == "测试戊"


def test_department_work_through_the_api(api: Api) -> None:
    case = api.case()
    step = api.step(case.id)
    claimed = api.post(f"/steps/{step.id}/claim", "officer", {"version": step.version})
    assert claimed.status_code == 200 and claimed.json()["state"] == "assigned"
    started = api.post(f"/steps/{step.id}/start", "officer", {"version": claimed.json()["version"]}).json()
    asked = api.post(f"/steps/{step.id}/request-supplement", "officer",
                     {"version": started["version"], "materials": ["合影照片", "户口簿"], "note": "近三个月内"}).json()
    assert asked["state"] == "supplement_requested" and asked["supplement_requested"] == ["合影照片", "户口簿"]
    view = api.get(f"/cases/{case.id}", "applicant_own").json()
    assert view["state"] == "supplement_requested" and view["clock_stopped"] is True
    # until the upload forms, the hand-in is a window's record of the paper originals
    paper = problem(api.post(f"/cases/{case.id}/supplements", "applicant_own",
                             {"step_id": step.id, "materials": ["合影照片"]}), 403)
    assert paper["field"] == "paper"
    partial = api.post(f"/cases/{case.id}/supplements", "clerk", {"step_id": step.id, "materials": ["合影照片"]})
    assert partial.status_code == 200 and partial.json()["state"] == "supplement_requested"  # partial stays partial
    handed = api.post(f"/cases/{case.id}/supplements", "clerk",
                      {"step_id": step.id, "materials": ["户口簿"], "expected_version": partial.json()["version"]})
    assert handed.status_code == 200 and handed.json()["state"] == "supplement_requested"
    other_case = api.case(**another_couple())
    assert problem(api.post(f"/cases/{other_case.id}/supplements", "applicant_own",
                            {"step_id": step.id, "materials": ["合影照片"]}), 404)["field"] == "step_id"
    received = confirm_receipt(api, step.id)
    assert received.state == "in_progress"
    done = api.post(f"/steps/{step.id}/complete", "officer",
                    {"version": received.version, "outputs": {"certificate_no": "J-1"}})
    assert done.status_code == 200 and done.json()["state"] == "done"
    after = {s["step_key"]: s for s in api.get(f"/cases/{case.id}", "applicant_own").json()["steps"]}
    assert after["marital_status_change"]["state"] == "ready" and after["marital_status_change"]["waiting_on"] == []
    again = problem(api.post(f"/steps/{step.id}/complete", "officer", {"version": done.json()["version"]}), 409)
    assert again["type"] == "/problems/illegal_transition"


def test_reject_needs_a_reason_and_withdraw_cancels(api: Api) -> None:
    case = api.case()
    step = api.advance(api.step(case.id), "in_progress")
    assert problem(api.post(f"/steps/{step.id}/reject", "officer", {"version": step.version, "reason": ""}), 422)[
        "field"] == "reason"
    rejected = api.post(f"/steps/{step.id}/reject", "officer", {"version": step.version, "reason": "材料不符"})
    assert rejected.status_code == 200 and rejected.json()["reason"] == "材料不符"
    other = api.case(**another_couple())
    withdrawn = api.post(f"/cases/{other.id}/withdraw", "applicant_own", {"reason": "不再需要"})
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"
    assert {s["state"] for s in withdrawn.json()["steps"]} == {"cancelled"}
    assert problem(api.post(f"/cases/{other.id}/withdraw", "applicant_own", {}), 409)["type"] == \
        "/problems/illegal_transition"


def test_stale_version_is_409_and_changes_nothing(api: Api) -> None:
    case = api.case()
    step = api.step(case.id)
    stale = problem(api.post(f"/steps/{step.id}/claim", "officer", {"version": step.version - 1}), 409)
    assert stale["type"] == "/problems/stale_version" and stale["field"] == "version"
    assert api.step(case.id).version == step.version
    assert api.post(f"/steps/{step.id}/claim", "officer", {"version": step.version}).status_code == 200
    assert problem(api.post(f"/steps/{step.id}/start", "officer", {"version": step.version}), 409)["field"] == "version"
    assert problem(api.post(f"/steps/{step.id}/start", "officer", {"version": "x"}), 422)["field"] == "version"
    assert problem(api.post(f"/steps/{step.id}/start", "officer", {}), 422)["field"] == "version"


def test_concurrent_completion_one_wins_one_gets_409(api: Api) -> None:
    case = api.case()
    step = api.advance(api.step(case.id), "in_progress")
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def complete(n: int) -> None:
        barrier.wait()
        results.append(api.post(f"/steps/{step.id}/complete", "officer",
                                {"version": step.version, "outputs": {"certificate_no": f"J-{n}"}}))

    threads = [threading.Thread(target=complete, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [200, 409]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["type"] == "/problems/stale_version"
    winner = next(r for r in results if r.status_code == 200).json()
    with api.session() as session:
        stored = session.get_one(Step, step.id)
        assert stored.state == "done" and stored.version == winner["version"]
        released = session.scalars(select(Step.state).where(Step.case_id == case.id,
                                                            Step.step_key == "marital_status_change")).one()
        assert released == "ready"


def test_tokens_missing_invalid_revoked_expired_are_401(api: Api) -> None:
    from engine.people.tokens import issue_token, revoke_token

    case = api.case()
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dXNlcjpwYXNz"},
                    {"Authorization": "Bearer"}):
        response = api.client.get(f"/cases/{case.id}", headers=headers)
        body = problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer") and body["field"] == "Authorization"
    with api.session() as session:
        short = issue_token(session, role="clerk", region="430102", now=api.clock.now(),
                            expires_at=api.clock.now() + timedelta(hours=1))
        revoked = issue_token(session, role="clerk", region="430102", now=api.clock.now())
        revoke_token(session, token=revoked, now=api.clock.now())
    assert api.client.get(f"/cases/{case.id}", headers={"Authorization": f"Bearer {short}"}).status_code == 200
    assert api.client.get(f"/cases/{case.id}", headers={"Authorization": f"Bearer {revoked}"}).status_code == 401
    api.clock.advance(hours=2)
    assert api.client.get(f"/cases/{case.id}", headers={"Authorization": f"Bearer {short}"}).status_code == 401
    assert api.get("/bundles", None).status_code == 200


def test_supervision_cards_and_stats(api: Api) -> None:
    cases = [api.case(**(another_couple() if i else {})) for i in range(2)]
    api.advance(api.step(cases[0].id), "supplement_requested")  # its clock is stopped: no card
    api.clock.set_local(date(2026, 3, 31))
    with api.session() as session:
        issued = issue_cards(session, api.runtime)
    assert {(c.colour, c.step_id is None) for c in issued} == {("yellow", False), ("yellow", True), ("red", True)}
    cards = api.get("/supervision/cards", "supervisor").json()
    assert {c["receipt_no"] for c in cards} == {cases[1].receipt_no}
    step_card = next(c for c in cards if c["step_key"] == "marriage_registration")
    assert step_card["department"] == "11" and step_card["working_days_overdue"] == 1
    assert {c["colour"] for c in api.get("/supervision/cards?colour=red", "admin").json()} == {"red"}
    assert api.get("/supervision/cards", "supervisor_other").json() == []
    assert problem(api.get("/supervision/cards?colour=green", "admin"), 422)["field"] == "colour"
    stats = api.get("/supervision/stats", "supervisor").json()
    loads = {d["department"]: d for d in stats["departments"]}
    assert loads["11"] == {"department": "11", "department_name": "民政局", "open": 2, "overdue": 1}
    assert stats["cases"] == {"accepted": 1, "supplement_requested": 1}
    assert stats["open_cards"] == {"yellow": 1, "red": 1}  # the case's red card supersedes its yellow one
    empty = api.get("/supervision/stats", "supervisor_other").json()
    assert empty["departments"] == [] and empty["cases"] == {}


def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    assert problem(api.get("/nowhere", None), 404)["type"] == "/problems/not_found"
    assert problem(api.client.delete("/bundles"), 405)["status"] == 405
    # GET and POST of one path are two routes: a wrong method names both (RFC 9110 §15.5.6).
    wrong = api.client.options("/cases/abc/ratings")
    assert problem(wrong, 405)["type"] == "/problems/method_not_allowed"
    assert wrong.headers["Allow"] == "GET, POST"
    assert api.get("/openapi.json", None).json()["components"]["schemas"]["CaseCreate"]["examples"]


ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=20)  # control characters and surrogates too
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)
RAW_BODIES = [
    b"", b"{", b"[]", b"null", b"123", b'"text"', b'{"version": NaN}', b'{"version": Infinity}',
    b'{"version": 1e999}', b"\xff\xfe\x00", b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b'{"version": 1, "outputs": {"x": NaN}}', b'{"version": 1, "reason": "\\u0000"}',
    b'{"version": 99999999999999999999999999999}', b'{"version": true}', b'{"version": 1.5}',
    b'{"version": 1, "reason": "\\ud800"}', b'{"\\udfff": 1}',
]


def _mutations(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A valid body with one key replaced, dropped or added, or any JSON value at all."""
    keys = sorted(valid)
    replaced = st.tuples(st.sampled_from(keys), JSON).map(lambda kv: {**valid, kv[0]: kv[1]})
    dropped = st.sampled_from(keys).map(lambda k: {n: v for n, v in valid.items() if n != k})
    added = st.tuples(st.text(max_size=8), JSON).map(lambda kv: {**valid, kv[0]: kv[1]})
    return replaced | dropped | added | JSON


def test_malformed_bodies_never_cause_a_500(api: Api) -> None:
    case = api.case()
    step = api.advance(api.step(case.id), "in_progress")
    other = api.step(case.id, "birth_plan_registration")
    targets: list[tuple[str, str, dict[str, Any]]] = [
        ("/cases", "clerk", case_body()),
        (f"/cases/{case.id}/supplements", "applicant_own", {"step_id": step.id, "materials": ["a"], "expected_version": 1}),
        (f"/cases/{case.id}/withdraw", "applicant_own", {"reason": "x"}),
        (f"/steps/{other.id}/claim", "officer", {"version": 1}),
        (f"/steps/{step.id}/complete", "officer", {"version": 1, "outputs": {"a": 1}}),
        (f"/steps/{step.id}/reject", "officer", {"version": 1, "reason": "x"}),
        (f"/steps/{step.id}/request-supplement", "officer", {"version": 1, "materials": ["a"], "note": ""}),
    ]

    def check(response: Any) -> None:
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            problem(response, response.status_code)

    for url, who, _ in targets:
        for raw in RAW_BODIES:
            response = api.client.post(url, content=raw, headers={**api.auth(who), "Content-Type": "application/json"})
            assert problem(response, 422)["fields"], (url, raw[:40])
        plain = api.client.post(url, content=b"version=1", headers={**api.auth(who), "Content-Type": "text/plain"})
        assert problem(plain, 422)["field"] == "body"

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(target=st.sampled_from(targets), data=st.data())
    def fuzz(target: tuple[str, str, dict[str, Any]], data: st.DataObject) -> None:
        url, who, valid = target
        body = json.dumps(data.draw(_mutations(valid)), allow_nan=True).encode()
        check(api.client.post(url, content=body, headers={**api.auth(who), "Content-Type": "application/json"}))

    fuzz()
    # otherwise valid requests carrying text that cannot be encoded or stored
    for text in ("\ud800", "a\x00b", "\x1b[31m"):
        named = case_body()
        named["applicant"]["name"] = text
        for url, who, body in [("/cases", "clerk", named), ("/cases", "clerk", case_body(groom_name=text)),
                               (f"/steps/{step.id}/reject", "officer", {"version": step.version, "reason": text}),
                               (f"/steps/{step.id}/complete", "officer", {"version": step.version, "outputs": {text: 1}})]:
            response = api.client.post(url, content=json.dumps(body).encode(),
                                       headers={**api.auth(who), "Content-Type": "application/json"})
            assert response.status_code == 422, (url, text, response.text)
    for query in ("limit=-1", "limit=abc", "offset=1e9", "due_within_days=99999999999", "state=%00", "overdue=maybe"):
        check(api.get(f"/departments/11/steps?{query}", "officer"))
    for path in ("/cases/%00", "/steps/" + "g" * 32, "/bundles/%F0%9F%98%80", "/departments/%00/steps"):
        check(api.get(path, "admin"))


def test_the_applicant_sees_each_finished_steps_result_and_their_own_certificate_number(api: Api) -> None:
    case = api.case()
    step = api.advance(api.step(case.id), "in_progress")
    done = api.post(f"/steps/{step.id}/complete", "officer",
                    {"version": step.version, "outputs": {"number": "J430102-2026-000123"}})
    assert done.status_code == 200, done.text
    steps = {s["step_key"]: s for s in api.get(f"/cases/{case.id}", "applicant_own").json()["steps"]}
    # one marriage certificate per spouse: the applicant reads the result and the number of their own
    # (the spouse's certificate is another person's licence, issue 7); the window sees both
    assert steps["marriage_registration"]["result"] == "结婚证 J430102-2026-000123-1"
    assert steps["marital_status_change"]["result"] == ""
    window = {s["step_key"]: s for s in api.get(f"/cases/{case.id}", "clerk").json()["steps"]}
    assert window["marriage_registration"]["result"] == "结婚证 J430102-2026-000123-1 J430102-2026-000123-2"
