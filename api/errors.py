"""How domain errors read to people: one table used by the JSON API and the pages alike."""

from __future__ import annotations

from engine.errors import (
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
    (NotFound, 404, "Not found", "未找到该记录"),
    (Forbidden, 403, "Forbidden", "无权进行此操作"),
    (StaleVersion, 409, "Stale version", "该记录已被他人修改，请刷新后重试"),
    (IllegalTransition, 409, "Illegal transition", "当前状态不允许此操作"),
    (IdempotencyConflict, 409, "Idempotency key reused", "该幂等键已用于另一份申请"),
    (TooEarly, 409, "Too early", "法定等待期尚未届满"),
    (Conflict, 409, "Conflict", "与已有记录冲突"),
    (InvalidApplication, 422, "Invalid application", "申请内容有误"),
)


def domain_status(exc: DomainError) -> tuple[int, str, str]:
    """(status, English title, Chinese message) of a domain error."""
    for kind, status, title, zh in DOMAIN_STATUSES:
        if isinstance(exc, kind):
            return status, title, zh
    return 422, "Unprocessable request", "请求无法处理"
