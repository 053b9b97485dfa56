"""Clerk intake (综合窗口受理): choose a bundle, identify the applicant, fill the ONE form, accept.

The form is prefilled by :func:`engine.machine.intake.preview_application` (each value shows its source;
applicants see only their own data filled in), lists the
materials that are waived (免提交, with the reason) and those to supply, and is accepted by
:func:`engine.machine.intake.accept_case` with an idempotency key from a hidden field, so a double
submit makes one case. Invalid input comes back with every error next to its field.

The bundle's eligibility rules (前置校验) are listed from the start, each with the guide's reason in
both languages and its condition in words (the engine's ``Condition.describe``); once the applicant
is identified each shows how it stands on what is typed so far (the preview's verdicts), and after
a refused submission the rule that refused it is marked, its reason shown next to the fields it
reads, with the clerk's answers kept in the form.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.orm import Session

from api.deps import RuntimeDep, SessionDep
from api.errors import domain_status
from api.pages.common import (
    Csrf,
    FormDep,
    PageActor,
    PageRoute,
    form_text,
    page,
    redirect,
)
from api.pages.forms import Input, describe, form_inputs, identifying_fields, material_rows, read_answers
from api.pages.intake_materials import HandInTyped, hand_ins, material_inputs, read_hand_ins, stage_hand_ins
from api.pages.materials import page_upload_limit
from api.schemas import BUNDLE_PATTERN
from engine.documents.files import FileView
from engine.errors import DomainError, FieldProblem, IdempotencyConflict, InvalidApplication
from engine.machine.eligibility import Assessment, Verdict
from engine.machine.intake import Applicant, accept_case, preview_application
from engine.people.prefill import applicant_name_of
from engine.runtime import Runtime
from engine.spec.models import BundleSpec, ServiceItem
from engine.machine.access import Access, permits, sole_applicant, start_refusal
from engine.records.case_search import find_cases
from engine.machine.states import Actor

router = APIRouter(route_class=PageRoute)

BundleId = Annotated[str, Path(pattern=BUNDLE_PATTERN)]
_KEY = re.compile(r"^[\x21-\x7e]{8,200}$")


def _may_start(actor: Actor) -> None:
    """The intake pages are for whoever the engine lets start a case for someone (an applicant for
    themselves, a window for the applicants of its province, an admin); the others get the 403
    page with the engine's reason."""
    refused = start_refusal(actor)
    if refused is not None:
        raise refused


def _time_limit(spec: BundleSpec) -> str:
    return f"{spec.time_limit.amount}{'个工作日' if spec.time_limit.unit.value == 'working_days' else '个自然日'}"


@router.get("/intake")
def choose_bundle(request: Request, runtime: RuntimeDep, actor: PageActor) -> Response:
    """Every bundle that can be applied for."""
    _may_start(actor)
    bundles = sorted(runtime.registry, key=lambda s: s.id)
    return page(request, "intake_bundles.html", {
        "bundles": [{"spec": b, "time_limit": _time_limit(b), "steps": len(b.steps)} for b in bundles],
    }, actor=actor)


def _label(spec: BundleSpec, runtime: Runtime, path: str) -> str:
    """A field path (``heirs[1].heir_name``, ``applicant.id``) as the clerk reads it."""
    fields = runtime.registry.fields
    special = {"applicant.id": "申请人证件号码", "applicant.kind": "申请人类型", "applicant.name": "申请人姓名",
               "region": "受理地区", "answers": "申请信息"}
    if path in special:
        return special[path]
    if path.startswith("materials."):  # materials.<name>[.files|.paper|.check|.deferred_until]
        name = path.removeprefix("materials.")
        part = next((p for p in (".files", ".paper", ".check", ".deferred_until") if name.endswith(p)), "")
        words = {".files": "文件", ".paper": "纸质原件", ".check": "核验", ".deferred_until": "承诺补交日期"}
        return f"材料「{name.removesuffix(part)}」" + (f" {words[part]}" if part else "")
    match = re.fullmatch(r"([a-z0-9_]+)\[(\d+)\]\.([a-z0-9_]+)", path)
    if match and match[1] in fields and match[3] in fields:
        return f"{fields[match[1]].label.zh} 第{int(match[2]) + 1}行 {fields[match[3]].label.zh}"
    return fields[path].label.zh if path in fields else path


@dataclass(frozen=True)
class RuleRow:
    """One eligibility rule (前置校验) as the intake page lists it."""

    code: str
    """``eligibility.<rule>`` (``eligibility.<step>.<rule>``): the code of its problems."""
    reason_zh: str
    reason_en: str
    condition: str
    """The condition in words (the engine's ``Condition.describe``)."""
    step: str
    """The service item of a step rule ("" for a rule of the whole bundle)."""
    on_fail: str
    outcome: str
    """met | failed | unknown, or "" when not decided yet (the applicant is not identified, or the
    step does not apply)."""
    entries: tuple[int, ...] = ()
    """The failing entries of a rule on each entry of a list, numbered from 1 as the form's rows."""
    refused: bool = False
    """The submission was refused on this rule."""


def _item_name(items: Mapping[str, ServiceItem], code: str, fallback: str) -> str:
    return items[code].name if code in items else fallback


def _rules(spec: BundleSpec, runtime: Runtime, eligibility: Assessment | None,
           problems: Sequence[FieldProblem], *, answers: Mapping[str, Any] | None = None) -> list[RuleRow]:
    """The bundle's rules, then each step's (named by the item the answers chose), with the
    preview's verdicts and the intake's refusals."""
    fields, items = runtime.registry.fields, runtime.registry.catalog.items
    refused = {p.code for p in problems}
    verdicts: dict[str, list[Verdict]] = {}
    for verdict in eligibility.verdicts if eligibility is not None else ():
        verdicts.setdefault(verdict.code, []).append(verdict)
    rules = [(rule, None) for rule in spec.requires] + [(rule, step) for step in spec.steps for rule in step.requires]
    rows = []
    for rule, step in rules:
        code = f"eligibility.{step.id}.{rule.id}" if step is not None else f"eligibility.{rule.id}"
        found = verdicts.get(code, [])
        outcomes = {v.outcome for v in found}
        outcome = "failed" if code in refused else next((o for o in ("failed", "unknown", "met") if o in outcomes), "")
        rows.append(RuleRow(
            code=code, reason_zh=rule.reason.zh, reason_en=rule.reason.en, condition=describe(rule.condition, fields),
            step=_item_name(items, step.chosen_item(answers), step.id) if step is not None else "",
            on_fail=rule.on_fail.value, outcome=outcome, refused=code in refused,
            entries=tuple(v.entry + 1 for v in found if v.outcome == "failed" and v.entry is not None),
        ))
    return rows


def _form_page(
    request: Request, session: Session, runtime: Runtime, actor: Actor, *, spec: BundleSpec,
    applicant_id: str, applicant_name: str, values: Mapping[str, Any], problems: Sequence[FieldProblem] = (),
    key: str = "", status: int = 200, typed: Mapping[str, HandInTyped] | None = None,
    staged: Mapping[str, Sequence[FileView]] | None = None,
) -> Response:
    """The identify form, and once the applicant is known the prefilled form with its materials."""
    registry = runtime.registry
    problems = list(problems)
    identify = [Input(name=f"a.{f.id}", id=f"id-{f.id}", label=f.label.zh, label_en=f.label.en, type=f.type.value,
                      required=False, value=values.get(f.id) or "", placeholder="18位公民身份号码")
                for f in identifying_fields(spec, registry)]
    context: dict[str, Any] = {
        "spec": spec, "time_limit": _time_limit(spec), "identify": identify, "applicant_id": applicant_id,
        "applicant_name": applicant_name, "problems": [(p, _label(spec, runtime, p.field)) for p in problems],
        "applicant_errors": [p for p in problems if p.field.startswith("applicant.")], "ready": False,
        "rules": _rules(spec, runtime, None, problems, answers=values), "open_cases": [],
    }
    result = None
    if applicant_id:
        try:
            preview = preview_application(session, runtime, bundle_id=spec.id, actor=actor, answers=values,
                                          applicant=Applicant(applicant_id, spec.applicant_kind, applicant_name))
            result = preview.prefill
            context["rules"] = _rules(spec, runtime, preview.eligibility, problems, answers=values)
        except InvalidApplication as exc:  # the applicant's identifier itself is wrong: identify again
            known = {(p.field, p.code) for p in problems}
            problems += [p for p in exc.problems if (p.field, p.code) not in known]
            context["problems"] = [(p, _label(spec, runtime, p.field)) for p in problems]
            context["applicant_errors"] = [p for p in problems if p.field.startswith("applicant.")]
            status = status if status >= 400 else 422
        if result is not None:  # the identifier is valid: their open cases of this bundle, if any
            context["open_cases"] = _open_cases(session, actor, spec=spec, applicant_id=applicant_id)
        session.rollback()  # prefill only reads: end the read transaction before rendering
    if result is not None:
        if not applicant_name:  # left blank at identification: as prefill found it
            context["applicant_name"] = _name("", {**{n: f.value for n, f in result.values.items()}, **values},
                                              spec=spec, runtime=runtime, applicant_id=applicant_id)
        context.update(
            ready=True, key=key if _KEY.match(key) else secrets.token_urlsafe(18),
            inputs=form_inputs(spec, registry, values, result.values, problems),
            waived=material_rows(spec, registry, result, answers=values, waived=True),
            to_supply=material_rows(spec, registry, result, answers=values, waived=False),
            prefilled={"licence": sum(1 for f in result.values.values() if f.source == "licence"),
                       "other": sum(1 for f in result.values.values() if f.source != "licence")},
        )
        context["hand_ins"] = material_inputs(runtime, spec, context["to_supply"], typed=typed or {},
                                              staged=staged or {}, problems=problems)
    context["own_applicant"] = sole_applicant(actor) is not None  # the identifier is theirs, not typed
    # where each listed problem's link leads: its material's box, the applicant's identifier, else its input
    context["material_anchor"] = {"applicant.id": "applicant_id", "applicant.kind": "applicant_id",
                                  **{p.field: f"mat-{m.index}" for m in context.get("hand_ins", ()) for p in m.problems}}
    return page(request, "intake_form.html", context, status=status, actor=actor)


def _open_cases(session: Session, actor: Actor, *, spec: BundleSpec, applicant_id: str) -> list[tuple[str, str]]:
    """(case id, receipt) of the applicant's open cases of this bundle that the reader may find: a
    second application for the same event is usually a mistake (the window says so before typing)."""
    if sole_applicant(actor) is not None or not permits(actor, Access.FIND_CASES):
        return []  # an applicant has their own cases listed on 我的办件
    found = find_cases(session, actor=actor, search=applicant_id, bundle=spec.id, open_only=True, limit=5)
    return [(c.id, c.receipt_no) for c in found]


@router.get("/intake/{bundle_id}")
def intake_form(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                bundle_id: BundleId) -> Response:
    """Identify the applicant (and the people the form looks up); then the prefilled form."""
    _may_start(actor)
    spec = runtime.current_spec(bundle_id)
    query = request.query_params
    applicant_id = sole_applicant(actor) or form_text(query, "applicant_id", 32)
    applicant_name = form_text(query, "applicant_name", 200)
    values = read_answers(spec, runtime.registry, query)
    return _form_page(request, session, runtime, actor, spec=spec, applicant_id=applicant_id,
                      applicant_name=applicant_name, values=values)


@router.post("/intake/{bundle_id}/identify", dependencies=[Csrf])
def identify(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
             bundle_id: BundleId, form: FormDep) -> Response:
    """Identify the applicant (and the people the form looks up) and show the prefilled form. A
    POST: ID numbers and names stay out of the address bar, the browser's history and the access
    logs (the GET form reads them from the query only for old links and scripts)."""
    _may_start(actor)
    spec = runtime.current_spec(bundle_id)
    applicant_id = sole_applicant(actor) or form_text(form, "applicant_id", 32)
    values = read_answers(spec, runtime.registry, form)
    name = _name(form_text(form, "applicant_name", 200), values, spec=spec, runtime=runtime, applicant_id=applicant_id)
    return _form_page(request, session, runtime, actor, spec=spec, applicant_id=applicant_id,
                      applicant_name=name, values=values)


def _name(typed: str, answers: Mapping[str, Any], *, spec: BundleSpec, runtime: Runtime, applicant_id: str) -> str:
    """The applicant's name: as typed, else as the answers give it (:func:`applicant_name_of`)."""
    return typed or applicant_name_of(spec, runtime.registry, answers, applicant_id)


@router.post("/intake/{bundle_id}", dependencies=[Csrf], openapi_extra=page_upload_limit())
def submit(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                 bundle_id: BundleId, form: FormDep) -> Response:
    """Accept the application with what was handed in for its materials: the files are staged
    first (the engine inspects and stores them; a bad file is refused naming its material and
    nothing of it is stored), then :func:`~engine.machine.intake.accept_case` checks every
    material at once (and decides who may start it). On errors, the same form with every error
    next to its field or material, what was typed kept and the staged files listed."""
    _may_start(actor)
    spec = runtime.current_spec(bundle_id)
    applicant_id = sole_applicant(actor) or form_text(form, "applicant_id", 32)
    answers = read_answers(spec, runtime.registry, form)
    name = _name(form_text(form, "applicant_name", 200), answers, spec=spec, runtime=runtime, applicant_id=applicant_id)
    key = form_text(form, "idempotency_key", 200)
    if not _KEY.match(key):
        key = ""  # a form without a usable key is still accepted, once
    # The form rendered with its materials says so; without that part (an older form, a script)
    # intake records no hand-ins, as the JSON API does when ``materials`` is left out.
    with_materials = form_text(form, "materials_form", 4) == "1"
    typed = read_hand_ins(form) if with_materials else {}
    staged, problems = stage_hand_ins(session, runtime, actor=actor, bundle_id=spec.id, typed=typed)
    materials, date_problems = hand_ins(typed, staged)
    problems += date_problems
    status = 422
    if not problems:
        try:
            case = accept_case(session, runtime, bundle_id=spec.id,
                               applicant=Applicant(applicant_id, spec.applicant_kind, name), answers=answers,
                               actor=actor, idempotency_key=key or None, materials=materials if with_materials else None)
            return redirect(f"/ui/cases/{case.id}/receipt?msg=accepted")
        except InvalidApplication as exc:
            problems = list(exc.problems)
        except DomainError as exc:
            status, _title, zh = domain_status(exc)
            problems = [FieldProblem(exc.field or "answers", exc.code, zh, exc.message)]
            if isinstance(exc, IdempotencyConflict):
                key = ""
    return _form_page(request, session, runtime, actor, spec=spec, applicant_id=applicant_id, applicant_name=name,
                      values=answers, problems=problems, key=key, status=status, typed=typed, staged=staged)
