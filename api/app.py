"""The HTTP API: ``create_app`` wires routes, dependencies and problem+json errors.

Every error is ``application/problem+json`` (RFC 9457) with the fields that were wrong::

    {"type": "/problems/invalid_application", "title": "Invalid application", "status": 422,
     "detail": "applicant.id: …", "field": "applicant.id", "fields": ["applicant.id"],
     "errors": [{"field": "applicant.id", "code": "id_number.check_digit",
                 "message_zh": "…", "message_en": "…"}]}

Domain errors map to statuses by kind (not found 404, forbidden 403, stale version and illegal
transitions 409, invalid input 422); request validation errors are 422 naming the field; bad
input never produces a 500. Bodies over the limit are 413 and requests without a valid token
401, both before the body is read (:mod:`api.limits`).

The OpenAPI document lists every status an operation can answer, each with the ``Problem``
schema: routes declare what the engine may refuse (``responses=problems(403, 404, 409)``) and
:func:`document_problems` adds what follows from the route's shape (401 for a token, 413 and
422 for a body, 422 for parameters).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api import docs_ui, pages
from api.deps import depends_on, get_actor
from api.errors import STATUS_DESCRIPTIONS, VALIDATION_ZH, validation_en, body_too_large, domain_status, http_error, problem_response, problems
from api.limits import BodyTooLarge, RequestLimits
from api.overload import LoadShedding
from api.pages.common import csrf_key
from api.routes import (
    bundles,
    cases,
    commitments,
    complaints,
    departments,
    explanations,
    files,
    health,
    items,
    licence_qr,
    notifications,
    prefill,
    ratings,
    steps,
    supervision,
    track,
)
from api.schemas import JSON_VALUE_SCHEMA, Problem
from engine.errors import (
    DomainError,
    InvalidApplication,
)
from engine.runtime import Runtime
from engine.settings import get_settings

log = logging.getLogger("onevisit.api")

BODY_PARSE_ERROR = "There was an error parsing the body"
"""FastAPI's 400 detail when the body cannot even be decoded (we answer 422, as for bad JSON)."""

# Chinese messages for pydantic's error types (English comes from pydantic).


def _dotted(loc: tuple[Any, ...]) -> str:
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header", "cookie") else list(loc)
    if not parts:
        return str(loc[0]) if loc else "body"
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def domain_problem(_request: Request, exc: Exception) -> JSONResponse:
    """A :class:`DomainError` as problem+json, its status chosen by kind."""
    assert isinstance(exc, DomainError)
    status, title, zh = domain_status(exc)
    errors: list[dict[str, Any]]
    if isinstance(exc, InvalidApplication):
        errors = [{"field": p.field, "code": p.code, "message_zh": p.message_zh, "message_en": p.message_en}
                  for p in exc.problems]
    else:
        english, chinese = _bilingual(exc.message)
        errors = [{"field": exc.field, "code": exc.code, "message_zh": chinese or zh, "message_en": english}]
    return problem_response(status, exc.code, title, exc.message, errors)


def _bilingual(message: str) -> tuple[str, str]:
    """The engine's messages read "English / 中文": the two halves (the Chinese one empty when the
    message has none), so ``message_zh`` names the material or field as the English does."""
    english, sep, chinese = message.rpartition(" / ")
    if sep and any("\u4e00" <= ch <= "\u9fff" for ch in chinese) and english:
        return english, chinese
    return message, ""


def validation_problem(_request: Request, exc: Exception) -> JSONResponse:
    """A request that does not match its schema: 422 naming every wrong field."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        kind = str(error.get("type", "value_error"))
        loc = tuple(error.get("loc", ()))
        if kind == "json_invalid":
            loc = ("body",)
        errors.append({"field": _dotted(loc), "code": f"request.{kind}",
                       "message_zh": VALIDATION_ZH.get(kind, "取值无效"), "message_en": validation_en(error)})
    detail = "; ".join(f"{e['field']}: {e['message_en']}" for e in errors) or "invalid request"
    return problem_response(422, "invalid_request", "Invalid request", detail, errors)


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path: Starlette names only the first route that matched
    the path, but FastAPI registers GET and POST of one path as two routes (RFC 9110 §15.5.6)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, APIRoute) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


def http_problem(request: Request, exc: Exception) -> JSONResponse:
    """Framework HTTP errors (401, unknown routes, wrong methods) as problem+json."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return http_error(405, str(exc.detail), headers={"Allow": _allowed_methods(request)})
    errors: list[dict[str, Any]]
    if isinstance(exc, BodyTooLarge):
        return body_too_large(exc.limit)
    if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
        # Not UTF-8, or nested deeper than the JSON parser goes: malformed JSON like any other.
        errors = [{"field": "body", "code": "request.json_invalid", "message_zh": VALIDATION_ZH["json_invalid"],
                   "message_en": "the body is not valid JSON"}]
        return problem_response(422, "invalid_request", "Invalid request", "body: the body is not valid JSON", errors)
    return http_error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


def server_problem(request: Request, exc: Exception) -> JSONResponse:
    """A bug: logged with its traceback, answered without details."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    errors = [{"field": None, "code": "internal", "message_zh": "系统内部错误", "message_en": "internal error"}]
    return problem_response(500, "internal", "Internal error", "internal error", errors)


def document_problems(routers: Iterable[APIRouter]) -> None:
    """Complete the documented error responses of the routers' routes: add the statuses each
    route's shape implies (see above), and give each 4xx declared without a body the Problem
    schema. Runs before the app serves anything (the document is built on first use)."""
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            implied = {503}  # api.overload: a full server sheds load
            if depends_on(route.dependant, get_actor):
                implied.add(401)
            if route.body_field is not None:
                implied |= {413, 422}
            if route.dependant.path_params or route.dependant.query_params or route.dependant.header_params:
                implied.add(422)
            for status, response in problems(*sorted(implied)).items():
                route.responses.setdefault(status, response)
            for status, response in problems(*STATUS_DESCRIPTIONS).items():
                declared = route.responses.get(status, route.responses.get(str(status)))
                if declared is not None and "content" not in declared and "model" not in declared:
                    declared["content"] = response["content"]


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Serve ``router``'s routes from ``app`` as they were declared.

    FastAPI's ``include_router`` wraps a router per app and, on the first request each wrapper
    matches, derives all its routes' dependencies again (tens of milliseconds per app, paid by
    every test's app). Our routers take no prefix, tags or dependencies at inclusion, so the
    route objects built at import serve every app unchanged, as ``@app.get`` routes would."""
    app.router.routes.extend(router.routes)


def _openapi_with_problems(app: FastAPI) -> None:
    """Serve the document with the Problem and JsonValue schemas among its components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(problem_schema.pop("$defs", {}))
            components["Problem"] = problem_schema
            components["JsonValue"] = JSON_VALUE_SCHEMA
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    *,
    sessions: sessionmaker[Session],
    runtime: Runtime,
    max_body_bytes: int | None = None,
    secure_cookies: bool | None = None,
    csrf_secret: str | None = None,
) -> FastAPI:
    """The API over the engine's database (``sessions``) and collaborators (``runtime``).

    ``max_body_bytes``, ``secure_cookies`` and ``csrf_secret`` default to their settings
    (``ONEVISIT_MAX_BODY_BYTES``, ``ONEVISIT_SECURE_COOKIES``, ``ONEVISIT_CSRF_SECRET``).
    """
    settings = get_settings()
    app = FastAPI(
        title="onevisit",
        summary="一件事一次办: one application, every department's step, one set of results.",
        version="0.1.0",
        docs_url=None,  # served from vendored assets (api.docs_ui): FastAPI's page loads from a CDN
        redoc_url=None,
    )
    app.state.sessions = sessions
    app.state.runtime = runtime
    app.state.secure_cookies = settings.secure_cookies if secure_cookies is None else secure_cookies
    app.state.csrf_key = csrf_key(csrf_secret if csrf_secret is not None else settings.csrf_secret)
    app.add_exception_handler(DomainError, domain_problem)
    app.add_exception_handler(RequestValidationError, validation_problem)
    app.add_exception_handler(StarletteHTTPException, http_problem)
    app.add_exception_handler(Exception, server_problem)
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_body_bytes if max_body_bytes is None
                       else max_body_bytes)
    # Outermost: a full server answers 503 before authenticating (no database work at all).
    app.add_middleware(LoadShedding, max_in_flight=settings.max_in_flight_requests,
                       queue_seconds=settings.overload_queue_seconds)
    routers = [module.router
               for module in (bundles, items, prefill, cases, notifications, ratings, files, steps, departments,
                             supervision, explanations, complaints, commitments, licence_qr, track)]
    document_problems(routers)
    for router in [*routers, pages.router]:
        add_routes(app, router)
    docs_ui.install(app)  # /docs on vendored Swagger UI, / → /ui/
    health.install(app)  # /healthz, /readyz, /metrics and request timing
    _openapi_with_problems(app)
    app.state.protected_operations = RequestLimits.protected_operations(app.router.routes)
    app.state.body_limits = RequestLimits.body_limits(app.router.routes)
    return app
