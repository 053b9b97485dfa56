"""Rules on each entry of a list (``requires`` reading ``entry.*``): the loader's checks, and intake.

A rule whose condition reads ``entry.<item field>`` is checked for every entry of the list it names
(its ``for_each``; a rule of a ``for_each`` step reads that step's list), with the facts computed
from each entry (each employee's age from their ID number); a refusal names the entry by its path
(``new_employees[1].employee_id_number``) and number (第2项 / entry 2). The loader refuses an
unknown list or item field, a rule reading entries without naming a list, and a database fact on an
entry, each with file, line and step. Intake runs on SQLite and PostgreSQL with the real hiring
bundle served as a draft carrying such rules; the acceptance date is Monday 2 March 2026.
"""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, Step
from engine.errors import InvalidApplication
from engine.machine.eligibility import assess
from engine.machine.intake import Applicant, accept_case, preview_application
from engine.people.validators import make_credit_code, make_id_number
from engine.runtime import Runtime
from engine.spec.loader import BUNDLES_DIR, SpecError, SpecProblem, load_draft, load_registry
from tests.engine.sample_people import CLERK, GROOM
from tests.engine.spec.conftest import bundles_folder

FIELDS = """\
- id: applicant_id_number
  label: {zh: 申请人身份证号, en: Applicant's ID number}
  type: id_number
- id: employees
  label: {zh: 员工, en: Employees}
  type: list
  item_fields: [employee_name, employee_id_number, start_date]
- id: employee_name
  label: {zh: 员工姓名, en: Employee's name}
  type: text
- id: employee_id_number
  label: {zh: 员工身份证号, en: Employee's ID number}
  type: id_number
- id: start_date
  label: {zh: 入职日期, en: Start date}
  type: date
- id: children
  label: {zh: 子女, en: Children}
  type: list
  item_fields: [child_id_number]
- id: child_id_number
  label: {zh: 子女身份证号, en: Child's ID number}
  type: id_number
- id: note
  label: {zh: 备注, en: Note}
  type: text
"""

HEADER = """\
id: sample
version: 1
name: {zh: 样例, en: Sample}
applicant_kind: person
time_limit: {working_days: 10}
fields:
  - field: applicant_id_number
  - field: employees
  - field: children
    required: false
  - field: note
    required: false
"""

STEPS = """\
steps:
  - id: whole
    item: 11-JHDJ
    time_limit: {working_days: 5}
  - id: per_employee
    item: 11-JHDJ
    for_each: employees
    time_limit: {working_days: 5}
"""


def bundle(rules: str = "", *, per_employee: str = "", whole: str = "") -> str:
    """The sample bundle with bundle ``rules`` and the rules of its steps (``requires:`` bodies)."""
    text = HEADER + ("requires:\n" + textwrap.indent(textwrap.dedent(rules), "  ") if rules else "") + STEPS
    for step, body in (("whole", whole), ("per_employee", per_employee)):
        if body:
            marker = f"  - id: {step}\n    item: 11-JHDJ\n"
            text = text.replace(marker, marker + "    requires:\n" + textwrap.indent(textwrap.dedent(body), "      "))
    return text


def rule(rule_id: str, condition: str, *, for_each: str | None = None, on_fail: str | None = None) -> str:
    return (f"- id: {rule_id}\n" + (f"  for_each: {for_each}\n" if for_each else "")
            + f"  condition: {condition}\n  reason: {{zh: 不符合条件, en: not eligible}}\n"
            + (f"  on_fail: {on_fail}\n" if on_fail else ""))


@pytest.fixture
def bundles(tmp_path: Path) -> Path:
    return bundles_folder(tmp_path, FIELDS)


def problems(bundles: Path, text: str) -> tuple[Path, tuple[SpecProblem, ...]]:
    path = bundles / "sample.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_registry(bundles, bundles.parent / "fields.yaml")
    return path, info.value.problems


def the_problem(found: tuple[SpecProblem, ...], fragment: str) -> SpecProblem:
    hits = [p for p in found if fragment in p.problem]
    assert len(hits) == 1, [str(p) for p in found]
    return hits[0]


def line_of(text: str, marker: str, nth: int = 0) -> int:
    return [n for n, line in enumerate(text.splitlines(), start=1) if marker in line][nth]


# --- the loader ----------------------------------------------------------------------------


def test_rules_on_each_entry_load(bundles: Path) -> None:
    text = bundle(
        rule("of_age", "{fact: age, of: entry.employee_id_number, ge: 16}", for_each="employees")
        + rule("started", "{all: [{fact: days_since, of: entry.start_date, ge: 0}, {field: note, exists: false}]}",
               for_each="employees", on_fail="warn")
        + rule("child_not_applicant", "{fact: distinct, of: [entry.child_id_number, applicant], eq: true}",
               for_each="children"),
        per_employee=rule("named", "{field: entry.employee_name, ne: 无名}", on_fail="skip"),
    )
    (bundles / "sample.yaml").write_text(text, encoding="utf-8")
    spec = load_registry(bundles, bundles.parent / "fields.yaml").get("sample")
    assert [r.for_each for r in spec.requires] == ["employees", "employees", "children"]
    assert spec.step("per_employee").requires[0].for_each is None  # the step's own list


@pytest.mark.parametrize(("rules", "fragment", "marker"), [
    (rule("r", "{fact: age, of: entry.employee_id_number, ge: 16}", for_each="staff"),
     "for_each 'staff' is not a list field of the bundle", "for_each: staff"),
    (rule("r", "{field: entry.note, exists: true}", for_each="note"),
     "for_each 'note' is not a list field of the bundle", "for_each: note"),
    (rule("r", "{fact: age, of: entry.employee_id_number, ge: 16}"),
     "reads entry.* but names no list", "condition:"),
    (rule("r", "{field: entry.child_id_number, exists: true}", for_each="employees"),
     "'child_id_number' is not an item field of 'employees'", "condition:"),
    (rule("r", "{field: entry.employe_name, eq: x}", for_each="employees"),
     "'employe_name' is not an item field of 'employees'", "condition:"),
    (rule("r", "{field: note, exists: false}", for_each="employees"),
     "reads no entry.* field", "for_each: employees"),
    (rule("r", "{fact: holds_licence, of: entry.employee_id_number, licence: L2000016, eq: true}",
          for_each="employees"),
     "looked up once for the application, not for each entry", "condition:"),
    (rule("r", "{fact: age, of: entry.start_date, ge: 16}", for_each="employees"),
     "cannot be computed from 'entry.start_date' (date)", "condition:"),
])
def test_a_bad_rule_on_entries_names_file_line_and_problem(
    bundles: Path, rules: str, fragment: str, marker: str,
) -> None:
    text = bundle(rules)
    path, found = problems(bundles, text)
    problem = the_problem(found, fragment)
    assert (problem.file, problem.line, problem.step) == (path, line_of(text, marker), None)
    assert "/" in problem.problem  # bilingual


def test_a_step_rule_reads_its_own_list_or_names_one(bundles: Path) -> None:
    text = bundle(whole=rule("r", "{field: entry.employee_name, eq: x}"),
                  per_employee=rule("s", "{field: entry.child_id_number, exists: true}", for_each="children"))
    path, found = problems(bundles, text)
    missing = the_problem(found, "reads entry.* but names no list")
    assert (missing.line, missing.step) == (line_of(text, "condition: {field: entry.employee_name"), "whole")
    other = the_problem(found, "for_each 'children' is not its step's list 'employees'")
    assert (other.line, other.step) == (line_of(text, "for_each: children"), "per_employee")


def test_entries_stay_refused_where_no_entry_is_known(bundles: Path) -> None:
    """A field's or material's condition and a step's when are decided without the rules' entries."""
    text = bundle().replace("  - field: note\n    required: false\n",
                            "  - field: note\n    required: false\n    when: {field: entry.employee_name, eq: x}\n")
    text = text.replace("    for_each: employees\n",
                        "    for_each: employees\n    when: {fact: age, of: entry.employee_id_number, ge: 16}\n")
    path, found = problems(bundles, text)
    assert the_problem(found, "only a step's own when may read entry.*").line == line_of(text, "when: {field: entry")
    fact = the_problem(found, "not from 'entry.employee_id_number' (a requires rule may compute it for each entry)")
    assert (fact.line, fact.step) == (line_of(text, "when: {fact: age"), "per_employee")


# --- intake: the hiring bundle with rules on each employee ---------------------------------

COMPANY = make_credit_code("430100", "MA4L00001")
ADULT = make_id_number("430102", date(1990, 1, 1), 11)
ADULT_2 = make_id_number("430103", date(1991, 2, 2), 13)
MINOR = make_id_number("430104", date(2010, 6, 1), 15)  # 15 on 2 March 2026
SIXTEEN = make_id_number("430104", date(2010, 3, 2), 17)  # 16 that very day

# The shipped bundle refuses an employee under 16 (employee_age, 劳动法 §15); the draft adds a warning.
RULES = """\
  - id: contract_started
    for_each: new_employees
    on_fail: warn
    condition: {fact: days_since, of: entry.contract_start, ge: 0}
    reason: {zh: 劳动合同尚未开始, en: the contract has not started yet}
"""

CARD_RULE = """\
    requires:
      - id: card_age
        condition: {fact: age, of: entry.employee_id_number, ge: 18}
        on_fail: skip
        reason: {zh: 未满18周岁的员工社保卡由监护人办理, en: a card for an employee under 18 is applied for by a guardian}
"""


@pytest.fixture
def hiring(runtime: Runtime, tmp_path: Path) -> Runtime:
    """The runtime serving the shipped hiring bundle (its employee_age rule on each new employee), as
    a draft with two more rules on each entry: a warning and a skip on the social security card."""
    text = (BUNDLES_DIR / "hiring.yaml").read_text(encoding="utf-8")
    text = text.replace("requires:\n", "requires:\n" + RULES, 1)
    marker = "  - id: social_security_card\n    item: 14-SBKSL\n"
    assert marker in text
    text = text.replace(marker, marker + CARD_RULE)
    path = tmp_path / "hiring.yaml"
    path.write_text(text, encoding="utf-8")
    return runtime.with_draft(load_draft(path, runtime.registry))


def employees(*people: tuple[str, str], start: str = "2026-03-01") -> dict[str, Any]:
    return {
        "company_credit_code": COMPANY, "company_name": "示例科技有限公司", "agent_name": "测试经办",
        "agent_id_number": GROOM, "applicant_phone": "13800000001", "receive_archives": False,
        "apply_social_security_cards": True,
        "new_employees": [{"employee_name": name, "employee_id_number": ident, "employee_phone": "13800000003",
                           "contract_start": start} for name, ident in people],
    }


def hire(session: Session, runtime: Runtime, answers: dict[str, Any]) -> Case:
    return accept_case(session, runtime, bundle_id="hiring", applicant=Applicant(COMPANY, "enterprise"),
                       answers=answers, actor=CLERK, region="430102")


def test_a_minor_among_the_employees_is_refused_naming_the_entry(session: Session, hiring: Runtime) -> None:
    with pytest.raises(InvalidApplication) as info:
        hire(session, hiring, employees(("测试甲", ADULT), ("测试乙", MINOR), ("测试丙", ADULT_2)))
    session.rollback()
    assert [(p.field, p.code, p.message_zh, p.message_en) for p in info.value.problems] == [(
        "new_employees[1].employee_id_number", "eligibility.employee_age", "新录用员工须年满16周岁（第2项）",
        "every new employee must be at least 16 (entry 2)")]
    assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_employees_all_sixteen_or_over_are_accepted(session: Session, hiring: Runtime) -> None:
    case = hire(session, hiring, employees(("测试甲", ADULT), ("测试乙", SIXTEEN)))
    assert case.state == "accepted"
    payload = session.scalars(select(AuditEvent.payload).where(AuditEvent.case_id == case.id,
                                                               AuditEvent.seq == 1)).one()
    assert "eligibility_warnings" not in payload


def test_a_skip_rule_on_a_per_entry_step_skips_that_entry_only(session: Session, hiring: Runtime) -> None:
    case = hire(session, hiring, employees(("测试甲", ADULT), ("测试乙", SIXTEEN), ("测试丙", ADULT_2)))
    cards = sorted((s for s in case.steps if s.step_key == "social_security_card"), key=lambda s: s.instance)
    assert [s.state for s in cards] == ["pending", "skipped", "pending"]
    assert cards[1].reason == "未满18周岁的员工社保卡由监护人办理 (a card for an employee under 18 is applied for by a guardian)"
    registrations = session.scalars(select(Step.state).where(Step.case_id == case.id,
                                                             Step.step_key == "pension_insurance_registration"))
    assert list(registrations) == ["ready", "ready", "ready"]


def test_a_warning_on_an_entry_is_recorded_with_the_entry(session: Session, hiring: Runtime) -> None:
    answers = employees(("测试甲", ADULT), ("测试乙", ADULT_2))
    answers["new_employees"][1]["contract_start"] = "2026-04-01"
    case = hire(session, hiring, answers)
    payload = session.scalars(select(AuditEvent.payload).where(AuditEvent.case_id == case.id,
                                                               AuditEvent.seq == 1)).one()
    assert [(w["rule"], w["entry"], w["fields"]) for w in payload["eligibility_warnings"]] == [
        ("contract_started", 1, ["new_employees[1].contract_start"])]


def test_prefill_shows_each_entrys_verdict(session: Session, hiring: Runtime) -> None:
    preview = preview_application(session, hiring, bundle_id="hiring", applicant=Applicant(COMPANY, "enterprise"),
                                  answers=employees(("测试甲", ADULT), ("测试乙", MINOR)), actor=CLERK)
    ages = [(v.entry, v.outcome, v.fields) for v in preview.eligibility.verdicts if v.rule == "employee_age"]
    assert ages == [(0, "met", ("new_employees[0].employee_id_number",)),
                    (1, "failed", ("new_employees[1].employee_id_number",))]
    # Before the list is typed the rule is unknown; an invalid ID number is unknown too, not a failure.
    spec = hiring.current_spec("hiring")
    bare = {k: v for k, v in employees().items() if k != "new_employees"}
    assert {v.outcome for v in assess(session, spec=spec, answers=bare, applicant_id=COMPANY,
                                      today=hiring.today()).verdicts if v.rule == "employee_age"} == {"unknown"}
    typo = employees(("测试甲", "123"))
    assert [v.outcome for v in assess(session, spec=spec, answers=typo, applicant_id=COMPANY,
                                      today=hiring.today()).verdicts if v.rule == "employee_age"] == ["unknown"]
