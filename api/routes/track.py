"""一码通办: ``GET /track/{receipt_no}`` — a case's progress for the holder of its receipt. Public.

The engine decides (:func:`engine.records.tracking.track`): the right second factor gives the
bundle, the state and each step's item, state and due date; a wrong factor and an unknown number
are the same 404; too many failures from a client or for a number are 429 with ``Retry-After``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import RuntimeDep, SessionDep
from api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_REF, problem_response, problems
from engine.records.tracking import FACTOR_LENGTH, TooManyAttempts, TrackLimiter, TrackView, track

router = APIRouter(tags=["tracking"])

TOO_MANY: dict[int | str, dict[str, Any]] = {429: {
    "description": "Too many failed look-ups from this client or for this receipt number; the Retry-After "
                   "header says in how many seconds to try again",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
}}


class TrackStepOut(BaseModel):
    item_name: str = Field(examples=["结婚登记"])
    state: str = Field(examples=["ready"])
    state_label: str = Field(examples=["待受理"])
    due_on: date | None


class TrackOut(BaseModel):
    receipt_no: str = Field(examples=["430102-20261202-00001"])
    bundle_name: str = Field(examples=["结婚一件事"])
    state: str = Field(examples=["accepted"])
    state_label: str
    steps: list[TrackStepOut]


def limiter_of(app: FastAPI, runtime: Any) -> TrackLimiter:
    """The app's failure limiter (made on first use, on the runtime's clock)."""
    limiter: TrackLimiter | None = getattr(app.state, "track_limiter", None)
    if limiter is None:
        limiter = app.state.track_limiter = TrackLimiter(clock=runtime.clock)
    return limiter


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def too_many(exc: TooManyAttempts) -> JSONResponse:
    errors = [{"field": "factor", "code": "too_many_attempts", "message_zh": "尝试次数过多，请稍后再试",
               "message_en": "too many attempts; try again later"}]
    return problem_response(429, "too_many_attempts", "Too many attempts", str(exc), errors,
                            headers={"Retry-After": str(exc.retry_after)})


def out(view: TrackView) -> TrackOut:
    return TrackOut(receipt_no=view.receipt_no, bundle_name=view.bundle_name, state=view.state,
                    state_label=view.state_label,
                    steps=[TrackStepOut(item_name=s.item_name, state=s.state, state_label=s.state_label,
                                        due_on=s.due_on) for s in view.steps])


@router.get("/track/{receipt_no}", response_model=TrackOut, responses={**problems(404), **TOO_MANY})
def track_case(
    request: Request, session: SessionDep, runtime: RuntimeDep,
    receipt_no: Annotated[str, Path(max_length=32, description="The receipt number, or its short code")],
    factor: Annotated[str, Query(min_length=FACTOR_LENGTH, max_length=FACTOR_LENGTH, pattern=r"^[0-9A-Za-z]+$",
                                 description="The last four characters of the applicant's ID number "
                                             "(or credit code) or of the applicant's phone")],
) -> Any:
    """The progress of a case (一码通办): no token, but the receipt number and a second factor."""
    try:
        view = track(session, runtime, receipt_no=receipt_no, factor=factor, client=client_of(request),
                     limiter=limiter_of(request.app, runtime))
    except TooManyAttempts as exc:
        return too_many(exc)
    return out(view)
