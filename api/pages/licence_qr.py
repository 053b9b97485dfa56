"""扫码亮证: the holder's 我的证照 (``/ui/licences``: their licences, each in force with a 亮证 button
that shows its QR code) and the public page ``/ui/verify/licence/{token}`` — what the QR code
opens, no login.

The engine checks the token (:func:`engine.documents.licence_qr.verify_licence`, through
:func:`api.routes.licence_qr.checked`): the page shows the licence's type, number, issuer,
validity and the holder masked under a badge 有效 / 已注销 / 已过期; a forged, damaged, expired or
unknown token gets one page (404), too many failures from the client a 429 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

import segno
from markupsafe import Markup

from api.deps import RuntimeDep, SessionDep
from api.pages.common import Csrf, PageActor, PageRoute, page
from api.routes.licence_qr import checked, qr_key_of
from api.schemas import ID_PATTERN
from engine.documents.licence_qr import held_licences, show_licence
from engine.errors import Forbidden, NotFound
from engine.machine.access import sole_applicant
from engine.settings import get_settings, public_link
from engine.records.tracking import TooManyAttempts
from engine.time.clock import CHINA

router = APIRouter(route_class=PageRoute)

BADGES = {"valid": "done", "revoked": "red", "expired": "yellow"}
"""The badge colour of each status (the stylesheet's own classes)."""


@router.get("/licences")
def my_licences(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor) -> Response:
    """我的证照: the applicant's own licences (anyone else has none here)."""
    if sole_applicant(actor) is None:
        raise Forbidden("only a licence holder has licences to show / 仅持证人可查看本人证照")
    held = held_licences(session, actor=actor, catalog=runtime.registry.catalog, today=runtime.today())
    return page(request, "licences.html", {"licences": held, "badges": BADGES, "shown": None}, actor=actor)


@router.post("/licences/{licence_id}/show", dependencies=[Csrf])
def show(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor,
         licence_id: Annotated[str, Path(pattern=ID_PATTERN)]) -> Response:
    """亮证: the licence's QR code for a checker to scan, valid ``licence_qr_seconds``."""
    shown = show_licence(session, actor=actor, licence_id=licence_id, now=runtime.clock.now(),
                         key=qr_key_of(request.app), ttl_seconds=get_settings().licence_qr_seconds)
    held = held_licences(session, actor=actor, catalog=runtime.registry.catalog, today=runtime.today())
    url = public_link(shown.page_path)
    return page(request, "licences.html", {
        "licences": held, "badges": BADGES, "china": CHINA,
        "shown": {"licence_id": shown.licence_id, "expires_at": shown.expires_at, "url": url,
                  "qr": Markup(segno.make(url).svg_inline())},  # segno's own markup: no text of ours inside
    }, actor=actor)


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
