"""Following a case: the applicant's cases, the progress page, 补正 hand-in, withdrawal, the
window's 出件 (handing out a finished case's results), and the printable receipt and notices
(rendered by :mod:`engine.records.documents`, never re-templated here)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from api.deps import RuntimeDep, SessionDep
from api.errors import domain_status
from api.pages.common import (
    explained,
    Csrf,
    FormDep,
    PageActor,
    PageRoute,
    error_page,
    finish,
    form_int,
    form_moment,
    form_text,
    page,
    redirect,
    templates,
)
from api.pages.progress_summary import progress_summary
from api.pages.materials import requested_materials, shown as file_shown, upload_rule
from api.schemas import ID_PATTERN
from engine.governance.ratings import LEVELS, MAX_COMMENT, MAX_REASONS, REASONS, rate, rating_choices
from engine.machine.unit_of_work import in_transaction
from engine.governance.commitments import commitment_letter
from engine.db.models import Case
from engine.documents.files import receipt_materials
from engine.documents.files import case_files
from engine.records.documents import render_completion_notice, render_missing_materials_notice, render_receipt
from engine.errors import DomainError
from engine.interprovince.exchange import transfers_of
from engine.notify.reading import case_inbox
from engine.machine.handover import METHODS, RECIPIENTS, hand_over, handover_of, may_hand_over
from engine.people.regions import province_name, region_full_name
from engine.records.labels import plain_reason
from engine.records.case_search import find_cases
from engine.records.queries import (
    applicant_cases,
    describe_case,
    record_access,
    case_materials,
    case_status,
    check_case_scope,
    document_case,
    step_names,
)
from engine.runtime import Runtime
from engine.machine.states import (
    CASE_OPEN,
    Actor,
    CaseState,
    Role,
    StepState,
)
from engine.machine.actions import withdraw_case
from engine.machine.access import Access, Target, permits, refusal, sole_applicant, start_refusal
from engine.machine.permissions import allowed_actions

router = APIRouter(route_class=PageRoute)

CaseId = Annotated[str, Path(pattern=ID_PATTERN)]
MAX_LISTED = 100
HANDOVER_FIELDS = {"recipient": "领取人", "method": "出件方式", "agent_name": "代领人姓名",
                   "agent_id_number": "代领人身份证号", "tracking_no": "快递单号", "handed_at": "出件时间", "note": "备注"}
"""The 出件 form's inputs, named as the engine names them (its errors name the same fields), with their labels."""
def _place(code: str) -> str:
    """A region's name for the reader (湖南省长沙市芙蓉区; a province elsewhere: 广东省), else its code."""
    return region_full_name(code) or province_name(code[:2]) or code


def _places(codes: Iterable[str | None]) -> dict[str, str]:
    return {code: _place(code) for code in codes if code}


@router.get("/cases")
def my_cases(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor) -> Response:
    """我的办件: every case of the applicant, with its state and due date; for a window or a
    supervisor, 办件查询: the newest cases of their region, and the search form."""
    if sole_applicant(actor) is not None or not permits(actor, Access.FIND_CASES):
        cases = applicant_cases(session, runtime, actor=actor, limit=MAX_LISTED)  # refuses who has neither
        return page(request, "cases.html", {"cases": cases, "search": None}, actor=actor)
    return _found(request, session, runtime, actor, q="", open_only=False)


@router.post("/cases/search", dependencies=[Csrf])
def search_cases(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                 form: FormDep) -> Response:
    """办件查询 by receipt number, applicant name or identifier: a POST, so identifiers and names stay
    out of addresses, histories and access logs."""
    query = form_text(form, "q", 200)  # find_cases refuses more than a search's length, naming q
    return _found(request, session, runtime, actor, q=query, open_only=form_text(form, "open", 8) == "true")


def _found(request: Request, session: Session, runtime: Runtime, actor: Actor, *, q: str, open_only: bool
           ) -> Response:
    found = find_cases(session, actor=actor, search=q, open_only=open_only)
    cases = [describe_case(session, runtime, case, viewer=actor, deferred=()) for case in found]
    if q.strip():  # a staff search reads other people's cases: recorded (what was searched is not)
        record_access(session, actor=actor, case_id=None, step_id=None, what=f"find cases: {len(found)} found",
                      at=runtime.clock.now())
        session.commit()
    session.rollback()
    return page(request, "cases.html", {"cases": cases, "search": {"q": q.strip(), "open": open_only}}, actor=actor)


def _progress(request: Request, session: Session, runtime: Runtime, actor: Actor, *, case_id: str,
              error: tuple[str, str, str] | None = None, status: int = 200,
              handover_form: Mapping[str, str] | None = None, handover_error: DomainError | None = None,
              failed: tuple[str, str] = ("", "")) -> Response:
    found = case_status(session, runtime, case_id=case_id, actor=actor)
    case = check_case_scope(session, actor=actor, case_id=case_id)
    # Only the notes of steps the caller reads in full (an officer: their own department's).
    shown_requests = {s.id for s in found.steps if s.supplement_requested}
    notes = {s.id: str(s.supplement.get("note") or "") for s in case.steps if s.id in shown_requests}
    materials = case_materials(session, runtime, case=case, viewer=actor)
    # The step forms the case page offers (hand-in, no objection, objection): exactly the engine's
    # allowed actions for this caller, with the case's bundle (what it declares).
    spec = runtime.spec_for(session, case)
    step_actions = {s.id: allowed_actions(actor, s, case=case, spec=spec) for s in case.steps}
    # 告知承诺: the letter each step the caller may sign would be signed as (its exact text and hash).
    letters = {step_id: commitment_letter(session, runtime, step_id=step_id, actor=actor)
               for step_id, actions in step_actions.items() if "sign" in actions}
    # The case's own buttons, as the engine's access rules answer for this caller and case.
    can_withdraw = refusal(actor, Access.ACT_ON_CASE, Target(case=case), action="withdraw") is None
    documents = permits(actor, Access.READ_DOCUMENTS, Target(case=case))
    # 出件: the record once the results went out (as this reader may read it), the form while the
    # engine would let this caller record it; the steps sent to another province, as they stand.
    handover = handover_of(session, case, viewer=actor)
    can_hand_over = may_hand_over(session, actor, case)
    transfers = transfers_of(session, case)
    staff = permits(actor, Access.SEE_WHO_ACTED, Target(case=case))
    # Handed-in files per material as this reader may see them, each open 补正 notice's hand-ins,
    # and the 容缺 materials with an upload form while the engine would take them from this caller.
    files = case_files(session, runtime, case=case, viewer=actor)
    requested = {s.id: requested_materials(session, s, spec=spec, files=files)
                 for s in case.steps if s.state == StepState.SUPPLEMENT_REQUESTED.value and s.id in shown_requests}
    may_supply = CaseState(case.state) in CASE_OPEN and \
        refusal(actor, Access.ACT_ON_CASE, Target(case=case), action="supply_deferred") is None
    # 消息: the reader's own inbox notices about the case (the engine decides whose), read as plain data.
    notices = [{"id": n.id, "subject": n.subject, "body": n.body, "created_at": n.created_at, "unread": n.read_at is None}
               for n in case_inbox(session, actor=actor, case_id=case_id)]
    # 好差评: what the caller may still rate (the engine's rule), the levels and reasons to choose from.
    choices = rating_choices(session, case=case, actor=actor)
    rating = {"case": choices.case, "steps": [(s.id, s.item_name) for s in found.steps if s.id in choices.steps],
              "given": [{"label": LEVELS[r.level], "reasons": list(r.reasons), "comment": r.comment,
                         "what": next((s.item_name for s in found.steps if s.id == r.step_id), "")}
                        for r in choices.given],
              "levels": list(LEVELS.items()), "reasons": list(REASONS[3]),
              "channel": "window" if actor.role is Role.CLERK else (
                  "notice" if request.query_params.get("via") == "notice" else "web")}
    session.rollback()
    shown = [s for s in found.steps if s.state != StepState.SKIPPED.value]
    names = step_names(runtime, case)
    ended = {s.id: plain_reason(s.reason, lambda key: names.get(key, key))
             for s in found.steps if s.state == StepState.CANCELLED.value and s.reason}
    return page(request, "case.html", {
        "case": found, "steps": shown, "skipped": [s for s in found.steps if s.state == StepState.SKIPPED.value],
        "open": CaseState(found.state) in CASE_OPEN, "closed": found.closed_at is not None,
        "awaiting": [s for s in found.steps if s.state == StepState.SUPPLEMENT_REQUESTED.value],
        "can_withdraw": can_withdraw, "step_actions": step_actions,
        "error": error, "notes": notes, "ended": ended,
        "documents": documents, "materials": materials,
        "handover": handover, "can_hand_over": can_hand_over, "recipients": RECIPIENTS, "methods": METHODS,
        "handover_form": handover_form or {"recipient": "applicant", "method": "window"},
        "handover_error": handover_error, "transfers": transfers, "staff": staff,
        "places": _places([found.received_in, found.region, *(s.decided_in for s in found.steps)]),
        "provinces": {t.province: province_name(t.province) or t.province for t in transfers.values()},
        "files": {m.name: m for m in files}, "listed": {m.name: [file_shown(f) for f in m.files] for m in files}, "requested": requested, "failed": failed,
        "may_supply": may_supply, "rules": {d.material: upload_rule(spec, d.material) for d in found.deferred},
        "window": actor.role is Role.CLERK, "notices": notices, "letters": letters, "rating": rating,
        "summary": progress_summary(found, steps=shown, actions=step_actions, may_supply=may_supply,
                                    today=runtime.today()),
    }, status=status, actor=actor)


def progress_again(request: Request, session: Session, runtime: Runtime, actor: Actor, *, case_id: str,
                   exc: DomainError, material: str = "", step_id: str = "") -> Response:
    """The case page with a refused hand-in's message (its status as the JSON API gives it), the
    form of ``material`` (of ``step_id``'s notice, or 容缺 without one) marked."""
    status, chinese, english = explained(exc)
    return _progress(request, session, runtime, actor, case_id=case_id, status=status, failed=(step_id, material),
                     error=("error", chinese, english))


@router.get("/cases/{case_id}")
def progress(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, case_id: CaseId) -> Response:
    """办理进度: every step, its department, state, due date and what it waits on, with the forms of
    the step actions the caller may take (hand in 补正 materials, declare no objection to a wait,
    raise an objection: they post to the step routes and come back here); the case's materials
    (the whole bundle's, then the steps') with their alternatives and whether each is waived."""
    return _progress(request, session, runtime, actor, case_id=case_id)


def _run_case_action(request: Request, session: Session, runtime: Runtime, actor: Actor, *, case_id: str,
                     action: Callable[[], object], done: str) -> Response:
    """Run ``action`` and redirect to the case with ``done``; a domain error reloads the progress
    page with its message."""
    try:
        action()
    except DomainError as exc:
        session.rollback()
        status, _title, zh = domain_status(exc)
        return _progress(request, session, runtime, actor, case_id=case_id, error=("error", zh, exc.message), status=status)
    return redirect(f"/ui/cases/{case_id}?msg={done}")


@router.post("/cases/{case_id}/withdraw", dependencies=[Csrf])
def withdraw(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                   case_id: CaseId, form: FormDep) -> Response:
    """撤回: every open step is cancelled."""
    reason = form_text(form, "reason", 2000)
    check_case_scope(session, actor=actor, case_id=case_id)
    return _run_case_action(
        request, session, runtime, actor, case_id=case_id,
        action=lambda: withdraw_case(session, runtime, case_id=case_id, actor=actor, reason=reason), done="withdrawn")


@router.post("/cases/{case_id}/rate", dependencies=[Csrf])
def rate_case(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
              case_id: CaseId, form: FormDep) -> Response:
    """好差评 from the progress page (or the notice's link): the case, or one decided step, once."""
    check_case_scope(session, actor=actor, case_id=case_id)
    level = form_int(form, "level")
    reasons = [form_text({"r": r}, "r", 80) for r in form.getlist("reasons")][:MAX_REASONS + 1]
    step_id = form_text(form, "step_id", 32) or None
    channel = form_text(form, "channel", 8) or None

    def work() -> object:
        if level is None:
            raise DomainError("choose a level / 请选择评价等级", field="level")
        return in_transaction(session, lambda: rate(
            session, runtime, case_id=case_id, actor=actor, level=level, reasons=[r for r in reasons if r],
            comment=form_text(form, "comment", MAX_COMMENT + 1), channel=channel, step_id=step_id))

    return _run_case_action(request, session, runtime, actor, case_id=case_id, action=work, done="rated")


@router.post("/cases/{case_id}/handover", dependencies=[Csrf])
def handover(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, case_id: CaseId,
             form: FormDep) -> Response:
    """出件: the receiving window records how the finished case's results went out (to the applicant
    or an agent, at the window or by post, when); back to the case with a confirmation, or the page
    again with the form as typed and the wrong field marked."""
    given = {name: form_text(form, name, 600) for name in HANDOVER_FIELDS}
    check_case_scope(session, actor=actor, case_id=case_id)
    try:
        hand_over(session, runtime, case_id=case_id, actor=actor, recipient=given["recipient"], method=given["method"],
                  agent_name=given["agent_name"], agent_id_number=given["agent_id_number"] or None,
                  tracking_no=given["tracking_no"] or None, handed_at=form_moment(given["handed_at"], field="handed_at", what_en="hand-over time",
                                                                what_zh="出件时间"),
                  note=given["note"])
    except DomainError as exc:
        session.rollback()
        status, _title, zh = domain_status(exc)
        if exc.field in HANDOVER_FIELDS:
            zh = f"{zh}：请检查“{HANDOVER_FIELDS[exc.field]}”"
        return _progress(request, session, runtime, actor, case_id=case_id, error=("error", zh, exc.message),
                         status=status, handover_form=given, handover_error=exc)
    return redirect(f"/ui/cases/{case_id}?msg=handed_over")


# --- printable documents -----------------------------------------------------------------


def _read_case(session: Session, runtime: Runtime, actor: Actor, *, case_id: str, what: str) -> Case:
    """The case if the actor may read its documents (not officers); a staff read is recorded."""
    return document_case(session, runtime, case_id=case_id, actor=actor, what=what)


def _document(request: Request, actor: Actor, *, case_id: str, html: str, title: str) -> Response:
    """A printable document from engine.records.documents with a print toolbar (hidden when printing)."""
    nonce = secrets.token_urlsafe(16)
    toolbar = templates().get_template("pages/_doc_toolbar.html").render(
        case_id=case_id, title=title, nonce=nonce, next_intake=sole_applicant(actor) is None and start_refusal(actor) is None,
        accepted=request.query_params.get("msg") == "accepted")
    response = HTMLResponse(html.replace("<body>", f"<body>\n{toolbar}", 1))
    finish(request, response, nonce)
    return response


@router.get("/cases/{case_id}/receipt")
def receipt(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, case_id: CaseId) -> Response:
    """受理回执, printable, its materials waived or to supply as they stand now."""
    case = _read_case(session, runtime, actor, case_id=case_id, what="receipt")
    waived = {m.name for m in case_materials(session, runtime, case=case, viewer=actor) if m.waived}
    html = render_receipt(case, runtime.spec_for(session, case), runtime.registry, waived=waived,
                          received=receipt_materials(session, runtime, case=case, viewer=actor),
                          generated_at=runtime.clock.now())
    return _document(request, actor, case_id=case_id, html=html, title="受理回执")


@router.get("/cases/{case_id}/notices/missing-materials")
def missing_materials(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                      case_id: CaseId) -> Response:
    """一次性告知书 of every step awaiting 补正."""
    case = _read_case(session, runtime, actor, case_id=case_id, what="missing_materials_notice")
    try:
        html = render_missing_materials_notice(case, runtime.spec_for(session, case), runtime.registry,
                                               today=runtime.today(), generated_at=runtime.clock.now())
    except ValueError:
        return error_page(request, 404, "该申请当前没有需要补正的材料", "Nothing awaits supplementary materials.")
    return _document(request, actor, case_id=case_id, html=html, title="补正材料一次性告知书")


@router.get("/cases/{case_id}/notices/completion")
def completion(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, case_id: CaseId) -> Response:
    """办结通知, once the case is closed."""
    case = _read_case(session, runtime, actor, case_id=case_id, what="completion_notice")
    try:
        html = render_completion_notice(case, runtime.spec_for(session, case), runtime.registry,
                                        generated_at=runtime.clock.now())
    except ValueError:
        return error_page(request, 409, "该申请尚未办结", "The case is not closed yet.")
    return _document(request, actor, case_id=case_id, html=html, title="办结通知")
