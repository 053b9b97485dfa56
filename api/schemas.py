"""Request and response bodies, with examples for /docs.

Requests are strict: unknown keys, control characters in text, non-finite numbers and deeply
nested JSON are refused with a 422 naming the field, so nothing malformed reaches the engine or
the database. The schema says so too (patterns, lengths, item counts, the JSON values answers
may hold), so what the OpenAPI document accepts is what the server accepts; integers are
JSON-Schema integers (``1.0`` is one, ``"1"`` and ``true`` are not). Responses are the engine's
read models (:mod:`engine.records.queries`, :mod:`engine.time.supervision`) with their documentation added,
or built from them; every error is a :class:`Problem`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    computed_field,
)
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

from engine.documents.files import MaterialHandIn
from engine.machine.handover import MAX_NAME, MAX_NOTE, METHODS, RECIPIENTS, TRACKING_NO, HandoverView
from engine.machine.states import Role
from engine.machine.transitions import STEP_RULES
from engine.records.labels import SUPPLY_MODE_LABELS
from engine.records.queries import (
    CaseStatus,
    FieldValue,
    MaterialOption,
    MaterialView,
    Page,
    StepDetail,
    StepStatus,
    WorkItem,
)
from engine.people.regions import Level
from engine.time.supervision import CardView, DepartmentLoad, DeskNames, OfficeLoad, RegionLoad, SupervisionStats

ID_PATTERN = r"^[0-9a-f]{32}$"
BUNDLE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
DEPARTMENT_PATTERN = r"^[0-9]{2}$"
REGION_PATTERN = r"^[0-9]{6}([0-9]{3}){0,2}$"
APPLICANT_ID_PATTERN = r"^([0-9]{17}[0-9Xx]|[0-9A-HJ-NP-RTUW-Y]{18})$"
"""An 18-character 居民身份证号 or 统一社会信用代码 (the check character is verified by the engine)."""
PLAIN_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""Text without control characters (tab and line breaks allowed)."""
MAX_DEPTH = 12
MAX_NODES = 5000
MAX_STRING = 10_000
MAX_PROPERTIES = 200
LARGEST_NUMBER = 2**63 - 1


def _plain_text(value: str) -> str:
    """Refuse control characters and lone surrogates (neither can be stored or encoded)."""
    if any(ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValueError("must not contain control characters or unpaired surrogates")
    return value


def _json_safe(value: dict[str, Any]) -> dict[str, Any]:
    """Finite numbers, plain text of at most MAX_STRING characters, MAX_DEPTH levels, MAX_NODES values."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH or nodes > MAX_NODES:
            raise ValueError(f"must nest at most {MAX_DEPTH} levels and hold at most {MAX_NODES} values")
        if isinstance(node, float) and not math.isfinite(node):
            raise ValueError("numbers must be finite")
        if isinstance(node, int | float) and not isinstance(node, bool) and abs(node) > LARGEST_NUMBER:
            raise ValueError("numbers must fit in 64 bits")
        if isinstance(node, str):
            if len(node) > MAX_STRING:
                raise ValueError(f"text values are at most {MAX_STRING} characters")
            _plain_text(node)
        elif isinstance(node, dict):
            if len(node) > MAX_PROPERTIES:
                raise ValueError(f"objects have at most {MAX_PROPERTIES} keys")
            for key, item in node.items():
                _plain_text(key)
                stack.append((item, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
    return value


def _integral(value: Any) -> Any:
    """A JSON-Schema integer: a whole number, ``1.0`` included; never text or a boolean."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


JSON_VALUE_REF = "#/components/schemas/JsonValue"
JSON_VALUE_SCHEMA: dict[str, Any] = {
    "description": f"Any JSON value whose text has no control characters (at most {MAX_STRING} characters), "
                   f"whose numbers are finite and within ±(2^63 − 1), and whose objects have at most "
                   f"{MAX_PROPERTIES} keys; at most {MAX_DEPTH} levels and {MAX_NODES} values in all.",
    "anyOf": [
        {"type": "string", "maxLength": MAX_STRING, "pattern": PLAIN_TEXT_PATTERN},
        {"type": "number", "minimum": -LARGEST_NUMBER, "maximum": LARGEST_NUMBER},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": {"$ref": JSON_VALUE_REF}},
        {"type": "object", "maxProperties": MAX_PROPERTIES, "propertyNames": {"pattern": PLAIN_TEXT_PATTERN},
         "additionalProperties": {"$ref": JSON_VALUE_REF}},
    ],
}
"""The schema of the values in answers and outputs (enforced by :func:`_json_safe`)."""

# Text with its length limits and the no-control-characters pattern (in the schema too).
Text = Annotated[str, StringConstraints(pattern=PLAIN_TEXT_PATTERN), AfterValidator(_plain_text)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=PLAIN_TEXT_PATTERN),
                      AfterValidator(_plain_text)]
NameText = Annotated[str, StringConstraints(max_length=200, pattern=PLAIN_TEXT_PATTERN), AfterValidator(_plain_text)]
LongText = Annotated[str, StringConstraints(max_length=2000, pattern=PLAIN_TEXT_PATTERN), AfterValidator(_plain_text)]
ReasonText = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=PLAIN_TEXT_PATTERN),
                       AfterValidator(_plain_text)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_safe), WithJsonSchema({
    "type": "object", "maxProperties": MAX_PROPERTIES, "propertyNames": {"pattern": PLAIN_TEXT_PATTERN},
    "additionalProperties": {"$ref": JSON_VALUE_REF}})]
# (the Field first: after a validator its bounds would not reach the JSON schema)
Version = Annotated[int, Field(ge=0, le=2**31 - 1, description="The step version you last read."),
                    BeforeValidator(_integral)]
EntityId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- requests ----------------------------------------------------------------------------


class ApplicantIn(Request):
    id: Annotated[str, StringConstraints(pattern=APPLICANT_ID_PATTERN)] = Field(
        description="居民身份证号 (person) or 统一社会信用代码 (enterprise), 18 characters")
    kind: Literal["person", "enterprise"]
    name: NameText = ""


class MaterialHandInIn(Request):
    """What is handed in for one material at intake: the ids of files staged by POST /uploads, a
    paper original seen at the window (clerks), or 容缺 a promised date (a deferrable material);
    at the window, the clerk's check of it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"files": ["0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"], "check": "accepted"}, {"paper": True, "check": "accepted"},
        {"deferred_until": "2026-03-09"}]})

    files: list[EntityId] = Field(default_factory=list, max_length=100, description="Ids of files you staged for it")
    paper: bool = Field(default=False, description="The paper original was seen at the window (clerks only)")
    deferred_until: date | None = Field(default=None, description=(
        "容缺受理: the date the applicant promises it by (a deferrable material, within its working-day limit)"))
    check: Literal["accepted", "returned"] | None = Field(default=None, description=(
        "The window's check of what is handed in (required at the window; accepted, or returned with a reason)"))
    check_reason: Annotated[str, StringConstraints(max_length=500, pattern=PLAIN_TEXT_PATTERN),
                            AfterValidator(_plain_text)] = ""

    def hand_in(self) -> MaterialHandIn:
        """As the engine takes it (:class:`engine.documents.files.MaterialHandIn`)."""
        return MaterialHandIn(files=tuple(self.files), paper=self.paper, deferred_until=self.deferred_until,
                              check=self.check, check_reason=self.check_reason)


class CaseCreate(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "bundle_id": "marriage",
        "applicant": {"id": "430102199405170112", "kind": "person", "name": "测试甲"},
        "answers": {"groom_name": "测试甲", "groom_id_number": "430102199405170112", "bride_name": "测试乙",
                    "bride_id_number": "430104199608030227", "applicant_phone": "13800000000",
                    "previously_married": False, "both_hunan_household": True, "move_household": True,
                    "receiving_household_type": "family", "register_birth_plan": True},
        "region": "430102",
    }]})

    bundle_id: Annotated[str, StringConstraints(pattern=BUNDLE_PATTERN)]
    applicant: ApplicantIn
    answers: JsonObject = Field(default_factory=dict)
    region: Annotated[str, StringConstraints(pattern=REGION_PATTERN)] | None = Field(
        default=None, description="GB/T 2260 code of the accepting region; defaults to the clerk's region")
    materials: dict[ShortText, MaterialHandInIn] | None = Field(default=None, max_length=100, description=(
        "What is handed in, by material name (files staged by POST /uploads, a paper original, 容缺 a promised "
        "date); omitted: the materials are not recorded at intake"))


class SupplementIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"step_id": "3f0c5e0f2b6a4a8e9d7c1b2a3e4f5a6b", "materials": ["3张2寸男女双方近期半身免冠合影照片"],
         "expected_version": 5}]})

    step_id: EntityId
    materials: list[ShortText] = Field(min_length=1, max_length=50)
    expected_version: Version | None = None


class WithdrawIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "不再需要办理"}]})

    reason: LongText = ""


def _one_of(choices: Mapping[str, tuple[str, str]]) -> str:
    """A pattern matching exactly the engine's choices (so the schema and the engine agree)."""
    return "^(" + "|".join(choices) + ")$"


def _choices(choices: Mapping[str, tuple[str, str]]) -> str:
    return "; ".join(f"{key}: {en} / {zh}" for key, (en, zh) in choices.items())


class HandoverIn(Request):
    """出件: who received a finished case's results, how and when (the engine checks the rest:
    an agent's name and ID number only with an agent, a tracking number only and always by post,
    no time in the future or before the case closed)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"recipient": "applicant", "method": "window"},
        {"recipient": "agent", "method": "post", "agent_name": "测试代", "agent_id_number": "430102197006010331",
         "tracking_no": "SF1234567890", "handed_at": "2026-03-20T10:30:00+08:00", "note": "申请人委托代领"}]})

    recipient: Annotated[str, StringConstraints(pattern=_one_of(RECIPIENTS)), Field(
        description=f"Who received the results ({_choices(RECIPIENTS)})", json_schema_extra={"enum": list(RECIPIENTS)})]
    method: Annotated[str, StringConstraints(pattern=_one_of(METHODS)), Field(
        description=f"How ({_choices(METHODS)})", json_schema_extra={"enum": list(METHODS)})]
    agent_name: Annotated[str, StringConstraints(max_length=MAX_NAME, pattern=PLAIN_TEXT_PATTERN),
                          AfterValidator(_plain_text),
                          Field(description="The agent's name (代领人; an agent only)")] = ""
    agent_id_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{17}[0-9Xx]$"), Field(
        description="The agent's 居民身份证号 (an agent only; checked, stored, and only ever shown masked)")] | None = None
    tracking_no: Annotated[str, StringConstraints(pattern=TRACKING_NO.pattern), Field(
        description="The post's tracking number (by post only)")] | None = None
    handed_at: AwareDatetime | None = Field(default=None, description=(
        "When the results were handed out, with its time zone; default now (not in the future, not before the "
        "case closed)"))
    note: Annotated[str, StringConstraints(max_length=MAX_NOTE, pattern=PLAIN_TEXT_PATTERN),
                    AfterValidator(_plain_text)] = ""


class VersionIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 2}]})

    version: Version


class CompleteIn(VersionIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 3, "outputs": {"certificate_no": "J430102-2026-000123"}}]})

    outputs: JsonObject = Field(default_factory=dict)
    claim: bool = Field(False, description="A ready step is claimed by the caller first, in the same transaction "
                        "(即办件: taken from the worklist and finished at once; the claim and the completion are "
                        "each recorded). A step claimed already is completed by its assignee as usual.")


class RejectIn(VersionIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 3, "reason": "不符合《婚姻登记条例》第六条规定"}]})

    reason: ReasonText


class RequestSupplementIn(VersionIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 3, "materials": ["3张2寸男女双方近期半身免冠合影照片"], "note": "照片须为近三个月内拍摄"}]})

    materials: list[ShortText] = Field(min_length=1, max_length=50)
    note: LongText = ""


# --- responses ---------------------------------------------------------------------------


class NamesOut(Response):
    zh: str
    en: str


# Responses that are engine read models: each is the engine's dataclass (its fields, in its
# order) as a pydantic dataclass, adding only what /docs shows (examples, descriptions, a
# narrower type) and what the API adds to it (a step's allowed actions, a department's name).
# :func:`from_view` or the model's ``of`` turns the engine's value into it.

View = TypeVar("View")


def from_view(model: Callable[..., View], view: Any) -> View:
    """``view`` (an engine read-model dataclass, nested ones included) as the response ``model``."""
    return model(**asdict(view))


CALLER_ACTIONS = tuple(dict.fromkeys(rule.action for rule in STEP_RULES if rule.roles - {Role.SYSTEM}))
"""The step actions a person may ask for (the engine's own, such as release and skip, are never offered)."""
StepAction = Annotated[str, WithJsonSchema({"type": "string", "enum": list(CALLER_ACTIONS)})]


@dataclass(frozen=True)
class StepOut(StepStatus):
    waiting_on: Annotated[tuple[str, ...], Field(description="Item names of unfinished prerequisites (pending steps)")]
    supplement_requested: Annotated[tuple[str, ...], Field(description="Materials an open 补正 notice asks for")]
    allowed_actions: Annotated[tuple[StepAction, ...], Field(description=(
        "What the caller may ask for on this step now, in the gate's order (the same list the pages offer as "
        "buttons): claim, unclaim, reassign, start, complete, reject and request_supplement are "
        "POST /steps/{id}/<action> (request-supplement), hand_in_supplement is POST /steps/{id}/supplement-files "
        "(the applicant's files, or a window's scan or paper original, one material at a time; POST "
        "/cases/{case_id}/supplements records a window's paper originals), receive_supplement is "
        "POST /steps/{id}/receive-supplement, the step officer's confirmation of receipt, which alone restarts the "
        "clock; "
        "end_wait is POST /steps/{id}/declare-no-objection, raise_objection, request_extension, approve_extension and "
        "refuse_extension are POST /steps/{id}/<action> (raise-objection, ...). "
        "Empty when the caller may do nothing; a stale version or invalid input can still be refused."))]

    @classmethod
    def of(cls, status: StepStatus, *, allowed_actions: Iterable[str]) -> StepOut:
        """From an :class:`engine.records.queries.StepStatus` and what the caller may do to the step
        (:func:`engine.machine.permissions.allowed_actions`)."""
        return cls(**asdict(status), allowed_actions=tuple(allowed_actions))


@dataclass(frozen=True, config=ConfigDict(json_schema_extra={"examples": [{
    "case_id": "9b2f0c1d4e5a6b7c8d9e0f1a2b3c4d5e", "id": "3f0c5e0f2b6a4a8e9d7c1b2a3e4f5a6b",
    "step_key": "marriage_registration", "item": "11-JHDJ", "item_name": "内地居民结婚登记",
    "department": "11", "department_name": "民政局", "kind": "human", "state": "assigned",
    "due_on": "2026-03-30", "due_provisional": False, "not_before": None, "version": 3,
    "instance_label": "", "waiting_on": [], "supplement_requested": [], "reason": "", "result": "",
    "supplement_due_on": None, "extension_requested_days": None,
    "allowed_actions": ["unclaim", "start", "complete", "reject", "request_supplement"]}]}))
class StepActionOut(StepOut):
    case_id: str

    @classmethod
    def of_step(cls, status: StepStatus, *, case_id: str, allowed_actions: Iterable[str]) -> StepActionOut:
        """From an :class:`engine.records.queries.StepStatus`, its case id and the caller's allowed actions."""
        return cls(case_id=case_id, **asdict(status), allowed_actions=tuple(allowed_actions))


@dataclass(frozen=True, config=ConfigDict(json_schema_extra={"examples": [{
    "case_id": "9b2f0c1d4e5a6b7c8d9e0f1a2b3c4d5e", "recipient": "agent", "method": "post",
    "handed_at": "2026-03-20T02:30:00Z", "region": "430102", "agent_name": "测试代",
    "agent_id_number_masked": "430102********0331", "tracking_no": "SF1234567890", "note": "",
    "handed_by": "5c1d8e0b7a6f4e3d2c1b0a9f8e7d6c5b", "recipient_label": "代领人", "method_label": "邮寄送达"}]}))
class HandoverOut(HandoverView):
    """出件: the case's results as handed out (the engine's HandoverView): the agent's ID number
    only masked, the clerk's id only for staff."""

    region: Annotated[str, Field(description="The region of the window that handed the results out (受理地)")]
    agent_id_number_masked: Annotated[str | None, Field(description="The agent's ID number, masked; null for the "
                                                                    "applicant")]
    handed_by: Annotated[str | None, Field(description="The clerk's actor id; null for the applicant, who never "
                                                       "learns who acted")]

    @computed_field(description="领取人: 申请人本人 or 代领人")  # type: ignore[prop-decorator]
    @property
    def recipient_label(self) -> str:
        return RECIPIENTS[self.recipient][1] if self.recipient in RECIPIENTS else self.recipient

    @computed_field(description="出件方式: 窗口领取 or 邮寄送达")  # type: ignore[prop-decorator]
    @property
    def method_label(self) -> str:
        return METHODS[self.method][1] if self.method in METHODS else self.method

    @classmethod
    def of(cls, view: HandoverView) -> HandoverOut:
        """From an :class:`engine.machine.handover.HandoverView`."""
        return from_view(cls, view)


@dataclass(frozen=True, config=ConfigDict(json_schema_extra={"examples": [{
    "case_id": "9b2f0c1d4e5a6b7c8d9e0f1a2b3c4d5e", "receipt_no": "430102-20260302-00001",
    "bundle_id": "marriage", "bundle_version": 1, "bundle_name": "结婚落户“一件事”", "state": "accepted",
    "version": 1, "region": "430102", "received_in": "430102",
    "applicant": {"id": "430102199405170112", "kind": "person", "name": "测试甲"},
    "accepted_on": "2026-03-02", "due_on": "2026-03-23", "due_provisional": False, "clock_stopped": False,
    "closed_at": None, "steps": [], "handover": None}]}))
class CaseOut(CaseStatus):
    """A case and its steps as the caller may read them (the engine's CaseStatus under the API's
    names: its id as case_id, the applicant's id, kind and name as one applicant object)."""

    id: Annotated[str, Field(serialization_alias="case_id")]
    applicant_id: Annotated[str, Field(exclude=True)]
    applicant_kind: Annotated[str, Field(exclude=True)]
    applicant_name: Annotated[str, Field(exclude=True)]
    steps: tuple[StepOut, ...]
    handover: Annotated[HandoverOut | None, Field(description=(
        "出件: how the finished case's results were handed out; null until they are"))] = None

    @computed_field(description="id (masked for officers), kind, name")  # type: ignore[prop-decorator]
    @property
    def applicant(self) -> dict[str, str]:
        return {"id": self.applicant_id, "kind": self.applicant_kind, "name": self.applicant_name}

    @classmethod
    def of(cls, status: CaseStatus, *, allowed_actions: Mapping[str, Iterable[str]],
           handover: HandoverView | None = None) -> CaseOut:
        """From an :class:`engine.records.queries.CaseStatus`, by step id what the caller may do
        to each step (a step missing from ``allowed_actions``: nothing), and the case's hand-over
        as the caller reads it (:func:`engine.machine.handover.handover_of`)."""
        fields = asdict(status)
        fields["steps"] = [StepOut.of(step, allowed_actions=allowed_actions.get(step.id, ())) for step in status.steps]
        return cls(**fields, handover=HandoverOut.of(handover) if handover is not None else None)


@dataclass(frozen=True)
class WorkItemOut(WorkItem):
    applicant_id_masked: Annotated[str, Field(examples=["430102**********1X"])]


@dataclass(frozen=True)
class WorklistOut(Page):
    """One page of a department's worklist (the engine's Page), soonest due first, with the department."""

    items: tuple[WorkItemOut, ...]
    department: str = ""
    department_name: str = ""

    @classmethod
    def of(cls, page: Page, *, department: str, department_name: str) -> WorklistOut:
        """From an :class:`engine.records.queries.Page` of the department's worklist."""
        return cls(**asdict(page), department=department, department_name=department_name)


@dataclass(frozen=True)
class FieldValueOut(FieldValue):
    ...  # as the engine has it, under the API's name


# --- materials: supply modes and alternatives, shared by the bundle form, prefill and the step ---

SUPPLY_DESCRIPTION = "How it is supplied (the guides' mtjfs): " + "; ".join(
    f"{int(mode)} {label}" for mode, label in SUPPLY_MODE_LABELS.items())
"""Every supply mode with its wording, from the engine's one table of labels."""
SupplyCode = Annotated[int, Field(description=SUPPLY_DESCRIPTION, json_schema_extra={"enum": [int(m) for m in SUPPLY_MODE_LABELS]})]
SupplyLabel = Annotated[str, Field(description="The supply mode's wording (" + "; ".join(SUPPLY_MODE_LABELS.values()) + ")")]
ALTERNATIVES_DESCRIPTION = ("Any one of these satisfies the material (任选其一: A 或 B), each with how it is supplied; "
                            "empty when only the material itself does")


@dataclass(frozen=True)
class MaterialAlternativeOut(MaterialOption):
    """One alternative of a material (任选其一)."""

    supply: SupplyCode
    supply_label: SupplyLabel


@dataclass(frozen=True)
class StepMaterialOut(MaterialView):
    """One material of a step, classified as it stands now."""

    supply: SupplyCode
    supply_label: SupplyLabel
    alternatives: Annotated[tuple[MaterialAlternativeOut, ...], Field(description=ALTERNATIVES_DESCRIPTION)]


@dataclass(frozen=True)
class StepDetailOut(StepDetail):
    status: StepOut
    fields: Annotated[tuple[FieldValueOut, ...], Field(description="Only the fields this step declares")]
    materials: tuple[StepMaterialOut, ...]

    @classmethod
    def of(cls, detail: StepDetail, *, allowed_actions: Iterable[str]) -> StepDetailOut:
        """From an :class:`engine.records.queries.StepDetail` and what the caller may do to the step."""
        fields = asdict(detail)
        fields["status"] = StepOut.of(detail.status, allowed_actions=allowed_actions)
        return cls(**fields)


@dataclass(frozen=True, config=ConfigDict(json_schema_extra={"examples": [{
    "id": 7, "colour": "red", "case_id": "9b2f0c1d4e5a6b7c8d9e0f1a2b3c4d5e", "receipt_no": "430102-20260302-00001",
    "step_id": None, "step_key": None, "department": None, "region": "430102", "reason": "超期 5 个工作日以上仍未办结",
    "issued_at": "2026-03-31T01:00:00Z", "issued_on": "2026-03-31", "working_days_overdue": 6, "resolved_at": None}]}))
class CardOut(CardView):
    colour: Literal["yellow", "red"]


@dataclass(frozen=True)
class DepartmentLoadOut(DepartmentLoad):
    open: Annotated[int, Field(description=(
        "Released open steps (ready, claimed, in progress, awaiting 补正): the length of the department's worklist "
        "in the region; pending steps are nobody's work yet"))]
    overdue: Annotated[int, Field(description="Of those, past their due date with the clock running (the worklist's "
                                              "overdue filter)")]
    department_name: str = ""


_OPEN = "Released open steps, as the worklists list them"
_OVERDUE = "Of those, past their due date with the clock running"


@dataclass(frozen=True)
class OfficeLoadOut(OfficeLoad):
    office: Annotated[str, Field(description=(
        "The deciding office, <department>@<region> (11@430102); a step not routed yet counts under its department's "
        "office at the region it is decided for"), examples=["11@430102"])]
    region: Annotated[str, Field(description="The office's region (canonical code)")]
    level: Annotated[Level, Field(description="The office's level")]
    open: Annotated[int, Field(description=_OPEN)]
    overdue: Annotated[int, Field(description=_OVERDUE)]
    yellow_cards: Annotated[int, Field(description="Open yellow cards of the office's steps")]
    red_cards: Annotated[int, Field(description="Open red cards of the office's steps")]
    office_name: Annotated[str, Field(description="The office directory's name (else region and department)")] = ""
    department_name: str = ""
    region_name: str = ""


@dataclass(frozen=True)
class RegionLoadOut(RegionLoad):
    level: Annotated[Level, Field(description="province, city, county or township (a village's offices count in "
                                              "their township)")]
    parent: Annotated[str | None, Field(description=(
        "The row one level up; null for the top rows (the caller's own region, or a province)"))]
    open: Annotated[int, Field(description=f"{_OPEN}, of the offices in this region and below: own_open plus the "
                                           "open of the rows whose parent this is")]
    overdue: Annotated[int, Field(description=f"{_OVERDUE}; own_overdue plus the rows below")]
    own_open: Annotated[int, Field(description="Of open, the work of the offices at this region itself")]
    own_overdue: Annotated[int, Field(description="Of overdue, the offices at this region itself")]
    yellow_cards: Annotated[int, Field(description="Open yellow cards of the steps of the offices in this region "
                                                   "and below")]
    red_cards: Annotated[int, Field(description="Open red cards, likewise")]
    region_name: str = ""


@dataclass(frozen=True, config=ConfigDict(json_schema_extra={"examples": [{
    "region": "430100", "today": "2026-03-31",
    "departments": [{"department": "11", "department_name": "民政局", "open": 3, "overdue": 1}],
    "cases": {"accepted": 3, "supplement_requested": 1}, "open_cards": {"yellow": 2, "red": 1},
    "offices": [
        {"office": "11@430102", "office_name": "芙蓉区民政局", "department": "11", "department_name": "民政局",
         "region": "430102", "region_name": "芙蓉区", "level": "county", "open": 2, "overdue": 1, "yellow_cards": 1,
         "red_cards": 0},
        {"office": "11@430104", "office_name": "岳麓区民政局", "department": "11", "department_name": "民政局",
         "region": "430104", "region_name": "岳麓区", "level": "county", "open": 1, "overdue": 0, "yellow_cards": 0,
         "red_cards": 0}],
    "rollup": [
        {"region": "430100", "region_name": "长沙市", "level": "city", "parent": None, "open": 3, "overdue": 1,
         "own_open": 0, "own_overdue": 0, "yellow_cards": 1, "red_cards": 0},
        {"region": "430102", "region_name": "芙蓉区", "level": "county", "parent": "430100", "open": 2, "overdue": 1,
         "own_open": 2, "own_overdue": 1, "yellow_cards": 1, "red_cards": 0},
        {"region": "430104", "region_name": "岳麓区", "level": "county", "parent": "430100", "open": 1, "overdue": 0,
         "own_open": 1, "own_overdue": 0, "yellow_cards": 0, "red_cards": 0}]}]}))
class StatsOut(SupervisionStats):
    region: Annotated[str | None, Field(description="The region counted (null: everywhere, for an admin)")]
    departments: Annotated[tuple[DepartmentLoadOut, ...], Field(description="Each department with open work")]
    cases: Annotated[dict[str, int], Field(description="Cases per state")]
    open_cards: Annotated[dict[str, int], Field(description="Open cards per colour (step and case-level cards)")]
    offices: Annotated[tuple[OfficeLoadOut, ...], Field(description=(
        "Each office with open work or open cards, by region (province first), then department; the offices of a "
        "department add up to its count"))] = ()
    rollup: Annotated[tuple[RegionLoadOut, ...], Field(description=(
        "The offices rolled up per region level within the region, by level (province first), then code"))] = ()

    @classmethod
    def of(cls, stats: SupervisionStats, *, names: DeskNames) -> StatsOut:
        """From :class:`engine.time.supervision.SupervisionStats`, named by
        :func:`engine.time.supervision.desk_names`."""
        fields = asdict(stats)
        fields["departments"] = [DepartmentLoadOut(**asdict(load), department_name=names.departments.get(
            load.department, "")) for load in stats.departments]
        fields["offices"] = [OfficeLoadOut(**asdict(load), office_name=names.offices.get(load.office, ""),
                                           department_name=names.departments.get(load.department, ""),
                                           region_name=names.regions.get(load.region, ""))
                             for load in stats.offices]
        fields["rollup"] = [RegionLoadOut(**asdict(row), region_name=names.regions.get(row.region, ""))
                            for row in stats.rollup]
        return cls(**fields)


class TimeLimitOut(Response):
    amount: int
    unit: str


class BundleSummaryOut(Response):
    id: str
    name: NamesOut
    version: int
    theme_code: str | None
    applicant_kind: str
    time_limit: TimeLimitOut
    step_count: int


class ChoiceOut(Response):
    value: str
    label: NamesOut


class FormFieldOut(Response):
    id: str
    label: NamesOut
    type: str
    required: bool
    when: dict[str, Any] | None = Field(description="Asked (and required) only when this condition holds")
    options: list[ChoiceOut] = []
    max_length: int
    max_items: int | None = Field(default=None, description="List fields: the most entries accepted")
    sensitive: bool
    prefillable: bool
    item_fields: list[FormFieldOut] = Field(default=[], description="The fields of each entry of a list field")


class FormMaterialOut(Response):
    name: str
    code: str | None
    supply: SupplyCode
    supply_name: SupplyLabel
    licence: str | None
    required: bool
    when: dict[str, Any] | None
    note: str
    alternatives: list[MaterialAlternativeOut] = Field(description=ALTERNATIVES_DESCRIPTION)


class FormItemOptionOut(Response):
    answer: str = Field(description="An option of the choosing field")
    item: str
    item_name: str
    department: str
    department_name: str


class FormItemChoiceOut(Response):
    by: str = Field(description="The choice field whose answer chooses the step's item (and department)")
    options: list[FormItemOptionOut] = Field(description="The item each answer chooses; another answer skips the step")


class FormStepOut(Response):
    id: str
    item: str = Field(description="The service item; for a step whose item an answer chooses, the first one of "
                                  "item_choice (a case shows the one its answer chose)")
    item_name: str
    department: str
    department_name: str
    item_choice: FormItemChoiceOut | None = Field(description="Set when an answer chooses the step's item")
    kind: str
    time_limit: TimeLimitOut
    depends_on: list[str]
    depends_on_any: list[str]
    when: dict[str, Any] | None
    for_each: str | None
    fields: list[str]
    materials: list[FormMaterialOut]
    result: str


class BundleFormOut(BundleSummaryOut):
    description: str
    fields: list[FormFieldOut]
    materials: list[FormMaterialOut] = Field(description="Materials of the whole bundle: listed once, waived or "
                                                         "requested once, whichever steps apply")
    steps: list[FormStepOut]


# --- errors ------------------------------------------------------------------------------


class ProblemError(Response):
    field: str | None = Field(description="The wrong field (dotted, list entries as [i]) or header; null if none")
    code: str = Field(examples=["id_number.check_digit"])
    message_zh: str
    message_en: str


class Problem(Response):
    """Every error answer: ``application/problem+json`` (RFC 9457) naming the fields that were wrong."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "type": "/problems/invalid_application", "title": "Invalid application", "status": 422,
        "detail": "applicant.id: the check character should be 2", "field": "applicant.id", "fields": ["applicant.id"],
        "errors": [{"field": "applicant.id", "code": "id_number.check_digit", "message_zh": "校验码错误，应为 2",
                    "message_en": "the check character should be 2"}]}]})

    type: str = Field(description="/problems/<code>")
    title: str
    status: int
    detail: str
    field: str | None = Field(description="The first wrong field, if any")
    fields: list[str]
    errors: list[ProblemError]
