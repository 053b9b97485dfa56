"""扫码亮证: the public page ``/ui/verify/licence/{token}`` — what a licence's QR code opens. No login.

The engine checks the token (:func:`engine.documents.licence_qr.verify_licence`, through
:func:`api.routes.licence_qr.checked`): the page shows the licence's type, number, issuer,
validity and the holder masked under a badge 有效 / 已注销 / 已过期; a forged, damaged, expired or
unknown token gets one page (404), too many failures from the client a 429 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from api.deps import RuntimeDep, SessionDep
from api.pages.common import PageRoute, page
from api.routes.licence_qr import checked
from engine.errors import NotFound
from engine.records.tracking import TooManyAttempts
from engine.time.clock import CHINA

router = APIRouter(route_class=PageRoute)

BADGES = {"valid": "done", "revoked": "red", "expired": "yellow"}
"""The badge colour of each status (the stylesheet's own classes)."""


@router.get("/verify/licence/{token}")
def verify_page(request: Request, session: SessionDep, runtime: RuntimeDep,
                token: Annotated[str, Path(max_length=256)]) -> Response:
    """The licence behind a scanned QR code, or why there is none."""
    context: dict[str, Any] = {"licence": None, "error": None, "badges": BADGES, "china": CHINA}
    try:
        context["licence"] = checked(request, session, runtime, token)
    except NotFound:
        context["error"] = ("该二维码无效或已过期，请持证人重新亮证",
                            "This code is not valid or has expired: ask the holder to show it again.")
        return page(request, "verify_licence.html", context, status=404)
    except TooManyAttempts as exc:
        context["error"] = (f"尝试次数过多，请 {exc.retry_after} 秒后再试",
                            f"Too many attempts: try again in {exc.retry_after} seconds.")
        response = page(request, "verify_licence.html", context, status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return page(request, "verify_licence.html", context)
