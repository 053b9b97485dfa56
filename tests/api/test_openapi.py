"""The OpenAPI document says what the API does (issue 7, item 9).

Every operation lists each error status it can answer with the one problem+json schema; the
request schemas carry the text rules the server enforces (patterns, lengths); and what the
schema accepts, the server accepts (``{"version": 1.0}`` is a JSON-Schema integer).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.api.conftest import Api, case_body, problem

PROBLEM_REF = "#/components/schemas/Problem"
PROBLEM_MEDIA = "application/problem+json"

# Statuses that depend on what the engine decides (the others follow from the operation's shape:
# a token 401, a body 413 and 422, parameters 422).
DOMAIN: dict[tuple[str, str], set[int]] = {
    ("get", "/bundles"): set(),
    ("get", "/bundles/{bundle_id}"): {404},
    ("post", "/prefill"): {403, 404},
    ("post", "/cases"): {403, 404, 409},
    ("get", "/cases/{case_id}"): {403, 404},
    ("post", "/cases/{case_id}/supplements"): {403, 404, 409},
    ("post", "/cases/{case_id}/withdraw"): {403, 404, 409},
    ("post", "/cases/{case_id}/handover"): {403, 404, 409, 422},
    ("post", "/uploads"): {403, 404, 413, 422},
    ("get", "/cases/{case_id}/materials"): {404},
    ("get", "/cases/{case_id}/notifications"): {404},
    ("post", "/cases/{case_id}/notifications/{notification_id}/read"): {404},
    ("get", "/files/{file_id}"): {404},
    ("post", "/cases/{case_id}/materials/{material}/check"): {403, 404, 422},
    ("post", "/steps/{step_id}/supplement-files"): {403, 404, 409, 413, 422},
    ("post", "/steps/{step_id}/receive-supplement"): {403, 404, 409},
    ("post", "/cases/{case_id}/deferred/{material}"): {403, 404, 409, 413, 422},
    ("get", "/steps/{step_id}"): {403, 404},
    ("post", "/steps/{step_id}/claim"): {403, 404, 409},
    ("post", "/steps/{step_id}/start"): {403, 404, 409},
    ("post", "/steps/{step_id}/complete"): {403, 404, 409},
    ("post", "/steps/{step_id}/reject"): {403, 404, 409},
    ("post", "/steps/{step_id}/request-supplement"): {403, 404, 409},
    ("get", "/departments/{code}/steps"): {403},
    ("get", "/supervision/cards"): {403},
    ("get", "/supervision/stats"): {403},
    ("get", "/supervision/stats.csv"): {403},
    ("post", "/cases/{case_id}/ratings"): {403, 404, 409},
    ("get", "/cases/{case_id}/ratings"): {403, 404},
    ("get", "/rectifications"): set(),
    ("post", "/rectifications/{followup_id}/rectify"): {403, 404, 409},
    ("post", "/rectifications/{followup_id}/appeal"): {403, 404, 409},
    ("post", "/rectifications/{followup_id}/decide-appeal"): {403, 404, 409},
    ("get", "/explanations"): set(),
    ("post", "/cards/{card_id}/explanation"): {403, 404, 409},
    ("post", "/cards/{card_id}/explanation/accept"): {403, 404, 409},
    ("post", "/cards/{card_id}/explanation/return"): {403, 404, 409, 422},
    ("post", "/complaints"): {403, 404, 409},
    ("get", "/steps/{step_id}/commitment"): {403, 404, 409},
    ("post", "/steps/{step_id}/sign"): {403, 404, 409},
    ("get", "/post-checks"): set(),
    ("post", "/post-checks/{followup_id}/pass"): {403, 404, 409},
    ("post", "/post-checks/{followup_id}/fail"): {403, 404, 409},
    ("get", "/complaints"): set(),
    ("post", "/complaints/{followup_id}/answer"): {403, 404, 409},
    ("post", "/complaints/{followup_id}/reopen"): {403, 404, 409},
    ("get", "/track/{receipt_no}"): {404, 422, 429},
    # 扫码亮证: a licence not the caller's is a 404 (as an unknown id), one revoked or expired a 409.
    ("post", "/licences/{licence_id}/show"): {404, 409},
    ("get", "/verify/licence/{token}"): {404, 422, 429},
}


@pytest.fixture
def spec(api: Api) -> dict[str, Any]:
    schema: dict[str, Any] = api.client.get("/openapi.json").json()
    return schema

# One success status per operation, but for these: a 12345 ticket delivered again is the same
# complaint (200), not a new one (201).
TWO_SUCCESSES = {("post", "/complaints"): {"200", "201"}}


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in spec["paths"].items() for method, op in item.items()]


def test_every_operation_lists_its_error_statuses_with_the_problem_schema(spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        statuses = {int(code) for code in op["responses"] if code.startswith("4")}
        expected = set(DOMAIN.get((method, path), set()))
        if op.get("security"):
            expected.add(401)
        if "requestBody" in op:
            expected |= {413, 422}
        if op.get("parameters"):
            expected.add(422)
        assert statuses >= expected, (method, path, sorted(expected - statuses))
        for code in statuses:
            content = op["responses"][str(code)]["content"]
            assert list(content) == [PROBLEM_MEDIA], (method, path, code)
            assert content[PROBLEM_MEDIA]["schema"] == {"$ref": PROBLEM_REF}, (method, path, code)
        success = {code for code in op["responses"] if code.startswith("2")}
        assert success == TWO_SUCCESSES.get((method, path), success) and len(success) == len(
            TWO_SUCCESSES.get((method, path), {"one"})), (method, path, success)
    assert {(m, p) for m, p, _ in _operations(spec)} >= set(DOMAIN)


def test_token_endpoints_declare_bearer_security_and_public_ones_do_not(spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for method, path, op in _operations(spec):
        assert ("401" in op["responses"]) is bool(op.get("security")), (method, path)
        if (method, path) in DOMAIN:
            assert bool(op.get("security")) is not path.startswith(("/bundles", "/track", "/verify")), (method, path)


def test_the_problem_schema_is_defined_once(spec: dict[str, Any]) -> None:
    problem_schema = spec["components"]["schemas"]["Problem"]
    assert set(problem_schema["required"]) >= {"type", "title", "status", "detail", "errors"}
    error = spec["components"]["schemas"]["ProblemError"]
    assert set(error["properties"]) == {"field", "code", "message_zh", "message_en"}


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["schemas"][name]
    return found


def _string_rule(prop: dict[str, Any]) -> dict[str, Any]:
    """The string branch of a property (optional ones are anyOf [string, null])."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") == "string":
            return branch
    raise AssertionError(prop)


def test_request_schemas_state_the_text_rules(spec: dict[str, Any]) -> None:
    applicant = _schema(spec, "ApplicantIn")["properties"]
    assert re.fullmatch(applicant["id"]["pattern"], "430102199405170112")
    assert re.fullmatch(applicant["id"]["pattern"], "91430100MA4L16JQ9B")
    assert not re.fullmatch(applicant["id"]["pattern"], "4301021994051701")
    for model, name in [("ApplicantIn", "name"), ("RejectIn", "reason"), ("WithdrawIn", "reason"),
                        ("RequestSupplementIn", "note")]:
        rule = _string_rule(_schema(spec, model)["properties"][name])
        assert "maxLength" in rule and rule["pattern"], (model, name)
        assert re.search(rule["pattern"], "普通文本\n第二行") and not re.search(rule["pattern"], "a\x00b"), (model, name)
    materials = _schema(spec, "SupplementIn")["properties"]["materials"]
    assert materials["maxItems"] == 50 and materials["items"]["pattern"]
    assert _schema(spec, "SupplementIn")["properties"]["step_id"]["pattern"] == "^[0-9a-f]{32}$"
    answers = _schema(spec, "CaseCreate")["properties"]["answers"]
    assert answers["type"] == "object" and answers.get("maxProperties")


def test_versions_accept_integral_json_numbers(api: Api) -> None:
    case = api.case()
    step = api.step(case.id)
    for bad in ("1", True, 1.5, None):
        problem(api.post(f"/steps/{step.id}/claim", "officer", {"version": bad}), 422)
    claimed = api.post(f"/steps/{step.id}/claim", "officer", {"version": float(step.version)})
    assert claimed.status_code == 200, claimed.text
    started = api.client.post(f"/steps/{step.id}/start", content=f'{{"version": {claimed.json()["version"]}e0}}',
                              headers={**api.auth("officer"), "Content-Type": "application/json"})
    assert started.status_code == 200, started.text
    assert problem(api.post(f"/steps/{step.id}/start", "officer", {"version": 0.0}), 409)["field"] == "version"


def test_text_rules_in_the_schema_are_the_ones_enforced(api: Api) -> None:
    named = case_body()
    named["applicant"]["name"] = "甲\x07"
    assert problem(api.post("/cases", "clerk", named), 422)["field"] == "applicant.name"
    spaced = case_body()
    spaced["applicant"]["id"] = "4301 0219 9405 1701 12"
    assert problem(api.post("/cases", "clerk", spaced), 422)["field"] == "applicant.id"
