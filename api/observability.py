"""Prometheus metrics of one app: request latencies, flow passes, the engine's work, the background.

Each app has its own registry (tests build many apps in one process). Gauges about the work
(open and overdue steps, the outbox, dead letters) are read from the database on each scrape
by :class:`EngineCollector`, through :func:`engine.records.monitoring.work_load`; latencies are
histograms filled as requests and flow passes happen.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.records.monitoring import work_load
from engine.runtime import Runtime

if TYPE_CHECKING:
    from api.background import Background

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PASS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """The registry of one app and the histograms filled as things happen."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "onevisit_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.flow_passes = Histogram(
            "onevisit_flow_pass_duration_seconds", "Duration of one background flow pass (dispatch, sweep).",
            ["flow", "outcome"], buckets=PASS_BUCKETS, registry=self.registry,
        )
        self.shed = Counter("onevisit_requests_shed", "Requests answered 503 because the server was full (api.overload).",
                            registry=self.registry)
        self._background: BackgroundCollector | None = None

    def observe_pass(self, flow: str, seconds: float, ok: bool) -> None:
        self.flow_passes.labels(flow=flow, outcome="ok" if ok else "failed").observe(seconds)

    def watch_background(self, background: Background) -> None:
        """Export the parts' states and time each flow pass of ``background``."""
        if self._background is not None:
            self.registry.unregister(self._background)
        self._background = BackgroundCollector(background)
        self.registry.register(self._background)
        background.observers.append(self.observe_pass)


def metrics_of(app: FastAPI) -> Metrics:
    """The app's metrics, made (with the engine collector) on first use."""
    metrics: Metrics | None = getattr(app.state, "metrics", None)
    if metrics is None:
        metrics = Metrics()
        metrics.registry.register(EngineCollector(app.state.sessions, app.state.runtime))
        app.state.metrics = metrics
    return metrics


class EngineCollector(Collector):
    """Gauges of the work in the engine's tables, queried at scrape time."""

    def __init__(self, sessions: sessionmaker[Session], runtime: Runtime) -> None:
        self.sessions = sessions
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        with self.sessions() as session:
            load = work_load(session, now=self.runtime.clock.now(), today=self.runtime.today())
        open_steps = GaugeMetricFamily("onevisit_open_steps", "Open steps, by department and state.",
                                       labels=["department", "state"])
        for (department, state), count in sorted(load.open_steps.items()):
            open_steps.add_metric([department, state], count)
        yield open_steps
        overdue = GaugeMetricFamily("onevisit_overdue_steps",
                                    "Open steps past their due date with their clock running, by department.",
                                    labels=["department"])
        for department, count in sorted(load.overdue_steps.items()):
            overdue.add_metric([department], count)
        yield overdue
        yield GaugeMetricFamily("onevisit_outbox_depth", "Outbox messages waiting to be processed.",
                                value=load.outbox_pending)
        yield GaugeMetricFamily("onevisit_outbox_oldest_age_seconds",
                                "Age of the oldest outbox message waiting (0 when none).",
                                value=load.outbox_oldest_age_seconds)
        yield GaugeMetricFamily("onevisit_dead_letters", "Outbox messages that failed every attempt.",
                                value=load.dead_letters)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # values come from the database: do not query it at registration


class BackgroundCollector(Collector):
    """``onevisit_background_up{part}``: 1 when a part runs as it should, else 0."""

    def __init__(self, background: Background) -> None:
        self.background = background

    def collect(self) -> Iterator[Metric]:
        from api.background import PartState

        up = GaugeMetricFamily("onevisit_background_up", "Whether a background part is up (1) or not (0).",
                               labels=["part", "state"])
        for name, part in sorted(self.background.snapshot().items()):
            if part.state is not PartState.OFF:
                up.add_metric([name, part.state.value], 1 if part.state is PartState.UP else 0)
        yield up

    def describe(self) -> Iterator[Metric]:
        return iter(())


class RequestTimer:
    """ASGI middleware: time every HTTP request into ``onevisit_http_request_duration_seconds``.

    The route label is the matched route's template (``/cases/{case_id}``), never the raw
    path: ids stay out of the metrics and the label set stays small.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(method=scope["method"], route=route, status=str(status)).observe(
                time.perf_counter() - started)
