"""好差评 and 差评整改: rate a decided case or step once; the rated office's rectifications.

The engine decides everything (:mod:`engine.governance.ratings`, :mod:`engine.governance.rectification`,
the follow-up gate :mod:`engine.governance.followups`): who may rate (the case's applicant, once per
case and per step, only once it is decided), who sees and works a rectification (its office's
officers; supervisors over its region decide appeals). A case or rectification the caller may not
see is a 404, the same answer as an unknown id.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import problems
from api.schemas import ID_PATTERN, Request, Version
from sqlalchemy.orm import Session

from engine.db.models import Case, Followup, Rating
from engine.governance.followups import FollowupKind, list_followups
from engine.governance.ratings import LEVELS, MAX_COMMENT, MAX_REASONS, case_ratings, rate
from engine.governance.rectification import MAX_TEXT, appeal, decide_appeal, rectify
from engine.machine.unit_of_work import in_transaction

router = APIRouter(tags=["ratings"])

CaseId = Annotated[str, Path(pattern=ID_PATTERN, description="The case's id")]
FollowupId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The rectification's id")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]
Reason = Annotated[str, StringConstraints(max_length=80)]


class RatingIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"level": 5, "reasons": ["quick / 办事效率高"], "comment": "一次就办好了"},
        {"level": 2, "step_id": "s-01J0000000000000000000000", "reasons": ["slow / 办事效率低"]}]})

    level: Annotated[int, Field(ge=1, le=5, description="5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意")]
    reasons: Annotated[list[Reason], Field(max_length=MAX_REASONS, description=(
        "Reasons from the level's list (engine.governance.ratings.REASONS): the good ones for 3-5, "
        "the bad ones for 1-3"))] = []
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_COMMENT),
                       Field(description="Free text")] = ""
    step_id: Annotated[str | None, Field(pattern=ID_PATTERN, description=(
        "Rate this decided step of the case; omitted: the case as a whole (一事一评)"))] = None
    channel: Annotated[Literal["web", "api", "notice", "window"] | None, Field(
        description=("Where the rating came from: the progress page, the API, the notice's link, a window's pad "
                     "(only a clerk's); omitted: window for a clerk, else api"))] = None


class RatingOut(BaseModel):
    """One rating, as the case's readers see it (not who pressed the button: the case's applicant)."""

    id: int
    case_id: str
    step_id: str | None = Field(description="The rated step; null: the case as a whole")
    level: int = Field(description="1 (非常不满意) to 5 (非常满意)")
    level_label: str = Field(description="The level's name", examples=["satisfied / 满意"])
    reasons: list[str]
    comment: str
    channel: str
    office: str | None = Field(description="The rated office (<department>@<region>); null for a case without one")
    rated_at: datetime


def _rating(row: Rating) -> RatingOut:
    return RatingOut(id=row.id, case_id=row.case_id, step_id=row.step_id, level=row.level,
                     level_label=LEVELS[row.level], reasons=list(row.reasons), comment=row.comment,
                     channel=row.channel, office=row.office, rated_at=row.rated_at)


class RectificationOut(BaseModel):
    """A bad rating's rectification (整改), with everything recorded on it so far."""

    id: int
    case_id: str
    receipt_no: str = Field(description="The case's receipt number")
    step_id: str | None = Field(description="The rated step; null: the case as a whole")
    rating_id: int | None
    office: str | None = Field(description="The office that rectifies (<department>@<region>)")
    department: str | None
    region: str
    state: Literal["open", "appealed", "closed"]
    version: int = Field(description="Send it back with the next action (a stale one is a 409)")
    outcome: str = Field(description="When closed: rectified, or appeal_upheld")
    opened_on: date
    due_on: date = Field(description="Rectify by this day (working days from the rating)")
    closed_at: datetime | None
    details: dict[str, Any] = Field(description=(
        "The rating's level and reasons; then the measures and the 回访 call-back, an appeal and its decision"))


def _rectification(session: Session, row: Followup) -> RectificationOut:
    case = session.get_one(Case, row.case_id)  # loaded with it (the list's join, the action's lock)
    return RectificationOut(id=row.id, case_id=row.case_id, receipt_no=case.receipt_no, step_id=row.step_id,
                            rating_id=row.rating_id, office=row.office, department=row.department, region=row.region,
                            state=row.state, version=row.version, outcome=row.outcome,
                            opened_on=row.opened_on, due_on=row.due_on, closed_at=row.closed_at,
                            details=dict(row.details))


class RectifyIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "version": 0, "measures": "已对窗口人员进行业务培训，并优化材料清单",
        "called_at": "2026-12-03T10:00:00+08:00", "reached": True, "applicant_view": "满意"}]})

    version: Version
    measures: Annotated[Text, Field(description="What the office did about it")]
    called_at: Annotated[datetime, Field(description="When the applicant was called back (回访); not in the future")]
    reached: Annotated[bool, Field(description="Whether the call reached the applicant")]
    applicant_view: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT),
                              Field(description="What the applicant said on the call")] = ""


class AppealIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 0, "reason": "申请人所述超时系因其未按时补正材料"}]})

    version: Version
    reason: Annotated[Text, Field(description="Why the office contests the bad rating (申诉)")]


class DecideAppealIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 1, "uphold": True, "note": "经核实，超时非窗口原因"}]})

    version: Version
    uphold: Annotated[bool, Field(description="true: the rating no longer counts against the office (closed); "
                                              "false: the rectification goes on, its deadline unchanged")]
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT)] = ""


RATE = problems(403, 404, 409)
"""Not the case's applicant (403), no such case or step for the caller (404), not decided yet or
rated already (409)."""
WORK = problems(403, 404, 409)
"""Not the caller's role (403), no such rectification for the caller (404), a stale version or an
action its state does not allow (409)."""


@router.post("/cases/{case_id}/ratings", status_code=201, response_model=RatingOut, responses=RATE,
             summary="Rate a decided case or one of its steps (好差评)")
def post_rating(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, case_id: CaseId,
                body: RatingIn) -> RatingOut:
    """The applicant rates the completed, partly completed or rejected case once (or each decided
    step once). A rating of 不满意 or worse opens a rectification for the rated office."""
    row = in_transaction(session, lambda: rate(
        session, runtime, case_id=case_id, actor=actor, level=body.level, reasons=body.reasons,
        comment=body.comment, channel=body.channel, step_id=body.step_id))
    return _rating(row)


@router.get("/cases/{case_id}/ratings", response_model=list[RatingOut], responses=problems(403, 404),
            summary="The case's ratings")
def get_ratings(session: SessionDep, actor: CurrentActor, case_id: CaseId) -> list[RatingOut]:
    """The case's rating, then its steps', for whoever may see the case."""
    return [_rating(row) for row in case_ratings(session, case_id=case_id, actor=actor)]


@router.get("/rectifications", response_model=list[RectificationOut], summary="Rectifications the caller sees")
def get_rectifications(
    session: SessionDep,
    actor: CurrentActor,
    open_only: Annotated[bool, Query(description="Only open or appealed ones")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[RectificationOut]:
    """An officer: their department's rectifications within their region; a supervisor or admin:
    those of their region; an applicant: those of their own ratings. The earliest due first."""
    rows = list_followups(session, actor=actor, kind=FollowupKind.RECTIFICATION, open_only=open_only,
                          limit=limit, offset=offset)
    return [_rectification(session, row) for row in rows]


@router.post("/rectifications/{followup_id}/rectify", response_model=RectificationOut, responses=WORK,
             summary="Close a rectification with its measures and 回访")
def post_rectify(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, followup_id: FollowupId,
                 body: RectifyIn) -> RectificationOut:
    """The office's officer records the measures taken and the call-back to the applicant."""
    row = in_transaction(session, lambda: rectify(
        session, runtime, followup_id=followup_id, actor=actor, measures=body.measures, called_at=body.called_at,
        reached=body.reached, applicant_view=body.applicant_view, expected_version=body.version))
    return _rectification(session, row)


@router.post("/rectifications/{followup_id}/appeal", response_model=RectificationOut, responses=WORK,
             summary="Contest the bad rating (申诉)")
def post_appeal(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, followup_id: FollowupId,
                body: AppealIn) -> RectificationOut:
    """The office's officer contests the rating; a supervisor of the region decides."""
    row = in_transaction(session, lambda: appeal(
        session, runtime, followup_id=followup_id, actor=actor, reason=body.reason, expected_version=body.version))
    return _rectification(session, row)


@router.post("/rectifications/{followup_id}/decide-appeal", response_model=RectificationOut, responses=WORK,
             summary="Uphold or dismiss an appeal")
def post_decide_appeal(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, followup_id: FollowupId,
                       body: DecideAppealIn) -> RectificationOut:
    """A supervisor over the office's region (or an admin) upholds the appeal (closed) or dismisses
    it (open again)."""
    row = in_transaction(session, lambda: decide_appeal(
        session, runtime, followup_id=followup_id, actor=actor, uphold=body.uphold, note=body.note,
        expected_version=body.version))
    return _rectification(session, row)
