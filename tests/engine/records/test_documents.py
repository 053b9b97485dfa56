"""Printable documents rendered from real bundles and real accepted cases.

Assertions read the visible text (tags, styles and attributes stripped) the way an applicant
or an officer would, plus the raw HTML for escaping checks.
"""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy.orm import Session

from engine.time.clock import FixedClock
from engine.db.models import Case, Step
from engine.records.documents import (
    RATING_LEVELS,
    render_application_form,
    render_completion_notice,
    render_missing_materials_notice,
    render_receipt,
    render_step_form,
)
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime
from engine.spec.loader import BundleRegistry
from engine.people.validators import mask_id_number
from engine.machine.actions import claim_step, complete_step, reject_step, request_supplement
from tests.engine.sample_people import BRIDE, CHILD, CLERK, DECEASED, GROOM, HEIR_2, marriage_answers, officer, post_death_answers

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PROVISIONAL = "预计（假期安排未公布）"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def text(html: str) -> str:
    """The visible text, whitespace collapsed."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def section(html: str, start: str, end: str | None = None) -> str:
    """Visible text from one heading to the next."""
    visible = text(html)
    tail = visible[visible.index(start) :]
    return tail[: tail.index(end)] if end else tail


def zh(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def accept(session: Session, runtime: Runtime, bundle_id: str, answers: dict[str, Any], *, who: str, name: str) -> Case:
    return accept_case(
        session, runtime, bundle_id=bundle_id, applicant=Applicant(who, "person", name), answers=answers, actor=CLERK
    )


def step_of(case: Case, key: str, instance: int = 0) -> Step:
    return next(s for s in case.steps if s.step_key == key and s.instance == instance)


def finish(session: Session, runtime: Runtime, step: Step, **outputs: Any) -> None:
    actor = officer(step.department)
    claim_step(session, runtime, step_id=step.id, actor=actor, expected_version=step.version)
    complete_step(session, runtime, step_id=step.id, actor=actor, outputs=outputs, expected_version=step.version)


# --- application form ----------------------------------------------------------------------------


def test_blank_application_form_lists_every_field_and_splits_materials(registry: BundleRegistry) -> None:
    bundle = registry.get("marriage")
    html = render_application_form(bundle, registry)
    visible = text(html)
    assert 'lang="zh-CN"' in html and "@media print" in html and 'name="viewport"' in html
    assert "结婚落户“一件事”申请表" in visible
    for use in bundle.fields:
        assert registry.fields[use.field].label.zh in visible
    # conditional fields are listed with a note, since no answer settles them yet
    assert re.search(r"被投靠方户口类型 ?（如适用）", visible)
    # every step of the bundle, with its department
    for step in bundle.steps:
        assert registry.catalog.items[step.item].name in visible
    waived = section(html, "免提交 waived", "需提交 to supply")
    supplied = section(html, "需提交 to supply", "四、申请人承诺")
    assert "女方居民身份证" in waived and "电子证照（免提交）" in waived
    assert "结婚落户“一件事”申请表" in waived and "模板生成（免提交）" in waived
    assert "3张2寸男女双方近期半身免冠合影照片" in supplied and "申请人提交" in supplied
    assert "女方居民身份证" not in supplied
    assert visible.count("女方居民户口簿") == 1  # used by two steps, listed once
    assert "申请人（签名或盖章）" in visible and "承诺" in visible
    assert "生成时间" in visible


def test_filled_application_form_shows_answers_sources_and_chosen_waivers(registry: BundleRegistry) -> None:
    bundle = registry.get("marriage")
    answers = marriage_answers(both_hunan_household=False, move_household=None, receiving_household_type=None)
    answers = {k: v for k, v in answers.items() if v is not None}
    html = render_application_form(
        bundle, registry, answers=answers, sources={"groom_name": "L2000016", "bride_name": "L2000016"},
        waived=["3张2寸男女双方近期半身免冠合影照片", "结婚落户“一件事”申请表"],
    )
    visible = text(html)
    assert "测试甲" in visible and "测试乙" in visible
    assert GROOM in visible and BRIDE in visible  # the applicant's own form: IDs in full
    assert "13800000000" in visible
    assert visible.count("已从电子证照“居民身份证”自动填写") == 2
    # a condition the answers make false leaves its field out
    assert "被投靠方户口类型" not in visible and "申请夫妻投靠户口迁移" not in visible
    assert "夫妻投靠户口迁移" not in section(html, "二、本件事包含的事项", "三、申请材料")
    # previously_married is false: the divorce certificate is not asked for
    assert "离婚证" not in visible
    waived = section(html, "免提交 waived", "需提交 to supply")
    supplied = section(html, "需提交 to supply", "四、申请人承诺")
    assert "3张2寸男女双方近期半身免冠合影照片" in waived
    assert "女方居民身份证" in supplied  # only the names given are waived


def test_application_form_shows_choice_boolean_and_list_values(registry: BundleRegistry) -> None:
    bundle = registry.get("post_death")
    html = render_application_form(bundle, registry, answers=post_death_answers())
    visible = text(html)
    assert "子女" in visible and "正常死亡" in visible  # choice labels, not codes
    assert "2026年2月26日" in visible
    assert re.search(r"逝者为企业退休职工 是", visible)
    assert re.search(r"查询股权登记信息 ?（选填） 否", visible)
    heirs = section(html, "继承人（提取小额存款）", "二、本件事包含的事项")
    assert "继承人姓名" in heirs and "存款银行" in heirs
    assert "测试戊" in heirs and HEIR_2 in heirs and CHILD in heirs
    # the shareholding look-up was not asked for: not an item of this application
    assert "已故人员股权登记信息查询" not in visible


# --- step form -----------------------------------------------------------------------------------


def test_step_form_shows_only_the_declared_fields(registry: BundleRegistry) -> None:
    bundle = registry.get("marriage")
    html = render_step_form(bundle, registry, "birth_plan_registration", answers=marriage_answers())
    visible = text(html)
    assert "男方姓名" in visible and "测试甲" in visible and "女方姓名" in visible and "测试乙" in visible
    for other in ("男方身份证号", "女方身份证号", "联系电话", "是否有过婚史", "被投靠方户口类型"):
        assert other not in visible
    assert GROOM not in html and BRIDE not in html and "13800000000" not in html
    # the service item's elements
    item = registry.catalog.items["23-SYDJ"]
    for element in (item.code, item.name, item.legal_basis, item.type.value, item.result, "卫生健康委员会", "5个工作日"):
        assert element in visible


def test_step_form_lists_its_materials_and_full_ids(registry: BundleRegistry) -> None:
    bundle = registry.get("marriage")
    html = render_step_form(bundle, registry, "marriage_registration", answers=marriage_answers())
    visible = text(html)
    assert GROOM in visible and BRIDE in visible  # the department's working form
    assert "女方居民身份证" in visible and "电子证照（免提交）" in visible
    assert "3张2寸男女双方近期半身免冠合影照片" in visible
    assert "离婚证" not in visible  # condition false for these answers
    assert "民政局" in visible and "《中华人民共和国民法典》第一千零四十九条" in visible
    assert "申请夫妻投靠户口迁移" not in visible


def test_step_form_for_one_heir_shows_that_heir_only(registry: BundleRegistry) -> None:
    bundle = registry.get("post_death")
    html = render_step_form(bundle, registry, "small_deposit_withdrawal", answers=post_death_answers(), instance=1)
    visible = text(html)
    assert "逝者姓名" in visible and "测试丁" in visible
    assert "测试戊" in visible and HEIR_2 in visible
    assert CHILD not in visible  # the other heir
    assert "逝者身份证号" not in visible and DECEASED not in visible
    assert "申请人与逝者关系" not in visible


def test_blank_step_form_has_lines_to_fill(registry: BundleRegistry) -> None:
    html = render_step_form(registry.get("marriage"), registry, "spouse_household_move")
    assert html.count('class="blank"') >= 4
    assert "☐ 家庭户" in text(html)


# --- receipt -------------------------------------------------------------------------------------


def test_receipt_lists_every_step_with_department_and_due_date(
    session: Session, runtime: Runtime, registry: BundleRegistry
) -> None:
    case = accept(session, runtime, "marriage", marriage_answers(), who=GROOM, name="测试甲")
    html = render_receipt(case, registry.get("marriage"), registry)
    visible = text(html)
    assert case.receipt_no == "430102-20260302-00001"
    assert case.receipt_no in visible
    assert "结婚落户“一件事”" in visible and "测试甲" in visible
    assert "2026年3月2日" in visible  # accepted
    assert zh(case.due_on) in visible
    for step in case.steps:
        assert registry.catalog.items[step.item_code].name in visible
        assert registry.catalog.departments[step.department].name.zh in visible
        if step.due_on is not None:
            assert zh(step.due_on) in visible
    assert "待办理" in visible and "等待前序事项" in visible
    # 2026 has an official holiday schedule: nothing is provisional
    assert not case.due_provisional and not any(s.due_provisional for s in case.steps)
    assert PROVISIONAL not in visible and 'class="provisional"' not in html


def test_receipt_masks_sensitive_ids(session: Session, runtime: Runtime, registry: BundleRegistry) -> None:
    case = accept(session, runtime, "post_death", post_death_answers(), who=CHILD, name="测试丙")
    html = render_receipt(case, registry.get("post_death"), registry)
    visible = text(html)
    for ident in (CHILD, DECEASED, HEIR_2, "13900000000"):
        assert ident not in html
    assert mask_id_number(CHILD) in visible and mask_id_number(DECEASED) in visible
    assert mask_id_number(HEIR_2) in visible
    assert "测试丁" in visible
    # one row per heir, labelled with the heir's name
    assert "已故存款人小额存款提取(继承人提取)（测试丙）" in visible
    assert "已故存款人小额存款提取(继承人提取)（测试戊）" in visible
    assert "无需办理" in visible  # the unnatural-death certificate and the shareholding look-up


def test_receipt_marks_provisional_due_dates(
    session: Session, runtime: Runtime, registry: BundleRegistry, clock: FixedClock
) -> None:
    clock.set_local(date(2026, 12, 15))  # 15 working days reach into 2027, which has no schedule yet
    case = accept(session, runtime, "marriage", marriage_answers(), who=GROOM, name="测试甲")
    registration = step_of(case, "marriage_registration")
    assert case.due_on.year == 2027 and case.due_provisional
    assert registration.due_on is not None and registration.due_on.year == 2027 and registration.due_provisional
    html = render_receipt(case, registry.get("marriage"), registry)
    assert html.count('class="provisional"') == 2  # the bundle and its one ready step
    visible = text(html)
    for due_on in (case.due_on, registration.due_on):
        assert re.search(re.escape(zh(due_on)) + " ?" + re.escape(PROVISIONAL), visible)
    assert "尚未公布" in visible  # the legend explains the marker


def test_receipt_marker_only_on_provisional_dates(
    session: Session, runtime: Runtime, registry: BundleRegistry, clock: FixedClock
) -> None:
    # Accepted 1 December: the 30-working-day bundle is due in 2027 (provisional), the ready
    # steps (1-5 working days) in December 2026 (firm).
    clock.set_local(date(2026, 12, 1))
    case = accept(session, runtime, "post_death", post_death_answers(), who=CHILD, name="测试丙")
    assert case.due_on.year == 2027 and case.due_provisional
    dated = [s for s in case.steps if s.due_on is not None]
    assert dated and all(s.due_on is not None and s.due_on.year == 2026 and not s.due_provisional for s in dated)
    html = render_receipt(case, registry.get("post_death"), registry)
    assert html.count('class="provisional"') == 1
    visible = text(html)
    assert re.search(re.escape(zh(case.due_on)) + " ?" + re.escape(PROVISIONAL), visible)
    for step in dated:
        assert step.due_on is not None
        assert zh(step.due_on) in visible
        assert not re.search(re.escape(zh(step.due_on)) + " ?" + re.escape(PROVISIONAL), visible)


# --- one-time notice of missing materials ----------------------------------------------------------


def test_missing_materials_notice_lists_every_requested_material(
    session: Session, runtime: Runtime, registry: BundleRegistry, clock: FixedClock
) -> None:
    bundle = registry.get("marriage")
    case = accept(session, runtime, "marriage", marriage_answers(), who=GROOM, name="测试甲")
    with pytest.raises(ValueError):
        render_missing_materials_notice(case, bundle, registry, today=date(2026, 3, 3))
    clock.advance(days=1)
    step = step_of(case, "marriage_registration")
    actor = officer(step.department)
    claim_step(session, runtime, step_id=step.id, actor=actor, expected_version=step.version)
    wanted = ["3张2寸男女双方近期半身免冠合影照片", "丧偶证明材料", "户口所在地派出所出具的婚姻状况证明"]
    request_supplement(session, runtime, step_id=step.id, actor=actor, materials=wanted,
                       note="照片须为红底", expected_version=step.version)
    session.refresh(case)
    html = render_missing_materials_notice(case, bundle, registry, today=date(2026, 3, 3))
    visible = text(html)
    assert "一次性告知书" in visible and case.receipt_no in visible
    assert "测试甲" in visible and mask_id_number(GROOM) in visible and GROOM not in html
    assert "内地居民结婚登记" in visible and "民政局" in visible
    listed = re.findall(r"<li>(.*?)</li>", html)
    assert listed == wanted
    assert "照片须为红底" in visible
    assert "2026年3月3日" in visible
    assert "第三十二条" in visible and "一次性列明" in visible and "不会再要求" in visible
    # only the step that waits for materials
    assert "变更户口婚姻状况" not in visible


# --- completion notice ---------------------------------------------------------------------------


def test_completion_notice_lists_results_and_steps_not_done(
    session: Session, runtime: Runtime, registry: BundleRegistry, clock: FixedClock
) -> None:
    bundle = registry.get("marriage")
    answers = marriage_answers(receiving_household_type="collective", register_birth_plan=False)
    case = accept(session, runtime, "marriage", answers, who=GROOM, name="测试甲")
    with pytest.raises(ValueError):
        render_completion_notice(case, bundle, registry)
    clock.advance(days=1)
    finish(session, runtime, step_of(case, "marriage_registration"), result="结婚证（字号 J430102-2026-000123）")
    session.refresh(case)
    clock.advance(days=2)
    finish(session, runtime, step_of(case, "marital_status_change"))
    session.refresh(case)
    assert case.state == "completed"
    html = render_completion_notice(case, bundle, registry)
    visible = text(html)
    assert "办结通知" in visible and case.receipt_no in visible and "结婚落户“一件事”" in visible
    assert "2026年3月5日" in visible  # closed on Thursday
    done = section(html, "一、已办结事项", "二、未办理事项")
    assert "内地居民结婚登记" in done and "民政局" in done and "结婚证（字号 J430102-2026-000123）" in done
    assert "变更户口婚姻状况" in done and "公安局" in done and "居民户口簿" in done  # the item's result
    not_done = section(html, "二、未办理事项", "三、请您评价")
    assert "夫妻投靠户口迁移" in not_done and "生育登记" in not_done
    assert "无需办理" in not_done and "根据申请情况，无需办理" in not_done
    rating = section(html, "三、请您评价")
    for level in RATING_LEVELS:
        assert level in rating
    assert "好差评" in visible
    assert mask_id_number(GROOM) in visible and GROOM not in html


def test_completion_notice_explains_rejection_and_cancellation(
    session: Session, runtime: Runtime, registry: BundleRegistry
) -> None:
    bundle = registry.get("marriage")
    case = accept(session, runtime, "marriage", marriage_answers(), who=GROOM, name="测试甲")
    step = step_of(case, "marriage_registration")
    actor = officer(step.department)
    claim_step(session, runtime, step_id=step.id, actor=actor, expected_version=step.version)
    reject_step(session, runtime, step_id=step.id, actor=actor, reason="当事人未达法定婚龄", expected_version=step.version)
    session.refresh(case)
    assert case.closed_at is not None
    html = render_completion_notice(case, bundle, registry)
    not_done = section(html, "二、未办理事项", "三、请您评价")
    assert "不予办理" in not_done and "当事人未达法定婚龄" in not_done
    assert "已终止" in not_done and "前序事项“内地居民结婚登记”不予办理" in not_done
    assert "无" in section(html, "一、已办结事项", "二、未办理事项")


# --- injection -----------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [SCRIPT, IMG])
def test_untrusted_text_is_escaped_in_every_document(
    session: Session, runtime: Runtime, registry: BundleRegistry, clock: FixedClock, payload: str
) -> None:
    bundle = registry.get("marriage")
    answers = marriage_answers(groom_name=payload, bride_name=payload)
    case = accept(session, runtime, "marriage", answers, who=GROOM, name=payload)
    clock.advance(days=1)
    registration = step_of(case, "marriage_registration")
    actor = officer(registration.department)
    claim_step(session, runtime, step_id=registration.id, actor=actor, expected_version=registration.version)
    request_supplement(session, runtime, step_id=registration.id, actor=actor, materials=[payload, "身份证明"],
                       note=payload, expected_version=registration.version)
    session.refresh(case)
    documents = {
        "application_form": render_application_form(bundle, registry, answers=case.answers),
        "step_form": render_step_form(bundle, registry, "birth_plan_registration", answers=case.answers),
        "receipt": render_receipt(case, bundle, registry),
        "missing_materials_notice": render_missing_materials_notice(case, bundle, registry, today=date(2026, 3, 3)),
    }
    # then the officer refuses with the same text as the reason, closing the case
    from tests.engine.supplements import bring_supplement

    bring_supplement(session, runtime, registration, officer=actor)
    session.refresh(registration)
    reject_step(session, runtime, step_id=registration.id, actor=actor, reason=payload,
                expected_version=registration.version)
    session.refresh(case)
    documents["completion_notice"] = render_completion_notice(case, bundle, registry)
    escaped = "&lt;script&gt;" if payload == SCRIPT else "&lt;img src=x onerror=alert(1)&gt;"
    for name, html in documents.items():
        assert payload not in html, name
        assert "<script" not in html and "<img" not in html and "onerror=alert(1)>" not in html, name
        assert escaped in html, name
        assert payload in text(html), name  # shown to the reader as typed


def test_every_bundle_renders_its_forms(registry: BundleRegistry) -> None:
    """No bundle needs a template of its own: the shared ones cover every field type and step."""
    for bundle in registry:
        visible = text(render_application_form(bundle, registry))
        assert bundle.name.zh in visible
        for use in bundle.fields:
            assert registry.fields[use.field].label.zh in visible, (bundle.id, use.field)
        for step in bundle.steps:
            html = render_step_form(bundle, registry, step.id)
            assert registry.catalog.items[step.item].name in text(html), (bundle.id, step.id)


def test_a_step_due_after_the_whole_case_says_why() -> None:
    """Issue 15: the case was due 12-23 and its first step 12-30, unexplained."""
    from datetime import date
    from types import SimpleNamespace

    from engine.records.documents import environment

    macros = environment().get_template("_macros.html").module
    step = SimpleNamespace(key="s", department_name="民政局", state="ready", state_label="待办", time_limit="20个工作日",
                           due_on=date(2026, 12, 30), due_provisional=False, item_name="x", instance_label="",
                           result="", closed_on=None, reason="")
    later = str(macros.steps_table([step], case_due=date(2026, 12, 23)))  # type: ignore[attr-defined]
    assert "晚于整件事应办结日期" in later
    assert "晚于整件事应办结日期" not in str(macros.steps_table([step], case_due=date(2026, 12, 31)))  # type: ignore[attr-defined]
