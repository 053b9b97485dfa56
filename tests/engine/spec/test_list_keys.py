"""The loader on lists, outputs and licences: entry.* and steps.* references, an item chosen by an
answer, licence validity and revocation; each problem names file, line and step, in both languages."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.spec.models import StepSpec
from tests.engine.spec.test_loader import FIRST, SECOND, bundle, expect_problem, load, plus, write



PER_HEIR = """\
- id: per_heir
  item: 99-XECK
  for_each: heirs
  time_limit: {working_days: 5}
"""


def test_valid_references_load(bundles: Path) -> None:
    text = bundle(
        plus(PER_HEIR, "when: {field: entry.heir_name, eq: 测试丙}\n"),
        plus(SECOND, """\
            depends_on: [first]
            when: {field: steps.first.outputs.result, eq: 准予}
            revokes: {licence: L2000016}
        """),
        plus(FIRST, """\
            outputs: {licence: L2000025, valid_for: {years: 10}}
        """),
    )
    write(bundles, "sample.yaml", text)
    registry = load(bundles)
    second = registry.get("sample").step("second")
    assert second.revokes[0].licence == "L2000016" and second.revokes[0].holder_field is None
    assert registry.get("sample").step("first").outputs.valid_for is not None


def test_entry_needs_a_for_each_step(bundles: Path) -> None:
    text = bundle(plus(FIRST, "when: {field: entry.heir_name, eq: x}\n"))
    problem = expect_problem(bundles, text, "entry.* needs a for_each step", "when:", "first")
    assert "只能用于 for_each 步骤" in problem.problem


def test_entry_field_must_belong_to_the_list(bundles: Path) -> None:
    text = bundle(plus(PER_HEIR, "when: {field: entry.heir_bank, eq: x}\n"))
    expect_problem(bundles, text, "'heir_bank' is not an item field of 'heirs'", "when:", "per_heir")


def test_outputs_of_a_step_that_does_not_precede(bundles: Path) -> None:
    text = bundle(FIRST, plus(SECOND, "when: {field: steps.first.outputs.result, eq: x}\n"))
    problem = expect_problem(bundles, text, "is not a step this step waits for", "when:", "second")
    assert "不是本步骤的前置步骤" in problem.problem


def test_outputs_of_an_unknown_step(bundles: Path) -> None:
    text = bundle(FIRST, plus(SECOND, "depends_on: [first]\nwhen: {field: steps.frist.outputs.result, eq: x}\n"))
    expect_problem(bundles, text, "step 'frist' is not a step this step waits for", "when:", "second")


def test_outputs_reference_shape(bundles: Path) -> None:
    text = bundle(FIRST, plus(SECOND, "depends_on: [first]\nwhen: {field: steps.first.result, eq: x}\n"))
    expect_problem(bundles, text, "write steps.<step id>.outputs.<name>", "when:", "second")


def test_outputs_of_a_per_entry_step_from_a_single_step(bundles: Path) -> None:
    text = bundle(PER_HEIR, plus(SECOND, "depends_on: [per_heir]\nwhen: {field: steps.per_heir.outputs.x, eq: 1}\n"))
    expect_problem(bundles, text, "runs once per entry of 'heirs'", "when:", "second")


def test_entry_and_steps_only_in_a_steps_when(bundles: Path) -> None:
    text = bundle(plus(PER_HEIR, """\
        materials:
          - {name: 证明, supply: 4, when: {field: entry.heir_name, eq: x}}
    """))
    problem = expect_problem(bundles, text, "only a step's own when may read", "- {name: 证明", "per_heir")
    assert "只有步骤本身的 when" in problem.problem


def test_item_chosen_by_an_answer(bundles: Path) -> None:
    step = """\
- id: certificate
  item: {by: kind, map: {natural: 23-SWZM, other: 09-FZCSW}}
  time_limit: {working_days: 5}
"""
    write(bundles, "sample.yaml", bundle(step))
    spec = load(bundles).get("sample").step("certificate")
    assert spec.item_for({"kind": "other"}) == "09-FZCSW"
    assert spec.item_for({"kind": "natural"}) == "23-SWZM"
    assert spec.item_for({}) is None


@pytest.mark.parametrize(("item", "fragment"), [
    ("{by: married, map: {natural: 23-SWZM}}", "item.by 'married' must be a choice field"),
    ("{by: kind, map: {natural: 23-SWZM, unnatural: 09-FZCSW}}", "'unnatural' is not an option of 'kind'"),
    ("{by: kind, map: {natural: 23-SWZM, other: 99-NOPE}}", "unknown service item '99-NOPE'"),
])
def test_item_map_problems(bundles: Path, item: str, fragment: str) -> None:
    step = f"- id: certificate\n  item: {item}\n  time_limit: {{working_days: 5}}\n"
    expect_problem(bundles, bundle(step), fragment, "item:", "certificate")


def test_revocation_of_an_unknown_licence_type(bundles: Path) -> None:
    text = bundle(plus(FIRST, "revokes: {licence: L9999999}\n"))
    problem = expect_problem(bundles, text, "unknown licence type 'L9999999'", "revokes:", "first")
    assert "未知证照类型" in problem.problem


def test_revocation_holder_must_be_a_field(bundles: Path) -> None:
    text = bundle(plus(FIRST, "revokes: [{licence: L2000016, holder_field: spouse_id}]\n"))
    expect_problem(bundles, text, "holder_field 'spouse_id' is not a field of the bundle", "revokes:", "first")


def test_validity_needs_an_output_licence(bundles: Path) -> None:
    text = bundle(plus(FIRST, "outputs: {result: 证明, valid_for: {years: 5}}\n"))
    expect_problem(bundles, text, "valid_for/valid_until_output need an output licence", "outputs:", "first")


def test_validity_shape() -> None:
    base = {"id": "x", "item": "11-JHDJ", "time_limit": {"working_days": 1}}
    with pytest.raises(ValidationError, match="one of"):
        StepSpec.model_validate({**base, "outputs": {"licence": "L2000025", "valid_for": {"years": 1, "days": 2}}})
    with pytest.raises(ValidationError, match="not both"):
        StepSpec.model_validate({**base, "outputs": {"licence": "L2000025", "valid_for": {"years": 1},
                                                     "valid_until_output": "valid_until"}})
