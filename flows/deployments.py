"""What a worker registers with the Prefect server: department concurrency limits and the
two deployments (dispatch every few seconds, sweep every few minutes).

Both deployments are named :data:`DEPLOYMENT`, so every worker serves the same two
deployments; each scheduled run is taken by one of them, and runs that overlap share the
outbox safely (claims use ``SKIP LOCKED``).

Prefect starts every run of a served deployment in a new process (about 2-3 s of CPU), so a
dispatch run does not end when the outbox is empty: it keeps polling it (every half second)
until the next run is due plus a margin. A released step therefore waits for the poll, not
for a flow run to start, whatever the schedule; the schedule only sets how often a process is
started. Under load a run keeps going up to ``max_seconds`` and the next ones join it. A run
that starts late (workers were down) drains once and ends at once, so a backlog of late runs
costs process starts, not waiting. No deployment concurrency limit is set on purpose: Prefect
holds such a slot for a SIGKILLed worker's run until its lease expires (five minutes), which
would stall dispatch meanwhile; the engine's claims already make overlapping runs harmless.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prefect import Flow
from prefect.client.orchestration import PrefectClient, SyncPrefectClient
from prefect.exceptions import PrefectHTTPStatusError

from engine.spec.models import Catalog
from flows.dispatch import dispatch_outbox
from flows.sweep import deadline_sweep

DEPLOYMENT = "onevisit"
DEFAULT_DEPARTMENT_LIMIT = 4
"""Concurrent automated calls per department when the catalog gives no ``concurrency``."""


@dataclass(frozen=True)
class Schedules:
    """How often the deployments run, and the dispatch run's knobs (see ``dispatch_outbox``)."""

    dispatch_every: float = 10.0
    sweep_every: float = 300.0
    lease_seconds: float = 300.0
    batch: int = 100
    chunk: int = 10
    max_seconds: float = 60.0
    red_after_working_days: int | None = None
    """Overrides the ``red_after_days`` setting for the deployed sweep (None: the setting applies)."""

    def dispatch_parameters(self) -> dict[str, Any]:
        # An idle run lingers until the next one is due, plus a margin for that one's process to
        # start on a loaded machine, so one run is always polling the outbox.
        return {"batch": self.batch, "chunk": self.chunk, "linger_seconds": self.dispatch_every + 5.0,
                "max_seconds": max(self.max_seconds, 3 * self.dispatch_every), "lease_seconds": self.lease_seconds}

    def deployments(self) -> list[tuple[Flow[..., Any], timedelta, dict[str, Any], str]]:
        """(flow, interval, parameters, description) of each deployment."""
        return [
            (dispatch_outbox, timedelta(seconds=self.dispatch_every), self.dispatch_parameters(),
             "Perform the automated steps waiting in the onevisit outbox."),
            (deadline_sweep, timedelta(seconds=self.sweep_every),
             {} if self.red_after_working_days is None else {"red_after_working_days": self.red_after_working_days},
             "Release due timer steps; issue and resolve supervision cards."),
        ]


def department_limits(catalog: Catalog, *, default: int = DEFAULT_DEPARTMENT_LIMIT) -> dict[str, int]:
    """The concurrency limit of each catalog department, by Prefect tag ``department:<code>``."""
    return {f"department:{code}": department.concurrency or default
            for code, department in sorted(catalog.departments.items())}


def _conflict(exc: PrefectHTTPStatusError) -> bool:
    return exc.response.status_code == 409


async def apply_department_limits(client: PrefectClient, limits: dict[str, int]) -> None:
    """Create or update each tag limit. Prefect 3's endpoint for tag limits is an upsert, but not
    an atomic one: two workers starting together may collide (409), and then the second try updates."""
    for tag, limit in limits.items():
        for attempt in range(3):
            try:
                await client.create_concurrency_limit(tag=tag, concurrency_limit=limit)
                break
            except PrefectHTTPStatusError as exc:
                if not _conflict(exc) or attempt == 2:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))


def apply_department_limits_sync(client: SyncPrefectClient, limits: dict[str, int]) -> None:
    """:func:`apply_department_limits` with a synchronous client."""
    for tag, limit in limits.items():
        for attempt in range(3):
            try:
                client.create_concurrency_limit(tag=tag, concurrency_limit=limit)
                break
            except PrefectHTTPStatusError as exc:
                if not _conflict(exc) or attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))
