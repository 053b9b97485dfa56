"""一码通办: the public progress page ``/ui/track`` — what the receipt's QR code opens. No login.

The form asks for the receipt number (filled in from the QR's link) and the second factor; it is
POSTed, so the factor never sits in a URL or a history. The engine answers
(:func:`engine.records.tracking.track`): a wrong factor and an unknown number get the same page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import RuntimeDep, SessionDep
from api.pages.common import FormDep, PageRoute, PublicCsrf, form_text, page
from api.routes.track import client_of, limiter_of
from engine.errors import NotFound
from engine.records.tracking import FACTOR_LENGTH, TooManyAttempts, track

router = APIRouter(route_class=PageRoute)


@router.get("/track")
def track_form(request: Request, receipt_no: Annotated[str, Query(max_length=32)] = "") -> Response:
    """The form, its receipt number from the QR's link."""
    return page(request, "track.html", {"receipt_no": receipt_no, "view": None, "error": None})


@router.post("/track", dependencies=[PublicCsrf])
def track_progress(request: Request, session: SessionDep, runtime: RuntimeDep, form: FormDep) -> Response:
    receipt_no = form_text(form, "receipt_no", 32).strip()
    factor = form_text(form, "factor", 16).strip()
    context: dict[str, Any] = {"receipt_no": receipt_no, "view": None, "error": None}
    if not receipt_no or len(factor) != FACTOR_LENGTH or not factor.isalnum():
        context["error"] = ("请输入回执号和四位验证码", "Give the receipt number and the four-character check code.")
        return page(request, "track.html", context, status=422)
    try:
        context["view"] = track(session, runtime, receipt_no=receipt_no, factor=factor, client=client_of(request),
                                limiter=limiter_of(request.app, runtime))
    except NotFound:
        context["error"] = ("未找到与该回执号和验证码相符的办件", "No case matches this receipt number and check code.")
        return page(request, "track.html", context, status=404)
    except TooManyAttempts as exc:
        context["error"] = (f"尝试次数过多，请 {exc.retry_after} 秒后再试",
                            f"Too many attempts: try again in {exc.retry_after} seconds.")
        response = page(request, "track.html", context, status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return page(request, "track.html", context)
