"""整改, 核查 and 诉求 on the pages: ``/ui/followups`` lists the follow-ups the reader reaches (the
engine's :func:`~engine.governance.followups.list_followups`) with a form for each action the gate's
rule table allows them now (:func:`~engine.governance.followups.followup_actions`): an office's
officer rectifies a bad rating (with its 回访) or appeals it, passes or fails a post-check, answers a
complaint; a supervisor upholds or dismisses an appeal and reopens an answer the caller rejects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.orm import Session

from api.deps import RuntimeDep, SessionDep
from api.errors import domain_status
from api.pages.common import Csrf, FormDep, PageActor, PageRoute, form_int, form_moment, form_text, page, redirect
from engine.db.models import Case
from engine.errors import DomainError
from engine.governance.commitments import MAX_FINDINGS, fail_post_check, pass_post_check
from engine.governance.complaints import MAX_TEXT as COMPLAINT_TEXT, answer_complaint, reopen_complaint
from engine.governance.followups import followup_actions, list_followups
from engine.governance.rectification import MAX_TEXT, appeal, decide_appeal, rectify
from engine.machine.states import Actor
from engine.machine.unit_of_work import in_transaction
from engine.runtime import Runtime

router = APIRouter(route_class=PageRoute)

FollowupId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Action = Literal["rectify", "appeal", "uphold_appeal", "dismiss_appeal", "pass", "fail", "answer", "reopen"]
SHOWN = 100
KIND_LABELS = {"rectification": ("差评整改", "rectification"), "post_check": ("事中事后核查", "post-check"),
               "complaint": ("12345诉求", "complaint")}


def _page(request: Request, session: Session, actor: Actor, *, error: tuple[str, str, str] | None = None,
          status: int = 200) -> Response:
    rows = []
    for followup in list_followups(session, actor=actor, open_only=False, limit=SHOWN):
        case = session.get_one(Case, followup.case_id)  # loaded with it (the list's join)
        rows.append({"id": followup.id, "kind": followup.kind, "state": followup.state, "version": followup.version,
                     "outcome": followup.outcome, "due_on": followup.due_on, "case_id": case.id,
                     "receipt_no": case.receipt_no, "details": dict(followup.details),
                     "actions": followup_actions(actor, followup, case)})
    session.rollback()
    # Open work first, then what was closed (and may be reopened), as the engine ordered them.
    rows.sort(key=lambda r: (not r["actions"], r["state"] == "closed"))
    return page(request, "followups.html", {
        "followups": rows, "labels": KIND_LABELS, "error": error,
        "limits": {"text": MAX_TEXT, "findings": MAX_FINDINGS, "complaint": COMPLAINT_TEXT},
    }, status=status, actor=actor)


@router.get("/followups")
def followups(request: Request, session: SessionDep, actor: PageActor) -> Response:
    """The rectifications, post-checks and complaints the reader reaches, with their actions."""
    return _page(request, session, actor)


def _work(session: Session, runtime: Runtime, actor: Actor, followup_id: int, action: Action, form: Any,
          version: int) -> Callable[[], object]:
    """The engine call the form asks for (each through the follow-up gate)."""
    def text(name: str, limit: int) -> str:
        return form_text(form, name, limit + 1)  # one more: the engine says it is too long

    common: dict[str, Any] = {"followup_id": followup_id, "actor": actor, "expected_version": version}
    match action:
        case "rectify":
            return lambda: rectify(session, runtime, measures=text("measures", MAX_TEXT),
                                   called_at=form_moment(form_text(form, "called_at", 40), field="called_at",
                                                         what_en="call-back time", what_zh="回访时间")
                                   or runtime.clock.now(),
                                   reached=form_text(form, "reached", 4) == "true",
                                   applicant_view=text("applicant_view", MAX_TEXT), **common)
        case "appeal":
            return lambda: appeal(session, runtime, reason=text("reason", MAX_TEXT), **common)
        case "uphold_appeal" | "dismiss_appeal":
            return lambda: decide_appeal(session, runtime, uphold=action == "uphold_appeal",
                                         note=text("note", MAX_TEXT), **common)
        case "pass":
            return lambda: pass_post_check(session, runtime, findings=text("findings", MAX_FINDINGS), **common)
        case "fail":
            return lambda: fail_post_check(session, runtime, findings=text("findings", MAX_FINDINGS),
                                           serious=form_text(form, "serious", 4) != "false", **common)
        case "answer":
            return lambda: answer_complaint(session, runtime, answer=text("answer", COMPLAINT_TEXT), **common)
        case "reopen":
            return lambda: reopen_complaint(session, runtime, reason=text("reason", COMPLAINT_TEXT), **common)


@router.post("/followups/{followup_id}/{action}", dependencies=[Csrf])
def act(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, followup_id: FollowupId,
        action: Action, form: FormDep) -> Response:
    """One action on a follow-up, with the version the form was read at; back to the list."""
    version = form_int(form, "version")
    try:
        if version is None:
            raise DomainError("the form has no version / 表单缺少版本号", field="version")
        work = _work(session, runtime, actor, followup_id, action, form, version)
        # post-checks commit themselves; the others are committed here, in one transaction
        work() if action in ("pass", "fail") else in_transaction(session, work)
    except DomainError as exc:
        session.rollback()
        status, _title, zh = domain_status(exc)
        return _page(request, session, actor, error=("error", zh, exc.message), status=status)
    return redirect("/ui/followups?msg=followup_done")
