"""Printable forms and notices: HTML rendered from ``forms/templates`` with Jinja2.

Five documents, one template each, all extending ``base.html`` and built from the macros in
``_macros.html`` (never one template per bundle):

* :func:`render_application_form` — 一表申请, the unified application form of a bundle;
* :func:`render_step_form` — one department's step form: only the fields that step declares;
* :func:`render_receipt` — 受理回执, handed over when a case is accepted;
* :func:`render_missing_materials_notice` — 一次性告知书 (行政许可法 §32) for 补正;
* :func:`render_completion_notice` — 办结通知, with the 好差评 invitation.

Everything is autoescaped: applicant answers, names, reasons and notes are untrusted text.
The application form and the step form show ID numbers in full (the applicant's own form,
the department's working form); the receipt and the notices mask every field the field
dictionary marks ``sensitive`` with :func:`engine.people.validators.mask_id_number`. The Chinese
wording (labels, dates, reasons) comes from :mod:`engine.records.labels`.

Rendering reads the case and its steps as they are; it never changes them. Who may have a
case's receipt and notices is :func:`engine.records.queries.document_case`'s to decide (the applicant,
the window, supervisors — not officers, who work from their own step). The documents name each
step's result by its document (结婚证) and never print licence numbers, so they disclose nothing
of the licences other people (a spouse, the deceased) hold.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cache
from typing import Any

import segno
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from engine.time.clock import CHINA, SystemClock
from engine.db.models import Case, Step
from engine.records.labels import (
    APPLICANT_ID_LABELS,
    CASE_STATE_LABELS,
    RATING_LEVELS,
    ROLE_LABELS,
    STEP_KIND_LABELS,
    STEP_STATE_LABELS,
    SUPPLY_MODE_LABELS,
    TIME_UNIT_LABELS,
    WAIVED_SUPPLY_MODES,
    cn_date,
    cn_datetime,
    plain_reason,
)
from engine.records.labels import LABELS as LABELS  # the templates' ``labels``, imported from here by the pages
from engine.people.regions import region_full_name
from engine.spec.conditions import Condition
from engine.spec.loader import BundleRegistry
from engine.spec.models import BundleSpec, FieldSpec, ItemType, Material, ServiceItem, StepSpec, TimeLimit
from engine.machine.states import CaseState, StepState
from engine.people.validators import mask_id_number
from engine.records.queries import MaterialOption, material_options
from engine.records.tracking import short_code, track_url

__all__ = [
    "CASE_STATE_LABELS",
    "RATING_LEVELS",
    "ROLE_LABELS",
    "STEP_KIND_LABELS",
    "STEP_STATE_LABELS",
    "SUPPLY_MODE_LABELS",
    "WAIVED_SUPPLY_MODES",
    "cn_date",
    "cn_datetime",
    "environment",
    "render_application_form",
    "render_completion_notice",
    "render_missing_materials_notice",
    "ReceivedMaterial",
    "render_receipt",
    "render_step_form",
]  # the labels and date filters live in engine.records.labels and stay importable from here


# --- views: plain data the templates render -----------------------------------------------------


@dataclass(frozen=True)
class FieldView:
    """One field as a form shows it; ``value`` is None when it was not answered."""

    id: str
    label: str
    label_en: str
    type: str
    value: Any
    options: tuple[tuple[str, str], ...] = ()
    """(value, Chinese label) of a choice field."""
    columns: tuple[FieldView, ...] = ()
    """The item fields of a list field (their own ``value`` is unused)."""
    masked: bool = False
    """Show the value through :func:`mask_id_number`."""
    unit: str = ""
    """An amount's unit as printed (the field's own, else 元)."""
    source: str = ""
    """Name of the licence the value was prefilled from."""
    conditional: bool = False
    """Asked only in some situations, which the answers do not settle (a blank form)."""
    required: bool = True


@dataclass(frozen=True)
class DocumentMaterial:
    """One material as a printed document lists it (the read models' is
    :class:`engine.records.queries.MaterialView`)."""

    name: str
    code: str
    supply: int
    supply_label: str
    waived: bool
    required: bool
    conditional: bool
    note: str
    items: tuple[str, ...]
    """Names of the service items that need it (those the answers chose), or :data:`BUNDLE_MATERIAL_ITEMS`."""
    alternatives: tuple[MaterialOption, ...] = ()
    """Any one of these satisfies it (任选其一: A 或 B); empty for a material without ``any_of``."""


@dataclass(frozen=True)
class ReceivedMaterial:
    """One material of a case as the receipt lists what intake received: its files (how many, how
    many pages), a paper original seen at the window, the date it was promised by (容缺), or why it
    is waived (免提交). Built by :func:`engine.documents.files.receipt_materials`."""

    name: str
    files: int = 0
    pages: int = 0
    paper: bool = False
    deferred_until: date | None = None
    waived: bool = False
    reason: str = ""
    """Why it is waived (prefill's wording)."""
    required: bool = True


@dataclass(frozen=True)
class StepView:
    key: str
    item_code: str
    item_name: str
    instance_label: str
    department_name: str
    time_limit: str
    state: str
    state_label: str
    due_on: date | None
    due_provisional: bool
    result: str
    reason: str
    requested: tuple[str, ...]
    note: str
    closed_on: date | None


@dataclass(frozen=True)
class ItemView:
    code: str
    name: str
    legal_basis: str
    type: str
    result: str
    department_name: str
    kind_label: str
    time_limit: str


@dataclass(frozen=True)
class CaseView:
    receipt_no: str
    bundle_name: str
    bundle_name_en: str
    applicant_name: str
    applicant_id_label: str
    applicant_id_masked: str
    region_name: str
    state_label: str
    accepted_on: date
    due_on: date
    due_provisional: bool
    time_limit: str
    closed_on: date | None


# --- the environment ------------------------------------------------------------------------------




def _mask(value: Any) -> str:
    return mask_id_number(str(value)) if value not in (None, "") else ""


@cache
def environment() -> Environment:
    """The one Jinja2 environment (built on first use): autoescaped, strict, trimmed."""
    env = Environment(
        loader=PackageLoader("forms", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cn_date"] = cn_date
    env.filters["cn_datetime"] = cn_datetime
    env.filters["mask"] = _mask
    env.globals["labels"] = LABELS
    return env


def _render(template: str, *, generated_at: datetime | None, **context: Any) -> str:
    moment = generated_at if generated_at is not None else SystemClock().now()
    return environment().get_template(template).render(generated_at=moment, **context)


# --- helpers --------------------------------------------------------------------------------------


def _limit(limit: TimeLimit) -> str:
    return f"{limit.amount}{TIME_UNIT_LABELS[limit.unit]}"


def _department_name(registry: BundleRegistry, code: str) -> str:
    department = registry.catalog.departments.get(code)
    return department.name.zh if department is not None else code


def _item(registry: BundleRegistry, code: str) -> ServiceItem | None:
    return registry.catalog.items.get(code)


def _item_name(registry: BundleRegistry, code: str) -> str:
    item = _item(registry, code)
    return item.name if item is not None else code


def _step_department(step: StepSpec, registry: BundleRegistry, answers: Mapping[str, Any] | None) -> str:
    item = _item(registry, step.chosen_item(answers))
    return step.department or (item.department if item is not None else "")


def _applies(condition: Condition | None, answers: Mapping[str, Any] | None) -> bool | None:
    """True or False when the answers settle the condition, None when they do not.

    Three-valued: a comparison on an unanswered field is unknown, ``all`` is false as soon
    as one part is false, ``any`` true as soon as one part is true.
    """
    if condition is None:
        return True
    if answers is None:
        return None
    return condition.settles(answers)


def _field_view(
    spec: FieldSpec,
    fields: Mapping[str, FieldSpec],
    value: Any,
    *,
    mask: bool,
    source: str = "",
    conditional: bool = False,
    required: bool = True,
    columns: Iterable[str] | None = None,
) -> FieldView:
    names = spec.item_fields if columns is None else tuple(columns)
    return FieldView(
        id=spec.id,
        label=spec.label.zh,
        label_en=spec.label.en,
        type=spec.type.value,
        value=None if value in (None, "", []) else value,
        options=tuple((o.value, o.label.zh) for o in spec.options),
        columns=tuple(_field_view(fields[n], fields, None, mask=mask) for n in names if n in fields),
        masked=mask and spec.sensitive,
        unit=spec.unit or ("元" if spec.type.value == "amount" else ""),
        source=source,
        conditional=conditional,
        required=required,
    )


def _source_name(registry: BundleRegistry, source: str | None) -> str:
    if not source:
        return ""
    licence = registry.catalog.licences.get(source)
    return licence.name.zh if licence is not None else source


def _answer_views(
    bundle: BundleSpec, registry: BundleRegistry, answers: Mapping[str, Any] | None, *, mask: bool,
    sources: Mapping[str, str] | None = None, answered_only: bool = False,
) -> list[FieldView]:
    """The bundle's fields that apply, in the bundle's order."""
    views = []
    for use in bundle.fields:
        spec = registry.fields[use.field]
        applies = _applies(use.when, answers)
        if applies is False:
            continue
        value = answers.get(use.field) if answers is not None else None
        if answered_only and value in (None, "", []):
            continue
        views.append(
            _field_view(
                spec, registry.fields, value, mask=mask,
                source=_source_name(registry, (sources or {}).get(use.field)),
                conditional=applies is None and use.when is not None,
                required=use.required,
            )
        )
    return views


def _step_applies(step: StepSpec, answers: Mapping[str, Any] | None) -> bool:
    if _applies(step.when, answers) is False:
        return False
    if step.for_each is not None and answers is not None and answers.get(step.for_each) == []:
        return False
    return True


BUNDLE_MATERIAL_ITEMS = LABELS.whole_bundle
"""What a bundle-level material shows instead of the items that need it."""


def _material_views(
    steps: Iterable[StepSpec], registry: BundleRegistry, answers: Mapping[str, Any] | None,
    waived: Collection[str] | None, *, shared: Iterable[Material] = (),
) -> list[DocumentMaterial]:
    """Materials of the steps, once per name, with the items that need each (the items the answers
    chose); ``shared`` are the bundle's own materials, listed once for the whole bundle, before the
    steps' (whichever steps apply)."""
    found: dict[str, tuple[Material, bool, list[str]]] = {}
    for material in shared:
        applies = _applies(material.when, answers)
        if applies is not False:
            found[material.name] = (material, applies is None and material.when is not None, [BUNDLE_MATERIAL_ITEMS])
    for step in steps:
        item = _item_name(registry, step.chosen_item(answers))
        for material in step.materials:
            applies = _applies(material.when, answers)
            if applies is False:
                continue
            if material.name in found:
                first, conditional, items = found[material.name]
                if item not in items:
                    items.append(item)
                found[material.name] = (first, conditional and applies is None, items)
            else:
                found[material.name] = (material, applies is None and material.when is not None, [item])
    views = []
    for name, (material, conditional, items) in found.items():
        is_waived = name in waived if waived is not None else any(
            o.supply in WAIVED_SUPPLY_MODES for o in (material, *material.any_of))
        views.append(
            DocumentMaterial(
                name=name, code=material.code or "", supply=int(material.supply),
                supply_label=SUPPLY_MODE_LABELS[material.supply], waived=is_waived,
                required=material.required, conditional=conditional, note=material.note, items=tuple(items),
                alternatives=material_options(material),
            )
        )
    return views


def _item_view(step: StepSpec, registry: BundleRegistry, answers: Mapping[str, Any] | None) -> ItemView:
    code = step.chosen_item(answers)
    item = _item(registry, code)
    return ItemView(
        code=code,
        name=item.name if item is not None else code,
        legal_basis=item.legal_basis if item is not None else "",
        type=item.type.value if item is not None else ItemType.OTHER.value,
        result=(step.outputs.result or (item.result if item is not None else "")),
        department_name=_department_name(registry, _step_department(step, registry, answers)),
        kind_label=STEP_KIND_LABELS[step.kind],
        time_limit=_limit(step.time_limit),
    )


def _reason(text: str, bundle: BundleSpec, registry: BundleRegistry, answers: Mapping[str, Any]) -> str:
    def name(step_key: str) -> str:
        try:
            return _item_name(registry, bundle.step(step_key).chosen_item(answers))
        except KeyError:
            return step_key

    return plain_reason(text, name)


def _result(step: Step, spec: StepSpec | None, registry: BundleRegistry) -> str:
    given = step.outputs.get("result") if isinstance(step.outputs, dict) else None
    if isinstance(given, str) and given.strip():
        return given.strip()
    if spec is not None and spec.outputs.result:
        return spec.outputs.result
    item = _item(registry, step.item_code)
    return item.result if item is not None else ""


def _local(moment: datetime | None) -> date | None:
    return moment.astimezone(CHINA).date() if moment is not None else None


def _step_view(step: Step, bundle: BundleSpec, registry: BundleRegistry, answers: Mapping[str, Any]) -> StepView:
    try:
        spec: StepSpec | None = bundle.step(step.step_key)
    except KeyError:
        spec = None
    state = StepState(step.state)
    supplement = step.supplement if isinstance(step.supplement, dict) else {}
    requested = supplement.get("requested") or []
    return StepView(
        key=step.step_key,
        item_code=step.item_code,
        item_name=_item_name(registry, step.item_code),
        instance_label=step.instance_label,
        department_name=_department_name(registry, step.department),
        time_limit=_limit(spec.time_limit) if spec is not None else "",
        state=state.value,
        state_label=STEP_STATE_LABELS[state],
        due_on=step.due_on,
        due_provisional=bool(step.due_provisional and step.due_on is not None),
        result=_result(step, spec, registry) if state is StepState.DONE else "",
        reason=_reason(step.reason, bundle, registry, answers) if step.reason else "",
        requested=tuple(str(m) for m in requested),
        note=str(supplement.get("note") or ""),
        closed_on=_local(step.closed_at),
    )


def _case_view(case: Case, bundle: BundleSpec) -> CaseView:
    return CaseView(
        receipt_no=case.receipt_no,
        bundle_name=bundle.name.zh,
        bundle_name_en=bundle.name.en,
        applicant_name=case.applicant_name,
        applicant_id_label=APPLICANT_ID_LABELS.get(case.applicant_kind, "证件号码"),
        # a person's ID number is masked; an enterprise's credit code is public (国家企业信用信息公示) and
        # printed whole, as the form's own 统一社会信用代码 field prints it: one document, one rule
        applicant_id_masked=_mask(case.applicant_id) if case.applicant_kind == "person" else case.applicant_id,
        region_name=region_full_name(case.region) or case.region,
        state_label=CASE_STATE_LABELS[CaseState(case.state)],
        accepted_on=case.accepted_on,
        due_on=case.due_on,
        due_provisional=bool(case.due_provisional),
        time_limit=_limit(bundle.time_limit),
        closed_on=_local(case.closed_at),
    )


def _issuer(case: Case | None) -> str:
    region = (region_full_name(case.region) or "") if case is not None else ""
    return f"{region}政务服务中心 · 一件事一次办" if region else "政务服务 · 一件事一次办"


# --- the documents --------------------------------------------------------------------------------


def render_application_form(
    bundle: BundleSpec,
    registry: BundleRegistry,
    *,
    answers: Mapping[str, Any] | None = None,
    sources: Mapping[str, str] | None = None,
    waived: Collection[str] | None = None,
    generated_at: datetime | None = None,
) -> str:
    """一表申请: the unified application form of ``bundle``.

    ``answers`` fills the fields (blank lines where missing; with no answers at all every
    field is listed, conditional ones marked “如适用”; with answers, fields whose condition
    is false are left out). ``sources`` maps a field id to the licence type code (or a
    name) it was prefilled from. ``waived`` names the materials the applicant need not
    hand in; when None, materials of supply modes 1, 2, 3 and 5 (or with such an alternative) are
    waived. The bundle's own materials are listed once, whichever steps apply; a material with
    alternatives names them (A 或 B). A step whose item an answer chooses shows the chosen item.
    ID numbers are shown in full: it is the applicant's own form.
    """
    steps = [s for s in bundle.steps if _step_applies(s, answers)]
    materials = _material_views(steps, registry, answers, waived, shared=bundle.materials)
    return _render(
        "application_form.html",
        generated_at=generated_at,
        issuer=_issuer(None),
        bundle_name=bundle.name.zh,
        bundle_name_en=bundle.name.en,
        theme_code=bundle.theme_code or "",
        description=bundle.description,
        time_limit=_limit(bundle.time_limit),
        applicant_kind=bundle.applicant_kind,
        fields=_answer_views(bundle, registry, answers, mask=False, sources=sources),
        items=[_item_view(s, registry, answers) for s in steps],
        waived_materials=[m for m in materials if m.waived],
        supplied_materials=[m for m in materials if not m.waived],
    )


def render_step_form(
    bundle: BundleSpec,
    registry: BundleRegistry,
    step_id: str,
    *,
    answers: Mapping[str, Any] | None = None,
    instance: int | None = None,
    generated_at: datetime | None = None,
) -> str:
    """A department's form for one step: only the fields ``StepSpec.fields`` declares.

    Item fields of a list (e.g. ``heir_name`` of ``heirs``) are shown as a table of that
    list with only the declared columns; ``instance`` picks one element of a ``for_each``
    step's list. Raises ``KeyError`` for an unknown step id.
    """
    step = bundle.step(step_id)
    fields = registry.fields
    top = {use.field for use in bundle.fields}
    # Declared item fields, grouped under their list in the order the step names them.
    columns: dict[str, list[str]] = {}
    order: list[str] = []
    for name in step.fields:
        parent = None if name in top else next((f for f in top if name in fields[f].item_fields), None)
        if parent is None:
            order.append(name)
        else:
            if parent not in columns:
                columns[parent] = []
                order.append(parent)
            columns[parent].append(name)
    views: list[FieldView] = []
    for name in order:
        value = answers.get(name) if answers is not None else None
        if name in columns:
            entries = value if isinstance(value, list) else []
            if instance is not None and name == step.for_each:
                entries = entries[instance : instance + 1]
            value = [{k: e.get(k) for k in columns[name]} for e in entries if isinstance(e, Mapping)]
        views.append(_field_view(fields[name], fields, value, mask=False, columns=columns.get(name)))
    return _render(
        "step_form.html",
        generated_at=generated_at,
        issuer=_issuer(None),
        bundle_name=bundle.name.zh,
        item=_item_view(step, registry, answers),
        fields=views,
        materials=_material_views([step], registry, answers, None),
    )


def render_receipt(
    case: Case, bundle: BundleSpec, registry: BundleRegistry, *, waived: Collection[str] | None = None,
    received: Sequence[ReceivedMaterial] | None = None, generated_at: datetime | None = None,
    track_base: str | None = None,
) -> str:
    """受理回执: receipt number, applicant (ID masked), dates, every step with its due date and the
    case's materials.

    Due dates counted with a holiday schedule that is not yet published carry a visible
    “预计（假期安排未公布）” marker. Sensitive answers are masked. The materials are the bundle's own
    (also when the step they would have hung on is skipped) and those of the steps not skipped,
    once per name, with their alternatives; ``waived`` names those the applicant need not hand in
    (:func:`engine.records.queries.case_materials` knows), by supply mode when None.

    ``received`` (:func:`engine.documents.files.receipt_materials`): what intake received, listed
    as 收件清单 — each material handed in with its file count and pages, paper originals seen at
    the window, deferred ones (容缺) with the promised date, what is still missing, and the waived
    ones with the reason.

    一码通办: the receipt carries the short code and an inline SVG QR code (no external resource) of
    the public track URL (:func:`engine.records.tracking.track_url`, ``track_base`` its origin);
    the QR holds the receipt number only, never the second factor.
    """
    url = track_url(case.receipt_no, base=track_base)
    steps = [_step_view(s, bundle, registry, case.answers) for s in case.steps]
    keys = dict.fromkeys(s.step_key for s in sorted(case.steps, key=lambda s: s.position)
                         if s.state != StepState.SKIPPED.value)
    materials = _material_views([bundle.step(k) for k in keys], registry, case.answers, waived, shared=bundle.materials)
    return _render(
        "receipt.html",
        generated_at=generated_at,
        issuer=_issuer(case),
        case=_case_view(case, bundle),
        steps=steps,
        any_provisional=case.due_provisional or any(s.due_provisional for s in steps),
        answers=_answer_views(bundle, registry, case.answers, mask=True, answered_only=True),
        waived_materials=[m for m in materials if m.waived],
        supplied_materials=[m for m in materials if not m.waived],
        received=[m for m in received or () if not m.waived],
        waived_reasons=[m for m in received or () if m.waived],
        track_url=url,
        short_code=short_code(case.receipt_no),
        qr=Markup(segno.make(url).svg_inline()),  # segno's own markup: no text of ours inside
    )


def render_missing_materials_notice(
    case: Case, bundle: BundleSpec, registry: BundleRegistry, *, today: date, generated_at: datetime | None = None
) -> str:
    """一次性告知书: every step awaiting 补正 with all the materials it asked for, at once.

    Raises ``ValueError`` when no step of the case is in ``supplement_requested``.
    """
    steps = [
        _step_view(s, bundle, registry, case.answers) for s in case.steps if s.state == StepState.SUPPLEMENT_REQUESTED.value
    ]
    if not steps:
        raise ValueError(f"case {case.receipt_no} has no step awaiting supplementary materials")
    steps = _bundle_materials_once(steps, bundle)
    return _render(
        "missing_materials_notice.html",
        generated_at=generated_at,
        issuer=_issuer(case),
        case=_case_view(case, bundle),
        steps=steps,
        today=today,
    )


def _bundle_materials_once(steps: list[StepView], bundle: BundleSpec) -> list[StepView]:
    """A material of the whole bundle that several steps ask for is requested once: under the first."""
    shared = {m.name for m in bundle.materials}
    seen: set[str] = set()
    out = []
    for view in steps:
        requested = tuple(m for m in view.requested if m not in shared or m not in seen)
        seen.update(requested)
        out.append(replace(view, requested=requested))
    return out


def render_completion_notice(
    case: Case, bundle: BundleSpec, registry: BundleRegistry, *, generated_at: datetime | None = None
) -> str:
    """办结通知: the results of the done steps, why the others were not done, and 好差评.

    Raises ``ValueError`` while the case is still open (it has no completion date).
    """
    if case.closed_at is None:
        raise ValueError(f"case {case.receipt_no} is not closed yet")
    steps = [_step_view(s, bundle, registry, case.answers) for s in case.steps]
    return _render(
        "completion_notice.html",
        generated_at=generated_at,
        issuer=_issuer(case),
        case=_case_view(case, bundle),
        done_steps=[s for s in steps if s.state == StepState.DONE.value],
        other_steps=[s for s in steps if s.state != StepState.DONE.value],
    )
