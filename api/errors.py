"""How errors read to people: one table of domain-error statuses used by the JSON API and the
pages alike, the problem+json answer every JSON error is, and how routes document them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from engine.documents.inspection import BadFile
from engine.documents.storage import FileMissing
from engine.errors import (
    ClaimedByAnother,
    Conflict,
    DomainError,
    Forbidden,
    IdempotencyConflict,
    IllegalTransition,
    InvalidApplication,
    NotFound,
    StaleVersion,
    TooEarly,
)

# Most specific first: (error class, status, English title, Chinese message).
DOMAIN_STATUSES: tuple[tuple[type[DomainError], int, str, str], ...] = (
    (FileMissing, 404, "File missing", "文件不存在或已按保存期限删除"),
    (NotFound, 404, "Not found", "未找到该记录"),
    (Forbidden, 403, "Forbidden", "无权进行此操作"),
    (ClaimedByAnother, 409, "Claimed by another officer",
     "该事项已由其他工作人员认领，只有认领人可以办理；如需转办，请科室负责人改派"),
    (StaleVersion, 409, "Stale version", "该记录已被他人修改，请刷新后重试"),
    (IllegalTransition, 409, "Illegal transition", "当前状态不允许此操作"),
    (IdempotencyConflict, 409, "Idempotency key reused", "该幂等键已用于另一份申请"),
    (TooEarly, 409, "Too early", "法定等待期尚未届满"),
    (Conflict, 409, "Conflict", "与已有记录冲突"),
    (InvalidApplication, 422, "Invalid application", "申请内容有误"),
    (BadFile, 422, "Bad file", "文件不符合要求，未保存"),
)


def domain_status(exc: DomainError) -> tuple[int, str, str]:
    """(status, English title, Chinese message) of a domain error."""
    for kind, status, title, zh in DOMAIN_STATUSES:
        if isinstance(exc, kind):
            return status, title, zh
    return 422, "Unprocessable request", "请求无法处理"


# --- problem+json -------------------------------------------------------------------------

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"

STATUS_DESCRIPTIONS: dict[int, str] = {
    401: "No valid bearer token: missing, unknown, revoked or expired (problem+json, field Authorization)",
    403: "The caller's role, region or department does not allow this",
    404: "No such record, or none the caller may see",
    409: "Conflict: a stale version, a transition the current state forbids, a reused idempotency key "
         "or a number already used",
    413: "The request body is larger than the server accepts (field body); nothing was read past the limit",
    422: "Invalid input: problem+json naming every wrong field",
    503: "The server is full (too many requests in flight): retry after the Retry-After seconds",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: each status answered with the one problem+json schema."""
    return {
        status: {"description": STATUS_DESCRIPTIONS[status],
                 "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}}
        for status in statuses
    }


def problem_response(status: int, code: str, title: str, detail: str, errors: list[dict[str, Any]],
                     headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An ``application/problem+json`` answer (RFC 9457) naming the fields in ``errors``."""
    fields = list(dict.fromkeys(e["field"] for e in errors if e.get("field")))
    body = {
        "type": f"/problems/{code}", "title": title, "status": status, "detail": detail,
        "field": fields[0] if fields else None, "fields": fields, "errors": errors,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def http_error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A framework-level refusal (401, unknown route, wrong method) as problem+json."""
    code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
    field = "Authorization" if status == 401 else None
    zh = {401: "请先登录（提供有效的令牌）", 404: "未找到", 405: "不支持该请求方法"}.get(status, "请求错误")
    errors = [{"field": field, "code": code, "message_zh": zh, "message_en": detail}]
    return problem_response(status, code, code.replace("_", " ").capitalize(), detail, errors, headers=headers)


def body_too_large(limit: int) -> JSONResponse:
    """413 naming ``body``; the connection is closed, since the rest of the body is never read."""
    detail = f"the request body is larger than {limit} bytes"
    errors = [{"field": "body", "code": "request.body_too_large",
               "message_zh": f"请求内容过大（上限 {limit} 字节）", "message_en": detail}]
    return problem_response(413, "body_too_large", "Body too large", detail, errors, headers={"Connection": "close"})


# --- request validation ------------------------------------------------------------------

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


def validation_en(error: Mapping[str, Any]) -> str:
    """The English of one request-validation error, for people: pydantic's message, but a pattern
    mismatch says what is wrong instead of quoting the regular expression."""
    if error.get("type") == "string_pattern_mismatch":
        return "has the wrong format"
    return str(error.get("msg", ""))
