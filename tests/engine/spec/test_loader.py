"""The bundle language and its loader: every problem names the file, the line, the step and what.

Each test writes bundle YAML into a temporary bundles folder (with a copy of the real catalog)
and a small field dictionary of its own, so the tests check the loader, not the dictionary.
Line numbers are found in the YAML text the test wrote, never taken from the loader.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from engine.spec.conditions import AllOf, AnyOf, Comparison, Condition, Not, fields_of
from engine.spec.loader import BUNDLES_DIR, FIELDS_FILE, SpecError, SpecProblem, check_bundle, load_registry
from engine.spec.models import BundleSpec
from engine.spec.versions import SPEC_SCHEMA_VERSION

CONDITION = TypeAdapter(Condition)

FIELDS = """\
- id: applicant_name
  label: {zh: 申请人姓名, en: Applicant name}
  type: text
- id: married
  label: {zh: 已婚, en: Married}
  type: boolean
- id: age
  label: {zh: 年龄, en: Age}
  type: integer
- id: kind
  label: {zh: 类型, en: Kind}
  type: choice
  options:
    - {value: natural, label: {zh: 正常, en: Natural}}
    - {value: other, label: {zh: 其他, en: Other}}
- id: heirs
  label: {zh: 继承人, en: Heirs}
  type: list
  item_fields: [heir_name]
- id: heir_name
  label: {zh: 继承人姓名, en: Heir's name}
  type: text
- id: unused
  label: {zh: 未用, en: Not used by the sample bundle}
  type: text
"""

HEADER = """\
# a sample bundle written by the loader tests
id: {id}
version: 1
name: {{zh: 样例, en: Sample}}
applicant_kind: person
time_limit: {{working_days: 10}}
"""

BUNDLE_FIELDS = """\
fields:
  - field: applicant_name
  - field: married
  - field: age
    required: false
  - field: kind
  - field: heirs
"""


def bundle(*steps: str, fields: str = BUNDLE_FIELDS, bundle_id: str = "sample") -> str:
    """A bundle file: the fixed header, the ``fields`` block and ``steps`` (YAML lists, each dedented)."""
    body = "".join(textwrap.dedent(part) for part in steps)
    return HEADER.format(id=bundle_id) + fields + "steps:\n" + textwrap.indent(body, "  ")


def line_of(text: str, marker: str, occurrence: int = 1) -> int:
    """The 1-based line of the ``occurrence``-th line of ``text`` containing ``marker``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if marker in line]
    assert len(hits) >= occurrence, f"{marker!r} occurs {len(hits)} time(s)"
    return hits[occurrence - 1]


FIRST = """\
- id: first
  item: 11-JHDJ
  time_limit: {working_days: 5}
"""

SECOND = """\
- id: second
  item: 09-HYZK
  time_limit: {working_days: 5}
"""


def plus(step: str, keys: str) -> str:
    """``step`` with more ``keys`` (YAML, dedented and then indented as the step's own keys)."""
    return step + textwrap.indent(textwrap.dedent(keys), "  ")


OK_STEPS = """\
- id: first
  item: 11-JHDJ
  time_limit: {working_days: 5}
- id: second
  item: 09-HYZK
  depends_on: [first]
  time_limit: {working_days: 5}
"""



def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def load(directory: Path) -> Any:
    return load_registry(directory, directory.parent / "fields.yaml")


def problems_of(directory: Path) -> tuple[SpecProblem, ...]:
    with pytest.raises(SpecError) as info:
        load(directory)
    return info.value.problems


def only_problem(directory: Path, fragment: str) -> SpecProblem:
    """The single problem whose text contains ``fragment``."""
    problems = problems_of(directory)
    found = [p for p in problems if fragment in p.problem]
    assert len(found) == 1, f"expected one problem with {fragment!r}, got: {[str(p) for p in problems]}"
    return found[0]


def assert_problem(problem: SpecProblem, path: Path, line: int, step: str | None) -> None:
    assert problem.file == path
    assert problem.line == line, str(problem)
    assert problem.step == step, str(problem)
    rendered = str(problem)
    assert rendered.startswith(f"{path}:{line}:")
    if step is not None:
        assert f" step {step!r}: " in rendered


def expect_problem(
    bundles: Path, text: str, fragment: str, marker: str, step: str | None, *, occurrence: int = 1
) -> SpecProblem:
    """Write ``text`` as sample.yaml: the one problem containing ``fragment`` names that file, the
    line of the ``occurrence``-th line containing ``marker`` and ``step`` (None: no step)."""
    path = write(bundles, "sample.yaml", text)
    problem = only_problem(bundles, fragment)
    assert_problem(problem, path, line_of(text, marker, occurrence), step)
    return problem


# --- the sample itself is valid -------------------------------------------------------


def test_the_sample_bundle_loads(bundles: Path) -> None:
    write(bundles, "sample.yaml", bundle(OK_STEPS))
    registry = load(bundles)
    spec = registry.get("sample")
    assert [s.id for s in spec.steps] == ["first", "second"]
    assert registry.files["sample"] == bundles / "sample.yaml"


# --- cross-reference problems -----------------------------------------------------------


def test_duplicate_step_ids(bundles: Path) -> None:
    text = bundle(
        FIRST,
        SECOND,
        """\
        - id: first
          item: 23-SYDJ
          time_limit: {working_days: 5}
        """,
    )
    problem = expect_problem(bundles, text, "duplicate step id", "- id: first", "first", occurrence=2)
    assert problem.problem == "duplicate step id 'first'"


@pytest.mark.parametrize("key", ["depends_on", "depends_on_any"])
def test_unknown_dependency(bundles: Path, key: str) -> None:
    text = bundle(
        FIRST,
        plus(
            SECOND,
            f"""\
            {key}:
              - first
              - ghost_step
            """,
        ),
    )
    problem = expect_problem(bundles, text, "unknown dependency", "- ghost_step", "second")
    assert problem.problem == "unknown dependency 'ghost_step'"


def test_dependency_cycle_lists_the_cycle(bundles: Path) -> None:
    text = bundle(
        """\
        - id: start
          item: 23-SYDJ
          time_limit: {working_days: 5}
        - id: a
          item: 11-JHDJ
          depends_on: [b]
          time_limit: {working_days: 5}
        - id: b
          item: 09-HYZK
          depends_on: [c]
          time_limit: {working_days: 5}
        - id: c
          item: 09-FQTK
          depends_on: [a, start]
          time_limit: {working_days: 5}
        """
    )
    path = write(bundles, "sample.yaml", text)
    problem = only_problem(bundles, "dependency cycle")
    match = re.fullmatch(r"dependency cycle: (.+) \(each step depends on the next\)", problem.problem)
    assert match, problem.problem
    cycle = match.group(1).split(" -> ")
    assert cycle[0] == cycle[-1] and len(cycle) == 4
    assert set(cycle) == {"a", "b", "c"}
    depends = {"a": {"b"}, "b": {"c"}, "c": {"a", "start"}}
    assert all(after in depends[before] for before, after in zip(cycle, cycle[1:])), cycle
    assert_problem(problem, path, line_of(text, f"- id: {cycle[0]}"), cycle[0])


def test_self_dependency(bundles: Path) -> None:
    text = bundle(plus(FIRST, "depends_on: [first]\n"))
    expect_problem(bundles, text, "cannot depend on itself", "depends_on: [first]", "first")


def test_condition_on_undeclared_field_in_a_step(bundles: Path) -> None:
    text = bundle(
        plus(
            FIRST,
            """\
            when:
              all:
                - {field: married, eq: true}
                - {not: {field: ghost, eq: 1}}
            """,
        )
    )
    problem = expect_problem(bundles, text, "undeclared field", "when:", "first")
    assert problem.problem == "condition on undeclared field 'ghost'"


def test_condition_on_undeclared_field_in_a_material(bundles: Path) -> None:
    text = bundle(
        plus(
            FIRST,
            """\
            materials:
              - {name: 申请表, supply: 1}
              - {name: 离婚证, supply: 4, required: false, when: {field: divorced, eq: true}}
            """,
        )
    )
    problem = expect_problem(bundles, text, "undeclared field", "name: 离婚证", "first")
    assert problem.problem == "condition on undeclared field 'divorced'"


def test_condition_on_undeclared_field_in_a_field_use(bundles: Path) -> None:
    fields = BUNDLE_FIELDS + "  - field: unused\n    when: {any: [{field: age, gt: 60}, {field: retired, eq: true}]}\n"
    text = bundle(OK_STEPS, fields=fields)
    problem = expect_problem(bundles, text, "undeclared field", "field: retired", None)
    assert problem.problem == "condition on undeclared field 'retired'"


def test_a_condition_may_read_a_list_item_field(bundles: Path) -> None:
    text = bundle(plus(FIRST, "for_each: heirs\nwhen: {field: heir_name, exists: true}\n"))
    write(bundles, "sample.yaml", text)
    assert load(bundles).get("sample").steps[0].for_each == "heirs"


def test_unknown_department(bundles: Path) -> None:
    text = bundle(plus(FIRST, 'department: "77"\n'))
    problem = expect_problem(bundles, text, "unknown department", 'department: "77"', "first")
    assert problem.problem == "unknown department '77'"


def test_unknown_service_item(bundles: Path) -> None:
    text = bundle(
        FIRST,
        """\
        - id: second
          time_limit: {working_days: 5}
          item: 99-NOPE
        """,
    )
    problem = expect_problem(bundles, text, "unknown service item", "item: 99-NOPE", "second")
    assert problem.problem == "unknown service item '99-NOPE'"


def test_unknown_material_licence_type(bundles: Path) -> None:
    text = bundle(
        plus(
            FIRST,
            """\
            materials:
              - {name: 身份证, supply: 2, licence: L2000016}
              - {name: 神秘证, supply: 2, licence: L9999999}
            """,
        )
    )
    problem = expect_problem(bundles, text, "unknown licence type", "L9999999", "first")
    assert problem.problem == "material '神秘证': unknown licence type 'L9999999'"


def test_unknown_output_licence_type(bundles: Path) -> None:
    text = bundle(plus(FIRST, "outputs:\n  result: 神秘证\n  licence: L8888888\n"))
    problem = expect_problem(bundles, text, "licence type", "licence: L8888888", "first")
    assert problem.problem == "unknown output licence type 'L8888888'"


def test_for_each_over_a_non_list_field(bundles: Path) -> None:
    text = bundle(plus(FIRST, "for_each: applicant_name\n"))
    problem = expect_problem(bundles, text, "for_each", "for_each:", "first")
    assert problem.problem == "for_each 'applicant_name' must be a list field of the bundle"


def test_for_each_over_a_list_the_bundle_does_not_use(bundles: Path) -> None:
    fields = "fields:\n  - field: applicant_name\n"
    text = bundle(OK_STEPS.replace("  depends_on: [first]\n", "  for_each: heirs\n"), fields=fields)
    expect_problem(bundles, text, "for_each", "for_each: heirs", "second")


def test_step_field_not_declared_by_the_bundle(bundles: Path) -> None:
    text = bundle(plus(FIRST, "fields:\n  - applicant_name\n  - unused\n"))
    problem = expect_problem(bundles, text, "not a field of the bundle", "- unused", "first")
    assert problem.problem == "step field 'unused' is not a field of the bundle"


def test_bundle_field_not_in_the_dictionary(bundles: Path) -> None:
    text = bundle(OK_STEPS, fields=BUNDLE_FIELDS + "  - field: nowhere\n")
    problem = expect_problem(bundles, text, "field dictionary", "field: nowhere", None)
    assert problem.problem == "unknown field 'nowhere' (not in the field dictionary)"


def test_depends_on_any_with_one_alternative(bundles: Path) -> None:
    text = bundle(FIRST, plus(SECOND, "depends_on_any: [first]\n"))
    problem = expect_problem(bundles, text, "alternatives", "depends_on_any:", "second")
    assert problem.problem == "depends_on_any needs at least two alternatives"


# --- model problems -----------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["working_days", "calendar_days"])
@pytest.mark.parametrize("amount", [0, -3])
def test_non_positive_step_time_limit(bundles: Path, unit: str, amount: int) -> None:
    text = bundle(
        FIRST,
        f"""\
        - id: second
          item: 09-HYZK
          time_limit: {{{unit}: {amount}}}
        """,
    )
    problem = expect_problem(bundles, text, "greater than 0", f"{unit}: {amount}", "second")
    assert problem.problem.startswith("steps.1.time_limit.amount: ")


@pytest.mark.parametrize("unit", ["working_days", "calendar_days"])
@pytest.mark.parametrize("amount", [0, -3])
def test_non_positive_bundle_time_limit(bundles: Path, unit: str, amount: int) -> None:
    text = bundle(OK_STEPS).replace("time_limit: {working_days: 10}", f"time_limit: {{{unit}: {amount}}}")
    problem = expect_problem(bundles, text, "greater than 0", f"{unit}: {amount}", None)
    assert problem.problem.startswith("time_limit.amount: ")


@pytest.mark.parametrize(
    "limit", ["{working_days: 5, calendar_days: 3}", "{}", "{weeks: 2}", "{working_days: 5, hours: 3}"]
)
def test_time_limit_needs_exactly_one_unit(bundles: Path, limit: str) -> None:
    text = bundle(FIRST.replace("time_limit: {working_days: 5}", f"time_limit: {limit}"))
    problem = expect_problem(bundles, text, "a time limit is one of", f"time_limit: {limit}", "first")
    # the step's problem is all there is: no phantom "steps should have at least 1 item"
    assert problems_of(bundles) == (problem,)


def test_timer_without_min_wait(bundles: Path) -> None:
    text = bundle(
        FIRST,
        """\
        - id: publicity
          item: 09-HYZK
          kind: timer
          time_limit: {calendar_days: 7}
        """,
    )
    problem = expect_problem(bundles, text, "min_wait", "- id: publicity", "publicity")
    assert "a timer step needs min_wait" in problem.problem


def test_automated_without_handler(bundles: Path) -> None:
    text = bundle(
        """\
        - id: lookup
          item: 11-JHDJ
          kind: automated
          time_limit: {working_days: 1}
        """
    )
    problem = expect_problem(bundles, text, "handler", "- id: lookup", "lookup")
    assert "an automated step needs a handler" in problem.problem


def test_e_licence_material_without_licence(bundles: Path) -> None:
    text = bundle(plus(FIRST, "materials:\n  - {name: 申请表, supply: 1}\n  - {name: 户口簿, supply: 2}\n"))
    problem = expect_problem(bundles, text, "e-licence", "name: 户口簿", "first")
    assert "material '户口簿': supply 2 (e-licence) needs a licence type" in problem.problem


@pytest.mark.parametrize("style", ["flow", "block"])
def test_unknown_key_is_rejected(bundles: Path, style: str) -> None:
    typo = "depend_on: [first]" if style == "flow" else "depend_on:\n    - first"
    text = bundle(FIRST, SECOND) + f"    {typo}\n"
    problem = expect_problem(bundles, text, "depend_on", "depend_on:", "second")
    assert problem.problem == "steps.1.depend_on: Extra inputs are not permitted"


def test_unknown_top_level_key_is_rejected(bundles: Path) -> None:
    text = bundle(OK_STEPS).replace("applicant_kind: person\n", "applicant_kind: person\non_step_reject: continue\n")
    problem = expect_problem(bundles, text, "on_step_reject", "on_step_reject:", None)
    assert problem.problem == "on_step_reject: Extra inputs are not permitted"


def test_invalid_yaml_names_the_line_of_the_syntax_error(bundles: Path) -> None:
    text = bundle(OK_STEPS).replace("version: 1\n", "version: 1: 2\n")
    problem = expect_problem(bundles, text, "invalid YAML", "version: 1: 2", None)
    assert problem.problem == "invalid YAML: mapping values are not allowed here"


def test_invalid_yaml_unclosed_flow_sequence(bundles: Path) -> None:
    text = bundle(OK_STEPS).replace("depends_on: [first]", "depends_on: [first")
    path = write(bundles, "sample.yaml", text)
    problem = only_problem(bundles, "invalid YAML")
    # the scanner notices at the next key, one line after the unclosed bracket
    assert_problem(problem, path, line_of(text, "depends_on: [first") + 1, None)


def test_duplicate_bundle_ids_across_two_files(bundles: Path) -> None:
    first = write(bundles, "a_sample.yaml", bundle(OK_STEPS))
    text = bundle(OK_STEPS)
    second = write(bundles, "b_sample.yaml", text)
    problem = only_problem(bundles, "duplicate bundle id")
    assert problem.problem == f"duplicate bundle id 'sample' (also in {first})"
    assert_problem(problem, second, line_of(text, "id: sample"), None)


# --- every problem at once ----------------------------------------------------------------


def test_all_problems_of_several_files_are_reported_together(bundles: Path) -> None:
    good = write(bundles, "good.yaml", bundle(OK_STEPS, bundle_id="good"))
    broken_yaml = write(bundles, "broken_yaml.yaml", bundle(OK_STEPS, bundle_id="broken_yaml") + "  - id: [x\n")
    bad_refs_text = bundle(
        """\
        - id: first
          item: 99-NOPE
          time_limit: {working_days: 5}
          depends_on: [ghost]
        - id: second
          item: 11-JHDJ
          department: "77"
          time_limit: {working_days: 5}
        """,
        bundle_id="bad_refs",
    )
    bad_refs = write(bundles, "bad_refs.yaml", bad_refs_text)
    bad_model_text = bundle(
        """\
        - id: first
          item: 11-JHDJ
          time_limit: {working_days: 0}
        - id: second
          item: 11-JHDJ
          kind: automated
          time_limit: {working_days: 1}
          depend_on: [first]
        """,
        bundle_id="bad_model",
    )
    bad_model = write(bundles, "bad_model.yaml", bad_model_text)

    problems = problems_of(bundles)
    by_file: dict[Path, list[SpecProblem]] = {}
    for p in problems:
        by_file.setdefault(p.file, []).append(p)
    assert set(by_file) == {broken_yaml, bad_refs, bad_model}
    assert good not in by_file
    assert {(p.line, p.step, p.problem) for p in by_file[bad_refs]} == {
        (line_of(bad_refs_text, "item: 99-NOPE"), "first", "unknown service item '99-NOPE'"),
        (line_of(bad_refs_text, "depends_on: [ghost]"), "first", "unknown dependency 'ghost'"),
        (line_of(bad_refs_text, 'department: "77"'), "second", "unknown department '77'"),
    }
    assert {(p.line, p.step) for p in by_file[bad_model]} == {
        (line_of(bad_model_text, "working_days: 0"), "first"),
        (line_of(bad_model_text, "depend_on:"), "second"),
    }
    assert len(by_file[broken_yaml]) == 1
    # the message lists every problem, one per line
    with pytest.raises(SpecError) as info:
        load(bundles)
    assert str(info.value).splitlines() == [str(p) for p in problems]


def test_an_empty_folder_is_a_problem(bundles: Path) -> None:
    problem = only_problem(bundles, "no bundle files")
    assert problem.file == bundles and problem.line is None


# --- the real bundles ------------------------------------------------------------------------


def test_the_real_bundles_directory_loads() -> None:
    registry = load_registry(BUNDLES_DIR, FIELDS_FILE)
    ids = {spec.id for spec in registry}
    assert {"marriage", "post_death"} <= ids
    for spec in registry:
        assert registry.files[spec.id].parent == BUNDLES_DIR
        assert check_bundle(spec, registry.catalog, registry.fields) == []
    marriage = registry.get("marriage")
    assert [s.id for s in marriage.steps] == [
        "marriage_registration",
        "marital_status_change",
        "spouse_household_move",
        "birth_plan_registration",
    ]
    assert marriage.time_limit.amount == 15


# --- conditions ----------------------------------------------------------------------------


def cond(data: dict[str, Any]) -> Any:
    return CONDITION.validate_python(data)


@pytest.mark.parametrize(
    ("condition", "answers", "expected"),
    [
        ({"field": "x", "eq": True}, {"x": True}, True),
        ({"field": "x", "eq": True}, {"x": False}, False),
        ({"field": "x", "eq": "family"}, {"x": "family"}, True),
        ({"field": "x", "ne": "family"}, {"x": "collective"}, True),
        ({"field": "x", "ne": "family"}, {"x": "family"}, False),
        ({"field": "x", "in": ["natural", "hospital"]}, {"x": "hospital"}, True),
        ({"field": "x", "in": ["natural", "hospital"]}, {"x": "unnatural"}, False),
        ({"field": "x", "not_in": ["natural"]}, {"x": "unnatural"}, True),
        ({"field": "x", "not_in": ["natural"]}, {"x": "natural"}, False),
        ({"field": "x", "gt": 3}, {"x": 4}, True),
        ({"field": "x", "gt": 3}, {"x": 3}, False),
        ({"field": "x", "ge": 3}, {"x": 3}, True),
        ({"field": "x", "ge": 3}, {"x": 2}, False),
        ({"field": "x", "lt": 3}, {"x": 2}, True),
        ({"field": "x", "lt": 3}, {"x": 3}, False),
        ({"field": "x", "le": 3}, {"x": 3}, True),
        ({"field": "x", "le": 3}, {"x": 4}, False),
        ({"field": "x", "gt": "2026-01-01"}, {"x": "2026-02-26"}, True),
        ({"field": "x", "exists": True}, {"x": 0}, True),
        ({"field": "x", "exists": True}, {"x": False}, True),
        ({"field": "x", "exists": False}, {"x": ""}, False),
    ],
)
def test_comparison_operators(condition: dict[str, Any], answers: dict[str, Any], expected: bool) -> None:
    parsed = cond(condition)
    assert isinstance(parsed, Comparison)
    assert parsed.evaluate(answers) is expected


def test_comparing_with_null_is_spelled_exists_false() -> None:
    with pytest.raises(ValidationError, match="exists: false"):
        cond({"field": "x", "eq": None})


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "x", "eq": True},
        {"field": "x", "ne": "family"},
        {"field": "x", "in": ["a"]},
        {"field": "x", "not_in": ["a"]},
        {"field": "x", "gt": 0},
        {"field": "x", "ge": 0},
        {"field": "x", "lt": 100},
        {"field": "x", "le": 100},
        {"field": "x", "exists": True},
    ],
)
@pytest.mark.parametrize("answers", [{}, {"x": None}], ids=["absent", "null"])
def test_a_missing_field_never_matches(condition: dict[str, Any], answers: dict[str, Any]) -> None:
    assert cond(condition).evaluate(answers) is False


@pytest.mark.parametrize("answers", [{}, {"x": None}], ids=["absent", "null"])
def test_exists_false_matches_a_missing_field(answers: dict[str, Any]) -> None:
    assert cond({"field": "x", "exists": False}).evaluate(answers) is True


@pytest.mark.parametrize("op", ["gt", "ge", "lt", "le"])
@pytest.mark.parametrize(("value", "bound"), [("abc", 3), (3, "abc"), ({"a": 1}, 2), ([1], 1)])
def test_incomparable_types_do_not_raise(op: str, value: Any, bound: Any) -> None:
    assert cond({"field": "x", op: bound}).evaluate({"x": value}) is False


def test_in_with_an_unhashable_value_does_not_raise() -> None:
    assert cond({"field": "x", "in": ["a", "b"]}).evaluate({"x": ["a"]}) is False
    assert cond({"field": "x", "not_in": ["a", "b"]}).evaluate({"x": ["a"]}) is True


def test_all_any_not_nesting() -> None:
    condition = cond(
        {
            "all": [
                {"field": "both_hunan", "eq": True},
                {"any": [{"field": "kind", "in": ["family"]}, {"field": "size", "ge": 3}]},
                {"not": {"field": "collective", "eq": True}},
            ]
        }
    )
    assert isinstance(condition, AllOf)
    assert isinstance(condition.all_[1], AnyOf) and isinstance(condition.all_[2], Not)
    base = {"both_hunan": True, "kind": "family", "size": 1, "collective": False}
    assert condition.evaluate(base)
    assert condition.evaluate({**base, "kind": "other", "size": 3})
    assert not condition.evaluate({**base, "kind": "other", "size": 2})
    assert not condition.evaluate({**base, "both_hunan": False})
    assert not condition.evaluate({**base, "collective": True})
    # a missing field fails its comparison; under ``not`` that comparison's failure is a match
    assert condition.evaluate({k: v for k, v in base.items() if k != "collective"})
    assert not condition.evaluate({k: v for k, v in base.items() if k != "both_hunan"})
    assert sorted(fields_of(condition)) == ["both_hunan", "collective", "kind", "size"]


def test_deeply_nested_not() -> None:
    condition = cond({"not": {"not": {"any": [{"all": [{"field": "a", "eq": 1}]}]}}})
    assert condition.evaluate({"a": 1}) and not condition.evaluate({"a": 2})
    assert list(fields_of(condition)) == ["a"]


@pytest.mark.parametrize(
    "data",
    [
        {"field": "x", "eq": 1, "ne": 2},
        {"field": "x", "in": [1], "exists": True},
        {"field": "x", "gt": 1, "lt": 5},
        {"field": "x"},
    ],
    ids=["eq+ne", "in+exists", "gt+lt", "none"],
)
def test_comparison_needs_exactly_one_operator(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="needs exactly one operator"):
        Comparison.model_validate(data)


def test_empty_all_and_any_are_refused() -> None:
    with pytest.raises(ValidationError):
        AllOf.model_validate({"all": []})
    with pytest.raises(ValidationError):
        AnyOf.model_validate({"any": []})


def test_unknown_operator_is_refused() -> None:
    with pytest.raises(ValidationError):
        Comparison.model_validate({"field": "x", "contains": "a"})


# --- snapshots -----------------------------------------------------------------------------



@pytest.fixture
def plain_spec(bundles: Path) -> BundleSpec:
    """A spec with materials, outputs and a for_each."""
    text = bundle(
        """\
        - id: first
          item: 11-JHDJ
          time_limit: {working_days: 5}
          fields: [applicant_name, married]
          materials:
            - {name: 申请表, code: T1, supply: 1}
            - {name: 身份证, supply: 2, licence: L2000016}
          outputs: {result: 结婚证, licence: L2000025}
        - id: second
          item: 09-HYZK
          depends_on: [first]
          for_each: heirs
          time_limit: {calendar_days: 30}
          excluded_from_limit: true
        """
    )
    write(bundles, "sample.yaml", text)
    return load(bundles).get("sample")


def test_snapshot_round_trip(plain_spec: BundleSpec) -> None:
    snapshot = plain_spec.snapshot()
    assert snapshot["schema_version"] == SPEC_SCHEMA_VERSION == 2
    again = BundleSpec.from_snapshot(snapshot)
    assert again == plain_spec
    assert again.spec_hash == plain_spec.spec_hash
    # as stored in bundle_versions: through JSON and back
    stored = json.loads(json.dumps(snapshot, ensure_ascii=False))
    from_db = BundleSpec.from_snapshot(stored)
    assert from_db == plain_spec and from_db.spec_hash == plain_spec.spec_hash
    assert re.fullmatch(r"[0-9a-f]{64}", plain_spec.spec_hash)


@pytest.mark.parametrize("bundle_id", sorted(load_registry().bundles))
def test_snapshot_round_trip_of_a_real_bundle(bundle_id: str) -> None:
    spec = load_registry().get(bundle_id)
    again = BundleSpec.from_snapshot(json.loads(json.dumps(spec.snapshot(), ensure_ascii=False)))
    assert again == spec
    assert again.spec_hash == spec.spec_hash


def test_snapshot_round_trip_of_a_condition() -> None:
    spec = BundleSpec.model_validate(
        {
            "id": "c", "version": 1, "name": {"zh": "样", "en": "S"}, "applicant_kind": "person",
            "time_limit": {"working_days": 5},
            "steps": [{"id": "a", "item": "11-JHDJ", "time_limit": {"working_days": 5},
                       "when": {"field": "married", "eq": True}}],
        }
    )
    assert BundleSpec.from_snapshot(spec.snapshot()) == spec


def test_a_changed_spec_has_a_different_hash(plain_spec: BundleSpec) -> None:
    changed_limit = plain_spec.snapshot()
    changed_limit["bundle"]["steps"][0]["time_limit"]["amount"] += 1
    changed_name = plain_spec.snapshot()
    changed_name["bundle"]["name"]["zh"] += "（新）"
    changed_version = plain_spec.snapshot()
    changed_version["bundle"]["version"] += 1
    changed_material = plain_spec.snapshot()
    changed_material["bundle"]["steps"][0]["materials"][1]["required"] = False
    hashes = {plain_spec.spec_hash}
    for data in (changed_limit, changed_name, changed_version, changed_material):
        other = BundleSpec.from_snapshot(data)
        assert other != plain_spec
        hashes.add(other.spec_hash)
    assert len(hashes) == 5
    # the hash depends on content only, not on the order of keys
    shuffled = dict(reversed(list(plain_spec.snapshot()["bundle"].items())))
    assert BundleSpec.from_snapshot({"schema_version": 1, "bundle": shuffled}).spec_hash == plain_spec.spec_hash


@pytest.mark.parametrize("version", [0, SPEC_SCHEMA_VERSION + 1, None, "1"])
def test_unknown_snapshot_schema_version_is_refused(plain_spec: BundleSpec, version: Any) -> None:
    data = plain_spec.snapshot()
    data["schema_version"] = version
    with pytest.raises(ValueError, match="schema_version"):
        BundleSpec.from_snapshot(data)


def test_snapshot_without_schema_version_is_refused(plain_spec: BundleSpec) -> None:
    data = plain_spec.snapshot()
    del data["schema_version"]
    with pytest.raises(ValueError, match="schema_version"):
        BundleSpec.from_snapshot(data)
