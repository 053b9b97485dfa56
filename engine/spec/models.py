"""Frozen spec models: what a bundle *is*, kept apart from any running case.

A bundle (一件事) is declared in YAML under ``bundles/`` and validated into these models. The
engine interprets them; nothing here knows about cases, rows or time. Shapes follow the
service-item elements (事项要素, GB/T 39554.1-2020) and the Hunan service guides' fields.
"""

from __future__ import annotations

import json
from functools import cached_property
from enum import IntEnum, StrEnum
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from engine.people.offices import OfficeDirectory
from engine.people.regions import Level
from engine.time.calendar import TimeUnit
from engine.spec.conditions import Condition, fields_of
from engine.spec.versions import SPEC_SCHEMA_VERSION, content_hash, migrate_snapshot


DEFAULT_MAX_ITEMS = 100
"""Entries a list field accepts when the field dictionary declares no ``max_items``."""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Names(Frozen):
    """A bilingual name."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


# --- catalog -----------------------------------------------------------------------------


RegionLevel = Level
"""The five levels of government (:class:`engine.people.regions.Level`)."""


class Department(Frozen):
    """A department type (部门), coded as in the Hunan guides' ``lbjgId``."""

    code: str = Field(pattern=r"^\d{2}$")
    name: Names
    level: RegionLevel = RegionLevel.COUNTY
    """The level that decides its items unless an item says otherwise (``decided_at``)."""
    concurrency: int | None = Field(default=None, ge=1)
    """How many automated calls the department's systems take at once: the Prefect concurrency
    limit on tag ``department:<code>`` (unset: the worker's default)."""


class ItemType(StrEnum):
    """Kinds of government service item (事项类型)."""

    LICENSING = "行政许可"
    CONFIRMATION = "行政确认"
    PAYMENT = "行政给付"
    PUBLIC_SERVICE = "公共服务"
    OTHER = "其他行政权力"


class ServiceItem(Frozen):
    """A service item (事项) with its standard elements (事项要素)."""

    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    type: ItemType
    result: str = ""
    department: str = Field(pattern=r"^\d{2}$")
    decided_at: Level | None = None
    """The level of government that decides the item (省级权限, 设区的市级权限, 县级权限…): its step
    is routed to the department's office at that level above the region it is decided for. None:
    the department's ``level``."""


class LicenceType(Frozen):
    """An electronic licence type (电子证照), e.g. L2000016 居民身份证."""

    code: str = Field(min_length=1)
    name: Names
    holder: Literal["person", "enterprise"] = "person"
    attributes: tuple[str, ...] = ()


class Catalog(Frozen):
    """Departments, service items and licence types every bundle may reference."""

    departments: dict[str, Department]
    items: dict[str, ServiceItem]
    licences: dict[str, LicenceType]
    offices: OfficeDirectory = OfficeDirectory()
    """The offices that decide the items (``offices.yaml``): where each step is routed."""

    def decided_at(self, item_code: str) -> Level:
        """The level that decides ``item_code``: its own ``decided_at``, else its department's level."""
        item = self.items[item_code]
        if item.decided_at is not None:
            return item.decided_at
        department = self.departments.get(item.department)
        return department.level if department is not None else Level.COUNTY


# --- fields ------------------------------------------------------------------------------


class FieldType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"
    AMOUNT = "amount"
    ID_NUMBER = "id_number"
    CREDIT_CODE = "credit_code"
    REGION_CODE = "region_code"
    PHONE = "phone"
    CHOICE = "choice"
    LIST = "list"


class Choice(Frozen):
    value: str
    label: Names


class PrefillSource(Frozen):
    """A licence attribute that can fill a field."""

    licence: str
    attribute: str
    holder_field: str | None = None
    """The field holding the licence holder's id; None means the applicant."""


class FieldSpec(Frozen):
    """One field of the field dictionary (declared once, used by every bundle)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: Names
    type: FieldType
    max_length: PositiveInt = 200
    options: tuple[Choice, ...] = ()
    item_fields: tuple[str, ...] = ()
    max_items: PositiveInt | None = None
    """List fields: the most entries an application may give (:data:`DEFAULT_MAX_ITEMS` if unset)."""
    entry_label: str | None = None
    """List fields: the item field whose value names an entry (the step instance's label: 员工姓名)."""
    names_applicant: bool = False
    """The field's value is the applicant's name (a person's or a company's): the form offers it as
    the applicant's name when none is typed."""
    identifies_applicant: bool = False
    """The field's value is the applicant's own identifier (a company's 统一社会信用代码): filled from
    the identified applicant, never typed twice."""
    prefill: tuple[PrefillSource, ...] = ()
    correctable: bool = True
    """Whether the applicant may overwrite a prefilled value (the change is audited)."""
    sensitive: bool = False
    """Masked in lists and logs (ID numbers, phone numbers)."""
    minimum: int | None = None
    """Integer fields: the smallest value accepted (0 for quantities: an energy use is never −5)."""
    unit: str | None = None
    """Amount fields: the unit the value is in, as documents print it (default 元; 万元 for investments)."""

    @model_validator(mode="after")
    def _shape(self) -> FieldSpec:
        if self.type is FieldType.CHOICE and not self.options:
            raise ValueError(f"field {self.id!r}: a choice field needs options")
        if self.type is FieldType.LIST and not self.item_fields:
            raise ValueError(f"field {self.id!r}: a list field needs item_fields")
        if self.max_items is not None and self.type is not FieldType.LIST:
            raise ValueError(f"field {self.id!r}: only a list field has max_items")
        if self.minimum is not None and self.type is not FieldType.INTEGER:
            raise ValueError(f"field {self.id!r}: only an integer field has a minimum")
        if self.unit is not None and self.type is not FieldType.AMOUNT:
            raise ValueError(f"field {self.id!r}: only an amount field has a unit")
        if self.entry_label is not None and self.entry_label not in self.item_fields:
            raise ValueError(f"field {self.id!r}: entry_label {self.entry_label!r} is not one of its item_fields")
        return self

    @property
    def item_limit(self) -> int:
        """The most entries this (list) field accepts."""
        return self.max_items or DEFAULT_MAX_ITEMS


class FieldUse(Frozen):
    """A bundle's use of a dictionary field."""

    field: str
    required: bool = True
    when: Condition | None = None
    """Only asked (and only required) when the condition holds."""


# --- steps -------------------------------------------------------------------------------


class TimeLimit(Frozen):
    """A time limit; YAML ``{working_days: 5}`` or ``{calendar_days: 60}``."""

    amount: PositiveInt
    unit: TimeUnit

    @model_validator(mode="before")
    @classmethod
    def _from_mapping(cls, data: Any) -> Any:
        if isinstance(data, dict) and "amount" not in data:
            units = [u for u in TimeUnit if u.value in data]
            if len(units) != 1 or len(data) != 1:
                raise ValueError("a time limit is one of {working_days: N} or {calendar_days: N}")
            unit = units[0]
            return {"amount": data[unit.value], "unit": unit}
        return data


class MinimumWait(Frozen):
    """A minimum waiting period (publicity, document sale, bid window): YAML ``{calendar_days: N}``
    or ``{working_days: N}`` (counted with the working-day calendar, so holidays do not count)."""

    calendar_days: PositiveInt | None = None
    working_days: PositiveInt | None = None

    @model_validator(mode="after")
    def _one_unit(self) -> MinimumWait:
        if (self.calendar_days is None) == (self.working_days is None):
            raise ValueError("a minimum wait is one of {working_days: N} or {calendar_days: N} / "
                             "最短等待期须为 {working_days: N} 或 {calendar_days: N} 之一")
        return self

    @property
    def amount(self) -> int:
        return self.working_days if self.working_days is not None else self.calendar_days or 0

    @property
    def unit(self) -> TimeUnit:
        return TimeUnit.WORKING_DAYS if self.working_days is not None else TimeUnit.CALENDAR_DAYS


class OnNoObjection(StrEnum):
    """What the applicant's declaration of no objection does to a timer step."""

    END_WAIT = "end_wait"
    """The wait ends at once (the step completes, its dependents are released)."""


class OnObjection(StrEnum):
    """What an objection raised during a timer step does."""

    OFFICER_DECIDES = "officer_decides"
    """The timer becomes a human step of its department: an officer decides (complete or reject)."""


class ClockEvent(StrEnum):
    """The event of another step a clock may count from."""

    RELEASED = "released"
    """The day the step was released (its own clock started)."""
    DONE = "done"
    """The day the step was completed."""


class ClockFrom(Frozen):
    """``clock_from: {step: x, event: done}``: count a step's limit from step ``x``'s event."""

    step: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    event: ClockEvent


class StepKind(StrEnum):
    HUMAN = "human"
    AUTOMATED = "automated"
    COMMITMENT = "commitment"
    """告知承诺: decided on the applicant's signed commitment, checked afterwards."""
    TIMER = "timer"
    """Completes by itself once its minimum wait has passed."""


class SupplyMode(IntEnum):
    """How a material is supplied (``mtjfs`` in the guides)."""

    TEMPLATE = 1
    E_LICENCE = 2
    DATA_INTERFACE = 3
    APPLICANT = 4
    PERSONAL_CENTRE = 5
    """个人中心: taken from the materials the applicant already uploaded to their personal centre
    (the guides' mtjfs 5), so not handed in again."""


FILE_TYPES = ("pdf", "jpeg", "png", "ofd")
"""The file types a material may be handed in as (the values of
:class:`engine.documents.inspection.FileKind`): PDF, JPEG, PNG and OFD (版式文档, GB/T 33190)."""

DEFAULT_DEFER_MAX_DAYS = 10
"""容缺受理: how many working days after acceptance a deferrable material may be promised for,
when the material gives no ``defer_max_days``."""


class FileRule(Frozen):
    """What files a material is handed in as: YAML ``files: {types: [pdf, jpeg], max_mb: 5, max_files: 3}``.

    On a material, or on the bundle as the default of its materials; a key left out falls back to
    the bundle's rule, then to the deployment's settings (``upload_types``, ``upload_max_bytes``,
    ``upload_max_files``). The loader refuses a type not in :data:`FILE_TYPES`."""

    types: tuple[str, ...] | None = Field(default=None, min_length=1)
    max_mb: float | None = Field(default=None, gt=0)
    """The largest file, in MiB (1 MiB = 1,048,576 bytes)."""
    max_files: PositiveInt | None = None
    """The most files handed in for the material at once."""


class Material(Frozen):
    name: str = Field(min_length=1)
    code: str | None = None
    supply: SupplyMode
    licence: str | None = None
    """Licence type that satisfies this material (supply 2, or 4 when a licence may waive it)."""
    holder_field: str | None = None
    """The field holding the licence holder's id (女方居民身份证 → bride_id_number); default the applicant."""
    required: bool = True
    when: Condition | None = None
    note: str = ""
    any_of: tuple[Material, ...] = ()
    """Alternatives (任选其一): the material is satisfied by any one of these, e.g. 户口注销证明
    instead of the ID card; it is waived as soon as one alternative is (an e-licence found…)."""
    files: FileRule | None = None
    """The files it may be handed in as (types, size, count); None: the bundle's rule, then the settings'."""
    deferrable: bool = False
    """容缺受理: the case may be accepted without it, on the applicant's promise to hand it in by
    a date at most ``defer_max_days`` working days away; the step needing it cannot complete before."""
    defer_max_days: PositiveInt | None = None
    """容缺: the latest promise, in working days after acceptance (None: :data:`DEFAULT_DEFER_MAX_DAYS`)."""
    retention: str = Field(default="default", pattern=r"^[a-z][a-z0-9_]*$")
    """The retention kind of its files (the setting ``retention_days`` says how long each kind is
    kept after the case closes; a kind it does not name is kept as long as ``default``)."""

    @model_validator(mode="after")
    def _licence_needed(self) -> Material:
        if self.supply is SupplyMode.E_LICENCE and not self.licence:
            raise ValueError(f"material {self.name!r}: supply 2 (e-licence) needs a licence type")
        if len(self.any_of) == 1:
            raise ValueError(f"material {self.name!r}: any_of needs at least two alternatives / any_of 至少需两种备选材料")
        if any(option.any_of for option in self.any_of):
            raise ValueError(f"material {self.name!r}: an alternative cannot have alternatives of its own / "
                             "备选材料不能再有备选")
        if self.defer_max_days is not None and not self.deferrable:
            raise ValueError(f"material {self.name!r}: defer_max_days needs deferrable: true / "
                             "defer_max_days 须配合 deferrable: true")
        return self

    @property
    def defer_limit(self) -> int:
        """容缺: the latest promise, in working days after acceptance."""
        return self.defer_max_days or DEFAULT_DEFER_MAX_DAYS

    @property
    def options(self) -> tuple[Material, ...]:
        """What can satisfy this material: its alternatives, or itself."""
        return self.any_of or (self,)


class Validity(Frozen):
    """How long an issued licence is valid, from the day it is issued: YAML ``{years: 10}``,
    ``{months: 6}`` or ``{days: 90}``."""

    years: PositiveInt | None = None
    months: PositiveInt | None = None
    days: PositiveInt | None = None

    @model_validator(mode="after")
    def _one_unit(self) -> Validity:
        if sum(v is not None for v in (self.years, self.months, self.days)) != 1:
            raise ValueError("a validity is one of {years: N}, {months: N} or {days: N} / "
                             "有效期须为 {years: N}、{months: N} 或 {days: N} 之一")
        return self


class Revocation(Frozen):
    """A licence a step revokes when it completes (注销): the holder's valid licences of ``licence``."""

    licence: str
    holder_field: str | None = None
    """The field (or list-entry field) holding the holder's id; default the applicant."""


class ItemChoice(Frozen):
    """A step's service item chosen by an answer: ``item: {by: field, map: {answer: item code}}``."""

    by: str
    map: dict[str, str] = Field(min_length=1)


class Output(Frozen):
    result: str = ""
    licence: str | None = None
    """Licence type issued when the step completes (stored, then prefills later steps)."""
    holders: tuple[str, ...] = ()
    """Fields holding the ids of the licence holders (one licence each); default the applicant."""
    attributes: dict[str, str] = Field(default_factory=dict)
    """Licence attribute → field whose value fills it (from the answers or the for_each element)."""
    valid_for: Validity | None = None
    """How long the issued licence is valid from its issue day (none: no end)."""
    valid_until_output: str | None = None
    """The output (an ISO date the officer enters) on which the issued licence ends."""

    @model_validator(mode="after")
    def _one_validity(self) -> Output:
        if self.valid_for is not None and self.valid_until_output is not None:
            raise ValueError("outputs: give valid_for or valid_until_output, not both / "
                             "valid_for 与 valid_until_output 只能给一个")
        return self


class OnFail(StrEnum):
    """What a failed eligibility rule does."""

    REFUSE = "refuse"
    """The application is refused (HTTP 422 naming the rule and its fields)."""
    WARN = "warn"
    """The application is accepted; the warning is shown at prefill and recorded at acceptance."""
    SKIP = "skip"
    """Step rules only: the step is skipped with the rule's reason; the rest goes on."""


class Requirement(Frozen):
    """An eligibility rule (前置校验): a condition the application must meet, with the guide's reason."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    condition: Condition
    reason: Names
    """The guide's reason, shown to the applicant when the rule fails (男不得早于二十二周岁 …)."""
    on_fail: OnFail = OnFail.REFUSE
    for_each: str | None = None
    """A list field: the rule is checked on each of its entries (the condition reads ``entry.<item
    field>``). A rule of a ``for_each`` step reads that step's entries without naming the list."""


class PostCheck(Frozen):
    """事中事后核查 of a commitment step: which signed commitments are checked and how soon."""

    working_days: PositiveInt = 20
    """The office's time to check a sampled commitment, from the signing."""
    rate: float | None = Field(default=None, ge=0, le=1)
    """The share of commitments checked, drawn reproducibly per step (1: every one, 全覆盖核查;
    none: the setting ``post_check_rate``)."""


class Commitment(Frozen):
    """告知承诺 (国办发〔2020〕42号): the conditions the applicant promises to meet and the consequence of a
    false promise, rendered into the commitment letter the applicant signs instead of proving them."""

    conditions: tuple[Names, ...] = Field(min_length=1)
    consequence: Names
    post_check: PostCheck = PostCheck()


class StepSpec(Frozen):
    """One department step of a bundle."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    item: str
    """The service item; YAML may instead give ``{by: field, map: {answer: item}}`` (then this is
    the first mapped item, shown where no answer is known; see ``item_choice``)."""
    item_choice: ItemChoice | None = None
    """The item (and so the department) chosen by an answer; an answer the map lacks skips the step."""
    department: str | None = None
    """Defaults to the service item's department."""
    decided_for: str | None = None
    """The answer (a region_code field of the bundle) naming the region the step is decided for:
    the applicant's household, the project's location, the enterprise's registered address. The
    step goes to the office of its level above that region; default the case's region."""
    kind: StepKind = StepKind.HUMAN
    depends_on: tuple[str, ...] = ()
    """All of these must be done (or skipped) first."""
    depends_on_any: tuple[str, ...] = ()
    """Alternatives: any one of these done releases the step; the others are then skipped."""
    when: Condition | None = None
    requires: tuple[Requirement, ...] = ()
    """Eligibility rules of this step, checked when the step applies (its ``when`` holds)."""
    time_limit: TimeLimit
    min_wait: MinimumWait | None = None
    excluded_from_limit: bool = False
    """行政许可法 §45: hearings, expert review… do not count in the bundle's limit (the bundle
    clock stops while such a step runs and no counted step runs beside it)."""
    supplement_notices: PositiveInt = 1
    """How many 补正 notices the step may send: one (行政许可法 §32, a one-time notice of
    everything missing) unless the guide allows more."""
    supplement_window: TimeLimit | None = None
    """The applicant's window to hand in the 补正 materials, counted from the notice (the guide's
    e.g. 5 working days); the hand-in due date is recorded on the notice."""
    on_no_objection: OnNoObjection | None = None
    """Timer steps: the applicant (or a clerk) may declare no objection, which ends the wait."""
    on_objection: OnObjection | None = None
    """Timer steps: an objection raised during the wait turns the step into an officer's decision."""
    max_extension: TimeLimit | None = None
    """行政许可法 §42: how far an approver may extend the step's limit in all (default: the bundle's)."""
    clock_from: ClockFrom | None = None
    """The step's limit counts from another step's event, not from its own release (a deadline
    set by an earlier step; an item in phases: each later phase counts from the first's release)."""
    fields: tuple[str, ...] = ()
    for_each: str | None = None
    materials: tuple[Material, ...] = ()
    outputs: Output = Output()
    revokes: tuple[Revocation, ...] = ()
    """Licences revoked when the step completes (YAML a mapping or a list of them)."""
    handler: str | None = None
    """Automated steps: the registered handler that performs the step."""
    commitment: Commitment | None = None
    """Commitment steps: what the applicant promises (the letter's conditions and consequence). The
    loader requires it of every commitment step (:mod:`engine.spec.commitment_checks`); a snapshot
    stored before it existed has none, and its commitment step is reviewed by an officer."""

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if isinstance(data.get("item"), dict):
                choice = data["item"]
                mapped = choice.get("map") if isinstance(choice.get("map"), dict) else {}
                data = {**data, "item": next(iter(mapped.values()), ""), "item_choice": choice}
            if isinstance(data.get("revokes"), dict):
                data = {**data, "revokes": [data["revokes"]]}
        return data

    def may_apply(self, answers: Mapping[str, Any]) -> bool:
        """Whether the step can apply to these answers before any step has run: its ``when`` holds,
        holds for one entry of its list (``entry.*``), or reads earlier outputs (``steps.*``: decided
        when the step becomes releasable)."""
        if self.when is None:
            return True
        names = list(fields_of(self.when))
        if any(name.startswith("steps.") for name in names):
            return True
        if self.for_each is not None and any(name.startswith("entry.") for name in names):
            entries = answers.get(self.for_each) or []
            return any(self.when.evaluate({**answers, **{f"entry.{k}": v for k, v in entry.items()}})
                       for entry in entries if isinstance(entry, Mapping))
        return self.when.evaluate(answers)

    def item_for(self, answers: Mapping[str, Any]) -> str | None:
        """The service item for these answers (None: the choosing answer maps to no item)."""
        if self.item_choice is None:
            return self.item
        return self.item_choice.map.get(str(answers.get(self.item_choice.by)))

    def chosen_item(self, answers: Mapping[str, Any] | None) -> str:
        """The service item code this step of a case with these answers works on: the item its
        choosing answer maps to (``item: {by, map}``); the first mapped item where no answer is
        known (a blank form, the bundle listing) or the answer maps to none (the step is then
        skipped). Intake stores it on the step row; every read model and document names it."""
        if answers is None:
            return self.item
        return self.item_for(answers) or self.item

    @model_validator(mode="after")
    def _kind_rules(self) -> StepSpec:
        if self.kind is StepKind.TIMER and self.min_wait is None:
            raise ValueError(f"step {self.id!r}: a timer step needs min_wait")
        if self.kind is StepKind.AUTOMATED and not self.handler:
            raise ValueError(f"step {self.id!r}: an automated step needs a handler")
        return self

    @property
    def prerequisites(self) -> tuple[str, ...]:
        return self.depends_on + self.depends_on_any


class OnStepRejected(StrEnum):
    CONTINUE = "continue"
    """Other steps go on; the case ends partially_completed."""
    REJECT_CASE = "reject_case"
    """The whole case is rejected and every open step cancelled."""


class Supervision(Frozen):
    """电子监察 thresholds of one bundle, where they differ from the settings ``remind_before_days``
    and ``red_after_days`` (none: the setting). Read from the current bundle file, like an
    operating rule, not from the version a case was accepted under."""

    remind_before_days: int | None = Field(default=None, ge=0, le=30)
    """Remind the officer this many working days before a step's due date (0: no reminders)."""
    red_after_days: int | None = Field(default=None, ge=1, le=60)
    """A step or case still open this many working days after its due date gets a red card."""


class BundleSpec(Frozen):
    """A bundle: one life or business event served across departments."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: PositiveInt
    name: Names
    theme_code: str | None = None
    applicant_kind: Literal["person", "enterprise"]
    time_limit: TimeLimit
    on_step_rejected: OnStepRejected = OnStepRejected.CONTINUE
    max_extension: TimeLimit | None = None
    """行政许可法 §42: how far an approver may extend a step's limit in all (none: no extension)."""
    description: str = ""
    requires: tuple[Requirement, ...] = ()
    """Eligibility rules of the whole bundle, checked at prefill and at intake."""
    fields: tuple[FieldUse, ...] = ()
    materials: tuple[Material, ...] = ()
    """Materials of the whole bundle (the applicant's ID card, the application form): listed once,
    waived or requested once, whichever steps apply."""
    files: FileRule | None = None
    """The default file rule of the bundle's materials (each key a material's own rule leaves out)."""
    supervision: Supervision = Supervision()
    """电子监察 thresholds of this bundle (reminders, red cards) where they differ from the settings."""
    steps: tuple[StepSpec, ...] = Field(min_length=1)

    def all_materials(self) -> tuple[Material, ...]:
        """Every material of the bundle, its own first, then each step's in order; a name listed
        by several steps once (the first listing)."""
        seen: dict[str, Material] = {}
        for material in (*self.materials, *(m for s in self.steps for m in s.materials)):
            seen.setdefault(material.name, material)
        return tuple(seen.values())

    def material(self, name: str) -> Material | None:
        """The bundle's material called ``name`` (its own or a step's; see :meth:`all_materials`)."""
        return next((m for m in self.all_materials() if m.name == name), None)

    def steps_needing(self, name: str) -> tuple[StepSpec, ...]:
        """The steps that list material ``name`` (none for a bundle material)."""
        return tuple(s for s in self.steps if any(m.name == name for m in s.materials))

    def step(self, step_id: str) -> StepSpec:
        """The step ``step_id`` (KeyError if none): a dict lookup, every gate effect asks for it."""
        return self._steps_by_id[step_id]

    @cached_property
    def _steps_by_id(self) -> dict[str, StepSpec]:
        return {step.id: step for step in self.steps}

    def canonical(self) -> dict[str, Any]:
        """The bundle as data: every value the author gave, none of the models' defaults (what the
        spec hash covers and a snapshot stores; see :mod:`engine.spec.versions`). A fresh copy
        each call, so a caller may change it."""
        copy: dict[str, Any] = json.loads(self._canonical_json)
        return copy

    @cached_property
    def _canonical_json(self) -> str:
        # A spec is frozen: dumping it once is enough (every process publishes every bundle at
        # start, every test database too); the copies are decoded from this text.
        return json.dumps(self.model_dump(mode="json", by_alias=True, exclude_defaults=True), ensure_ascii=False)

    def snapshot(self) -> dict[str, Any]:
        """The JSON form stored with every case's bundle version."""
        return {"schema_version": SPEC_SCHEMA_VERSION, "bundle": self.canonical()}

    @cached_property
    def spec_hash(self) -> str:
        """SHA-256 of :meth:`canonical`: the content only, so a new optional key in the models or a
        new snapshot format changes no bundle's hash."""
        return content_hash(self.canonical())

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> BundleSpec:
        """A stored snapshot of any known schema version, migrated to the current one."""
        return cls.model_validate(migrate_snapshot(data)["bundle"])
