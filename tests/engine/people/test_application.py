"""Application validation: every problem names its field, in Chinese and English."""

from __future__ import annotations

import pytest

from engine.people.application import validate_answers
from engine.errors import InvalidApplication
from engine.spec.loader import BundleRegistry
from tests.engine.sample_people import BRIDE, CHILD, marriage_answers, post_death_answers


def problems(registry: BundleRegistry, bundle_id: str, answers: dict[str, object]) -> dict[str, str]:
    with pytest.raises(InvalidApplication) as caught:
        validate_answers(registry.get(bundle_id), registry.fields, answers)
    for problem in caught.value.problems:
        assert problem.message_zh and problem.message_en
    return {p.field: p.code for p in caught.value.problems}


def test_valid_answers_are_normalised(registry: BundleRegistry) -> None:
    cleaned = validate_answers(registry.get("post_death"), registry.fields,
                               post_death_answers(applicant_phone="138 0000 0000", death_date="2026-02-26"))
    assert cleaned["applicant_phone"] == "13800000000"
    assert cleaned["death_date"] == "2026-02-26"
    assert cleaned["heirs"][0]["heir_id_number"] == CHILD


def test_every_bad_field_is_named_at_once(registry: BundleRegistry) -> None:
    bad = marriage_answers(groom_id_number=BRIDE[:-1] + ("0" if BRIDE[-1] != "0" else "1"), bride_name="",
                           applicant_phone="12345", previously_married="maybe", receiving_household_type="castle",
                           favourite_colour="blue")
    assert problems(registry, "marriage", bad) == {
        "groom_id_number": "id_number.checksum",
        "bride_name": "field.required",
        "applicant_phone": "phone.format",
        "previously_married": "boolean.format",
        "receiving_household_type": "choice.unknown",
        "favourite_colour": "field.unknown",
    }


def test_list_entries_are_checked_one_by_one(registry: BundleRegistry) -> None:
    answers = post_death_answers(heirs=[{"heir_name": "测试丙", "heir_id_number": "430105", "heir_bank": "示例银行"},
                                        {"heir_name": "", "heir_id_number": CHILD, "heir_bank": "示例银行", "x": 1}])
    assert problems(registry, "post_death", answers) == {
        "heirs[0].heir_id_number": "id_number.length",
        "heirs[1].heir_name": "field.required",
        "heirs[1].x": "field.unknown",
    }


def test_conditional_fields_are_only_required_when_they_apply(registry: BundleRegistry) -> None:
    answers = marriage_answers(both_hunan_household=False)
    del answers["move_household"], answers["receiving_household_type"]
    cleaned = validate_answers(registry.get("marriage"), registry.fields, answers)
    assert "move_household" not in cleaned
    answers["both_hunan_household"] = True
    # the household type is only asked once the move is wanted
    assert problems(registry, "marriage", answers) == {"move_household": "field.required"}
    answers["move_household"] = True
    assert problems(registry, "marriage", answers) == {"receiving_household_type": "field.required"}


def test_a_quantity_cannot_be_negative_and_an_investment_prints_in_its_unit(registry: BundleRegistry) -> None:
    """Issue 15: −5 tonnes of coal was accepted, and 项目总投资（万元） printed as “50000.00 元”."""
    from engine.records.documents import _field_view

    fields = registry.fields
    found = problems(registry, "land_use", {"annual_energy_tce": -5, "annual_electricity_10k_kwh": "0"})
    assert found["annual_energy_tce"] == "integer.too_small"
    assert "annual_electricity_10k_kwh" not in found  # zero is a quantity
    view = _field_view(fields["total_investment"], fields, "50000.00", mask=False)
    assert view.unit == "万元"
    assert _field_view(fields["company_name"], fields, "x", mask=False).unit == ""
