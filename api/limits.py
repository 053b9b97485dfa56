"""Refuse what is too large, and who is not logged in, before reading a byte of the body.

:class:`RequestLimits` is a pure ASGI middleware in front of every route, JSON and pages:

1. a ``Content-Length`` above the limit is a 413 at once; a body without one (chunked) is
   counted while it streams and abandoned the moment it passes the limit (413 naming ``body``).
   The limit is ``ONEVISIT_MAX_BODY_BYTES`` for JSON and forms; an operation that takes files
   declares its own in its OpenAPI entry (``openapi_extra={UPLOAD_LIMIT: n}``, see
   :func:`api.body_limits.upload_limit`), so an upload's size is refused before a byte of it is read, too;
2. for an operation the OpenAPI document says needs a bearer token (its ``security``), the token
   is checked first, in a worker thread, and the decision is left on the request scope for
   :func:`api.deps.get_actor`: without a valid token the answer is a 401 before the body is read;
3. for a page (``/ui``) the login cookie (or a bearer header) is decided the same way, so a form
   POST without a login goes to the login page without its form being parsed
   (:func:`api.pages.common.check_csrf`) and :func:`api.pages.common.page_actor` reuses it.

Without this, FastAPI parses the whole body before it resolves any dependency: an
unauthenticated 30 MB JSON array cost 1.6 s and 150 MB before its 401.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import anyio.to_thread
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.body_limits import UPLOAD_LIMIT
from api.deps import AUTH_STATE, Authentication, authenticate_bearer, depends_on, get_actor
from api.errors import body_too_large, http_error
from api.pages.common import COOKIE_PATH, bearer_or_cookie, page_authentication
from engine.runtime import Runtime


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit (FastAPI re-raises HTTP errors)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")
        self.limit = limit


def _path_regex(path: str) -> re.Pattern[str]:
    """A route's path template as a regex: ``/cases/{case_id}`` matches ``/cases/abc``."""
    parts = re.split(r"\{[^}/]+\}", path)
    return re.compile("^" + "[^/]+".join(re.escape(part) for part in parts) + "$")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class RequestLimits:
    """The body limit and the early authentication described in the module docstring."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    @staticmethod
    def protected_operations(routes: Iterable[BaseRoute]) -> list[tuple[str, re.Pattern[str]]]:
        """(method, path regex) of every documented operation that needs a token: those depending
        on :func:`api.deps.get_actor`, which is what puts the bearer security on their OpenAPI entry.
        Read off the routes, not the document: building the document costs a tenth of a second,
        which the first request of every process would pay."""
        found: list[tuple[str, re.Pattern[str]]] = []
        for route in routes:
            if isinstance(route, APIRoute) and route.include_in_schema and depends_on(route.dependant, get_actor):
                found.extend((method, _path_regex(route.path)) for method in sorted(route.methods or ()))
        return found

    @staticmethod
    def body_limits(routes: Iterable[BaseRoute]) -> list[tuple[str, re.Pattern[str], int]]:
        """(method, path regex, limit) of every operation that declares its own body limit."""
        found: list[tuple[str, re.Pattern[str], int]] = []
        for route in routes:
            if not isinstance(route, APIRoute):
                continue
            declared = (route.openapi_extra or {}).get(UPLOAD_LIMIT)
            if isinstance(declared, int):
                found.extend((method, _path_regex(route.path), declared) for method in sorted(route.methods or ()))
        return found

    def _limit(self, scope: Scope) -> int:
        declared: list[tuple[str, re.Pattern[str], int]] = getattr(scope["app"].state, "body_limits", [])
        method, path = scope["method"], scope["path"]
        return next((limit for wanted, regex, limit in declared if method == wanted and regex.match(path)),
                    self.max_body_bytes)

    def _who_is_needed(self, scope: Scope) -> str:
        """``bearer`` (a JSON operation that needs a token), ``page`` (a page) or ``""``."""
        path: str = scope["path"]
        if path == COOKIE_PATH or path.startswith(COOKIE_PATH + "/"):
            return "page"
        protected: list[tuple[str, re.Pattern[str]]] = scope["app"].state.protected_operations
        method = scope["method"]
        if any(method == wanted and regex.match(path) for wanted, regex in protected):
            return "bearer"
        return ""

    @staticmethod
    def _authenticate(scope: Scope, kind: str) -> Authentication:
        state = scope["app"].state
        sessions: sessionmaker[Session] = state.sessions
        runtime: Runtime = state.runtime
        request = Request(scope)
        with sessions() as session:
            if kind == "bearer":
                return authenticate_bearer(session, runtime, request.headers.get("authorization"))
            return page_authentication(session, runtime, request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await body_too_large(limit)(scope, receive, send)
            return
        kind = self._who_is_needed(scope)
        if kind == "page" and not bearer_or_cookie(Request(scope)):
            scope.setdefault("state", {})[AUTH_STATE] = Authentication(None, "login required")
        elif kind:
            found = await anyio.to_thread.run_sync(self._authenticate, scope, kind)
            scope.setdefault("state", {})[AUTH_STATE] = found
            if kind == "bearer" and found.actor is None:
                refusal = found.unauthorized()
                await http_error(401, refusal.detail, headers=refusal.headers)(scope, receive, send)
                return

        received = 0
        exceeded = False
        replaced = False

        async def counted() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded(message: Message) -> None:
            # Whatever the route made of the aborted read, the answer is the 413.
            nonlocal replaced
            if replaced:
                return
            if exceeded and message["type"] == "http.response.start" and message["status"] != 413:
                replaced = True
                await body_too_large(limit)(scope, receive, send)
                return
            await send(message)

        await self.app(scope, counted, guarded)
