"""Load shedding: an overloaded server answers 503 at once instead of seizing up (issue 14).

At most ``max_in_flight`` requests are inside the app at a time (below the thread pool's 40
workers, so every request let in finds a thread for its authentication and for its route, and
the database locks it takes are always released). A request arriving when all places are taken
waits up to ``queue_seconds`` for one, then gets ``503 Service Unavailable`` (problem+json, field
null, ``Retry-After: 1``) without touching the database; the probes (``/healthz``, ``/readyz``,
``/metrics``) are never held back, so monitoring sees the overload. Each shed request is counted
(``onevisit_requests_shed_total``) and logged at most once a second.
"""

from __future__ import annotations

import logging
import time

import anyio
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import problem_response
from api.observability import metrics_of

log = logging.getLogger("onevisit.api")

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


def overloaded(retry_after: int = 1) -> JSONResponse:
    """The 503 answer (an ASGI app)."""
    errors = [{"field": None, "code": "overloaded", "message_zh": "系统繁忙，请稍后重试",
               "message_en": "the server is busy; try again shortly"}]
    return problem_response(503, "overloaded", "Overloaded", "the server is busy; try again shortly", errors,
                            headers={"Retry-After": str(retry_after)})


class LoadShedding:
    """The middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, queue_seconds: float) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.queue_seconds = queue_seconds
        self._places: anyio.Semaphore | None = None
        self._logged_at = 0.0

    def places(self) -> anyio.Semaphore:
        # Made on first use, inside the running event loop.
        if self._places is None:
            self._places = anyio.Semaphore(self.max_in_flight)
        return self._places

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        places = self.places()
        try:
            with anyio.fail_after(self.queue_seconds):
                await places.acquire()
        except TimeoutError:
            app = scope.get("app")
            if app is not None and hasattr(app.state, "sessions"):  # onevisit's app: its registry
                metrics_of(app).shed.inc()
            now = time.monotonic()
            if now - self._logged_at >= 1:
                self._logged_at = now
                log.warning("overloaded: %d requests in flight, shedding with 503 (%s %s)",
                            self.max_in_flight, scope["method"], scope["path"])
            await overloaded()(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            places.release()
