"""The clerk's intake page and eligibility (前置校验), on every backend.

The form lists the bundle's rules from the start (the guide's reason in both languages, the
condition in words); once the applicant is identified each shows how it stands on what is typed;
a refused submission marks the rule that refused it, shows its reason next to the fields it reads
and keeps the clerk's answers. A rule on each entry of a list marks the failing row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from engine.db.models import Case
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import Role
from engine.people.tokens import issue_token
from engine.people.validators import make_id_number
from engine.runtime import Runtime, publish_bundles
from tests.api.conftest import Api
from tests.api.test_pages import field_box, form_of, get, intake_form, post
from tests.conftest import Database
from tests.engine.sample_people import CLERK, another_couple, marriage_answers
from tests.engine.spec.test_entry_requirements import ADULT, ADULT_2, COMPANY, MINOR, employees, hiring  # noqa: F401

YOUNG_BRIDE = make_id_number("430104", date(2008, 1, 1), 22)  # 18 on 2 March 2026


def rule_row(html: str, code: str) -> str:
    """The markup of one rule of the eligibility panel."""
    found = re.search(rf'<li class="rule[^"]*" data-rule="{re.escape(code)}">.*?</li>', html, re.S)
    assert found, f"no rule {code}"
    return found[0]


def panel(html: str) -> str:
    start = html.index('id="eligibility"')
    return html[start:html.index("</ul></div>", start)]


def test_the_form_lists_the_rules_before_the_applicant_is_identified(api: Api) -> None:
    page = get(api, "/ui/intake/marriage", "clerk")
    assert page.status_code == 200 and 'id="application"' not in page.text
    rules = panel(page.text)
    codes = re.findall(r'data-rule="([^"]+)"', rules)
    assert codes == [f"eligibility.{r.id}" for r in api.runtime.current_spec("marriage").requires]
    bride = rule_row(page.text, "eligibility.bride_age")
    assert "男不得早于二十二周岁，女不得早于二十周岁（女方）" in bride and "the bride is under age (men 22, women 20)" in bride
    # the condition in the engine's words, with the field dictionary's labels
    assert "「女方身份证号」的性别为“female”且「女方身份证号」的周岁年龄不小于“20”" in bride
    assert "不符合则不予受理" in bride and 'class="rule"' in bride  # nothing decided yet
    assert "「男方身份证号」、「女方身份证号」的互不相同为“是”" in rule_row(page.text, "eligibility.two_people")
    assert "识别申请人后即显示校验结果" in rules


def test_once_identified_each_rule_shows_how_it_stands(api: Api) -> None:
    couple = another_couple()
    groom, bride = couple["groom_id_number"], couple["bride_id_number"]
    page = get(api, f"/ui/intake/marriage?applicant_id={groom}&a.groom_id_number={groom}"
                    f"&a.bride_id_number={YOUNG_BRIDE}", "clerk")
    assert page.status_code == 200 and 'id="application"' in page.text
    failed = rule_row(page.text, "eligibility.bride_age")
    assert 'class="rule failed"' in failed and "不符合" in failed and "badge rejected" in failed
    assert 'class="rule met"' in rule_row(page.text, "eligibility.groom_age")
    assert 'class="rule met"' in rule_row(page.text, "eligibility.no_open_case")  # a clerk's intake counts them
    # An applicant is not told about the other spouse's records: those rules wait for the department.
    with api.session() as session:
        api.tokens["own"] = issue_token(session, role="applicant", subject=str(groom), now=api.clock.now())
    own = get(api, f"/ui/intake/marriage?a.groom_id_number={groom}&a.bride_id_number={bride}", "own")
    unmarried = rule_row(own.text, "eligibility.bride_unmarried")
    assert 'class="rule unknown"' in unmarried and "待核验" in unmarried
    assert 'class="rule met"' in rule_row(own.text, "eligibility.groom_unmarried")


def test_a_refused_submission_marks_the_rule_and_keeps_the_answers(api: Api) -> None:
    couple = another_couple()
    with api.session() as session:
        accept_case(session, api.runtime, bundle_id="marriage", answers=marriage_answers(**couple), actor=CLERK,
                    applicant=Applicant(str(couple["groom_id_number"]), "person", "测试甲"))
    form = intake_form(str(couple["groom_id_number"]), key="second-case-1", applicant_phone="13800000077", **couple)
    response = post(api, "/ui/intake/marriage", "clerk", form)
    assert response.status_code == 422
    html = response.text
    assert "未通过前置校验，不予受理：该男女双方已有在办的结婚落户“一件事”，请勿重复申请" in html
    assert "Refused: this couple already has an open marriage case" in html
    row = rule_row(html, "eligibility.no_open_case")
    assert 'class="rule failed refused"' in row and "本次提交因此不予受理" in row
    assert 'class="rule met"' in rule_row(html, "eligibility.bride_age")
    for name in ("groom_id_number", "bride_id_number"):  # the reason next to each field the rule reads
        box = field_box(html, name)
        assert 'class="field invalid"' in box and "该男女双方已有在办的结婚落户“一件事”，请勿重复申请" in box
        assert f'value="{couple[name]}"' in box
    assert 'value="测试甲"' in field_box(html, "groom_name")  # the clerk's answers are kept
    assert 'value="13800000077"' in field_box(html, "applicant_phone")
    assert 'name="idempotency_key" value="second-case-1"' in html
    with api.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1


@pytest.fixture
def hiring_api(db: Database, hiring: Runtime) -> Iterator[Api]:  # noqa: F811
    """The pages serving the hiring bundle with rules on each new employee (a draft), for a clerk."""
    with db.session() as session:
        publish_bundles(session, hiring)
        tokens = {"clerk": issue_token(session, role=Role.CLERK.value, region="430102", label="clerk",
                                       now=hiring.clock.now())}
    with TestClient(create_app(sessions=db.sessions, runtime=hiring)) as client:
        yield Api(client=client, db=db, runtime=hiring, clock=hiring.clock, tokens=tokens)


def test_a_rule_on_each_entry_marks_the_failing_row(hiring_api: Api) -> None:
    form = {"applicant_id": COMPANY, "idempotency_key": "hiring-minor-1",
            **form_of(employees(("测试甲", ADULT), ("测试乙", MINOR), ("测试丙", ADULT_2)))}
    response = post(hiring_api, "/ui/intake/hiring", "clerk", form)
    assert response.status_code == 422
    html = response.text
    row = rule_row(html, "eligibility.employee_age")
    assert 'class="rule failed refused"' in row and "不符合的条目：第2行" in row
    assert "「员工身份证号」的周岁年龄不小于“16”" in row
    cell = re.search(r'<td class="invalid"><input type="text" name="a\.new_employees\.1\.employee_id_number"'
                     r'[^>]*value="([^"]*)".*?</td>', html, re.S)
    assert cell and cell[1] == MINOR and "新录用员工须年满16周岁（第2项）" in cell[0]
    assert 'name="a.new_employees.0.employee_id_number"' in html and 'value="测试丙"' in html  # rows kept
    assert "新录用员工 第2行 员工身份证号" in html  # the problems list names the row
    with hiring_api.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0
