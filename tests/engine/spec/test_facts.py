"""Computed facts as condition nodes, and the loader's checks of ``requires`` rules (issue 10, item 1).

Each loader test writes a bundle into a temporary folder with the real catalog and a small field
dictionary of its own; the expected line is found in the text the test wrote.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from engine.spec.conditions import Comparison, Condition, Fact, facts_of
from engine.spec.loader import SpecError, SpecProblem, load_registry
from engine.spec.models import BundleSpec, OnFail
from tests.engine.spec.conftest import bundles_folder

CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)

FIELDS = """\
- id: groom_id_number
  label: {zh: 男方身份证号, en: Groom's ID number}
  type: id_number
- id: bride_id_number
  label: {zh: 女方身份证号, en: Bride's ID number}
  type: id_number
- id: birth_date
  label: {zh: 出生日期, en: Date of birth}
  type: date
- id: note
  label: {zh: 备注, en: Note}
  type: text
- id: married
  label: {zh: 已婚, en: Married}
  type: boolean
"""

HEADER = """\
id: sample
version: 1
name: {zh: 样例, en: Sample}
applicant_kind: person
time_limit: {working_days: 10}
fields:
  - field: groom_id_number
  - field: bride_id_number
  - field: birth_date
  - field: note
    required: false
  - field: married
"""

STEP = """\
steps:
  - id: first
    item: 11-JHDJ
    time_limit: {working_days: 5}
"""


@pytest.fixture
def bundles(tmp_path: Path) -> Path:
    """The fact tests' own field dictionary (ID, date and region fields) beside the real catalog."""
    return bundles_folder(tmp_path, FIELDS)


def problems(bundles: Path, text: str) -> tuple[Path, tuple[SpecProblem, ...]]:
    path = bundles / "sample.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_registry(bundles, bundles.parent / "fields.yaml")
    return path, info.value.problems


def line_of(text: str, marker: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if marker in line)


def requires(*rules: str, step_rules: str = "") -> str:
    """A bundle with bundle-level ``rules`` and, on its one step, ``step_rules``."""
    body = HEADER + "requires:\n" + textwrap.indent("".join(textwrap.dedent(r) for r in rules), "  ") if rules \
        else HEADER
    step = STEP + (textwrap.indent("requires:\n" + textwrap.indent(textwrap.dedent(step_rules), "  "), "    ")
                   if step_rules else "")
    return body + step


def rule(rule_id: str, condition: str, *, on_fail: str | None = None) -> str:
    extra = f"  on_fail: {on_fail}\n" if on_fail else ""
    return (f"- id: {rule_id}\n  condition: {condition}\n"
            f"  reason: {{zh: 不符合条件, en: not eligible}}\n{extra}")


def the_problem(found: tuple[SpecProblem, ...], fragment: str) -> SpecProblem:
    hits = [p for p in found if fragment in p.problem]
    assert len(hits) == 1, [str(p) for p in found]
    return hits[0]


# --- the node ------------------------------------------------------------------------------


def test_a_fact_is_a_condition_node_read_from_the_scope() -> None:
    condition = CONDITION.validate_python(
        {"all": [{"fact": "age", "of": "groom_id_number", "ge": 22}, {"field": "married", "eq": False}]})
    (fact,) = list(facts_of(condition))
    assert isinstance(fact, Fact) and fact.key == "facts.age(groom_id_number)"
    assert list(condition.fields()) == ["groom_id_number", "married"]
    assert condition.evaluate({"married": False, fact.key: 22}) is True
    assert condition.evaluate({"married": False, fact.key: 21}) is False
    # An unresolved fact is unknown while filling in and false on evaluation, like an unanswered field.
    assert condition.settles({"married": False}) is None
    assert condition.evaluate({"married": False}) is False
    assert condition.settles({"married": True}) is False

    def phrase(comparison: Comparison) -> str:
        return comparison.field

    assert condition.describe(phrase) == "「groom_id_number」的周岁年龄不小于“22”且married"


def test_fact_keys_name_their_parameters_and_equal_facts_share_one() -> None:
    one = CONDITION.validate_python({"fact": "holds_licence", "of": "bride_id_number", "licence": "L2000025",
                                     "eq": False})
    two = CONDITION.validate_python({"fact": "holds_licence", "of": ["bride_id_number"], "licence": ["L2000025"],
                                     "eq": True})
    assert isinstance(one, Fact) and isinstance(two, Fact)
    assert one.key == two.key == "facts.holds_licence(bride_id_number)[licence=L2000025]"
    region = CONDITION.validate_python({"fact": "in_region", "of": "x", "region": "430000", "eq": True})
    assert isinstance(region, Fact) and region.key == "facts.in_region(x)[region=430000]"


def test_a_fact_needs_exactly_one_operator() -> None:
    with pytest.raises(ValidationError, match="exactly one operator"):
        CONDITION.validate_python({"fact": "age", "of": "x", "ge": 1, "le": 3})
    with pytest.raises(ValidationError):
        CONDITION.validate_python({"fact": "age", "of": "x", "exists": True})


def test_rules_survive_the_snapshot_round_trip(registry: object) -> None:
    from engine.spec.loader import BundleRegistry

    assert isinstance(registry, BundleRegistry)
    marriage = registry.get("marriage")
    again = BundleSpec.model_validate(marriage.snapshot()["bundle"])
    assert again == marriage
    assert [r.id for r in again.requires][:2] == ["groom_age", "bride_age"]
    assert {r.on_fail for r in again.requires} == {OnFail.REFUSE}  # the guide refuses a second open case
    newborn = registry.get("newborn")  # twins are only warned: a warn rule survives the round trip too
    assert BundleSpec.model_validate(newborn.snapshot()["bundle"]) == newborn
    assert {r.on_fail for r in newborn.requires} == {OnFail.REFUSE, OnFail.WARN}


# --- the loader ----------------------------------------------------------------------------


def test_a_bundle_with_rules_loads(bundles: Path) -> None:
    text = requires(rule("adult", "{fact: age, of: groom_id_number, ge: 18}"),
                    rule("two", "{fact: distinct, of: [groom_id_number, bride_id_number], eq: true}"),
                    step_rules=rule("recent", "{fact: months_since, of: birth_date, lt: 6}", on_fail="skip"))
    (bundles / "sample.yaml").write_text(text, encoding="utf-8")
    spec = load_registry(bundles, bundles.parent / "fields.yaml").get("sample")
    assert [r.id for r in spec.requires] == ["adult", "two"]
    assert spec.steps[0].requires[0].on_fail is OnFail.SKIP


def test_unknown_fact(bundles: Path) -> None:
    text = requires(rule("r", "{fact: shoe_size, of: groom_id_number, ge: 40}"))
    path, found = problems(bundles, text)
    problem = the_problem(found, "unknown fact 'shoe_size'")
    assert problem.file == path and problem.line == line_of(text, "condition: {fact: shoe_size")
    assert "未知的计算事实" in problem.problem and "age" in problem.problem


def test_fact_on_an_undeclared_field_names_the_step(bundles: Path) -> None:
    text = requires(step_rules=rule("r", "{fact: age, of: spouse_id_number, ge: 20}"))
    path, found = problems(bundles, text)
    problem = the_problem(found, "undeclared field 'spouse_id_number'")
    assert (problem.file, problem.line, problem.step) == (path, line_of(text, "spouse_id_number"), "first")


@pytest.mark.parametrize(("condition", "fragment"), [
    ("{fact: age, of: groom_id_number, ge: '22'}", "yields an integer"),
    ("{fact: age, of: groom_id_number, ge: true}", "yields an integer"),
    ("{fact: sex, of: groom_id_number, eq: man}", "yields one of male, female"),
    ("{fact: sex, of: groom_id_number, gt: male}", "yields one of male, female"),
    ("{fact: distinct, of: [groom_id_number, bride_id_number], eq: 1}", "yields true or false"),
    ("{fact: distinct, of: [groom_id_number, bride_id_number], in: [true]}", "yields true or false"),
])
def test_wrong_operand_type(bundles: Path, condition: str, fragment: str) -> None:
    text = requires(rule("r", condition))
    path, found = problems(bundles, text)
    problem = the_problem(found, fragment)
    assert (problem.file, problem.line, problem.step) == (path, line_of(text, "condition:"), None)


@pytest.mark.parametrize(("condition", "fragment"), [
    ("{fact: age, of: birth_date, ge: 22}", "cannot be computed from 'birth_date' (date)"),
    ("{fact: months_since, of: groom_id_number, lt: 6}", "cannot be computed from 'groom_id_number'"),
    ("{fact: distinct, of: groom_id_number, eq: true}", "takes 2 of operands, got 1"),
    ("{fact: age, of: [groom_id_number, bride_id_number], ge: 1}", "takes 1-1 of operands, got 2"),
    ("{fact: age, ge: 1}", "needs of"),
    ("{fact: holds_licence, of: groom_id_number, eq: true}", "needs licence"),
    ("{fact: holds_licence, of: groom_id_number, licence: L9999999, eq: true}", "unknown licence type 'L9999999'"),
    ("{fact: age, of: groom_id_number, region: '430000', ge: 1}", "takes no region"),
    ("{fact: in_region, of: groom_id_number, region: '43', eq: true}", "six-digit division code"),
    ("{fact: age, of: entry.heir_id_number, ge: 18}", "reads entry.* but names no list"),  # see test_entry_requirements
])
def test_wrong_operands_and_parameters(bundles: Path, condition: str, fragment: str) -> None:
    text = requires(step_rules=rule("r", condition))
    path, found = problems(bundles, text)
    problem = the_problem(found, fragment)
    assert (problem.file, problem.line, problem.step) == (path, line_of(text, "condition:"), "first")


def test_skip_is_for_step_rules_only(bundles: Path) -> None:
    text = requires(rule("r", "{field: married, eq: false}", on_fail="skip"))
    path, found = problems(bundles, text)
    problem = the_problem(found, "on_fail: skip is for step rules only")
    assert (problem.file, problem.line) == (path, line_of(text, "on_fail: skip"))


def test_duplicate_rule_ids(bundles: Path) -> None:
    text = requires(rule("same", "{field: married, eq: false}"), rule("same", "{field: note, exists: true}"))
    path, found = problems(bundles, text)
    problem = the_problem(found, "duplicate rule id 'same'")
    assert problem.line == [n for n, line in enumerate(text.splitlines(), 1) if "id: same" in line][1]


def test_facts_are_refused_where_they_cannot_be_resolved(bundles: Path) -> None:
    text = HEADER.replace("  - field: married\n", "  - field: married\n    when: {fact: age, of: groom_id_number, ge: 1}\n") \
        + STEP
    path, found = problems(bundles, text)
    problem = the_problem(found, "computed facts may only be used in requires and a step's when")
    assert (problem.file, problem.line, problem.step) == (path, line_of(text, "when: {fact"), None)


def test_the_shipped_bundles_declare_the_guides_rules(registry: object) -> None:
    from engine.spec.loader import BundleRegistry

    assert isinstance(registry, BundleRegistry)
    ids = {b.id: [r.id for r in b.requires] for b in registry}
    assert {"groom_age", "bride_age", "two_people", "groom_unmarried", "bride_unmarried", "groom_living",
            "bride_living", "no_open_case"} <= set(ids["marriage"])
    assert {"born_within_six_months", "born_not_in_future", "hunan_household"} <= set(ids["newborn"])
    assert "hunan_household" in ids["post_death"]
    assert registry.get("employment").step("unemployment_registration").requires[0].id == "of_working_age"
