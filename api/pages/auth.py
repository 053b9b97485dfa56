"""Log in by pasting a token, log out, and the home page that sends each role to its desk.

Logging in sets the login cookie and a CSRF value bound to it; logging out drops both (see
:mod:`api.pages.common` for how the value is signed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import RuntimeDep, SessionDep
from api.pages.common import (
    FormDep,
    PageActor,
    PageRoute,
    PublicCsrf,
    clear_login,
    form_text,
    home_url,
    page,
    redirect,
    safe_next,
    set_language,
    set_login,
)
from engine.people.tokens import authenticate

router = APIRouter(route_class=PageRoute)


@router.get("/login")
def login_form(request: Request, next: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    """Paste the token your administrator issued (``onevisit token ROLE …``)."""
    return page(request, "login.html", {"next": safe_next(next), "error": None})


@router.post("/login", dependencies=[PublicCsrf])
def login(request: Request, session: SessionDep, runtime: RuntimeDep, form: FormDep) -> Response:
    token = form_text(form, "token", 600)
    target = safe_next(form_text(form, "next", 500))
    actor = authenticate(session, token=token, now=runtime.clock.now()) if token else None
    if actor is None:
        return page(request, "login.html", {"next": target, "error": (
            "令牌无效、已撤销或已过期", "The token is unknown, revoked or expired.")}, status=401)
    response = redirect(target if target != "/ui/" else home_url(actor))
    set_login(request, response, token)
    return response


@router.post("/logout", dependencies=[PublicCsrf])
def logout() -> Response:
    response = redirect("/ui/login?msg=logged_out")
    clear_login(response)
    return response


@router.post("/language", dependencies=[PublicCsrf])
def language(request: Request, form: FormDep) -> Response:
    """Switch the pages between Chinese alone and Chinese with English (``lang``: ``zh`` or
    ``zh-en``), then back to the page the switch was on."""
    response = redirect(safe_next(form_text(form, "next", 500)))
    set_language(request, response, form_text(form, "lang", 8))
    return response


@router.get("/")
def home(actor: PageActor) -> Response:
    return redirect(home_url(actor))
