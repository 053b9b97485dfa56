"""What every page shares: templates, the page route (errors as pages), login, CSRF, flash.

Pages are thin adapters like the JSON routes: they read through :mod:`engine.records.queries` and act
through the engine's service functions. The differences are all here:

- the caller is the actor behind the ``onevisit_token`` cookie (HttpOnly, SameSite=Strict,
  path ``/ui``) or a bearer header; without one a page redirects to ``/ui/login``;
- every form POST carries a CSRF value in a hidden field and in the ``onevisit_csrf`` cookie, and
  the value must be the server's HMAC of the login session it comes with (signed double submit):
  a cookie planted from a subdomain or over plain http matches no session. Before login the value
  is a random nonce with its HMAC. The key is derived from the ``csrf_secret`` setting (the same
  on every replica), never stored in the database; cookies are SameSite=Strict, and Secure when
  the ``secure_cookies`` setting is on or the request came over https;
- domain errors become a friendly bilingual page with the status the JSON API would give
  (403, 404, 409, 422); bad input never becomes a 500;
- every page is sent with a strict Content-Security-Policy: inline scripts need the page's nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from functools import cache
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import Authentication, RuntimeDep, SessionDep, decided
from api.errors import VALIDATION_ZH, domain_status, validation_en
from engine.records.documents import environment
from engine.records.labels import (
    CASE_STATE_EN,
    CASE_STATE_LABELS,
    ROLE_EN,
    ROLE_LABELS,
    STEP_STATE_EN,
    STEP_STATE_LABELS,
)
from engine.errors import DomainError, InvalidApplication
from engine.runtime import Runtime
from engine.machine.permissions import Desk, desks
from engine.machine.states import Actor, CaseState, Role, StepState
from engine.people.tokens import authenticate, hash_token
from engine.time.clock import CHINA

TOKEN_COOKIE = "onevisit_token"
CSRF_COOKIE = "onevisit_csrf"
CSRF_FIELD = "csrf_token"
COOKIE_PATH = "/ui"
LANGUAGE_COOKIE = "onevisit_lang"
LANGUAGES = ("zh", "zh-en")
"""How pages speak: Chinese alone (the default), or every label also in English (``zh-en``)."""

FLASH: Mapping[str, tuple[str, str, str]] = {
    # key: (kind, Chinese, English) — only these fixed texts are ever shown from a query string
    "accepted": ("ok", "受理成功，请打印回执交给申请人", "Accepted: print the receipt for the applicant"),
    "handed_over": ("ok", "已出件，出件记录已保存", "Handed over: the record is kept"),
    "claimed": ("ok", "已认领，可以开始办理", "Claimed: you may work on it"),
    "unclaimed": ("ok", "已退回部门待办", "Handed back to the department's worklist"),
    "batch_claimed": ("ok", "已认领所选事项", "Claimed the steps you ticked"),
    "batch_completed": ("ok", "所选事项已办结，后续事项已自动流转", "Completed the steps you ticked: the following ones were released"),
    "batch_partly": ("warn", "部分事项已被他人认领或已变更，未能认领，请核对", "Some steps were taken or changed meanwhile: check the list"),
    "reassigned": ("ok", "已改派", "Reassigned to another officer"),
    "started": ("ok", "已开始办理", "Started"),
    "completed": ("ok", "已办结，后续事项已自动流转", "Completed: the following steps were released"),
    "rejected": ("ok", "已作出不予办理决定", "Rejected"),
    "supplement_requested": ("ok", "已一次性告知需补正的材料，办理时限暂停", "Supplements requested: the clock is stopped"),
    "supplement_handed_in": ("ok", "补正材料已提交，待办理部门确认收到后恢复计算办理时限",
                             "Handed in: the clock runs again once the department confirms the receipt"),
    "supplement_received": ("ok", "已确认收到补正材料，办理时限恢复计算", "Receipt confirmed: the clock runs again"),
    "material_accepted": ("ok", "材料核验通过", "Material accepted"),
    "material_returned": ("ok", "材料已退回，申请人将看到退回理由", "Material returned: the applicant sees the reason"),
    "deferred_supplied": ("ok", "容缺材料已补交", "The deferred material was handed in"),
    "extension_requested": ("ok", "已提交延长办理时限申请，待负责人审批", "Extension requested: it waits for approval"),
    "extension_approved": ("ok", "已批准延长办理时限", "Extension approved: the due date moved"),
    "extension_refused": ("ok", "已不予批准延期，办理时限不变", "Extension refused: the due date stays"),
    "no_objection_declared": ("ok", "已声明无异议，等待期提前结束", "No objection declared: the wait ended today"),
    "rated": ("ok", "感谢您的评价", "Thank you for your rating"),
    "followup_done": ("ok", "已办理", "Done"),
    "explanation_submitted": ("ok", "情况说明已提交，待监察人员审核", "Explanation submitted for review"),
    "explanation_accepted": ("ok", "情况说明已通过", "Explanation accepted"),
    "explanation_returned": ("warn", "情况说明已退回，请该单位重新说明", "Explanation returned to the office"),
    "commitment_signed": ("ok", "已签署告知承诺书，该事项已办结；行政机关将依法进行核查",
                          "Commitment signed: the step is done; the authority will check it afterwards"),
    "review_instead": ("warn", "因存在严重失信记录，该事项不适用告知承诺，已转由工作人员按一般程序审查",
                       "A serious credit mark: the step goes to normal review by an officer instead"),
    "objection_raised": ("ok", "已提出异议，由部门工作人员审查决定", "Objection raised: an officer decides on it"),
    "withdrawn": ("ok", "申请已撤回", "The application was withdrawn"),
    "logged_out": ("ok", "已退出登录", "Logged out"),
}


# --- templates ----------------------------------------------------------------------------


def _state_label(value: str, kind: str = "step") -> str:
    try:
        return CASE_STATE_LABELS[CaseState(value)] if kind == "case" else STEP_STATE_LABELS[StepState(value)]
    except ValueError:
        return value


def _state_en(value: str, kind: str = "step") -> str:
    try:
        return CASE_STATE_EN[CaseState(value)] if kind == "case" else STEP_STATE_EN[StepState(value)]
    except ValueError:
        return value


def _role_label(value: str) -> str:
    try:
        return ROLE_LABELS[Role(value)]
    except ValueError:
        return value


_TRAILING_ENGLISH = re.compile(r"^(?P<zh>.*?[\u3400-\u9fff」）].*?)\s*\((?P<en>[^()\u3400-\u9fff]*[A-Za-z][^()\u3400-\u9fff]*)\)$")


def _zh_en(text: str) -> Markup:
    """An engine reason written ``中文 (English)`` as the pages show labels: the English as an
    echo (``<span class="en" lang="en">``, hidden when the reader chose Chinese alone)."""
    found = _TRAILING_ENGLISH.match(text or "")
    if found is None:
        return Markup.escape(text or "")
    return Markup('{} <span class="en" lang="en">{}</span>').format(found["zh"], found["en"])


@cache
def templates() -> Environment:
    """The pages' Jinja2 environment: the documents' one (same loader, escaping and filters, so pages
    can import the documents' macros), with the pages' label filters added."""
    env = environment().overlay(keep_trailing_newline=False)
    env.filters = {**env.filters, "state_label": _state_label, "state_en": _state_en, "role_label": _role_label,
                   "zh_en": _zh_en}
    return env


def _secure(request: Request) -> bool:
    """Whether cookies get the Secure flag: the setting (behind a TLS proxy), or an https request."""
    return bool(getattr(request.app.state, "secure_cookies", False)) or request.url.scheme == "https"


def _security_headers(response: Response, nonce: str, *, frames: bool = False) -> None:
    # ``frames``: the page shows handed-in PDFs from this site in frames (the step's viewer), and
    # only that page may frame or embed anything.
    embeds = "frame-src 'self'; object-src 'self'; " if frames else ""
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; {embeds}"
        # connect-src: the intake form refreshes its materials lists from this site (its own form's POST)
        f"script-src 'nonce-{nonce}'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


def csrf_key(secret: str | None) -> bytes:
    """The HMAC key of the CSRF values: derived from the setting, or random for this process."""
    if secret is None:
        return secrets.token_bytes(32)
    return hashlib.sha256(b"onevisit csrf\n" + secret.encode()).digest()


def _sign(request: Request, message: str) -> str:
    key: bytes = request.app.state.csrf_key
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _bound_value(request: Request, token: str) -> str:
    """The one CSRF value of the login session ``token`` (its hash is what is signed)."""
    return _sign(request, f"session\n{hash_token(token)}")


def _anonymous_value(request: Request) -> str:
    nonce = secrets.token_urlsafe(16)
    return nonce + "." + _sign(request, "anonymous\n" + nonce)


def csrf_valid(request: Request, value: str) -> bool:
    """Whether ``value`` is this server's CSRF value for the session the request carries.

    With a login cookie only that session's HMAC counts (another session's value, or any value
    an attacker planted, does not); without one, a nonce with its HMAC.
    """
    if not value or len(value) > 200 or not value.isascii():
        return False
    token = request.cookies.get(TOKEN_COOKIE, "")
    if token:
        return hmac.compare_digest(value, _bound_value(request, token))
    nonce, _, signature = value.partition(".")
    return bool(nonce) and hmac.compare_digest(signature, _sign(request, "anonymous\n" + nonce))


def csrf_token(request: Request) -> str:
    """The caller's CSRF value: the cookie's when it is valid for the session, otherwise a new
    one (:func:`finish` then sets the cookie)."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if csrf_valid(request, cookie):
        return cookie
    new: str = getattr(request.state, "new_csrf", "")
    if not new:
        token = request.cookies.get(TOKEN_COOKIE, "")
        new = _bound_value(request, token) if token else _anonymous_value(request)
        request.state.new_csrf = new
    return new


def set_csrf_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(CSRF_COOKIE, value, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=_secure(request))


def page(request: Request, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200,
         actor: Actor | None = None, frames: bool = False) -> HTMLResponse:
    """Render a page template with the layout's context (actor, CSRF field, flash, CSP nonce);
    ``frames``: its policy lets it frame and embed this site's own documents (the file viewer)."""
    nonce = secrets.token_urlsafe(16)
    flash_key = request.query_params.get("msg", "")
    values: dict[str, Any] = {
        "actor": actor if actor is not None else getattr(request.state, "actor", None), "csrf": csrf_token(request), "csrf_field": CSRF_FIELD, "nonce": nonce,
        "flash": FLASH.get(flash_key), "path": request.url.path, "role_en": ROLE_EN,
        "Role": Role, "Desk": Desk, "nav_order": NAV_ORDER, "desk_labels": desk_labels,
        "language": language_of(request),
    }
    # The navigation: the desks the engine lets the caller use, each with its page.
    shown = values["actor"]
    values["desks"] = {d: desk_url(shown, d) for d in desks(shown)} if isinstance(shown, Actor) else {}
    values.update(context or {})
    html = templates().get_template(f"pages/{template}").render(values)
    response = HTMLResponse(html, status_code=status)
    finish(request, response, nonce, frames=frames)
    return response


def finish(request: Request, response: Response, nonce: str, *, frames: bool = False) -> None:
    """Security headers, and the CSRF cookie when this request created the value."""
    _security_headers(response, nonce, frames=frames)
    new = getattr(request.state, "new_csrf", "")
    if new:
        set_csrf_cookie(request, response, new)


def redirect(url: str) -> RedirectResponse:
    """After a POST: 303, so the browser GETs the result (a reload never repeats the action)."""
    return RedirectResponse(url, status_code=303)


# --- errors as pages ----------------------------------------------------------------------


class LoginRequired(Exception):
    """No valid token: the page sends the caller to the login page."""


class CsrfFailed(Exception):
    """A form POST whose CSRF field does not match the cookie."""


def error_page(request: Request, status: int, zh: str, en: str, detail: str = "",
               problems: list[tuple[str, str, str]] | None = None) -> HTMLResponse:
    """The friendly error page: what went wrong in both languages, and where to go next."""
    return page(request, "error.html", {
        "status": status, "message_zh": zh, "message_en": en, "detail": detail, "problems": problems or [],
    }, status=status)


def _problems(exc: DomainError) -> list[tuple[str, str, str]]:
    if isinstance(exc, InvalidApplication):
        return [(p.field, p.message_zh, p.message_en) for p in exc.problems]
    return []


_CJK = re.compile(r"[\u3400-\u9fff]")


def bilingual(message: str) -> tuple[str, str]:
    """(Chinese, English) of an engine message: most say ``English / 中文``; one in Chinese alone
    has no English (""), one in English alone no Chinese ("")."""
    english, sep, chinese = message.rpartition(" / ")
    if sep and _CJK.search(chinese) and not _CJK.search(english):
        return chinese.strip(), english.strip()
    return (message, "") if _CJK.search(message) else ("", message)


def explained(exc: DomainError) -> tuple[int, str, str]:
    """(status, Chinese, English) of a refusal as a page says it: the kind of refusal and the
    engine's own reason, in Chinese first (a page never gives the reason in English only)."""
    status, title, generic = domain_status(exc)
    chinese, english = bilingual(exc.message)
    if chinese:
        return status, f"{generic}：{chinese}", english or title
    return status, generic, f"{title}: {english}" if english else title


def domain_error_page(request: Request, exc: DomainError) -> HTMLResponse:
    status, zh, en = explained(exc)
    return error_page(request, status, zh, en, "", _problems(exc))


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = redirect(f"/ui/login?next={quote(target, safe='')}") if request.method == "GET" else redirect("/ui/login")
    if request.cookies.get(TOKEN_COOKIE):
        response.delete_cookie(TOKEN_COOKIE, path=COOKIE_PATH)
    return response


class PageRoute(APIRoute):
    """A route whose errors are pages: login redirects, CSRF refusals, domain and input errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return _login_redirect(request)
            except CsrfFailed:
                return error_page(request, 403, "页面已过期或来源不明，请返回刷新后重试",
                                  "The form expired or did not come from this site: go back, reload and retry.")
            except DomainError as exc:
                return domain_error_page(request, exc)
            except RequestValidationError as exc:
                problems = [(".".join(str(p) for p in e.get("loc", ())[1:]),
                             VALIDATION_ZH.get(str(e.get("type")), "输入有误"), validation_en(e)) for e in exc.errors()]
                return error_page(request, 422, "输入有误，请检查后重试", "Invalid input: check it and retry.",
                                  problems=problems)
            except StarletteHTTPException as exc:
                if exc.status_code == 404:
                    return error_page(request, 404, "未找到", "Not found")
                return error_page(request, exc.status_code, "请求错误", str(exc.detail))

        return handle


# --- who is asking ------------------------------------------------------------------------


def bearer_or_cookie(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.cookies.get(TOKEN_COOKIE, "")


def page_authentication(session: Session, runtime: Runtime, request: Request) -> Authentication:
    """Decide the cookie (or bearer header) of a page request."""
    token = bearer_or_cookie(request)
    actor = authenticate(session, token=token, now=runtime.clock.now()) if token else None
    return Authentication(actor, "" if actor else "login required")


def page_actor(request: Request, session: SessionDep, runtime: RuntimeDep) -> Actor:
    """The actor behind the cookie (or a bearer header); otherwise off to the login page.
    Decided once per request (by :class:`api.limits.RequestLimits`, before the form is read)."""
    found = decided(request) or page_authentication(session, runtime, request)
    if found.actor is None:
        raise LoginRequired()
    request.state.actor = found.actor  # for error pages rendered outside the endpoint
    return found.actor


PageActor = Annotated[Actor, Depends(page_actor)]


async def check_csrf(request: Request) -> None:
    """Signed double-submit check of a form POST that needs a login (the form is parsed once and
    cached by Starlette). Without a login the caller goes to the login page, the form unread."""
    found = decided(request)
    if found is not None and found.actor is None:
        raise LoginRequired()
    await check_public_csrf(request)


async def check_public_csrf(request: Request) -> None:
    """Signed double-submit check of a form POST anyone may send (logging in and out)."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    form = await request.form()
    given = form.get(CSRF_FIELD)
    if (not cookie or not isinstance(given, str) or not hmac.compare_digest(cookie.encode(), given.encode())
            or not csrf_valid(request, given)):
        raise CsrfFailed()


Csrf = Depends(check_csrf)
PublicCsrf = Depends(check_public_csrf)


async def read_form(request: Request) -> FormData:
    """The posted form, read on the event loop (Starlette caches it), so that the handlers can be
    plain functions: FastAPI runs those in its thread pool, and their database work (or a wait for
    SQLite's write lock) never holds up the event loop."""
    return await request.form()


FormDep = Annotated[FormData, Depends(read_form)]


NAV_ORDER = (Desk.INTAKE, Desk.CASE_SEARCH, Desk.WORKLIST, Desk.OWN_CASES, Desk.SUPERVISION, Desk.LICENCES, Desk.INBOX)
"""The main menu's order of the desks."""


def desk_labels(desk: Desk, available: Mapping[Desk, str]) -> tuple[str, str]:
    """A desk's menu label (中文, English); intake is an online application for whoever also has
    their own cases (a self-service applicant), the window's intake for everyone else."""
    match desk:
        case Desk.INTAKE:
            return ("在线申请", "Apply") if Desk.OWN_CASES in available else ("综合受理", "Intake")
        case Desk.WORKLIST:
            return "部门待办", "Worklist"
        case Desk.OWN_CASES:
            return "我的办件", "My cases"
        case Desk.CASE_SEARCH:
            return "办件查询", "Find a case"
        case Desk.SUPERVISION:
            return "电子监察", "Supervision"
        case Desk.LICENCES:
            return "我的证照", "My licences"
        case Desk.INBOX:
            return "消息", "Inbox"


def desk_url(actor: Actor, desk: Desk) -> str:
    """The page of one of the engine's desks for ``actor``."""
    match desk:
        case Desk.OWN_CASES | Desk.CASE_SEARCH:
            return "/ui/cases"
        case Desk.SUPERVISION:
            return "/ui/supervision"
        case Desk.INTAKE:
            return "/ui/intake"
        case Desk.WORKLIST:
            return f"/ui/departments/{actor.department}"
        case Desk.LICENCES:
            return "/ui/licences"
        case Desk.INBOX:
            return "/ui/inbox"


def home_url(actor: Actor) -> str:
    """Where ``actor`` starts: the first of the desks the engine lets them use
    (:func:`engine.machine.permissions.desks`); with none, the supervision desk, whose page then
    says why not."""
    found = desks(actor)
    return desk_url(actor, found[0]) if found else "/ui/supervision"


def safe_next(value: str | None) -> str:
    """A local /ui path to return to after login (never another site)."""
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/"


def set_login(request: Request, response: Response, token: str) -> None:
    """The login cookie, and the CSRF value bound to it (the anonymous one is worth nothing now)."""
    response.set_cookie(TOKEN_COOKIE, token, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=_secure(request), max_age=12 * 3600)
    set_csrf_cookie(request, response, _bound_value(request, token))


def language_of(request: Request) -> str:
    """The reader's choice of :data:`LANGUAGES` (their browser's cookie), else Chinese alone."""
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    return chosen if chosen in LANGUAGES else LANGUAGES[0]


def set_language(request: Request, response: Response, language: str) -> None:
    """Remember the reader's language for a year (a preference, not a secret: readable by no script)."""
    response.set_cookie(LANGUAGE_COOKIE, language if language in LANGUAGES else LANGUAGES[0], path=COOKIE_PATH,
                        httponly=True, samesite="lax", secure=_secure(request), max_age=365 * 86400)


def clear_login(response: Response) -> None:
    """Log out: drop the login cookie and its CSRF value (the next page issues an anonymous one)."""
    response.delete_cookie(TOKEN_COOKIE, path=COOKIE_PATH)
    response.delete_cookie(CSRF_COOKIE, path=COOKIE_PATH)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def plain(value: str) -> str:
    """Text without control characters or lone surrogates (no database stores a NUL, and none
    belongs in a form), stripped."""
    return _CONTROL.sub("", value).strip()


def form_text(form: Mapping[str, Any], name: str, limit: int = 2000) -> str:
    """A text field of a submitted form ('' when absent or not text), :func:`plain`, at most
    ``limit`` characters."""
    value = form.get(name)
    return plain(value)[:limit] if isinstance(value, str) else ""


def form_moment(value: str, *, field: str, what_en: str, what_zh: str) -> datetime | None:
    """A form's ``datetime-local`` value, read as Beijing time (None when empty); a value that is no
    date and time is a DomainError on ``field``."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise DomainError(f"the {what_en} is not a date and time / {what_zh}格式不正确", field=field) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA)


def form_int(form: Mapping[str, Any], name: str) -> int | None:
    value = form_text(form, name, 12)
    return int(value) if value.isdigit() else None
