"""扫码亮证 over HTTP: the holder shows a licence as a QR code; anyone checks the code.

``POST /licences/{licence_id}/show`` (the holder's token): a short-lived signed token, its expiry,
the public URLs and the QR code (inline SVG) of the verification page. ``GET
/verify/licence/{token}`` (public): the licence as a checker may see it. The engine decides
(:mod:`engine.documents.licence_qr`): a licence not the caller's is the same 404 as an unknown id;
a forged, expired or unknown token is one 404; too many failures from a client are 429 with
``Retry-After``.
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_REF, problem_response, problems
from api.routes.track import client_of
from api.schemas import ID_PATTERN
from engine.documents.licence_qr import (
    VerifiedLicence,
    licence_qr_key,
    show_licence,
    verify_licence,
    verify_limiter,
)
from engine.records.tracking import TooManyAttempts, TrackLimiter
from engine.runtime import Runtime
from engine.settings import get_settings, public_link

router = APIRouter(tags=["licences"])

TOO_MANY: dict[int | str, dict[str, Any]] = {429: {
    "description": "Too many failed checks from this client; the Retry-After header says in how many seconds to "
                   "try again",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
}}

LicenceId = Annotated[str, Path(pattern=ID_PATTERN, description="The licence's id")]
Token = Annotated[str, Path(max_length=256, description="The token the QR code carries")]

_setup = threading.Lock()


class ShownOut(BaseModel):
    """A licence shown: the token, until when it works, the public check and the QR code to scan."""

    token: str
    expires_at: datetime
    verify_url: str = Field(description="The public JSON check of the token (absolute with public_url set)")
    page_url: str = Field(description="The public verification page the QR code opens")
    qr_svg: str = Field(description="The QR code of page_url, inline SVG (no external resource)")


class VerifiedOut(BaseModel):
    """The licence behind a token, as a checker may see it: nothing else of it."""

    type_name_zh: str = Field(examples=["结婚证"])
    type_name_en: str = Field(examples=["Marriage certificate"])
    number: str
    issuer: str
    valid_from: date
    valid_to: date | None
    status: Literal["valid", "revoked", "expired"]
    status_label: str = Field(examples=["有效"])
    holder: str = Field(description="The holder's ID number masked (an enterprise's credit code in full)",
                        examples=["430102********1234"])
    holder_name: str | None = Field(description="The first character of the holder's name and *", examples=["张*"])
    checked_at: datetime


def qr_key_of(app: FastAPI) -> bytes:
    """The app's token key (``licence_qr_key`` setting, else random for this process; made once)."""
    key: bytes | None = getattr(app.state, "licence_qr_key", None)
    if key is None:
        with _setup:
            key = getattr(app.state, "licence_qr_key", None)
            if key is None:
                key = app.state.licence_qr_key = licence_qr_key(get_settings().licence_qr_key)
    return key


def limiter_of(app: FastAPI, runtime: Runtime) -> TrackLimiter:
    """The app's failure limiter of the checks (made on first use, on the runtime's clock)."""
    limiter: TrackLimiter | None = getattr(app.state, "licence_qr_limiter", None)
    if limiter is None:
        with _setup:
            limiter = getattr(app.state, "licence_qr_limiter", None)
            if limiter is None:
                limiter = app.state.licence_qr_limiter = verify_limiter(runtime.clock)
    return limiter


def checked(request: Request, session: SessionDep, runtime: RuntimeDep, token: str) -> VerifiedLicence:
    """The engine's check of ``token`` for this request's client (shared with the page)."""
    return verify_licence(session, token=token, now=runtime.clock.now(), key=qr_key_of(request.app),
                          catalog=runtime.registry.catalog, limiter=limiter_of(request.app, runtime),
                          client=client_of(request))


def too_many(exc: TooManyAttempts) -> JSONResponse:
    errors = [{"field": "token", "code": "too_many_attempts", "message_zh": "尝试次数过多，请稍后再试",
               "message_en": "too many attempts; try again later"}]
    return problem_response(429, "too_many_attempts", "Too many attempts", str(exc), errors,
                            headers={"Retry-After": str(exc.retry_after)})


@router.post("/licences/{licence_id}/show", response_model=ShownOut, responses=problems(404, 409))
def show(request: Request, session: SessionDep, runtime: RuntimeDep, actor: CurrentActor,
         licence_id: LicenceId) -> ShownOut:
    """扫码亮证: the holder's short-lived QR code of one licence in force (nothing is stored)."""
    shown = show_licence(session, actor=actor, licence_id=licence_id, now=runtime.clock.now(),
                         key=qr_key_of(request.app), ttl_seconds=get_settings().licence_qr_seconds)
    page_url = public_link(shown.page_path)
    return ShownOut(token=shown.token, expires_at=shown.expires_at, verify_url=public_link(shown.verify_path),
                    page_url=page_url, qr_svg=segno.make(page_url).svg_inline())


@router.get("/verify/licence/{token}", response_model=VerifiedOut, responses={**problems(404), **TOO_MANY})
def verify(request: Request, session: SessionDep, runtime: RuntimeDep, token: Token) -> Any:
    """The licence behind a QR code (public, no token): type, number, issuer, validity, status
    now and the holder masked."""
    try:
        found = checked(request, session, runtime, token)
    except TooManyAttempts as exc:
        return too_many(exc)
    return VerifiedOut(type_name_zh=found.type_name_zh, type_name_en=found.type_name_en, number=found.number,
                       issuer=found.issuer, valid_from=found.valid_from, valid_to=found.valid_to,
                       status=found.status, status_label=found.status_zh, holder=found.holder,
                       holder_name=found.holder_name, checked_at=found.checked_at)
