"""The HTTP API: ``create_app`` wires routes, dependencies and problem+json errors.

Every error is ``application/problem+json`` (RFC 9457) with the fields that were wrong::

    {"type": "/problems/invalid_application", "title": "Invalid application", "status": 422,
     "detail": "applicant.id: …", "field": "applicant.id", "fields": ["applicant.id"],
     "errors": [{"field": "applicant.id", "code": "id_number.check_digit",
                 "message_zh": "…", "message_en": "…"}]}

Domain errors map to statuses by kind (not found 404, forbidden 403, stale version and illegal
transitions 409, invalid input 422); request validation errors are 422 naming the field; bad
input never produces a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import pages
from api.errors import domain_status
from api.routes import bundles, cases, departments, health, prefill, steps, supervision
from engine.errors import (
    DomainError,
    InvalidApplication,
)
from engine.runtime import Runtime

log = logging.getLogger("onevisit.api")

PROBLEM = "application/problem+json"
BODY_PARSE_ERROR = "There was an error parsing the body"
"""FastAPI's 400 detail when the body cannot even be decoded (we answer 422, as for bad JSON)."""

# Chinese messages for pydantic's error types (English comes from pydantic).
VALIDATION_ZH: dict[str, str] = {
    "missing": "必填",
    "json_invalid": "请求体不是有效的 JSON",
    "extra_forbidden": "不允许的字段",
    "string_type": "应为文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "bool_type": "应为布尔值",
    "bool_parsing": "应为布尔值",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为 JSON 对象",
    "list_type": "应为列表",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "string_too_short": "内容过短",
    "string_too_long": "内容过长",
    "too_short": "条目过少",
    "too_long": "条目过多",
    "string_pattern_mismatch": "格式不正确",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "value_error": "取值无效",
}


def _problem(status: int, code: str, title: str, detail: str, errors: list[dict[str, Any]],
             headers: dict[str, str] | None = None) -> JSONResponse:
    fields = list(dict.fromkeys(e["field"] for e in errors if e.get("field")))
    body = {
        "type": f"/problems/{code}", "title": title, "status": status, "detail": detail,
        "field": fields[0] if fields else None, "fields": fields, "errors": errors,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


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
        errors = [{"field": exc.field, "code": exc.code, "message_zh": zh, "message_en": exc.message}]
    return _problem(status, exc.code, title, exc.message, errors)


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
                       "message_zh": VALIDATION_ZH.get(kind, "取值无效"), "message_en": str(error.get("msg", ""))})
    detail = "; ".join(f"{e['field']}: {e['message_en']}" for e in errors) or "invalid request"
    return _problem(422, "invalid_request", "Invalid request", detail, errors)


def http_problem(_request: Request, exc: Exception) -> JSONResponse:
    """Framework HTTP errors (401, unknown routes, wrong methods) as problem+json."""
    assert isinstance(exc, StarletteHTTPException)
    errors: list[dict[str, Any]]
    if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
        # Not UTF-8, or nested deeper than the JSON parser goes: malformed JSON like any other.
        errors = [{"field": "body", "code": "request.json_invalid", "message_zh": VALIDATION_ZH["json_invalid"],
                   "message_en": "the body is not valid JSON"}]
        return _problem(422, "invalid_request", "Invalid request", "body: the body is not valid JSON", errors)
    code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    field = "Authorization" if exc.status_code == 401 else None
    zh = {401: "请先登录（提供有效的令牌）", 404: "未找到", 405: "不支持该请求方法"}.get(exc.status_code, "请求错误")
    errors = [{"field": field, "code": code, "message_zh": zh, "message_en": str(exc.detail)}]
    title = code.replace("_", " ").capitalize()
    return _problem(exc.status_code, code, title, str(exc.detail), errors, headers=getattr(exc, "headers", None))


def server_problem(request: Request, exc: Exception) -> JSONResponse:
    """A bug: logged with its traceback, answered without details."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    errors = [{"field": None, "code": "internal", "message_zh": "系统内部错误", "message_en": "internal error"}]
    return _problem(500, "internal", "Internal error", "internal error", errors)


def create_app(*, sessions: sessionmaker[Session], runtime: Runtime) -> FastAPI:
    """The API over the engine's database (``sessions``) and collaborators (``runtime``)."""
    app = FastAPI(
        title="onevisit",
        summary="一件事一次办: one application, every department's step, one set of results.",
        version="0.1.0",
        responses={422: {"description": "Invalid input (problem+json naming the fields)"}},
    )
    app.state.sessions = sessions
    app.state.runtime = runtime
    app.add_exception_handler(DomainError, domain_problem)
    app.add_exception_handler(RequestValidationError, validation_problem)
    app.add_exception_handler(StarletteHTTPException, http_problem)
    app.add_exception_handler(Exception, server_problem)
    for module in (bundles, prefill, cases, steps, departments, supervision):
        app.include_router(module.router)
    app.include_router(pages.router)
    health.install(app)  # /healthz, /readyz, /metrics and request timing
    return app
