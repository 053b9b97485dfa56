"""12345 诉求: the hotline delivers complaints about cases; the responsible office answers them.

The engine decides everything (:mod:`engine.governance.complaints` over the follow-up gate): only
the hotline's integration token (a supervisor's or admin's) delivers, linked to a case by receipt
number or applicant within its region; the same ticket again is the same complaint (200, not 201);
the office working the case answers; the hotline reopens an answer the caller rejects. A complaint
or case outside the caller's sight is a 404, the same answer as an unknown id.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import problems
from api.schemas import APPLICANT_ID_PATTERN, ID_PATTERN, Request, Version
from engine.db.models import Case, Followup
from engine.governance.complaints import (
    MAX_CATEGORY,
    MAX_TEXT,
    answer_complaint,
    list_complaints,
    receive_complaint,
    reopen_complaint,
)
from engine.machine.unit_of_work import in_transaction

router = APIRouter(tags=["supervision"])

ComplaintId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The complaint's id")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]


class ComplaintIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"ticket_no": "HL-20261203-0001", "receipt_no": "430102-20261202-00001", "text": "结婚登记等候时间过长",
         "category": "办事效率", "caller_phone_last4": "1234"}]})

    ticket_no: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description=(
        "The hotline's ticket (工单号): delivering it again is the same complaint"))]
    receipt_no: Annotated[str | None, Field(max_length=32, description="The case's receipt number")] = None
    applicant_id: Annotated[str | None, Field(pattern=APPLICANT_ID_PATTERN, description=(
        "Without a receipt number: the applicant's ID number or credit code; their newest open case in the "
        "hotline's region is meant, else their newest"))] = None
    step_id: Annotated[str | None, Field(pattern=ID_PATTERN, description=(
        "The step complained about; omitted: the office working the case now"))] = None
    text: Annotated[Text, Field(description="What the caller said")]
    category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_CATEGORY)] = ""
    caller_phone_last4: Annotated[str, Field(pattern=r"^([0-9]{4})?$", description=(
        "The last four digits of the caller's phone, to call back; never the whole number"))] = ""


class ComplaintOut(BaseModel):
    """A complaint and everything recorded on it; never the applicant's or the caller's identity."""

    id: int
    case_id: str
    receipt_no: str = Field(description="The case's receipt number")
    step_id: str | None = Field(description="The step complained about; null: the case")
    ticket_no: str
    category: str
    text: str
    office: str | None = Field(description="The office that answers (<department>@<region>); null: none routed yet")
    department: str | None
    region: str
    state: Literal["open", "closed"]
    version: int = Field(description="Send it back with the next action (a stale one is a 409)")
    outcome: str = Field(description="When closed: answered")
    opened_on: date
    due_on: date = Field(description="Answer by this day (working days from receipt or the last reopening)")
    closed_at: datetime | None
    answer: str | None = Field(description="The office's answer; null while open")
    reopen_count: int = Field(description="How often the hotline sent the answer back")


def _complaint(session: Session, row: Followup) -> ComplaintOut:
    case = session.get_one(Case, row.case_id)  # loaded with it (the list's join, the action's lock)
    details = row.details
    answer = details.get("answer")
    return ComplaintOut(
        id=row.id, case_id=row.case_id, receipt_no=case.receipt_no, step_id=row.step_id,
        ticket_no=str(details.get("ticket_no", row.source_ref or "")), category=str(details.get("category", "")),
        text=str(details.get("text", "")), office=row.office, department=row.department, region=row.region,
        state="closed" if row.state == "closed" else "open", version=row.version, outcome=row.outcome,
        opened_on=row.opened_on, due_on=row.due_on, closed_at=row.closed_at,
        answer=str(answer["text"]) if isinstance(answer, dict) else None,
        reopen_count=int(details.get("reopen_count", 0)))


class AnswerIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 0, "answer": "已核实，窗口已增加预约时段并向来电人致歉"}]})

    version: Version
    answer: Annotated[Text, Field(description="The office's answer to the caller")]


class ReopenIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 1, "reason": "来电人对答复不满意"}]})

    version: Version
    reason: Annotated[Text, Field(description="Why the answer goes back (the caller's words)")]


RECEIVE = {200: {"model": ComplaintOut, "description": "This ticket was delivered before: the same complaint"},
           **problems(403, 404, 409)}
"""Not the hotline (403), no such case within its region (404), the ticket delivered before with
another text (409)."""
WORK = problems(403, 404, 409)
"""Not the caller's to do (403), no such complaint for the caller (404), a stale version or an
action its state does not allow (409)."""


@router.post("/complaints", status_code=201, response_model=ComplaintOut, responses=RECEIVE,
             summary="Receive a 12345 complaint (诉求) about a case")
def post_complaint(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, body: ComplaintIn,
                   response: Response) -> ComplaintOut:
    """The hotline delivers a complaint; it is assigned to the office working the case (or the
    step named) and due in ``complaint_working_days`` working days. Delivered again, the same
    complaint answers 200."""
    row, created = in_transaction(session, lambda: receive_complaint(
        session, runtime, actor=actor, ticket_no=body.ticket_no, receipt_no=body.receipt_no,
        applicant_id=body.applicant_id, text=body.text, category=body.category,
        caller_phone_last4=body.caller_phone_last4, step_id=body.step_id))
    if not created:
        response.status_code = 200
    return _complaint(session, row)


@router.get("/complaints", response_model=list[ComplaintOut], summary="Complaints the caller sees")
def get_complaints(
    session: SessionDep,
    actor: CurrentActor,
    open_only: Annotated[bool, Query(description="Only those not answered yet")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ComplaintOut]:
    """An officer: their department's within their region; a supervisor or admin: their region's
    (by office or by case); an applicant: those about their own cases. The newest first."""
    rows = list_complaints(session, actor=actor, open_only=open_only, limit=limit, offset=offset)
    return [_complaint(session, row) for row in rows]


@router.post("/complaints/{followup_id}/answer", response_model=ComplaintOut, responses=WORK,
             summary="Answer a complaint")
def post_answer(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, followup_id: ComplaintId,
                body: AnswerIn) -> ComplaintOut:
    """The responsible office's officer answers (the complaint closes, its cards resolve)."""
    row = in_transaction(session, lambda: answer_complaint(
        session, runtime, followup_id=followup_id, actor=actor, answer=body.answer, expected_version=body.version))
    return _complaint(session, row)


@router.post("/complaints/{followup_id}/reopen", response_model=ComplaintOut, responses=WORK,
             summary="Send an answer back (the caller is not satisfied)")
def post_reopen(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, followup_id: ComplaintId,
                body: ReopenIn) -> ComplaintOut:
    """The hotline reopens an answered complaint; the office gets a fresh deadline."""
    row = in_transaction(session, lambda: reopen_complaint(
        session, runtime, followup_id=followup_id, actor=actor, reason=body.reason, expected_version=body.version))
    return _complaint(session, row)
