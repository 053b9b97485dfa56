"""消息: marking the reader's inbox notices of a case read, from the progress page's 消息 section
(:mod:`api.pages.cases` lists them). The engine decides whose notices they are
(:mod:`engine.notify.reading`); a case the reader may not see is a 404 page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from api.deps import RuntimeDep, SessionDep
from api.pages.common import Csrf, FormDep, PageActor, PageRoute, form_text, redirect
from api.schemas import ID_PATTERN
from engine.errors import DomainError
from engine.notify.reading import mark_case_inbox_read, mark_case_notice_read

router = APIRouter(route_class=PageRoute)

CaseId = Annotated[str, Path(pattern=ID_PATTERN)]


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
