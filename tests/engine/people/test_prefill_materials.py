"""Prefill of issue 10's materials: supply mode 5 (个人中心), alternatives (any_of) waived by any
one of them, and bundle materials classified once whichever steps apply."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from engine.people.licences import store_licence
from engine.people.prefill import PrefillContext, prefill
from engine.runtime import Runtime
from engine.spec.models import BundleSpec
from tests.engine.sample_people import BRIDE, GROOM

PHOTO = "3张2寸男女双方近期半身免冠合影照片"


def _spec(runtime: Runtime, *, bride_option_licence: str = "L2000016") -> BundleSpec:
    data = runtime.registry.get("marriage").canonical()
    data["version"] += 1
    data["materials"] = [
        {"name": "申请人居民身份证", "supply": 2, "licence": "L2000016"},
        {"name": "个人简历", "supply": 5},
    ]
    first = data["steps"][0]
    first["materials"] = [*first.get("materials", []), {
        "name": "女方身份证明", "supply": 4,
        "any_of": [{"name": "女方居民身份证", "supply": 2, "licence": bride_option_licence,
                    "holder_field": "bride_id_number"},
                   {"name": "女方户口注销证明", "supply": 4}],
    }]
    return BundleSpec.model_validate(data)


@pytest.fixture
def ids(session: Session, runtime: Runtime) -> None:
    for holder, number in ((GROOM, "ID-G"), (BRIDE, "ID-B")):
        store_licence(session, type_code="L2000016", holder_id=holder, number=number, attributes={"name": "测试"},
                      issuer="长沙市公安局", valid_from=date(2020, 1, 1), valid_to=date(2040, 1, 1),
                      now=runtime.clock.now())
    session.commit()


def _prefill(session: Session, runtime: Runtime, spec: BundleSpec):  # type: ignore[no-untyped-def]
    answers = {"groom_id_number": GROOM, "bride_id_number": BRIDE, "both_hunan_household": False}
    trying = runtime.with_draft(spec)
    return prefill(session, PrefillContext(spec, trying.registry, GROOM, answers, runtime.today()))


def test_bundle_materials_are_classified_once(session: Session, runtime: Runtime, ids: None) -> None:
    result = _prefill(session, runtime, _spec(runtime))
    shared = [m for m in result.materials if m.step == ""]
    assert [(m.name, m.waived) for m in shared] == [("申请人居民身份证", True), ("个人简历", True)]
    assert [m.name for m in result.materials].count("申请人居民身份证") == 1
    assert shared[0].reason.startswith("已关联电子证照")
    assert shared[1].reason == "取自申请人个人中心已上传的材料 (taken from the applicant's uploads in the personal centre)"


def test_an_alternative_found_waives_the_material(session: Session, runtime: Runtime, ids: None) -> None:
    result = _prefill(session, runtime, _spec(runtime))
    [status] = [m for m in result.materials if m.name == "女方身份证明"]
    assert status.waived and status.step == "marriage_registration"
    assert status.reason.startswith("以「女方居民身份证」代替 (satisfied by 女方居民身份证): 已关联电子证照")
    assert PHOTO in {m.name for m in result.to_supply}


def test_no_alternative_found_leaves_the_material_to_supply(session: Session, runtime: Runtime, ids: None) -> None:
    result = _prefill(session, runtime, _spec(runtime, bride_option_licence="L2000012"))  # no 离婚证 in the store
    [status] = [m for m in result.materials if m.name == "女方身份证明"]
    assert not status.waived
    assert status.reason == "任选其一提交：女方居民身份证／女方户口注销证明 (supply any one of these)"
