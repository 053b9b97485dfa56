"""Department work: the worklist, one step's page, and its actions (claim, start, complete,
reject, request 补正, hand back, reassign, ask for a §42 extension; a supervisor approves or
refuses it); the applicant's (or a clerk's) actions on a step: hand in the 补正 materials,
declare no objection to a wait, raise an objection. Every action carries the step version the
caller read; if someone else changed the step meanwhile, the page is reloaded with a clear message
(409), never a 500. The page offers exactly the actions the engine allows the caller now
(:func:`engine.machine.permissions.allowed_actions`, with the case's bundle): a claimed step
shows its work forms to its assignee only; a supervisor of the region (or an admin) may hand it
back or reassign it. A form may ask to return to the case page (``back=case``), which the case
page's forms (``_page_macros.html``) do."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from api.deps import RuntimeDep, SessionDep
from api.pages.common import (
    explained,
    Csrf,
    FormDep,
    PageActor,
    PageRoute,
    form_int,
    form_text,
    page,
    plain,
    redirect,
)
from api.pages.materials import (
    page_upload_limit,
    requested_materials,
    shown,
    uploads_in,
)
from api.schemas import DEPARTMENT_PATTERN, ID_PATTERN
from engine.documents.licence_views import licence_views
from engine.documents.files import case_files
from engine.records.audit import case_history
from engine.records.labels import STEP_STATE_EN, TIME_UNIT_LABELS, plain_reason
from engine.db.models import Step
from engine.records.documents import STEP_STATE_LABELS
from engine.errors import DomainError, StaleVersion
from engine.governance.commitments import sign_commitment
from engine.people.regions import region_name
from engine.people.tokens import staff_labels
from engine.records.queries import check_case_scope, check_step_scope, department_worklist, step_detail, step_names
from engine.records.worklists import CURSOR_PATTERN, MINE, UNASSIGNED
from engine.runtime import Runtime
from engine.spec.models import BundleSpec
from engine.machine.states import STEP_ACTIVE, Actor, StepState
from engine.machine.effects import extension_left, extension_maximum
from engine.machine.access import Access, Target, authorize, claimed_by_another, permits
from engine.machine.permissions import allowed_actions
from engine.machine.actions import (
    approve_extension,
    assignable_officers,
    claim_step,
    complete_step,
    declare_no_objection,
    raise_objection,
    hand_in_supplement,
    reassign_step,
    receive_supplement,
    refuse_extension,
    reject_step,
    request_extension,
    request_supplement,
    start_step,
    unclaim_step,
)

router = APIRouter(route_class=PageRoute)

StepId = Annotated[str, Path(pattern=ID_PATTERN)]
PAGE_SIZE = 20
DUE_SOON_DAYS = 3
STEP_PAGE_ACTIONS = frozenset({
    "claim", "start", "complete", "reject", "request_supplement", "unclaim", "reassign",
    "request_extension", "approve_extension", "refuse_extension", "end_wait", "raise_objection", "hand_in_supplement",
    "receive_supplement", "sign",
})
"""Gate actions the step page has a form for (the case page has the applicant's too)."""
ACTION_LABELS = {
    "create": "创建", "release": "流转到部门", "claim": "认领", "unclaim": "退回待办", "reassign": "改派",
    "start": "开始办理",
    "complete": "办结", "reject": "不予办理", "request_supplement": "一次性告知补正", "hand_in_supplement": "补正材料已提交",
    "receive_supplement": "确认收到补正材料",
    "lapse_supplement": "逾期未补正，视为撤回", "request_extension": "申请延长办理时限", "approve_extension": "批准延期",
    "refuse_extension": "不予批准延期", "end_wait": "声明无异议，等待期提前结束", "raise_objection": "提出异议",
    "sign": "签署告知承诺书，即时办结", "review_instead": "转一般程序审查（信用记录）", "revoke_result": "核查不实，撤销办理结果",
    "skip": "无需办理", "cancel": "终止",
}
STATE_FILTERS = [s for s in StepState if s in STEP_ACTIVE]


ASSIGNED_FILTERS = (("", "全部", "everyone's"), (MINE, "我认领的", "mine"), (UNASSIGNED, "未认领", "unclaimed"))


@router.get("/departments/{code}")
def worklist(
    request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
    code: Annotated[str, Path(pattern=DEPARTMENT_PATTERN)], *,
    state: Annotated[StepState | None, Query()] = None,
    overdue: Annotated[bool, Query()] = False,
    due_soon: Annotated[bool, Query()] = False,
    assigned: Annotated[Literal["", "mine", "unassigned"], Query()] = "",
    q: Annotated[str, Query(max_length=64)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    after: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> Response:
    """待办: the department's open steps in the caller's region, soonest due first; by state, due
    date, who claimed them, and a search by receipt number or applicant name."""
    found = department_worklist(
        session, actor=actor, department=code, state=state.value if state else None,
        due_within_days=DUE_SOON_DAYS if due_soon else None, overdue=overdue, today=runtime.today(),
        limit=PAGE_SIZE, offset=0 if after else offset, after=after, assigned=assigned or None,
        search=q.strip() or None,
    )
    department = runtime.registry.catalog.departments.get(code)
    filters = {"state": state.value if state else "", "overdue": overdue, "due_soon": due_soon, "assigned": assigned,
               "q": q.strip()}

    def link(new_offset: int | None = None, cursor: str | None = None) -> str:
        query = [f"{k}={'true' if v is True else quote(str(v))}" for k, v in filters.items() if v]
        page_at = [f"after={quote(cursor)}"] if cursor else [f"offset={new_offset}"] if new_offset else []
        return f"/ui/departments/{code}?" + "&".join([*query, *page_at])

    items = runtime.registry.catalog.items
    return page(request, "worklist.html", {
        "code": code, "department": department, "page": found, "filters": filters, "states": STATE_FILTERS,
        "assigned_filters": ASSIGNED_FILTERS, "mine": actor.id,
        "assignees": staff_labels(session, [i.assigned_to for i in found.items if i.assigned_to]),
        # the tick boxes are offered to the department's own officers; the gate decides each claim
        "claimable": actor.department == code,
        "state_en": STEP_STATE_EN, "due_soon_days": DUE_SOON_DAYS, "today": runtime.today(),
        "item_names": {i.item: items[i.item].name if i.item in items else i.item for i in found.items},
        "bundle_names": {b.id: b.name.zh for b in runtime.registry},
        # the next page by keyset (as quick deep in the list as at its start); back: by offset, or the first page
        "prev": link(max(0, offset - PAGE_SIZE)) if offset > 0 and not after else link() if after else None,
        "next": link(cursor=found.next_after) if found.next_after else None,
        "first": offset + 1 if found.items else 0, "last": offset + len(found.items), "keyset": bool(after),
    }, actor=actor)


def _history(session: Session, case_id: str, step_id: str, *, names: bool) -> list[dict[str, Any]]:
    """The step's audit events; ``names``: with who acted (staff), otherwise only their role."""
    events = [e for e in case_history(session, case_id=case_id) if e.step_id == step_id]
    return [{
        "at": e.at, "actor": e.actor_id if names else "", "role": e.role,
        "action": ACTION_LABELS.get(e.action.rpartition(".")[2], e.action),
        "to": e.to_state, "reason": e.payload.get("reason") if isinstance(e.payload.get("reason"), str) else "",
        "materials": [str(m) for m in e.payload.get("materials") or [] if isinstance(m, str)],
    } for e in events]


def _step_page(request: Request, session: Session, runtime: Runtime, actor: Actor, *, step_id: str,
               error: tuple[str, str, str] | None = None, status: int = 200, failed: str = "") -> Response:
    detail = step_detail(session, runtime, step_id=step_id, actor=actor)
    case = check_case_scope(session, actor=actor, case_id=detail.case_id)
    spec = runtime.spec_for(session, case)
    step = session.get_one(Step, step_id)
    # The step's materials with their files as the engine lets this reader see them (an officer:
    # their step's only), the e-licences behind the waived ones, and the open 补正 notice's hand-ins.
    names = {m.name for m in detail.materials}
    files = [m for m in case_files(session, runtime, case=case, viewer=actor) if m.name in names]
    requested = requested_materials(session, step, spec=spec, files=files) \
        if step.state == StepState.SUPPLEMENT_REQUESTED.value else []
    # Who acted, the assignee and the officers to reassign to are for staff (the engine's rules say whom).
    history = _history(session, case.id, step_id, names=permits(actor, Access.SEE_WHO_ACTED))
    colleagues = assignable_officers(session, case=case, step=step, now=runtime.clock.now()) \
        if permits(actor, Access.SEE_WHO_ACTED) else []
    actions = [a for a in allowed_actions(actor, step, case=case, spec=spec) if a in STEP_PAGE_ACTIONS]
    extension = _extension_view(step, spec)
    # A way back to the step's department's worklist, for whoever the engine lets read it.
    worklist = permits(actor, Access.READ_WORKLIST, Target(department=step.department))
    may_check = any(permits(actor, Access.CHECK_MATERIAL, t) for t in (Target(case=case), Target(case=case, step=step)))
    licences = licence_views(session, runtime, case=case, spec=spec, materials=files, viewer=actor)
    session.rollback()  # only reads from here on
    fields = runtime.registry.fields
    names_of = step_names(runtime, case)  # as the case page names them: each step by its own item
    return page(request, "step.html", {
        "files": {m.name: m for m in files}, "listed": {m.name: [shown(f) for f in m.files] for m in files},
        "licences": licences, "may_check": may_check,
        "requested": requested, "failed": failed,
        "step_materials": [(m.name, m.waived) for m in detail.materials],
        "detail": detail, "step": detail.status, "materials": detail.materials, "history": history,
        "actions": actions, "officers": [(i, label) for i, label in colleagues if i != detail.assigned_to],
        "assignee": dict(colleagues).get(detail.assigned_to or "") or detail.assigned_to,
        "claimed_by_other": claimed_by_another(actor, step), "worklist": worklist,
        "decided_in_name": region_name(detail.status.decided_in) or "" if detail.status.decided_in else "",
        "state_label": STEP_STATE_LABELS.get(StepState(detail.status.state), detail.status.state),
        "options": {name: {o.value: o.label.zh for o in f.options} for name, f in fields.items() if f.options},
        "error": error, "bundle_name": spec.name.zh, "today": runtime.today(), "extension": extension,
        "objection": _objection(detail.outputs),
        "ended": plain_reason(detail.status.reason, lambda key: names_of.get(key, key))
        if detail.status.state == StepState.CANCELLED.value and detail.status.reason else "",
    }, status=status, actor=actor, frames=True)


def step_page_again(request: Request, session: Session, runtime: Runtime, actor: Actor, *, step_id: str,
                    exc: DomainError, material: str = "") -> Response:
    """The step page with a refused action's message (its status as the JSON API gives it);
    ``material``: the material whose form failed is marked."""
    status, chinese, english = explained(exc)
    return _step_page(request, session, runtime, actor, step_id=step_id, status=status, failed=material,
                      error=("error", chinese, english))


def _extension_view(step: Step, spec: BundleSpec) -> dict[str, Any] | None:
    """What the page shows of a §42 extension: the maximum, what is left on the current count,
    the days granted and a pending request; None when the step's limit cannot be extended."""
    step_spec = next((s for s in spec.steps if s.id == step.step_key), None)
    maximum = extension_maximum(step_spec, spec) if step_spec is not None else None
    if step_spec is None or maximum is None:
        return None
    found = step.outputs.get("extension")
    record: dict[str, Any] = found if isinstance(found, dict) else {}
    pending = record.get("pending") if isinstance(record.get("pending"), dict) else None
    return {
        "unit": TIME_UNIT_LABELS.get(maximum.unit, ""), "maximum": maximum.amount,
        "left": extension_left(step, spec=step_spec, bundle=spec), "granted": int(record.get("granted_days", 0)),
        "pending": {"days": pending.get("days"), "reason": str(pending.get("reason", ""))} if pending else None,
    }


def _objection(outputs: dict[str, Any]) -> str:
    """The grounds of an objection raised during the step's wait (the officer decides on them)."""
    objection = outputs.get("objection")
    return str(objection.get("grounds", "")) if isinstance(objection, dict) else ""


@router.get("/steps/{step_id}")
def step_page(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, step_id: StepId) -> Response:
    """One step as its department sees it: only the fields it declares, materials, history, actions."""
    return _step_page(request, session, runtime, actor, step_id=step_id)


def _run_step_action(request: Request, session: Session, runtime: Runtime, actor: Actor, *, step_id: str,
                     form: Any, action: Callable[[int], Step], done: str | Callable[[], str]) -> Response:
    """Run ``action`` with the step version from the form and redirect to the step with ``done``
    (the message key, or what gives it once the action has run), to its case with ``back=case``
    (the case page's forms); a domain error reloads the step page with its message."""
    seen = check_step_scope(session, actor=actor, step_id=step_id)
    case_id, department = seen.case_id, seen.department
    version = form_int(form, "version")
    try:
        if version is None:
            raise DomainError("the form has no step version", field="version")
        action(version)
    except StaleVersion:
        session.rollback()
        return _step_page(request, session, runtime, actor, step_id=step_id, status=409, error=(
            "warn", "该事项已被他人修改，已为您重新加载最新内容，请核对后重试",
            "Changed by someone else: reloaded. Check it and try again."))
    except DomainError as exc:
        session.rollback()
        status, chinese, english = explained(exc)
        return _step_page(request, session, runtime, actor, step_id=step_id, status=status, error=("error", chinese, english))
    message = done if isinstance(done, str) else done()
    if form_text(form, "back", 8) == "case":
        return redirect(f"/ui/cases/{case_id}?msg={message}")
    if form_text(form, "back", 8) == "list":  # the worklist's row buttons: back to the list
        return redirect(f"/ui/departments/{department}?msg={message}")
    return redirect(f"/ui/steps/{step_id}?msg={message}")


@router.post("/departments/{code}/claim", dependencies=[Csrf])
def claim_selected(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                   code: Annotated[str, Path(pattern=DEPARTMENT_PATTERN)], form: FormDep) -> Response:
    """认领所选: claim the ticked steps (the entries of one application come as sibling steps: a
    worker per employee), each ``<step id>:<version>``, each its own unit of work through the gate.
    Back to the list, saying whether every one was claimed (a colleague may have been first)."""
    authorize(actor, Access.READ_WORKLIST, Target(department=code))  # the list's readers; the gate decides each claim
    every = _each_ticked(session, form, lambda step_id, version: claim_step(
        session, runtime, step_id=step_id, actor=actor, expected_version=version))
    return redirect(f"/ui/departments/{code}?assigned=mine&msg={'batch_claimed' if every else 'batch_partly'}")


_STEP_ID = re.compile(ID_PATTERN)


def _each_ticked(session: Session, form: Any, act: Callable[[str, int], Step]) -> bool:
    """Run ``act`` on each ticked ``<step id>:<version>`` of the worklist's form (at most a page),
    each its own unit of work; a step taken or changed meanwhile, or not the caller's, is left as
    it is. Whether something was ticked and every one went through."""
    picked: list[tuple[str, int]] = []
    for value in [str(v) for v in form.getlist("step") if isinstance(v, str)][:PAGE_SIZE]:
        ticked, _, number = value.partition(":")
        if _STEP_ID.match(ticked) and number.isdigit():
            picked.append((ticked, int(number)))
    done = 0
    for step_id, version in picked:
        try:
            act(step_id, version)
            done += 1
        except DomainError:
            session.rollback()
    return bool(picked) and done == len(picked)


@router.post("/departments/{code}/complete", dependencies=[Csrf])
def complete_selected(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                      code: Annotated[str, Path(pattern=DEPARTMENT_PATTERN)], form: FormDep) -> Response:
    """办结所选: finish the ticked steps with one result (the entries of one application, one worker
    each), a ready one taken first (即办件); each its own unit of work through the gate."""
    authorize(actor, Access.READ_WORKLIST, Target(department=code))
    result = form_text(form, "result", 500)
    if not result:
        raise DomainError("name the result of the steps you tick / 请填写办理结果", field="result")
    every = _each_ticked(session, form, lambda step_id, version: complete_step(
        session, runtime, step_id=step_id, actor=actor, outputs={"result": result}, expected_version=version,
        claim=True))
    return redirect(f"/ui/departments/{code}?msg={'batch_completed' if every else 'batch_partly'}")


@router.post("/steps/{step_id}/claim", dependencies=[Csrf])
def claim(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, step_id: StepId, form: FormDep) -> Response:
    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=lambda v: claim_step(
        session, runtime, step_id=step_id, actor=actor, expected_version=v), done="claimed")


@router.post("/steps/{step_id}/start", dependencies=[Csrf])
def start(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, step_id: StepId, form: FormDep) -> Response:
    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=lambda v: start_step(
        session, runtime, step_id=step_id, actor=actor, expected_version=v), done="started")


@router.post("/steps/{step_id}/complete", dependencies=[Csrf])
def complete(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                   step_id: StepId, form: FormDep) -> Response:
    """办结 with the result text and, optionally, the certificate number."""
    outputs = {"result": form_text(form, "result", 500), "number": form_text(form, "number", 64)}
    outputs = {k: v for k, v in outputs.items() if v}
    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=lambda v: complete_step(
        session, runtime, step_id=step_id, actor=actor, outputs=outputs, expected_version=v), done="completed")


@router.post("/steps/{step_id}/reject", dependencies=[Csrf])
def reject(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, step_id: StepId, form: FormDep) -> Response:
    """不予办理: the reason is required (the applicant reads it)."""
    reason = form_text(form, "reason", 2000)
    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=lambda v: reject_step(
        session, runtime, step_id=step_id, actor=actor, reason=reason, expected_version=v), done="rejected")


@router.post("/steps/{step_id}/request-supplement", dependencies=[Csrf])
def ask_for_supplement(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                             step_id: StepId, form: FormDep) -> Response:
    """补正: every missing material in one notice (the step's materials ticked, nothing ticked
    beforehand, and any other one per line); the clock stops."""
    ticked = [plain(m)[:200] for m in form.getlist("material") if isinstance(m, str) and plain(m)]
    typed = [line.strip()[:200] for line in form_text(form, "materials", 10_000).splitlines() if line.strip()]
    materials = list(dict.fromkeys([*ticked, *typed]))[:50]
    note = form_text(form, "note", 2000)
    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=lambda v: request_supplement(
        session, runtime, step_id=step_id, actor=actor, materials=materials, note=note, expected_version=v),
        done="supplement_requested")


@router.post("/steps/{step_id}/unclaim", dependencies=[Csrf])
def unclaim(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, step_id: StepId, form: FormDep) -> Response:
    """退回待办: the assignee hands the step back, or a supervisor takes it off the assignee."""
    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=lambda v: unclaim_step(
        session, runtime, step_id=step_id, actor=actor, expected_version=v), done="unclaimed")


@router.post("/steps/{step_id}/reassign", dependencies=[Csrf])
def reassign(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                   step_id: StepId, form: FormDep) -> Response:
    """改派: a supervisor of the region (or an admin) gives the claimed step to another officer."""
    to = form_text(form, "to", 64)
    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=lambda v: reassign_step(
        session, runtime, step_id=step_id, actor=actor, to=to, expected_version=v), done="reassigned")


# --- §42 extensions ----------------------------------------------------------------------------


@router.post("/steps/{step_id}/request-extension", dependencies=[Csrf])
def ask_for_extension(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                      step_id: StepId, form: FormDep) -> Response:
    """申请延长办理时限 (行政许可法 §42): the assignee asks for days more, with a reason."""
    days, reason = form_int(form, "days"), form_text(form, "reason", 2000)

    def act(version: int) -> Step:
        if days is None:
            raise DomainError("an extension needs a positive number of days / 延长天数须为正数", field="days")
        return request_extension(session, runtime, step_id=step_id, actor=actor, days=days, reason=reason,
                                 expected_version=version)

    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=act,
                            done="extension_requested")


@router.post("/steps/{step_id}/approve-extension", dependencies=[Csrf])
def grant_extension(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                    step_id: StepId, form: FormDep) -> Response:
    """批准延期: a supervisor of the region (or an admin) grants the pending request."""
    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=lambda v: approve_extension(
        session, runtime, step_id=step_id, actor=actor, expected_version=v), done="extension_approved")


@router.post("/steps/{step_id}/refuse-extension", dependencies=[Csrf])
def deny_extension(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                   step_id: StepId, form: FormDep) -> Response:
    """不予批准延期, with a reason: the due date stays."""
    reason = form_text(form, "reason", 2000)
    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=lambda v: refuse_extension(
        session, runtime, step_id=step_id, actor=actor, reason=reason, expected_version=v), done="extension_refused")


# --- the applicant's actions (or a clerk's for them) -------------------------------------------


@router.post("/steps/{step_id}/declare-no-objection", dependencies=[Csrf])
def no_objection(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
                 step_id: StepId, form: FormDep) -> Response:
    """声明无异议: where the bundle lets it, the wait ends today and the step completes."""
    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=lambda v: declare_no_objection(
        session, runtime, step_id=step_id, actor=actor, expected_version=v), done="no_objection_declared")


@router.post("/steps/{step_id}/sign", dependencies=[Csrf])
def sign(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
         step_id: StepId, form: FormDep) -> Response:
    """签署告知承诺书: the letter shown (its hash in the form) is signed; the step is done at once, or
    goes to normal review for a holder with a serious credit mark."""
    text_hash = form_text(form, "text_hash", 64)
    locale = form_text(form, "locale", 2) or "zh"
    outcome: list[bool] = []

    def run(version: int) -> Step:
        if form_text(form, "agree", 1) != "1":
            raise DomainError("confirm that you read the commitment / 请确认已阅读承诺内容", field="agree")
        signing = sign_commitment(session, runtime, step_id=step_id, actor=actor, text_hash=text_hash,
                                  locale=locale, expected_version=version)
        outcome.append(signing.review_instead)
        return signing.step

    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=run,
                            done=lambda: "review_instead" if outcome[0] else "commitment_signed")


@router.post("/steps/{step_id}/raise-objection", dependencies=[Csrf])
def objection(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
              step_id: StepId, form: FormDep) -> Response:
    """提出异议, with the grounds: an officer of the department decides on it."""
    grounds = form_text(form, "grounds", 2000)
    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=lambda v: raise_objection(
        session, runtime, step_id=step_id, actor=actor, grounds=grounds, expected_version=v), done="objection_raised")


@router.post("/steps/{step_id}/hand-in", dependencies=[Csrf], openapi_extra=page_upload_limit())
def hand_in(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
            step_id: StepId, form: FormDep) -> Response:
    """补正: hand in the files of one material the open notice asks for (the applicant online, or
    a window scanning them), or a window's record of the paper original. Nothing else is ticked:
    a partial hand-in stays partial, and only the officer's confirmation of receipt restarts the
    clock (§32). A bad file is refused naming the material, nothing stored."""
    material = form_text(form, "material", 200)
    uploads = uploads_in(form, "files")
    paper = form_text(form, "paper", 8) == "true"
    case_id = check_step_scope(session, actor=actor, step_id=step_id).case_id
    version = form_int(form, "version")
    try:
        if version is None:
            raise DomainError("the form has no step version", field="version")
        hand_in_supplement(session, runtime, step_id=step_id, actor=actor, material=material, uploads=uploads,
                           paper=paper, expected_version=version)
    except DomainError as exc:
        session.rollback()
        if form_text(form, "back", 8) == "case":
            from api.pages.cases import progress_again  # the case page renders the refusal

            return progress_again(request, session, runtime, actor, case_id=case_id, exc=exc, material=material,
                                  step_id=step_id)
        return step_page_again(request, session, runtime, actor, step_id=step_id, exc=exc, material=material)
    if form_text(form, "back", 8) == "case":
        return redirect(f"/ui/cases/{case_id}?msg=supplement_handed_in#supplement-{step_id}")
    return redirect(f"/ui/steps/{step_id}?msg=supplement_handed_in")


@router.post("/steps/{step_id}/receive-supplement", dependencies=[Csrf])
def receive(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
            step_id: StepId, form: FormDep) -> Response:
    """确认收到补正材料: the step's officer confirms the receipt; only this restarts the clock
    (§32). Refused (409, naming them) while a requested material has nothing counting for it."""
    return _run_step_action(request, session, runtime, actor, step_id=step_id, form=form, action=lambda v: receive_supplement(
        session, runtime, step_id=step_id, actor=actor, expected_version=v), done="supplement_received")
