"""消息: the reader's notices about every case (``/ui/inbox``: an officer's office's too), and marking
a case's notices read from the progress page's 消息 section (:mod:`api.pages.cases` lists them).
The engine decides whose notices they are (:mod:`engine.notify.reading`); a case the reader may
not see is a 404 page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from sqlalchemy import select

from api.deps import RuntimeDep, SessionDep
from api.pages.common import Csrf, FormDep, PageActor, PageRoute, form_text, page, redirect
from api.schemas import ID_PATTERN
from engine.db.models import Case
from engine.errors import DomainError
from engine.notify.reading import mark_case_inbox_read, mark_case_notice_read, reader_inbox

router = APIRouter(route_class=PageRoute)

CaseId = Annotated[str, Path(pattern=ID_PATTERN)]
INBOX_SHOWN = 100


@router.get("/inbox")
def my_inbox(request: Request, session: SessionDep, actor: PageActor) -> Response:
    """消息: the newest notices addressed to the reader, each linking to its case."""
    rows = reader_inbox(session, actor=actor, limit=INBOX_SHOWN)
    receipts = dict(session.execute(select(Case.id, Case.receipt_no).where(
        Case.id.in_({row.case_id for row in rows}))).all()) if rows else {}
    notices = [{"subject": n.subject, "body": n.body, "created_at": n.created_at, "unread": n.read_at is None,
                "case_id": n.case_id, "receipt_no": receipts.get(n.case_id, "")} for n in rows]
    session.rollback()
    return page(request, "inbox.html", {"notices": notices}, actor=actor)


@router.post("/cases/{case_id}/notifications/read", dependencies=[Csrf])
def read_notices(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, case_id: CaseId,
                 form: FormDep) -> Response:
    """标为已读: the notice ``notification_id`` of the form, or (without one) every unread notice of
    the reader's about the case; back to the case's 消息 section."""
    given = form_text(form, "notification_id", 20)
    now = runtime.clock.now()
    if not given:
        mark_case_inbox_read(session, actor=actor, case_id=case_id, at=now)
    elif not given.isdigit():
        raise DomainError("notification_id is not a notice's number / 消息编号不正确", field="notification_id")
    else:
        mark_case_notice_read(session, actor=actor, case_id=case_id, notification_id=int(given), at=now)
    return redirect(f"/ui/cases/{case_id}#messages")
