"""A case's inbox notices for the reader: ``GET /cases/{case_id}/notifications`` and marking one read.

The engine decides who reads which (:mod:`engine.notify.reading`): the applicant their own case's
notices, staff their own notices about cases they may see; anyone else gets 404, as for an
unknown case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import problems
from api.schemas import ID_PATTERN
from engine.db.models import Notification
from engine.notify.reading import case_inbox, mark_case_notice_read

router = APIRouter(tags=["notifications"])

CaseId = Annotated[str, Path(pattern=ID_PATTERN, description="The case's id")]
NotificationId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The notice's id")]


class NotificationOut(BaseModel):
    """One inbox notice, as it was rendered when the change happened."""

    id: int = Field(description="The notice's id (to mark it read)")
    case_id: str = Field(description="The case it is about")
    template: str = Field(description="What it says, as a template name", examples=["case_accepted"])
    locale: str = Field(description="The language it is written in", examples=["zh"])
    subject: str = Field(description="Its subject line")
    body: str = Field(description="Its text")
    created_at: datetime = Field(description="When it was written (the change's time)")
    read_at: datetime | None = Field(description="When the reader first marked it read; null: unread")
    unread: bool = Field(description="Whether it has not been marked read")


class NotificationsOut(BaseModel):
    """The reader's inbox notices about the case, newest first."""

    notifications: list[NotificationOut] = Field(description="Newest first")
    unread: int = Field(description="How many of them are unread")


def _out(row: Notification) -> NotificationOut:
    return NotificationOut(id=row.id, case_id=row.case_id, template=row.template, locale=row.locale,
                           subject=row.subject, body=row.body, created_at=row.created_at, read_at=row.read_at,
                           unread=row.read_at is None)


@router.get("/cases/{case_id}/notifications", response_model=NotificationsOut, responses=problems(404),
            summary="The case's inbox notices for the caller")
def list_notifications(session: SessionDep, actor: CurrentActor, case_id: CaseId) -> NotificationsOut:
    """The caller's inbox notices about the case, newest first (the applicant: their own case's;
    staff: their own reminders about a case they may see). 404 for a case the caller may not see."""
    rows = [_out(row) for row in case_inbox(session, actor=actor, case_id=case_id)]
    return NotificationsOut(notifications=rows, unread=sum(1 for row in rows if row.unread))


@router.post("/cases/{case_id}/notifications/{notification_id}/read", response_model=NotificationOut,
             responses=problems(404), summary="Mark one of the caller's notices read")
def read_notification(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, case_id: CaseId,
                      notification_id: NotificationId) -> NotificationOut:
    """Mark the notice read (the first time counts; again changes nothing). 404 for a case the
    caller may not see, or a notice that is not theirs or not of this case."""
    row = mark_case_notice_read(session, actor=actor, case_id=case_id, notification_id=notification_id,
                                at=runtime.clock.now())
    return _out(row)
