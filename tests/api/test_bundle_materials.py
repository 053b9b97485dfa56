"""Issue 10's materials and chosen items through the adapters: GET /bundles/{id} (the bundle's own
materials, alternatives, supply mode 5, the item each answer chooses), POST /prefill and
GET /steps/{id} (alternatives, the whole bundle's materials), the OpenAPI components (no schema
shadowed, supply modes 1-5 from the engine's labels), and the case page and receipt (the text a
user reads), on every backend."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from engine.db.models import ApiToken, Case
from engine.machine.intake import Applicant, accept_case
from engine.people.licences import store_licence
from engine.people.tokens import issue_token
from engine.records.labels import LABELS, SUPPLY_MODE_LABELS
from engine.runtime import Runtime, publish_bundles
from engine.spec.models import SupplyMode
from engine.time.clock import FixedClock
from tests.api.conftest import CALLERS, Api
from tests.conftest import Database
from tests.engine.records.test_documents import section, text
from tests.engine.records.test_material_display import (
    BIRTH_PLAN_FORM,
    BRIDE_PROOF,
    COUNTY,
    ID_CARD,
    RESUME,
    land_use_case,
    marriage_with_materials,
)
from tests.engine.sample_people import BRIDE, CLERK, GROOM, marriage_answers

PERSONAL_CENTRE = SUPPLY_MODE_LABELS[SupplyMode.PERSONAL_CENTRE]
E_LICENCE = SUPPLY_MODE_LABELS[SupplyMode.E_LICENCE]
APPLICANT_SUPPLIES = SUPPLY_MODE_LABELS[SupplyMode.APPLICANT]
ALTERNATIVES = [
    {"name": "女方居民身份证", "code": None, "supply": 2, "supply_label": E_LICENCE, "licence": "L2000016"},
    {"name": "女方户口注销证明", "code": None, "supply": 4, "supply_label": APPLICANT_SUPPLIES, "licence": None},
]


@pytest.fixture
def draft_api(db: Database, runtime: Runtime, clock: FixedClock) -> Iterator[Api]:
    """The API serving the marriage bundle with materials of its own and an alternative (a draft),
    with both spouses' ID cards in the licence store and a token for every caller."""
    trying = runtime.with_draft(marriage_with_materials(runtime))
    with db.session() as session:
        publish_bundles(session, trying)
        for holder, number, name in ((GROOM, "ID-G", "测试甲"), (BRIDE, "ID-B", "测试乙")):
            store_licence(session, type_code="L2000016", holder_id=holder, number=number, attributes={"name": name},
                          issuer="长沙市公安局", valid_from=date(2020, 1, 1), valid_to=date(2040, 1, 1), now=clock.now())
        tokens = {who: issue_token(session, role=role, subject=subject, department=department, region=region,
                                   label=who, now=clock.now())
                  for who, (role, subject, department, region) in CALLERS.items()}
        actor_ids = {label: token_id for token_id, label in session.execute(select(ApiToken.id, ApiToken.label))}
        session.commit()
    with TestClient(create_app(sessions=db.sessions, runtime=trying)) as client:
        yield Api(client=client, db=db, runtime=trying, clock=clock, tokens=tokens, actor_ids=actor_ids)


def no_birth_plan_case(api: Api) -> Case:
    with api.session() as session:
        return accept_case(session, api.runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                           answers=marriage_answers(register_birth_plan=False), actor=CLERK)


def materials_named(materials: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in materials}


# --- GET /bundles/{id} --------------------------------------------------------------------------


def test_the_bundle_form_lists_the_bundles_own_materials_and_the_alternatives(draft_api: Api) -> None:
    form = draft_api.get("/bundles/marriage", None).json()
    assert [(m["name"], m["supply"], m["supply_name"]) for m in form["materials"]] == [
        (ID_CARD, 2, E_LICENCE), (RESUME, 5, PERSONAL_CENTRE)]
    registration = next(s for s in form["steps"] if s["id"] == "marriage_registration")
    proof = materials_named(registration["materials"])[BRIDE_PROOF]
    assert proof["alternatives"] == ALTERNATIVES
    assert all(m["alternatives"] == [] for m in form["materials"])


def test_the_bundle_form_lists_the_item_each_answer_chooses(api: Api) -> None:
    form = api.get("/bundles/land_use", None).json()
    step = next(s for s in form["steps"] if s["id"] == "land_preapproval")
    assert (step["item"], step["item_name"]) == ("15-YDYSSJ", "建设项目用地预审与选址意见书办理（省级权限）")
    assert step["item_choice"]["by"] == "land_approval_level"
    assert [(o["answer"], o["item"], o["item_name"], o["department_name"]) for o in step["item_choice"]["options"]] == [
        ("province", "15-YDYSSJ", "建设项目用地预审与选址意见书办理（省级权限）", "自然资源和规划局"),
        ("city", "15-YDYSSQ", "建设项目用地预审与选址意见书办理（设区的市级权限）", "自然资源和规划局"),
        ("county", "15-YDYSXJ", "建设项目用地预审与选址意见书办理（县级权限）", "自然资源和规划局"),
    ]
    assert next(s for s in form["steps"] if s["id"] == "project_ratification")["item_choice"] is None


def test_a_cases_steps_name_the_item_its_answer_chose(api: Api) -> None:
    with api.session() as session:
        case = land_use_case(session, api.runtime, land_approval_level="county")
    steps = {s["step_key"]: s for s in api.get(f"/cases/{case.id}", "clerk").json()["steps"]}
    assert (steps["land_preapproval"]["item"], steps["land_preapproval"]["item_name"]) == ("15-YDYSXJ", COUNTY)
    assert steps["project_ratification"]["waiting_on"] == [COUNTY]
    page = text(api.get(f"/ui/cases/{case.id}", "clerk").text)
    assert COUNTY in page and "省级权限" not in page


# --- POST /prefill, GET /steps/{id} -------------------------------------------------------------


def test_prefill_lists_the_bundles_materials_once_and_the_alternatives(draft_api: Api) -> None:
    body = {"bundle_id": "marriage", "applicant": {"id": GROOM, "kind": "person"},
            "answers": {"groom_id_number": GROOM, "bride_id_number": BRIDE, "register_birth_plan": False}}
    answer = draft_api.post("/prefill", "clerk", json=body)
    assert answer.status_code == 200, answer.text
    waived = answer.json()["waived"]
    shared = [m for m in waived if m["step"] == ""]
    assert [(m["name"], m["supply"], m["supply_label"]) for m in shared] == [
        (ID_CARD, 2, E_LICENCE), (RESUME, 5, PERSONAL_CENTRE)]
    assert [m["name"] for m in waived + answer.json()["to_supply"]].count(ID_CARD) == 1
    proof = materials_named(waived)[BRIDE_PROOF]
    assert proof["step"] == "marriage_registration" and proof["alternatives"] == ALTERNATIVES
    assert proof["reason"].startswith("以「女方居民身份证」代替")


def test_a_steps_materials_carry_their_alternatives(draft_api: Api) -> None:
    case = no_birth_plan_case(draft_api)
    step = draft_api.step(case.id)
    detail = draft_api.get(f"/steps/{step.id}", "officer").json()
    proof = materials_named(detail["materials"])[BRIDE_PROOF]
    assert proof["alternatives"] == ALTERNATIVES
    assert (proof["supply"], proof["supply_label"], proof["waived"]) == (4, APPLICANT_SUPPLIES, True)


# --- OpenAPI ------------------------------------------------------------------------------------


def test_no_response_schema_is_shadowed_and_supply_lists_every_mode(api: Api) -> None:
    schemas = api.get("/openapi.json", None).json()["components"]["schemas"]
    assert not [name for name in schemas if "__" in name]  # FastAPI's names for two models of one name
    assert {"PrefilledFieldOut", "PrefillMaterialOut", "StepMaterialOut", "MaterialAlternativeOut"} <= set(schemas)
    prefill = schemas["PrefillOut"]["properties"]
    assert prefill["fields"]["items"]["$ref"].endswith("/PrefilledFieldOut")
    assert prefill["waived"]["items"]["$ref"].endswith("/PrefillMaterialOut")
    for name in ("FormMaterialOut", "PrefillMaterialOut", "StepMaterialOut", "MaterialAlternativeOut"):
        supply = schemas[name]["properties"]["supply"]
        assert supply["enum"] == [1, 2, 3, 4, 5], name
        for mode, label in SUPPLY_MODE_LABELS.items():
            assert f"{int(mode)} {label}" in supply["description"], name


# --- the case page and the receipt --------------------------------------------------------------


def test_the_case_page_lists_the_bundles_materials_when_their_step_is_skipped(draft_api: Api) -> None:
    case = no_birth_plan_case(draft_api)
    page = draft_api.get(f"/ui/cases/{case.id}", "applicant_own")
    assert page.status_code == 200, page.text
    materials = section(page.text, "申请材料 Materials", "撤回申请")
    assert "无需办理：" in text(page.text) and "生育登记" in text(page.text)  # the skipped step
    rows = re.findall(r'<tr data-material="([^"]+)">(.*?)</tr>', page.text, flags=re.S)
    row = {name: text(html).strip() for name, html in rows}
    assert row[ID_CARD].startswith(ID_CARD) and f"{E_LICENCE} 免提交 waived" in row[ID_CARD]
    # the last column lists the files handed in (none: —), the one before it what needs the material
    assert row[ID_CARD].endswith(f"{LABELS.whole_bundle} —")
    assert PERSONAL_CENTRE in row[RESUME] and row[RESUME].endswith(f"{LABELS.whole_bundle} —")
    assert "任选其一：女方居民身份证 或 女方户口注销证明" in row[BRIDE_PROOF]
    assert f"女方居民身份证：{E_LICENCE} 或 女方户口注销证明：{APPLICANT_SUPPLIES}" in row[BRIDE_PROOF]
    assert "需提交 to supply" in row[BRIDE_PROOF]  # the applicant is told nothing of the bride's ID card
    assert BIRTH_PLAN_FORM not in materials


def test_the_receipt_page_lists_the_materials_as_they_stand(draft_api: Api) -> None:
    case = no_birth_plan_case(draft_api)
    page = draft_api.get(f"/ui/cases/{case.id}/receipt", "clerk")
    assert page.status_code == 200, page.text
    exempt = section(page.text, "免提交 waived", "需提交 to supply")
    to_supply = section(page.text, "需提交 to supply", "五、温馨提示")
    assert ID_CARD in exempt and RESUME in exempt and PERSONAL_CENTRE in exempt
    assert "任选其一：女方居民身份证 或 女方户口注销证明" in exempt  # the clerk's window: the bride's card is linked
    assert "3张2寸男女双方近期半身免冠合影照片" in to_supply
    assert BIRTH_PLAN_FORM not in exempt + to_supply
