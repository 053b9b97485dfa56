"""Read models and scoping: what a case, a worklist, a step and a region look like to whom.

Nothing here changes a case or a step; the only write is the access record of every staff read
of a full record (DESIGN.md, Security). Supervision statistics live in :mod:`engine.time.supervision`.

Who sees what, applied the same way by every adapter:

- applicant: the cases whose ``applicant_id`` is their subject (others do not exist for them);
- clerk, supervisor: the cases of their region, by its significant prefix (430000 → ``43``,
  430100 → ``4301``, 430102 → ``430102``);
- officer: the cases of their region in which their department has a step, and only their
  department's steps; a step shows only the fields it declares;
- admin: everything.

Outside one's scope a case or step does not exist: the answer is the same :class:`NotFound` as
for an id that was never issued, naming nothing of the case (no receipt number, department or
step). Role rules (who may claim, complete, withdraw…) stay with the transition gate; the checks
here only decide whether the actor may see the case or step at all.

What each viewer reads of a case it may see (applied here, so the API, the pages and the
documents all get it):

- a self-service applicant: their case, but of other people (a spouse, the deceased, an heir)
  nothing the platform holds — only their own licence numbers among a step's results, and
  another person's materials classified without asking the licence store (:mod:`engine.people.prefill`);
- an officer: their own department's steps in full (fields, results, outputs); every other step
  only as progress — its department, state and due date — with no result, reason or names;
- clerks, supervisors and admins: everything, and each read is recorded in the access log.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Self

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, selectinload

from engine.db.models import AccessRecord, Case, DeferredMaterial, Step
from engine.errors import Forbidden, NotFound
from engine.people.identifiers import InvalidValue, mask_id_number, validate_credit_code, validate_id_number
from engine.people.prefill import MaterialStatus, PrefillContext, material_statuses, step_materials
from engine.people.regions import region_prefix as region_prefix  # re-exported
from engine.records.labels import SUPPLY_MODE_LABELS
from engine.records.worklists import (  # re-exported: worklists and the scope of open work
    CURSOR_PATTERN as CURSOR_PATTERN,
    Page as Page,
    WorkItem as WorkItem,
    department_worklist as department_worklist,
    open_work as open_work,
    overdue_work as overdue_work,
    work_scope as work_scope,
    worklist as worklist,
)
from engine.runtime import Runtime
from engine.spec.models import BundleSpec, Material
from engine.machine.access import Access, Target, authorize, permits, sole_applicant
from engine.machine.access import region_covers as region_covers  # re-exported: the rules live in access
from engine.machine.routing import deciding_region, routing_reason
from engine.machine.states import (
    GOVERNMENT_STAFF,
    STEP_OPEN,
    STEP_SATISFIED,
    Actor,
    Role,
    StepState,
)


# --- scoping -----------------------------------------------------------------------------


def in_scope(scope: str | None) -> list[ColumnElement[bool]]:
    """SQL conditions keeping the cases within ``scope`` (none when unscoped); for steps, where
    they are decided: :func:`~engine.machine.access.decided_within`."""
    return [] if scope is None else [Case.region.startswith(region_prefix(scope), autoescape=True)]


def no_case(case_id: str) -> NotFound:
    """The one answer for a case that does not exist *for this caller* (missing or out of scope)."""
    return NotFound(f"no case {case_id}", field="case_id")


def no_step(step_id: str) -> NotFound:
    """The one answer for a step that does not exist for this caller (missing or out of scope)."""
    return NotFound(f"no step {step_id}", field="step_id")


def check_case_scope(session: Session, *, actor: Actor, case_id: str, step_id: str | None = None) -> Case:
    """The case if ``actor`` may see it (:data:`~engine.machine.access.Access.SEE_CASE`; and
    ``step_id``, if given, is one of its steps); otherwise the same :class:`NotFound` as for an
    unknown id."""
    found = session.get(Case, case_id)
    if found is None or not permits(actor, Access.SEE_CASE, Target(case=found)):
        raise no_case(case_id)
    if step_id is not None and session.scalar(select(Step.case_id).where(Step.id == step_id)) != case_id:
        raise no_step(step_id)
    return found


def check_step_scope(session: Session, *, actor: Actor, step_id: str) -> Step:
    """The step if ``actor`` may see it (:data:`~engine.machine.access.Access.SEE_STEP`: officers
    only their own department's steps, decided by an office their region covers); otherwise the
    same :class:`NotFound` as for an unknown id."""
    step = session.get(Step, step_id)
    if step is None or not permits(actor, Access.SEE_STEP, Target(case=step.case, step=step)):
        raise no_step(step_id)
    return step


def authorize_intake(actor: Actor, *, applicant_id: str, region: str | None) -> None:
    """Whether ``actor`` may start a case for ``applicant_id`` in ``region`` (default: the actor's)
    (:data:`~engine.machine.access.Access.START_CASE`: applicants for themselves, clerks for the
    applicants of their province, admins anywhere); otherwise :class:`Forbidden` naming the field.

    :func:`~engine.machine.intake.accept_case` and :func:`~engine.machine.intake.preview_application`
    ask it themselves, first, before they read anyone's data: adapters need not."""
    claimed = actor.subject
    # Whoever may apply only for themselves is refused for another identifier; one that is not an
    # identifier at all is the engine's to explain (422), so it is not checked here.
    for validate in (validate_id_number, validate_credit_code) if sole_applicant(actor) is not None else ():
        with suppress(InvalidValue):
            claimed = validate(applicant_id)
    authorize(actor, Access.START_CASE, Target(applicant_id=claimed, region=region or actor.region))


def record_access(session: Session, *, actor: Actor, case_id: str | None, step_id: str | None, what: str,
                  at: datetime) -> None:
    """Append an access record (who read which full record, when); the caller commits."""
    session.add(AccessRecord(actor_id=actor.id, role=actor.role.value, case_id=case_id, step_id=step_id,
                             what=what[:200], at=at))


# --- a case ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepStatus:
    """One step as the applicant and staff follow it: ``waiting_on`` names the items of unfinished
    prerequisites (pending steps), ``supplement_requested`` the materials an open 补正 notice asks for.

    An officer reads another department's step only as progress: its department, state and due
    dates, with ``reason``, ``result``, ``instance_label`` and ``supplement_requested`` left empty."""

    id: str
    step_key: str
    item: str
    item_name: str
    department: str
    department_name: str
    kind: str
    state: str
    due_on: date | None
    due_provisional: bool
    not_before: date | None
    version: int
    instance_label: str
    waiting_on: tuple[str, ...]
    supplement_requested: tuple[str, ...]
    reason: str
    result: str
    """For done steps: the result document and the numbers of the licences it issued (an
    applicant: only the licences they hold themselves)."""
    supplement_due_on: date | None
    """The day the applicant must hand in an open 补正 notice's materials by (the step's
    ``supplement_window``), else None."""
    extension_requested_days: int | None
    """A §42 extension request waiting for a supervisor's approval: the days asked, else None."""
    office: str | None
    """The deciding office (办理机构) release routed the step to, ``<department>@<region>``; None
    before release (and for a region no office serves)."""
    office_name: str
    decided_in: str
    """Where the step is decided (办理地): its office's region, or the case's before release."""
    routing_reason: str
    """Why the step went to that office (bilingual, "English / 中文"); empty before release."""


def sees_in_full(viewer: Actor, step: Step) -> bool:
    """Whether ``viewer`` reads ``step``'s results and details, not only its progress
    (:data:`~engine.machine.access.Access.SEE_STEP`): officers only their own department's steps
    decided by an office their region covers; the applicant and the windows, every step."""
    return permits(viewer, Access.SEE_STEP, Target(case=step.case, step=step))


def _own_holder(viewer: Actor, step: Step) -> str | None:
    """The only licence holder whose data ``viewer`` may read among the step's results (None: any)."""
    return step.case.applicant_id if viewer.role is Role.APPLICANT else None


def visible_licences(step: Step, *, holder: str | None) -> list[dict[str, Any]]:
    """The licences a done step issued, as stored in its outputs; only ``holder``'s if given."""
    issued = [dict(e) for e in step.outputs.get("licences", []) if isinstance(e, dict)]
    return issued if holder is None else [e for e in issued if e.get("holder") == holder]


def visible_outputs(step: Step, *, holder: str | None) -> dict[str, Any]:
    """A step's outputs, or for ``holder`` (a self-service applicant) only what is theirs.

    For an applicant the licences the step issued to other people (the spouse's 结婚证, the
    deceased's 死亡医学证明) are left out, and so is the officer's ``number`` whenever the step
    issued licences (each holder's number is derived from it); when it issued licences to other
    people only, the other outputs (the licence's attributes) go too and the result name stays."""
    outputs = dict(step.outputs)
    if holder is None or "licences" not in outputs:
        return outputs
    own = visible_licences(step, holder=holder)
    if not own:
        return {"result": outputs["result"]} if "result" in outputs else {}
    kept = {k: v for k, v in outputs.items() if k not in ("licences", "number")}
    return {**kept, "licences": own}


def step_result(step: Step, item_result: str, *, holder: str | None = None) -> str:
    """What a finished step produced, as the applicant reads it (结婚证 J430102-2026-000123-1);
    with ``holder``, only the numbers of that holder's licences."""
    if step.state != StepState.DONE.value:
        return ""
    issued = visible_licences(step, holder=None)
    numbers = [str(entry.get("number")) for entry in visible_licences(step, holder=holder)]
    number = step.outputs.get("number")
    if not issued and isinstance(number, str | int):
        numbers = [str(number)]
    return " ".join([item_result.rstrip("；;")] + numbers).strip() if item_result or numbers else ""


@dataclass(frozen=True)
class DeferredStatus:
    """容缺受理: a material the case was accepted without, as the progress page shows it
    (请于{promised_on}前补交{material})."""

    material: str
    promised_on: date
    reminded: bool
    """The sweep recorded the reminder (``defer_remind_days`` working days before the date)."""
    supplied: bool


def deferred_of(session: Session, case_ids: Sequence[str]) -> dict[str, tuple[DeferredStatus, ...]]:
    """By case id, the cases' 容缺 materials, soonest promised first (one statement for all)."""
    rows = session.scalars(select(DeferredMaterial).where(DeferredMaterial.case_id.in_(list(case_ids)))
                           .order_by(DeferredMaterial.promised_on, DeferredMaterial.material)) if case_ids else ()
    found: dict[str, list[DeferredStatus]] = {}
    for r in rows:
        found.setdefault(r.case_id, []).append(DeferredStatus(
            material=r.material, promised_on=r.promised_on, reminded=r.reminded_at is not None,
            supplied=r.supplied_at is not None))
    return {case_id: tuple(items) for case_id, items in found.items()}


@dataclass(frozen=True)
class CaseStatus:
    """A case with its steps; the applicant id is masked for officers."""

    id: str
    receipt_no: str
    bundle_id: str
    bundle_version: int
    bundle_name: str
    state: str
    version: int
    region: str
    received_in: str
    """受理地: the region of the window that received the case (the case's region when applied online)."""
    applicant_id: str
    applicant_kind: str
    applicant_name: str
    accepted_on: date
    due_on: date
    due_provisional: bool
    clock_stopped: bool
    closed_at: datetime | None
    steps: tuple[StepStatus, ...]
    deferred: tuple[DeferredStatus, ...] = ()
    """容缺受理: the materials accepted as missing, their promised dates, reminded, supplied."""


def step_status(runtime: Runtime, step: Step, waiting_on: tuple[str, ...] = (), *, viewer: Actor) -> StepStatus:
    """The status of one step as ``viewer`` may read it (names looked up in the catalog)."""
    catalog = runtime.registry.catalog
    item = catalog.items.get(step.item_code)
    department = catalog.departments.get(step.department)
    full = sees_in_full(viewer, step)
    requested = step.supplement.get("requested", []) if step.state == StepState.SUPPLEMENT_REQUESTED.value else []
    return StepStatus(
        id=step.id, step_key=step.step_key, item=step.item_code, item_name=item.name if item else step.item_code,
        department=step.department, department_name=department.name.zh if department else step.department,
        kind=step.kind, state=step.state, due_on=step.due_on, due_provisional=step.due_provisional,
        not_before=step.not_before, version=step.version, instance_label=step.instance_label if full else "",
        waiting_on=waiting_on, supplement_requested=tuple(requested) if full else (),
        reason=step.reason if full else "",
        result=step_result(step, item.result if item else "", holder=_own_holder(viewer, step)) if full else "",
        supplement_due_on=_hand_in_by(step) if full else None,
        extension_requested_days=_extension_requested(step) if full else None,
        office=step.office, office_name=_office_name(runtime, step), decided_in=deciding_region(step.case, step),
        routing_reason=routing_reason(runtime, step.case, step),
    )


def _office_name(runtime: Runtime, step: Step) -> str:
    office = runtime.registry.catalog.offices.get(step.office) if step.office else None
    return office.name if office is not None else ""


def _hand_in_by(step: Step) -> date | None:
    """An open 补正 notice's hand-in date (stored on the notice by the gate)."""
    due = step.supplement.get("hand_in_by") if step.state == StepState.SUPPLEMENT_REQUESTED.value else None
    return date.fromisoformat(due) if isinstance(due, str) else None


def _extension_requested(step: Step) -> int | None:
    """The days of a §42 extension request waiting for approval (kept in the step's outputs)."""
    pending = (step.outputs.get("extension") or {}).get("pending") if isinstance(step.outputs, dict) else None
    return int(pending["days"]) if isinstance(pending, dict) and "days" in pending else None


def _waiting_on(runtime: Runtime, session: Session, case: Case) -> dict[str, tuple[str, ...]]:
    spec = runtime.spec_for(session, case)
    items = runtime.registry.catalog.items
    by_key: dict[str, list[Step]] = defaultdict(list)
    for step in case.steps:
        by_key[step.step_key].append(step)
    waits: dict[str, tuple[str, ...]] = {}
    for step in case.steps:
        if step.state != StepState.PENDING.value:
            continue
        step_spec = spec.step(step.step_key)
        keys = [k for k in step_spec.depends_on if not all(StepState(s.state) in STEP_SATISFIED for s in by_key[k])]
        if step_spec.depends_on_any and not any(s.state == StepState.DONE.value
                                                for k in step_spec.depends_on_any for s in by_key[k]):
            keys += [k for k in step_spec.depends_on_any if any(StepState(s.state) in STEP_OPEN for s in by_key[k])]
        chosen = {k: spec.step(k).chosen_item(case.answers) for k in keys}
        names = [items[chosen[k]].name if chosen[k] in items else k for k in keys]
        waits[step.id] = tuple(dict.fromkeys(names))
    return waits


def step_names(runtime: Runtime, case: Case) -> dict[str, str]:
    """Each of ``case``'s step keys named as its progress names the step (:attr:`StepStatus.item_name`):
    by the service item the step was made for (the one the answers chose), so a reason the engine
    wrote about a step ("prerequisite marriage was rejected") reads with the step's own name."""
    items = runtime.registry.catalog.items
    names: dict[str, str] = {}
    for step in case.steps:
        item = items.get(step.item_code)
        names.setdefault(step.step_key, item.name if item else step.item_code)
    return names


def describe_case(session: Session, runtime: Runtime, case: Case, *, viewer: Actor,
                  deferred: tuple[DeferredStatus, ...] | None = None) -> CaseStatus:
    """The read model of a case ``viewer`` already may see (no scope check, no access record):
    the applicant id masked for officers, every step as :func:`step_status` lets ``viewer`` read it.
    ``deferred``: its 容缺 materials when the caller read them already (a list of cases)."""
    waits = _waiting_on(runtime, session, case)
    bundle = runtime.registry.bundles.get(case.bundle_id)
    return CaseStatus(
        id=case.id, receipt_no=case.receipt_no, bundle_id=case.bundle_id, bundle_version=case.bundle_version,
        bundle_name=bundle.name.zh if bundle else case.bundle_id, state=case.state, version=case.version,
        region=case.region, received_in=case.received_in or case.region,
        applicant_id=mask_id_number(case.applicant_id) if viewer.role is Role.OFFICER else case.applicant_id,
        applicant_kind=case.applicant_kind, applicant_name=case.applicant_name, accepted_on=case.accepted_on,
        due_on=case.due_on, due_provisional=case.due_provisional, clock_stopped=case.clock_stopped_on is not None,
        closed_at=case.closed_at,
        steps=tuple(step_status(runtime, s, waits.get(s.id, ()), viewer=viewer) for s in case.steps),
        deferred=deferred if deferred is not None else deferred_of(session, [case.id]).get(case.id, ()),
    )


def case_status(session: Session, runtime: Runtime, *, case_id: str, actor: Actor) -> CaseStatus:
    """A case with its steps, if ``actor`` may see it; a staff read is recorded. Commits."""
    found = check_case_scope(session, actor=actor, case_id=case_id)
    status = describe_case(session, runtime, found, viewer=actor)
    if actor.role in GOVERNMENT_STAFF:
        record_access(session, actor=actor, case_id=found.id, step_id=None, what="case_status", at=runtime.clock.now())
    session.commit()
    return status


def document_case(session: Session, runtime: Runtime, *, case_id: str, actor: Actor, what: str) -> Case:
    """The case whose document ``what`` (receipt, notice) ``actor`` asks for, if they may see the
    case and read its documents; a staff read is recorded. Commits when it records."""
    case = session.get(Case, case_id)
    if case is None:
        raise no_case(case_id)
    authorize(actor, Access.READ_DOCUMENTS, Target(case=case))
    if actor.role in GOVERNMENT_STAFF:
        record_access(session, actor=actor, case_id=case.id, step_id=None, what=what, at=runtime.clock.now())
        session.commit()
    return case


# --- a step, as its department sees it ---------------------------------------------------


@dataclass(frozen=True)
class FieldValue:
    """One declared field of a step and its value."""

    id: str
    label_zh: str
    label_en: str
    type: str
    value: Any


@dataclass(frozen=True)
class MaterialOption:
    """One alternative of a material (任选其一: 死者居民身份证 或 户口注销证明), with how it is supplied."""

    name: str
    code: str | None
    supply: int
    supply_label: str
    """The supply mode's wording (:data:`engine.records.labels.SUPPLY_MODE_LABELS`)."""
    licence: str | None


def material_options(material: Material) -> tuple[MaterialOption, ...]:
    """The alternatives of ``material`` (none for a material without ``any_of``), as every read
    model and document lists them."""
    return tuple(MaterialOption(name=o.name, code=o.code, supply=int(o.supply), supply_label=SUPPLY_MODE_LABELS[o.supply],
                                licence=o.licence) for o in material.any_of)


def spec_material(bundle: BundleSpec, *, step: str, name: str) -> Material:
    """The declared material a classification (:class:`engine.people.prefill.MaterialStatus`) is
    about: the bundle's own for step '', else the step's. Raises ``KeyError`` for an unknown one."""
    declared = bundle.materials if step == "" else bundle.step(step).materials
    for material in declared:
        if material.name == name:
            return material
    raise KeyError(name)


@dataclass(frozen=True)
class MaterialView:
    """One material of a step and whether it must be handed in (``waived``: the government holds
    it), with ``reason`` as :mod:`engine.people.prefill` words it for the reader."""

    name: str
    code: str | None
    supply: int
    licence: str | None
    required: bool
    note: str
    waived: bool
    reason: str
    supply_label: str
    """The supply mode's wording (:data:`engine.records.labels.SUPPLY_MODE_LABELS`)."""
    alternatives: tuple[MaterialOption, ...]
    """Any one of these satisfies the material (empty: only the material itself)."""

    @classmethod
    def of(cls, material: Material, status: MaterialStatus) -> Self:
        """A declared material with its classification."""
        return cls(name=material.name, code=material.code, supply=int(material.supply), licence=material.licence,
                   required=material.required, note=material.note, waived=status.waived, reason=status.reason,
                   supply_label=SUPPLY_MODE_LABELS[material.supply], alternatives=material_options(material))


@dataclass(frozen=True)
class StepDetail:
    """A step with only the fields it declares, its materials and its item's elements (事项要素)."""

    status: StepStatus
    case_id: str
    receipt_no: str
    bundle_id: str
    applicant_name: str
    item_legal_basis: str
    item_type: str
    item_result: str
    fields: tuple[FieldValue, ...]
    materials: tuple[MaterialView, ...]
    assigned_to: str | None
    """The assignee's actor id (not shown to applicants)."""
    outputs: dict[str, Any]
    supplement: dict[str, Any]


def step_detail(session: Session, runtime: Runtime, *, step_id: str, actor: Actor) -> StepDetail:
    """One step's record, if ``actor`` may see it; a staff read is recorded. Commits.

    Materials are classified as they stand now (licences issued since acceptance waive them);
    for a self-service applicant another person's material is worded without asking the
    licence store, and only the applicant's own licences appear among the outputs."""
    step = check_step_scope(session, actor=actor, step_id=step_id)
    case = step.case
    spec = runtime.spec_for(session, case)
    step_spec = spec.step(step.step_key)
    known = runtime.registry.fields  # the loader checked that every declared field is in it
    fields = [
        FieldValue(id=name, label_zh=known[name].label.zh, label_en=known[name].label.en, type=known[name].type.value,
                   value=step.entry[name] if name in step.entry else case.answers.get(name))
        for name in step_spec.fields
    ]
    answers = {**case.answers, **step.entry}
    context = PrefillContext(spec, runtime.registry, case.applicant_id, answers, runtime.today(), case=case,
                             discloses_others=actor.role is not Role.APPLICANT)
    applicable = [m for m in step_spec.materials if m.when is None or m.when.evaluate(answers)]
    materials = tuple(MaterialView.of(m, status)
                      for m, status in zip(applicable, step_materials(session, context, step=step_spec), strict=True))
    item = runtime.registry.catalog.items.get(step.item_code)
    holder = _own_holder(actor, step)
    detail = StepDetail(
        status=step_status(runtime, step, viewer=actor), case_id=case.id, receipt_no=case.receipt_no,
        bundle_id=case.bundle_id, applicant_name=case.applicant_name, item_legal_basis=item.legal_basis if item else "",
        item_type=item.type.value if item else "", item_result=item.result if item else "",
        fields=tuple(fields), materials=materials,
        assigned_to=None if actor.role is Role.APPLICANT else step.assigned_to,
        outputs=visible_outputs(step, holder=holder), supplement=dict(step.supplement),
    )
    if actor.role in GOVERNMENT_STAFF:
        record_access(session, actor=actor, case_id=case.id, step_id=step.id, what="step_detail", at=runtime.clock.now())
    session.commit()
    return detail

# --- a case's materials ------------------------------------------------------------------


@dataclass(frozen=True)
class CaseMaterial(MaterialView):
    """One material of a case, listed once per name, with the items that need it."""

    items: tuple[str, ...] = ()
    """Names of the service items (the ones the case's answers chose) whose steps need it; empty
    for a material of the whole bundle."""

    @property
    def whole_bundle(self) -> bool:
        """A material of the bundle itself (the applicant's ID card, the one application form)."""
        return not self.items


def case_materials(session: Session, runtime: Runtime, *, case: Case, viewer: Actor) -> tuple[CaseMaterial, ...]:
    """The materials of a case ``viewer`` already may see, once per name: the bundle's own first
    (listed whichever steps apply, and when the step they would have hung on is skipped), then
    those of the case's steps that are not skipped (an officer: only their department's), each with
    its alternatives, its supply mode's wording and whether it must be handed in, classified as it
    stands now (licences issued since acceptance waive it; a self-service applicant's material of
    another person is worded without asking the licence store, as in :func:`step_detail`).

    A material several steps or list entries need is waived only if it is waived for every one of
    them. One licence query for the case, one more per list entry whose steps have materials (an
    entry's holder, an employee's ID card, is read from the entry). No access record: the
    caller's read of the case (:func:`case_status`) records it."""
    spec = runtime.spec_for(session, case)
    items = runtime.registry.catalog.items
    # One classification per answers scope: the case's (the bundle's own materials and the steps
    # without a list), then each list entry's (the case's answers with the entry's fields).
    groups: dict[tuple[str, int] | None, list[Step]] = {None: []}
    for row in sorted(case.steps, key=lambda s: s.position):
        step_spec = spec.step(row.step_key)
        if row.state != StepState.SKIPPED.value and step_spec.materials and sees_in_full(viewer, row):
            groups.setdefault((step_spec.for_each, row.instance) if step_spec.for_each else None, []).append(row)
    found: dict[str, CaseMaterial] = {}
    for entry, rows in groups.items():
        answers = {**case.answers, **(rows[0].entry if entry is not None else {})}
        context = PrefillContext(spec, runtime.registry, case.applicant_id, answers, runtime.today(), case=case,
                                 discloses_others=viewer.role is not Role.APPLICANT)
        statuses = material_statuses(session, context, steps=[spec.step(r.step_key) for r in rows], answers=answers,
                                     shared=spec.materials if entry is None else ())
        for status in statuses:
            code = spec.step(status.step).chosen_item(case.answers) if status.step else ""
            item = (items[code].name if code in items else code,) if status.step else ()
            view = CaseMaterial.of(spec_material(spec, step=status.step, name=status.name), status)
            known = found.get(status.name)
            if known is None:
                found[status.name] = replace(view, items=item)
                continue
            still = known.waived and view.waived
            found[status.name] = replace(
                known, waived=still, reason=known.reason if still or not known.waived else view.reason,
                required=known.required or view.required, items=tuple(dict.fromkeys((*known.items, *item))))
    return tuple(found.values())


def applicant_cases(session: Session, runtime: Runtime, *, actor: Actor, limit: int = 100) -> list[CaseStatus]:
    """A self-service applicant's own cases, newest first."""
    if sole_applicant(actor) is None:
        raise Forbidden(f"a {actor.role.value} has no cases of their own")
    # The steps in one statement for all the cases, not one per case (describe_case reads them all).
    found = session.scalars(
        select(Case).where(Case.applicant_id == actor.subject).order_by(Case.accepted_at.desc()).limit(limit)
        .options(selectinload(Case.steps))
    )
    cases = list(found)
    deferred = deferred_of(session, [c.id for c in cases])
    return [describe_case(session, runtime, case, viewer=actor, deferred=deferred.get(case.id, ())) for case in cases]
