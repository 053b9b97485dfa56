"""告知承诺 over HTTP: read a commitment step's letter, sign it; the office's post-checks.

The engine decides everything (:mod:`engine.governance.commitments`): who may read the letter
(whoever sees the step), who signs (the applicant, or a window recording the applicant's
signature), which commitments are checked, and what a failed check does (the result and its
licences revoked, a credit mark, the later offices told). A step or post-check outside the caller's
sight is a 404, the same answer as an unknown id.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import problems
from api.routes.steps import action_out
from api.schemas import ID_PATTERN, Request, StepActionOut, Version
from engine.db.models import Case, Followup
from engine.governance.commitments import MAX_FINDINGS, commitment_letter, fail_post_check, pass_post_check, sign_commitment
from engine.governance.followups import FollowupKind, list_followups

router = APIRouter(tags=["commitments"])

StepId = Annotated[str, Path(pattern=ID_PATTERN, description="The commitment step's id")]
FollowupId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The post-check's id")]
Locale = Literal["zh", "en"]
Findings = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_FINDINGS)]


class LetterOut(BaseModel):
    """The letter of commitment exactly as it is signed; send its ``text_hash`` back to sign it."""

    step_id: str
    template: str
    locale: str
    text: str
    text_hash: str = Field(description="SHA-256 of the text (UTF-8), hex")


class SignIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 1, "locale": "zh", "text_hash": "0f4c2a5e" + "0" * 56}]})

    version: Version
    text_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="The text_hash of the letter read")]
    locale: Locale = "zh"


class SigningOut(BaseModel):
    """The step after signing: done with its result (or, ``review_instead``, waiting for an officer
    because the holder has a serious credit mark), the commitment stored and its post-check."""

    step: StepActionOut
    review_instead: bool
    commitment_id: int | None
    post_check_id: int | None = Field(description="The post-check drawn for it (事中事后核查); null: not drawn")


class PostCheckOut(BaseModel):
    """A post-check of a signed commitment, with everything recorded on it."""

    id: int
    case_id: str
    receipt_no: str
    step_id: str | None
    office: str | None = Field(description="The office that checks (<department>@<region>)")
    department: str | None
    region: str
    state: Literal["open", "closed"]
    version: int = Field(description="Send it back with the decision (a stale one is a 409)")
    outcome: str = Field(description="When closed: passed or failed")
    opened_on: date
    due_on: date = Field(description="Check by this day (working days from the signing)")
    closed_at: datetime | None
    details: dict[str, Any] = Field(description="The commitment (id, text hash), the draw; then the check's findings")


def _post_check(session: Session, row: Followup) -> PostCheckOut:
    case = session.get_one(Case, row.case_id)  # loaded with it (the list's join, the action's lock)
    return PostCheckOut(id=row.id, case_id=row.case_id, receipt_no=case.receipt_no, step_id=row.step_id,
                        office=row.office, department=row.department, region=row.region,
                        state="closed" if row.state == "closed" else "open", version=row.version,
                        outcome=row.outcome, opened_on=row.opened_on, due_on=row.due_on, closed_at=row.closed_at,
                        details=dict(row.details))


class PostCheckIn(Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 0, "findings": "现场核查：项目实际情况与承诺一致"}]})

    version: Version
    findings: Annotated[Findings, Field(description="What the check found")]


class FailIn(PostCheckIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"version": 0, "findings": "项目实际总投资与备案信息不符", "serious": True}]})

    serious: Annotated[bool, Field(description=(
        "A serious false commitment: its holder is reviewed normally (no commitment path) while the mark stands"))] = True


READ = problems(403, 404, 409)
"""Not the caller's to see (404), a step reviewed normally, not by commitment (409)."""
SIGN = problems(403, 404, 409)
"""Not the applicant's or a window's to sign (403), out of sight (404), a stale version, a letter
that changed since it was read, or a step not waiting for a signature (409)."""


@router.get("/steps/{step_id}/commitment", response_model=LetterOut, responses=READ,
            summary="The letter of commitment of a step (告知承诺书)")
def get_letter(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId,
               locale: Annotated[Locale, Query(description="The letter's language")] = "zh") -> LetterOut:
    """The conditions promised and the consequence of a false promise, as the applicant signs them."""
    letter = commitment_letter(session, runtime, step_id=step_id, actor=actor, locale=locale)
    return LetterOut(step_id=letter.step_id, template=letter.template, locale=letter.locale, text=letter.text,
                     text_hash=letter.text_hash)


@router.post("/steps/{step_id}/sign", response_model=SigningOut, responses=SIGN,
             summary="Sign the letter: the step is approved at once")
def post_signature(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId,
                   body: SignIn) -> SigningOut:
    """The applicant (or a window for them) signs the letter read (its ``text_hash``); the step is
    done and its result and licences issued, and a post-check may be drawn."""
    signing = sign_commitment(session, runtime, step_id=step_id, actor=actor, text_hash=body.text_hash,
                              locale=body.locale, expected_version=body.version)
    return SigningOut(step=action_out(runtime, actor, signing.step), review_instead=signing.review_instead,
                      commitment_id=signing.commitment.id if signing.commitment else None,
                      post_check_id=signing.post_check.id if signing.post_check else None)


@router.get("/post-checks", response_model=list[PostCheckOut], summary="Post-checks the caller sees")
def get_post_checks(
    session: SessionDep,
    actor: CurrentActor,
    open_only: Annotated[bool, Query(description="Only those not decided yet")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[PostCheckOut]:
    """An officer: their department's within their region; a supervisor or admin: their region's;
    an applicant: their own commitments'. The earliest due first."""
    rows = list_followups(session, actor=actor, kind=FollowupKind.POST_CHECK, open_only=open_only, limit=limit,
                          offset=offset)
    return [_post_check(session, row) for row in rows]


@router.post("/post-checks/{followup_id}/pass", response_model=PostCheckOut, responses=problems(403, 404, 409),
             summary="The commitment was true")
def post_pass(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, followup_id: FollowupId,
              body: PostCheckIn) -> PostCheckOut:
    """The office's officer closes the post-check ``passed``."""
    row = pass_post_check(session, runtime, followup_id=followup_id, actor=actor, findings=body.findings,
                          expected_version=body.version)
    return _post_check(session, row)


@router.post("/post-checks/{followup_id}/fail", response_model=PostCheckOut, responses=problems(403, 404, 409),
             summary="The commitment was false: revoke, mark, notify")
def post_fail(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, followup_id: FollowupId,
              body: FailIn) -> PostCheckOut:
    """The office's officer closes the post-check ``failed``: the step's result and licences are
    revoked, a credit mark is recorded, the applicant and the later steps' offices are told."""
    row = fail_post_check(session, runtime, followup_id=followup_id, actor=actor, findings=body.findings,
                          serious=body.serious, expected_version=body.version)
    return _post_check(session, row)
