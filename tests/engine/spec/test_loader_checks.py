"""Loader checks of issue 10 item 6: handlers against the registry, hard dependencies on
alternatives, schema and reference problems reported together, lines in the catalog and field
dictionary, warnings for limits longer than the bundle's, ONEVISIT_BUNDLES_DIR, no catalog fallback.

Same conventions as test_loader.py (whose helpers these tests use): lines are found in the YAML
text the test wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import main
from engine.settings import get_settings
from engine.spec.loader import SpecError, load_registry
from tests.engine.spec.test_loader import FIELDS, bundle, line_of, load, only_problem, problems_of, write

AUTOMATED = """\
- id: first
  item: 11-JHDJ
  kind: automated
  handler: data_chek
  time_limit: {working_days: 1}
"""



# --- handlers -----------------------------------------------------------------------------


def test_a_misspelt_handler_is_refused_naming_the_registered_ones(bundles: Path) -> None:
    text = bundle(AUTOMATED)
    path = write(bundles, "sample.yaml", text)
    with pytest.raises(SpecError) as raised:
        load_registry(bundles, bundles.parent / "fields.yaml", handlers={"data_check", "issue_result"})
    [problem] = raised.value.problems
    assert (problem.file, problem.line, problem.step) == (path, line_of(text, "handler: data_chek"), "first")
    assert problem.problem == ("unknown handler 'data_chek' (registered: data_check, issue_result) / "
                               "未注册的处理程序 'data_chek'")
    # without a handler registry (a bare load) the name is not checked
    assert load(bundles).get("sample").step("first").handler == "data_chek"


def test_bundles_check_uses_the_installed_handlers(
    bundles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(bundles, "sample.yaml", bundle(AUTOMATED))
    assert main(["bundles", "check", str(bundles), "--fields", str(bundles.parent / "fields.yaml")]) == 1
    err = capsys.readouterr().err
    assert "unknown handler 'data_chek' (registered: " in err and "data_check" in err


# --- alternatives ---------------------------------------------------------------------------


def test_a_hard_dependency_on_an_alternative_is_refused(bundles: Path) -> None:
    text = bundle("""\
        - id: a
          item: 11-JHDJ
          time_limit: {working_days: 1}
        - id: b
          item: 09-HYZK
          time_limit: {working_days: 1}
        - id: x
          item: 11-JHDJ
          depends_on_any: [a, b]
          time_limit: {working_days: 1}
        - id: y
          item: 09-HYZK
          depends_on: [b]
          time_limit: {working_days: 1}
        """)
    path = write(bundles, "sample.yaml", text)
    problem = only_problem(bundles, "an alternative of step 'x'")
    assert (problem.file, problem.line, problem.step) == (path, line_of(text, "depends_on: [b]"), "y")
    assert "depend on 'x' instead" in problem.problem and "备选环节" in problem.problem


def test_depending_on_the_step_that_joins_the_alternatives_is_fine(bundles: Path) -> None:
    write(bundles, "sample.yaml", bundle("""\
        - id: a
          item: 11-JHDJ
          time_limit: {working_days: 1}
        - id: b
          item: 09-HYZK
          time_limit: {working_days: 1}
        - id: x
          item: 11-JHDJ
          depends_on_any: [a, b]
          time_limit: {working_days: 1}
        - id: y
          item: 09-HYZK
          depends_on: [x]
          time_limit: {working_days: 1}
        """))
    assert load(bundles).get("sample").step("y").depends_on == ("x",)


# --- schema and reference problems together ---------------------------------------------------


def test_schema_and_reference_problems_of_one_file_are_reported_together(bundles: Path) -> None:
    text = bundle("""\
        - id: first
          item: 11-JHDJ
          time_limit: {working_days: 0}
        - id: second
          item: 99-NOPE
          depends_on: [first, ghost]
          time_limit: {working_days: 5}
        - id: third
          item: 11-JHDJ
          fields: [not_a_field]
          time_limit: {working_days: 5}
        """)
    path = write(bundles, "sample.yaml", text)
    problems = problems_of(bundles)
    assert all(p.file == path for p in problems)
    assert {(p.line, p.step) for p in problems} == {
        (line_of(text, "working_days: 0"), "first"),  # the schema error
        (line_of(text, "item: 99-NOPE"), "second"),  # and the reference problems, in the same pass
        (line_of(text, "depends_on: [first, ghost]"), "second"),
        (line_of(text, "fields: [not_a_field]"), "third"),
    }
    # the invalid step is not reported twice, nor are steps depending on it
    assert not any("first" in p.problem for p in problems if p.step != "first")


def test_a_schema_error_at_the_top_still_lets_the_steps_be_checked(bundles: Path) -> None:
    text = bundle("""\
        - id: first
          item: 99-NOPE
          time_limit: {working_days: 5}
        """).replace("time_limit: {working_days: 10}", "time_limit: {working_days: -1}")
    path = write(bundles, "sample.yaml", text)
    problems = problems_of(bundles)
    assert {(p.file, p.line, p.step) for p in problems} == {
        (path, line_of(text, "working_days: -1"), None),
        (path, line_of(text, "item: 99-NOPE"), "first"),
    }


# --- catalog and field dictionary lines ---------------------------------------------------------


def test_catalog_cross_reference_problems_name_the_line(bundles: Path) -> None:
    items = bundles / "catalog" / "items.yaml"
    text = items.read_text(encoding="utf-8") + (
        "- code: 77-GHOST\n"
        "  name: 幽灵事项\n"
        "  legal_basis: 无\n"
        "  type: 公共服务\n"
        "  department: '77'\n"
    )
    items.write_text(text, encoding="utf-8")
    write(bundles, "sample.yaml", bundle("- id: first\n  item: 11-JHDJ\n  time_limit: {working_days: 5}\n"))
    problem = only_problem(bundles, "unknown department '77'")
    assert (problem.file, problem.line) == (items, line_of(text, "department: '77'"))
    assert "部门" in problem.problem


def test_field_dictionary_cross_reference_problems_name_the_line(bundles: Path) -> None:
    fields_file = bundles.parent / "fields.yaml"
    text = FIELDS + (
        "- id: team\n"
        "  label: {zh: 团队, en: Team}\n"
        "  type: list\n"
        "  item_fields: [member, ghost_member]\n"
        "- id: member\n"
        "  label: {zh: 成员, en: Member}\n"
        "  type: text\n"
        "  prefill:\n"
        "    - {licence: L9999999, attribute: name}\n"
    )
    fields_file.write_text(text, encoding="utf-8")
    write(bundles, "sample.yaml", bundle("- id: first\n  item: 11-JHDJ\n  time_limit: {working_days: 5}\n"))
    ghost = only_problem(bundles, "unknown item field 'ghost_member'")
    assert (ghost.file, ghost.line) == (fields_file, line_of(text, "item_fields: [member, ghost_member]"))
    licence = only_problem(bundles, "unknown licence type 'L9999999'")
    assert (licence.file, licence.line) == (fields_file, line_of(text, "licence: L9999999"))


# --- warnings -----------------------------------------------------------------------------------


def test_a_step_limit_longer_than_the_bundle_is_a_warning_not_a_failure(bundles: Path) -> None:
    text = bundle("""\
        - id: first
          item: 11-JHDJ
          time_limit: {working_days: 12}
        """)
    path = write(bundles, "sample.yaml", text)
    registry = load(bundles)
    assert registry.get("sample")
    [warning] = registry.warnings
    assert warning.warning and (warning.file, warning.line, warning.step) == (
        path, line_of(text, "working_days: 12"), "first")
    assert warning.problem.startswith("warning: time_limit 12 working days exceeds the bundle's 10 working days")


def test_a_critical_path_longer_than_the_bundle_is_a_warning(bundles: Path) -> None:
    """The post-death case of the issue: 5 + 1 + 1 + 30 working days in a 30-working-day bundle;
    an excluded (§45) step and the quicker of two alternatives do not lengthen it."""
    text = bundle("""\
        - id: certificate
          item: 11-JHDJ
          time_limit: {working_days: 5}
        - id: fast
          item: 09-HYZK
          depends_on: [certificate]
          time_limit: {working_days: 1}
        - id: slow
          item: 09-HYZK
          depends_on: [certificate]
          time_limit: {working_days: 9}
        - id: either
          item: 11-JHDJ
          depends_on_any: [fast, slow]
          time_limit: {working_days: 1}
        - id: hearing
          item: 11-JHDJ
          depends_on: [either]
          excluded_from_limit: true
          time_limit: {working_days: 20}
        - id: benefit
          item: 09-HYZK
          depends_on: [hearing]
          time_limit: {working_days: 30}
        """).replace("time_limit: {working_days: 10}", "time_limit: {working_days: 30}", 1)
    path = write(bundles, "sample.yaml", text)
    registry = load(bundles)
    [warning] = registry.warnings
    assert (warning.file, warning.line, warning.step) == (path, line_of(text, "time_limit: {working_days: 30}"), None)
    assert warning.problem.startswith(
        "warning: the longest chain of steps (certificate -> fast -> either -> hearing -> benefit) takes 37 working "
        "days, more than the bundle's 30 working days / 提示：")


def test_bundles_check_prints_the_warnings_and_succeeds(bundles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(bundles, "sample.yaml", bundle("- id: first\n  item: 11-JHDJ\n  time_limit: {working_days: 12}\n"))
    assert main(["bundles", "check", str(bundles), "--fields", str(bundles.parent / "fields.yaml")]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["sample 1 steps=1"]
    [line] = err.splitlines()
    assert ": step 'first': warning: time_limit 12 working days exceeds" in line


# --- folders --------------------------------------------------------------------------------------


def test_a_folder_without_a_catalog_is_refused_not_served_the_packaged_one(tmp_path: Path) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    (tmp_path / "fields.yaml").write_text(FIELDS, encoding="utf-8")
    write(folder, "sample.yaml", bundle("- id: first\n  item: 11-JHDJ\n  time_limit: {working_days: 5}\n"))
    problems = problems_of(folder)
    assert problems[0].file == folder / "catalog" and "no catalog folder" in problems[0].problem
    assert "缺少 catalog 目录" in problems[0].problem


def test_bundles_check_reads_onevisit_bundles_dir(
    bundles: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(bundles, "sample.yaml", bundle("- id: first\n  item: 11-JHDJ\n  time_limit: {working_days: 5}\n"))
    monkeypatch.setenv("ONEVISIT_BUNDLES_DIR", str(bundles))
    monkeypatch.setenv("ONEVISIT_FIELDS_FILE", str(bundles.parent / "fields.yaml"))
    get_settings.cache_clear()
    try:
        assert main(["bundles", "check"]) == 0
        out, err = capsys.readouterr()
        assert out.splitlines() == ["sample 1 steps=1"], err
    finally:
        get_settings.cache_clear()


# --- 告知承诺 ------------------------------------------------------------------------------------


def test_a_commitment_step_without_its_letter_is_warned_and_a_letter_elsewhere_refused(bundles: Path) -> None:
    text = bundle("""\
        - id: first
          item: 11-JHDJ
          kind: commitment
          time_limit: {working_days: 1}
        """)
    path = write(bundles, "sample.yaml", text)
    registry = load(bundles)
    assert registry.get("sample").step("first").commitment is None  # loads; an officer reviews it
    [warning] = registry.warnings
    assert (warning.file, warning.line, warning.step) == (path, line_of(text, "kind: commitment"), "first")
    assert "no letter to sign" in warning.problem and "无承诺书可签" in warning.problem

    text = bundle("""\
        - id: first
          item: 11-JHDJ
          time_limit: {working_days: 1}
          commitment:
            conditions: [{zh: 信息真实, en: the information is true}]
            consequence: {zh: 撤销, en: revoked}
        """)
    path = write(bundles, "sample.yaml", text)
    with pytest.raises(SpecError) as raised:
        load(bundles)
    [problem] = raised.value.problems
    assert (problem.file, problem.line, problem.step) == (path, line_of(text, "commitment:"), "first")
    assert problem.problem.startswith("only a commitment step has a commitment block (this one is human)")
