"""The wording of documents, pages and the JSON API: Chinese (and, for the pages' bilingual
lines, English) labels of states, roles, step kinds, supply modes and time units, the 好差评
levels, the labels templates see, dates, and the reasons the engine writes put in plain Chinese.

The one place documents (:mod:`engine.records.documents`), pages and routes get them from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from engine.time.calendar import TimeUnit
from engine.time.clock import CHINA
from engine.spec.models import StepKind, SupplyMode
from engine.machine.states import CaseState, Role, StepState
from engine.people.regions import Level

__all__ = [
    "APPLICANT_ID_LABELS",
    "CASE_STATE_EN",
    "CASE_STATE_LABELS",
    "LABELS",
    "LEVEL_LABELS",
    "RATING_LEVELS",
    "ROLE_EN",
    "ROLE_LABELS",
    "STEP_KIND_LABELS",
    "STEP_STATE_EN",
    "STEP_STATE_LABELS",
    "SUPPLY_MODE_LABELS",
    "TIME_UNIT_LABELS",
    "WAIVED_SUPPLY_MODES",
    "cn_date",
    "cn_datetime",
    "plain_reason",
]

STEP_STATE_LABELS: Mapping[StepState, str] = MappingProxyType(
    {
        StepState.PENDING: "等待前序事项",
        StepState.READY: "待办理",
        StepState.ASSIGNED: "已分派",
        StepState.IN_PROGRESS: "办理中",
        StepState.SUPPLEMENT_REQUESTED: "待补正",
        StepState.DONE: "已办结",
        StepState.REJECTED: "不予办理",
        StepState.SKIPPED: "无需办理",
        StepState.CANCELLED: "已终止",
    }
)

CASE_STATE_LABELS: Mapping[CaseState, str] = MappingProxyType(
    {
        CaseState.ACCEPTED: "已受理",
        CaseState.IN_PROGRESS: "办理中",
        CaseState.SUPPLEMENT_REQUESTED: "待补正",
        CaseState.COMPLETED: "已办结",
        CaseState.PARTIALLY_COMPLETED: "部分办结",
        CaseState.REJECTED: "不予办理",
        CaseState.WITHDRAWN: "已撤回",
    }
)

STEP_STATE_EN: Mapping[StepState, str] = MappingProxyType(
    {
        StepState.PENDING: "waiting for earlier steps", StepState.READY: "ready", StepState.ASSIGNED: "claimed",
        StepState.IN_PROGRESS: "in progress", StepState.SUPPLEMENT_REQUESTED: "awaiting materials",
        StepState.DONE: "done", StepState.REJECTED: "rejected", StepState.SKIPPED: "not needed",
        StepState.CANCELLED: "cancelled",
    }
)

CASE_STATE_EN: Mapping[CaseState, str] = MappingProxyType(
    {
        CaseState.ACCEPTED: "accepted", CaseState.IN_PROGRESS: "in progress",
        CaseState.SUPPLEMENT_REQUESTED: "awaiting materials", CaseState.COMPLETED: "completed",
        CaseState.PARTIALLY_COMPLETED: "partially completed", CaseState.REJECTED: "rejected",
        CaseState.WITHDRAWN: "withdrawn",
    }
)

SUPPLY_MODE_LABELS: Mapping[SupplyMode, str] = MappingProxyType(
    {
        SupplyMode.TEMPLATE: "模板生成（免提交）",
        SupplyMode.E_LICENCE: "电子证照（免提交）",
        SupplyMode.DATA_INTERFACE: "数据共享核验（免提交）",
        SupplyMode.APPLICANT: "申请人提交",
        SupplyMode.PERSONAL_CENTRE: "个人中心已上传材料（免提交）",
    }
)

WAIVED_SUPPLY_MODES: frozenset[SupplyMode] = frozenset(
    {SupplyMode.TEMPLATE, SupplyMode.E_LICENCE, SupplyMode.DATA_INTERFACE, SupplyMode.PERSONAL_CENTRE}
)
"""Supply modes the applicant does not hand in (when the caller does not say otherwise)."""

def role_may_not(role: Role, en: str, zh: str = "进行此操作") -> str:
    """A refusal by role in both languages, as every engine message is written (``English / 中文``,
    which pages split): ``an officer may not act on this step / 部门审批人员无权办理该事项`` (never a
    bare role id, never "a officer")."""
    article = "an" if role.value[0] in "aeiou" else "a"
    return f"{article} {role.value} may not {en} / {ROLE_LABELS[role]}无权{zh}"


ROLE_LABELS: Mapping[Role, str] = MappingProxyType(
    {
        Role.APPLICANT: "申请人",
        Role.CLERK: "综合窗口受理人员",
        Role.OFFICER: "部门审批人员",
        Role.SUPERVISOR: "主管人员",
        Role.ADMIN: "系统管理员",
        Role.SYSTEM: "系统自动",
    }
)

ROLE_EN: Mapping[Role, str] = MappingProxyType(
    {
        Role.APPLICANT: "Applicant", Role.CLERK: "Intake clerk", Role.OFFICER: "Department officer",
        Role.SUPERVISOR: "Supervisor", Role.ADMIN: "Administrator", Role.SYSTEM: "System",
    }
)

STEP_KIND_LABELS: Mapping[StepKind, str] = MappingProxyType(
    {
        StepKind.HUMAN: "人工审核",
        StepKind.AUTOMATED: "系统自动办理",
        StepKind.COMMITMENT: "告知承诺",
        StepKind.TIMER: "公示（等待期满自动办结）",
    }
)

TIME_UNIT_LABELS: Mapping[TimeUnit, str] = MappingProxyType(
    {TimeUnit.WORKING_DAYS: "个工作日", TimeUnit.CALENDAR_DAYS: "个自然日"}
)

APPLICANT_ID_LABELS: Mapping[str, str] = MappingProxyType(
    {"person": "公民身份号码", "enterprise": "统一社会信用代码"}
)

LEVEL_LABELS: Mapping[Level, str] = MappingProxyType(
    {Level.PROVINCE: "省级", Level.CITY: "市级", Level.COUNTY: "县级", Level.TOWNSHIP: "乡级", Level.VILLAGE: "村级"}
)
"""The five levels of government (省市县乡村五级), as the offices and the supervision desk name them."""

RATING_LEVELS: tuple[str, ...] = ("非常满意", "满意", "基本满意", "不满意", "非常不满意")
"""政务服务“好差评” levels, best first."""


@dataclass(frozen=True)
class _Labels:
    """What the templates see as ``labels``."""

    roles: Mapping[str, str]
    ratings: tuple[str, ...]
    provisional: str
    provisional_note: str
    whole_bundle: str
    """What a material of the whole bundle shows instead of the items that need it."""


LABELS = _Labels(
    roles=MappingProxyType({role.value: label for role, label in ROLE_LABELS.items()}),
    ratings=RATING_LEVELS,
    provisional="预计（假期安排未公布）",
    provisional_note=(
        "标注“预计（假期安排未公布）”的日期所在年度的法定节假日安排尚未公布，暂按周末推算；"
        "安排公布后以实际工作日为准。"
    ),
    whole_bundle="各事项通用 (the whole bundle)",
)

# Reasons the engine itself writes (engine.machine.progress, engine.machine.intake, the gate's 补正 lapse),
# in plain Chinese.
_REASONS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], Callable[[str], str]], str]], ...] = (
    (re.compile(r"condition not met"), lambda m, name: "根据申请情况，无需办理"),
    (re.compile(r"no entries in (\w+)"), lambda m, name: "申请中无相关条目，无需办理"),
    (re.compile(r"no item for (\w+)"), lambda m, name: "所选情形无对应事项，无需办理"),
    (re.compile(r"alternative (\w+) was taken"), lambda m, name: f"已通过“{name(m[1])}”办理，无需重复办理"),
    (re.compile(r"prerequisite (\w+) was rejected"), lambda m, name: f"前序事项“{name(m[1])}”不予办理"),
    (re.compile(r"prerequisite (\w+) was cancelled"), lambda m, name: f"前序事项“{name(m[1])}”已终止"),
    (re.compile(r"no alternative of .* succeeded"), lambda m, name: "可选的前序事项均未办成"),
    (re.compile(r"case withdrawn"), lambda m, name: "申请人已撤回申请"),
    (re.compile(r"case rejected: step (\w+) was rejected"), lambda m, name: f"因“{name(m[1])}”不予办理，本件事终止"),
    (re.compile(r"case rejected: step (\w+) was deemed withdrawn"),
     lambda m, name: f"因“{name(m[1])}”逾期未补正视为撤回，本件事终止"),
    (re.compile(r"the 补正 window ended on (\d{4}-\d{2}-\d{2}) .*"),
     lambda m, name: f"补正期限（{m[1]}）届满未补正，视为撤回本事项申请"),
)


def plain_reason(text: str, item_name: Callable[[str], str]) -> str:
    """A reason the engine wrote, in plain Chinese (other text as it is); ``item_name`` names the
    service item of a step key."""
    for pattern, say in _REASONS:
        match = pattern.fullmatch(text.strip())
        if match is not None:
            return say(match, item_name)
    return text


# --- dates ------------------------------------------------------------------------------------------


def _to_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(CHINA).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def cn_date(value: Any) -> str:
    """``2026年3月2日``; text that is not a date is shown as it is; None as an empty string."""
    if value is None or value == "":
        return ""
    day = _to_date(value)
    if day is None:
        return str(value)
    return f"{day.year}年{day.month}月{day.day}日"


def cn_datetime(value: datetime) -> str:
    """``2026年3月2日 09:00`` in Beijing time."""
    local = value.astimezone(CHINA) if value.tzinfo else value
    return f"{cn_date(local.date())} {local:%H:%M}"
