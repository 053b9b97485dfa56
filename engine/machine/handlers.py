"""Automated-step handlers: an injectable registry, as Open Forms registers its plugins.

An automated step names a handler. The dispatch flow runs it outside any request and outside
the case lock; the engine completes the step once (completion and the outbox acknowledgement
commit together, under the lock, after a version check). A handler may nevertheless be called
again for the same message — after a crash, or when a worker stopped while holding it — so a
handler that changes anything outside must pass ``ctx.idempotency_key`` to that system.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from engine.registry import Registry


class StepRefused(Exception):
    """Raised by a handler when the automated check fails: the step is rejected with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class HandlerContext:
    """What a handler may look at. ``session`` is for reads (its transaction is ended when the
    handler returns; no lock is held meanwhile); state changes are the engine's."""

    session: Session
    case_id: str
    receipt_no: str
    step_id: str
    step_key: str
    item_code: str
    department: str
    result_name: str
    applicant_id: str
    answers: Mapping[str, Any]
    element: Mapping[str, Any]
    fields: tuple[str, ...]
    today: date
    message_id: int
    """The outbox message being performed: the same on every attempt."""

    @property
    def idempotency_key(self) -> str:
        """The key an adapter sends to a department system, so a repeated call changes nothing twice."""
        return f"onevisit-outbox-{self.message_id}"


Handler = Callable[[HandlerContext], dict[str, Any]]


class HandlerRegistry(Registry[Handler]):
    """Handlers by name; registering a name twice is an error (catches copy-paste)."""

    kind = "handler"

    def __iter__(self) -> Iterator[str]:
        return self.names()


def document_number(ctx: HandlerContext, prefix: str) -> str:
    """A stable document number: re-running a handler after a crash gives the same number."""
    digest = hashlib.sha256(f"{ctx.step_id}".encode()).hexdigest()[:8].upper()
    return f"{prefix}{ctx.today:%Y%m%d}{digest}"


def default_handlers() -> HandlerRegistry:
    """The built-in handlers; deployments add their own department-system adapters."""
    registry = HandlerRegistry()

    @registry.register("data_check")
    def data_check(ctx: HandlerContext) -> dict[str, Any]:
        """A data-sharing check (数据接口核验): the step's fields must be present and non-empty."""
        values = {**ctx.answers, **ctx.element}
        missing = [name for name in ctx.fields if values.get(name) in (None, "", [])]
        if missing:
            raise StepRefused(f"data check failed: no value for {', '.join(missing)}")
        return {"verified": sorted(ctx.fields), "checked_on": ctx.today.isoformat()}

    @registry.register("issue_result")
    def issue_result(ctx: HandlerContext) -> dict[str, Any]:
        """Issue the step's result document with a stable number."""
        return {"result": ctx.result_name, "number": document_number(ctx, ctx.department)}

    @registry.register("publish_notice")
    def publish_notice(ctx: HandlerContext) -> dict[str, Any]:
        """Publish a notice (招标公告, 公示) on the platform."""
        return {"published_on": ctx.today.isoformat(), "notice_no": document_number(ctx, "GS")}

    return registry
