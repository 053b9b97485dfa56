"""Acceptance (受理): one transaction turns a valid application into a case.

The transaction writes the case, one row per applicable step (one per element for
``for_each`` steps), skips the steps whose condition is false, releases the first ready
steps with their due dates, queues automated steps in the outbox and appends the audit
events. An idempotency key makes a retried request return the case it already created.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.people.application import validate_answers
from engine.time.clock import local_date
from engine.db.models import Case, ReceiptCounter, Step, new_id
from engine.documents.files import MaterialHandIn, check_hand_ins, link_hand_ins
from engine.errors import FieldProblem, IdempotencyConflict, InvalidApplication
from engine.people.licences import LicenceReads
from engine.people.prefill import PrefillContext, PrefillResult, applicant_name_of, licence_types, prefill
from engine.machine.access import Access, Target, authorize
from engine.machine.effects import Inputs
from engine.machine.eligibility import (
    Assessment,
    assess,
    fact_licence_types,
    hold_open_case_keys,
    nothing_applies,
    open_case_keys,
)
from engine.machine.progress import settle
from engine.machine.scope import condition_scope, reads_steps
from engine.records.queries import authorize_intake, record_access
from engine.runtime import Runtime
from engine.spec.models import BundleSpec
from engine.machine.states import SYSTEM, Actor, Role
from engine.machine.transitions import transition_case, transition_step
from engine.people.validators import (
    InvalidValue,
    mask_id_number,
    validate_credit_code,
    validate_id_number,
    validate_region_code,
)


@dataclass(frozen=True)
class Applicant:
    """The person (居民身份证号) or enterprise (统一社会信用代码) the case is for."""

    id: str
    kind: Literal["person", "enterprise"]
    name: str = ""


def check_applicant(applicant: Applicant, bundle: BundleSpec) -> Applicant:
    """Validate the applicant's identifier for the bundle's applicant kind."""
    if applicant.kind != bundle.applicant_kind:
        raise InvalidApplication(
            [FieldProblem("applicant.kind", "applicant.kind", f"该事项的申请人应为{'个人' if bundle.applicant_kind == 'person' else '企业'}",
                          f"bundle {bundle.id} is for a {bundle.applicant_kind} applicant")]
        )
    try:
        ident = validate_id_number(applicant.id) if applicant.kind == "person" else validate_credit_code(applicant.id)
    except InvalidValue as exc:
        raise InvalidApplication([FieldProblem("applicant.id", exc.code, exc.message_zh, exc.message_en)]) from None
    return Applicant(id=ident, kind=applicant.kind, name=applicant.name.strip())


def request_fingerprint(
    bundle_id: str, applicant: Applicant, answers: Mapping[str, Any], *, region: str | None
) -> str:
    """A hash of the whole request in canonical form (key order does not matter): a retry with
    the same key must be the same application in every respect, or it is a conflict."""
    body = json.dumps(
        {"bundle_id": bundle_id, "applicant": [applicant.id, applicant.kind, applicant.name], "answers": answers,
         "region": region},
        sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def idempotency_scope(actor: Actor, key: str) -> str:
    """The stored form of a caller's key: keys belong to their caller, so one caller's key never
    finds another's case. An applicant's key is theirs on any device (scoped by the person or
    company they act as); a staff key belongs to the token that sent it."""
    owner = f"subject:{actor.subject}" if actor.role is Role.APPLICANT and actor.subject else f"token:{actor.id}"
    return hashlib.sha256(f"{owner}\n{key}".encode()).hexdigest()


_NEXT_RECEIPT = {
    dialect: insert(ReceiptCounter)
    .values(region=bindparam("region"), day=bindparam("day"), last=1)
    .on_conflict_do_update(index_elements=["region", "day"], set_={"last": ReceiptCounter.last + 1})
    .returning(ReceiptCounter.last)
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def next_receipt_no(session: Session, *, region: str, day: str) -> str:
    """``<region>-<yyyymmdd>-<sequence>``: readable at the window, unique under concurrency."""
    sequence = session.execute(_NEXT_RECEIPT[session.get_bind().dialect.name], {"region": region, "day": day}
                               ).scalar_one()
    return f"{region}-{day}-{sequence:05d}"


def accept_case(
    session: Session,
    runtime: Runtime,
    *,
    bundle_id: str,
    applicant: Applicant,
    answers: Mapping[str, Any],
    actor: Actor,
    region: str | None = None,
    idempotency_key: str | None = None,
    materials: Mapping[str, MaterialHandIn] | None = None,
) -> Case:
    """Validate and accept an application; return the new case (or the one the key made).

    ``materials``, when given, is what is handed in per material (:class:`~engine.documents.files.MaterialHandIn`):
    every material to supply needs its staged files, a paper original seen at the window, or (容缺)
    a promised date; at the window each is checked first. The staged files are linked to the case
    and the acceptance event lists them (:func:`~engine.documents.files.check_hand_ins`). None:
    no file records (hand-ins recorded elsewhere, or on paper only).

    ``idempotency_key`` is the caller's own key as sent; it is scoped to ``actor`` here. A bundle
    that counts open cases (``open_cases``) holds the counted people's key from the count to the
    commit (:func:`~engine.machine.eligibility.hold_open_case_keys`): of simultaneous intakes for the
    same people, each counts the ones committed before it, so a bundle that refuses a second open
    case accepts exactly one of them and refuses the others with the guide's reason.
    """
    # Who may start this case is decided before anything is read (prefill and the eligibility rules
    # read other people's licences and cases), so a refused caller learns nothing from the answer.
    authorize_intake(actor, applicant_id=applicant.id, region=region)
    spec = runtime.current_spec(bundle_id)
    fingerprint = request_fingerprint(bundle_id, applicant, answers, region=region)
    if idempotency_key is not None:
        idempotency_key = idempotency_scope(actor, idempotency_key)
        existing = _by_key(session, idempotency_key, fingerprint)
        if existing is not None:
            return existing
    applicant = check_applicant(applicant, spec)
    # 无差别受理: a window accepts any applicant of its province and is recorded as the 受理地; asked
    # again with the checked identifier and the case's region (the case's own, valid ones).
    where = _region(region or actor.region or runtime.region)
    authorize(actor, Access.START_CASE, Target(applicant_id=applicant.id, region=where))
    others = actor.role is not Role.APPLICANT
    licences = intake_licence_reads(session, runtime, spec)
    merged, intake, locked = apply_prefill(session, runtime, spec, applicant, answers, discloses_others=others,
                                           licences=licences)
    try:
        cleaned = validate_answers(spec, runtime.registry.fields, merged)
    except InvalidApplication as exc:  # every problem of the form at once: the locked fields' and the rest
        raise InvalidApplication([*locked, *exc.problems]) from None
    if locked:
        raise InvalidApplication(locked)
    if not applicant.name:  # a case always names its applicant: worklists and receipts show it
        applicant = Applicant(applicant.id, applicant.kind,
                              applicant_name_of(spec, runtime.registry, cleaned, applicant.id))
    keys = open_case_keys(spec, answers=cleaned, applicant_id=applicant.id, others=others)
    try:
        if keys:
            # Counting open cases and committing this one must not interleave with another intake for
            # the same people: hold their key from before the count until the commit.
            hold_open_case_keys(session, keys)
            if idempotency_key is not None:  # the same request, committed while this one waited
                existing = _by_key(session, idempotency_key, fingerprint)
                if existing is not None:
                    session.commit()
                    return existing
        # 前置校验: the guide's eligibility rules, decided on the cleaned answers at the acceptance date. An
        # applicant applying for themselves learns nothing about other people: rules on another person's
        # licences or cases stay undecided here and are left to the department (recorded as deferred).
        eligibility = assess(session, spec=spec, answers=cleaned, applicant_id=applicant.id, today=runtime.today(),
                             others=others, licences=licences)
        eligibility.refuse()
        intake = {**intake, **eligibility.record()}
        plan = None
        if materials is not None:
            plan = check_hand_ins(session, runtime, spec=spec, actor=actor, intake=intake, materials=materials)
            intake = {**intake, **plan.record()}
        case = _create(
            session, runtime, spec=spec, applicant=applicant, answers=cleaned, actor=actor, region=where,
            idempotency_key=idempotency_key, fingerprint=fingerprint, intake=intake, eligibility=eligibility,
        )
        if plan is not None:
            link_hand_ins(session, runtime, case=case, spec=spec, actor=actor, plan=plan)
        session.commit()
    except IntegrityError:
        session.rollback()
        # Two requests raced with one idempotency key: the other one won; answer with its case.
        if idempotency_key is not None:
            existing = _by_key(session, idempotency_key, fingerprint)
            if existing is not None:
                return existing
        raise
    except BaseException:
        session.rollback()
        raise
    return case


def apply_prefill(
    session: Session, runtime: Runtime, spec: BundleSpec, applicant: Applicant, answers: Mapping[str, Any],
    *, discloses_others: bool = True, licences: LicenceReads | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[FieldProblem]]:
    """Merge prefilled values under the typed answers.

    Returns the merged answers, what intake records about them (sources, corrections, waived
    materials and materials to supply) in the acceptance audit event, and the problems of typed
    changes to locked prefilled fields (the caller reports them with the form's other problems).
    """
    result = prefill(session, PrefillContext(spec, runtime.registry, applicant.id, answers, runtime.today(),
                                             discloses_others=discloses_others, licences=licences),
                     providers=runtime.prefill)
    merged = {name: found.value for name, found in result.values.items()}
    problems: list[FieldProblem] = []
    corrections = []
    for name, value in answers.items():
        found = result.values.get(name)
        if found is not None and value not in (None, "") and str(value).strip() != str(found.value):
            # Only an authoritative source locks a field; data reused from an old application
            # may always be corrected (and the correction is recorded).
            if found.source in ("licence", "applicant") and not runtime.registry.fields[name].correctable:
                problems.append(FieldProblem(
                    name, "field.not_correctable",
                    f"该项由{found.detail}预填，不可修改", f"is prefilled from {found.detail} and cannot be changed",
                ))
            corrections.append({"field": name, "prefilled": found.value, "given": value, "source": found.detail})
        if value not in (None, ""):
            merged[name] = value
    intake = {
        "prefilled": {n: {"source": f.source, "detail": f.detail} for n, f in result.values.items() if n not in answers
                      or answers[n] in (None, "")},
        "corrections": corrections,
        "waived": [{"step": m.step, "material": m.name, "reason": m.reason} for m in result.waived],
        "to_supply": [{"step": m.step, "material": m.name, "required": m.required} for m in result.to_supply],
    }
    return merged, intake, problems


@dataclass(frozen=True)
class Preview:
    """The one form before submission: what prefill found and how the eligibility rules stand."""

    prefill: PrefillResult
    eligibility: Assessment


def prefill_application(
    session: Session, runtime: Runtime, *, bundle_id: str, applicant: Applicant, answers: Mapping[str, Any],
    actor: Actor,
) -> PrefillResult:
    """The prefill part of :func:`preview_application`."""
    return preview_application(session, runtime, bundle_id=bundle_id, applicant=applicant, answers=answers,
                               actor=actor).prefill


def preview_application(
    session: Session, runtime: Runtime, *, bundle_id: str, applicant: Applicant, answers: Mapping[str, Any],
    actor: Actor,
) -> Preview:
    """The one form before submission (``POST /prefill``): prefilled values with their sources, the
    materials that are waived or still to supply, and the eligibility rules (前置校验) decided on
    the typed and prefilled values so far, so a clerk sees a refusal before typing everything.
    Applicants only see their own data (neither the licence store nor the cases are asked about
    anyone else: those rules stay unknown); a staff read of other people's licences or cases is
    recorded in the access log (one record, committed)."""
    authorize_intake(actor, applicant_id=applicant.id, region=None)  # before anyone's data is read
    spec = runtime.current_spec(bundle_id)
    applicant = check_applicant(applicant, spec)
    licences = intake_licence_reads(session, runtime, spec)
    context = PrefillContext(spec, runtime.registry, applicant.id, answers, runtime.today(),
                             discloses_others=actor.role is not Role.APPLICANT, licences=licences)
    result = prefill(session, context, providers=runtime.prefill)
    typed = {name: value for name, value in answers.items() if value not in (None, "")}
    eligibility = assess(session, spec=spec, answers={**{n: f.value for n, f in result.values.items()}, **typed},
                         applicant_id=applicant.id, today=runtime.today(), others=actor.role is not Role.APPLICANT,
                         licences=licences)
    others = result.other_holders | eligibility.looked_up
    if others:
        people = " ".join(sorted(mask_id_number(h) for h in others))
        record_access(session, actor=actor, case_id=None, step_id=None, what=f"prefill {spec.id}: licences of {people}",
                      at=runtime.clock.now())
        session.commit()
    return Preview(result, eligibility)


def intake_licence_reads(session: Session, runtime: Runtime, spec: BundleSpec) -> LicenceReads:
    """The licences an intake of ``spec`` reads, shared by prefill, the waivers and the eligibility
    facts: each person's valid licences of every type the bundle may ask about, in one query."""
    return LicenceReads(session, today=runtime.today(),
                        types=licence_types(spec, runtime.registry) | fact_licence_types(spec))


def _region(code: str) -> str:
    try:
        return validate_region_code(code)
    except InvalidValue as exc:
        raise InvalidApplication([FieldProblem("region", exc.code, exc.message_zh, exc.message_en)]) from None


_BY_KEY = select(Case).where(Case.idempotency_key == bindparam("key"))


def _by_key(session: Session, key: str, fingerprint: str) -> Case | None:
    case = session.scalars(_BY_KEY, {"key": key}).one_or_none()
    if case is not None and case.request_hash != fingerprint:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different application", field="Idempotency-Key"
        )
    return case


def _create(
    session: Session,
    runtime: Runtime,
    *,
    spec: BundleSpec,
    applicant: Applicant,
    answers: dict[str, Any],
    actor: Actor,
    region: str,
    idempotency_key: str | None,
    fingerprint: str,
    intake: dict[str, Any],
    eligibility: Assessment | None = None,
) -> Case:
    now = runtime.clock.now()
    today = local_date(now)
    # 受理地: the receiving window's region (a clerk's), which numbers the receipt; None when the
    # applicant applies online (then it is the case's region).
    received_in = actor.region if actor.role is Role.CLERK else None
    case = Case(
        id=new_id(),
        receipt_no=next_receipt_no(session, region=received_in or region, day=f"{today:%Y%m%d}"),
        bundle_id=spec.id,
        bundle_version=spec.version,
        spec_hash=spec.spec_hash,
        applicant_id=applicant.id,
        applicant_kind=applicant.kind,
        applicant_name=applicant.name,
        region=region,
        received_in=received_in,
        answers=answers,
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        created_by=actor.id,
        accepted_at=now,
        accepted_on=today,
        paused_days=0,
        audit_seq=0,
        audit_head="",
    )
    session.add(case)
    transition_case(  # the gate starts the bundle's clock
        session, runtime, case=case, action="accept", actor=actor, at=now,
        payload={"bundle": spec.id, "version": spec.version, "receipt_no": case.receipt_no, **intake},
    )
    position = 0
    # From here on the step conditions also read the computed facts (the case stores the answers alone).
    answers = eligibility.scope(answers) if eligibility is not None else answers
    for step_spec in spec.steps:
        elements: list[dict[str, Any]] = [{}]
        if step_spec.for_each is not None:
            elements = list(answers.get(step_spec.for_each) or [])
        for index, element in enumerate(elements or [{}]):
            # a condition on earlier steps' outputs is decided when the step becomes releasable
            applies = step_spec.when is None or reads_steps(step_spec.when) or step_spec.when.evaluate(
                condition_scope(answers, entry=element))
            item = step_spec.item_for(answers)  # None: the choosing answer maps to no item (skipped below)
            code = step_spec.chosen_item(answers)  # an item chosen by an answer brings its department
            department = step_spec.department or runtime.registry.catalog.items[code].department
            step = Step(
                id=new_id(), case_id=case.id, step_key=step_spec.id, instance=index, position=position,
                receipt_no=case.receipt_no,
                instance_label=_entry_label(runtime, step_spec.for_each, element), item_code=code, department=department,
                kind=step_spec.kind.value, entry=element,
            )
            position += 1
            case.steps.append(step)
            transition_step(session, runtime, case=case, step=step, action="create", actor=SYSTEM, at=now)
            skipped = "condition not met" if not applies else (
                f"no entries in {step_spec.for_each}" if not elements else None) or (
                f"no item for {step_spec.item_choice.by}" if item is None and step_spec.item_choice else None)
            if skipped is None and eligibility is not None:  # a failed `skip` rule: the guide's reason
                skipped = eligibility.skip_reason(step_spec, index)
            if skipped is not None:
                transition_step(session, runtime, case=case, step=step, action="skip", actor=SYSTEM, at=now,
                                inputs=Inputs(reason=skipped))
    if all(s.state == "skipped" for s in case.steps):
        raise nothing_applies(spec, eligibility or Assessment(()))
    # No flush before settling: the case, its steps and every event are written once, in their final
    # state, when the caller commits (or when a query needs them), not inserted and then updated.
    settle(session, runtime, case=case, spec=spec, at=now)
    return case


def _entry_label(runtime: Runtime, list_field: str | None, element: Mapping[str, Any]) -> str:
    """What names a for_each entry on its steps: the list field's declared ``entry_label``."""
    if list_field is None:
        return ""
    key = runtime.registry.fields[list_field].entry_label
    return str(element[key]) if key is not None and element.get(key) else ""
