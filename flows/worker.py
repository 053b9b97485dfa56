"""Running the flows: in this process on a loop (embedded mode), or as served deployments.

* :func:`run_worker` (embedded mode, ``onevisit serve``): runs the dispatch and sweep flows
  in the calling thread until ``stop`` is set. They run *in this process*, with the given
  :class:`~flows.context.FlowContext` (its database, clock and handlers), and are recorded as
  flow runs on whatever Prefect API this process uses.
* :func:`serve_worker` (distributed mode, ``onevisit worker``): registers the department
  concurrency limits and the two scheduled deployments on the Prefect server named by
  ``PREFECT_API_URL`` and serves them with a Prefect ``Runner`` until stopped (SIGTERM or
  ``stop``). Prefect runs each flow run of a served deployment in a fresh subprocess
  (``multiprocessing`` spawn), so those runs build their context from the ``ONEVISIT_*``
  environment, never from objects of this process. The ``Runner`` itself does not need the
  main thread (it installs its SIGTERM handler only there), but a spawned child re-imports
  the parent's ``__main__``, which must therefore be guarded by ``if __name__ == "__main__"``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
from prefect.client.orchestration import get_client
from prefect.exceptions import PrefectHTTPStatusError
from prefect.runner import Runner
from prefect.settings import PREFECT_API_URL
from prefect.types.entrypoint import EntrypointType

from engine.errors import DomainError
from flows.context import FlowContext, flow_context, use_context
from flows.deployments import (
    DEFAULT_DEPARTMENT_LIMIT,
    DEPLOYMENT,
    Schedules,
    apply_department_limits,
    apply_department_limits_sync,
    department_limits,
)
from flows.dispatch import WORKER_NAME_ENV, dispatch_outbox, stop_requested
from flows.sweep import deadline_sweep

log = logging.getLogger("onevisit.worker")

PassHook = Callable[[str, Mapping[str, int] | BaseException], None]
"""Told after every pass: ``("dispatch" | "sweep" | "limits", counts or the exception)``."""


class NoPrefectServer(DomainError):
    code = "no_prefect_server"


def run_worker(context: FlowContext, *, stop: threading.Event, dispatch_every: float = 5.0,
               sweep_every: float = 300.0, department_limit: int = DEFAULT_DEPARTMENT_LIMIT,
               on_pass: PassHook | None = None) -> None:
    """Run the dispatch and sweep flows in this thread, in this process, until ``stop`` is set.

    Each dispatch flow run polls the outbox for ``dispatch_every`` seconds before the next
    one starts, so a released step waits about half a second, not a flow run's start-up; the
    sweep runs every ``sweep_every`` seconds. A failed pass (Prefect unreachable, a database
    error) is reported to ``on_pass`` and retried after ``dispatch_every``; it never raises.
    The department concurrency limits are created first, best effort.
    """
    previous = use_context(context)
    token = stop_requested.set(stop)

    def attempt(part: str, work: Callable[[], Mapping[str, int]]) -> bool:
        try:
            result: Mapping[str, int] | BaseException = work()
        except Exception as exc:  # the next pass retries; the caller learns of it through on_pass
            log.warning("flows: %s pass failed: %s", part, exc)
            result = exc
        if on_pass is not None:
            on_pass(part, result)
        return not isinstance(result, BaseException)

    def limits() -> Mapping[str, int]:
        wanted = department_limits(context.runtime.registry.catalog, default=department_limit)
        with get_client(sync_client=True) as client:
            apply_department_limits_sync(client, wanted)
        return {"departments": len(wanted)}

    try:
        attempt("limits", limits)
        next_sweep = time.monotonic()
        while not stop.is_set():
            ok = attempt("dispatch", lambda: dispatch_outbox(linger_seconds=dispatch_every))
            if not stop.is_set() and time.monotonic() >= next_sweep:
                ok = attempt("sweep", deadline_sweep) and ok
                next_sweep = time.monotonic() + sweep_every
            if not ok:
                stop.wait(dispatch_every)
    finally:
        stop_requested.reset(token)
        use_context(previous)


@dataclass(frozen=True)
class WorkerInfo:
    """What a started worker serves, for its first lines of output."""

    name: str
    api_url: str
    deployments: tuple[str, ...]
    department_limits: Mapping[str, int]


def worker_name() -> str:
    return os.environ.get(WORKER_NAME_ENV) or f"{socket.gethostname()}-{os.getpid()}"


def serve_worker(schedules: Schedules, *, department_limit: int = DEFAULT_DEPARTMENT_LIMIT, runs: int = 4,
                 stop: threading.Event | None = None, started: Callable[[WorkerInfo], None] | None = None) -> None:
    """Serve the dispatch and sweep deployments until SIGTERM, Ctrl-C or ``stop``.

    Needs ``PREFECT_API_URL`` (a ``prefect server start``, on PostgreSQL for several workers);
    at most ``runs`` flow runs of this worker at a time. The engine database (``ONEVISIT_DB``)
    must be at the current schema: this worker and its flow runs check, and never migrate.
    """
    api_url = PREFECT_API_URL.value()
    if not api_url:
        raise NoPrefectServer("PREFECT_API_URL is not set: `onevisit worker` serves deployments on a Prefect server "
                              "(`prefect server start`, see docs/deploy.md)")
    context = flow_context()  # fails fast, in one line, on a database that is not at the current schema
    limits = department_limits(context.runtime.registry.catalog, default=department_limit)
    os.environ.setdefault(WORKER_NAME_ENV, worker_name())  # inherited by the flow-run processes
    name = os.environ[WORKER_NAME_ENV]
    try:
        asyncio.run(_serve(schedules, name=name, api_url=api_url, limits=limits, runs=runs, stop=stop,
                           started=started))
    except KeyboardInterrupt:
        log.info("worker %s: interrupted", name)
    except (httpx.HTTPError, PrefectHTTPStatusError) as exc:  # at start-up: no server, or it refused us
        raise NoPrefectServer(f"Prefect server at {api_url}: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


async def _serve(schedules: Schedules, *, name: str, api_url: str, limits: dict[str, int], runs: int,
                 stop: threading.Event | None, started: Callable[[WorkerInfo], None] | None) -> None:
    # Prefetch only as far as a process takes to start: a prefetched run holds one of ``runs``.
    # The schedules stay on when this worker stops: other workers serve the same deployments.
    runner = Runner(name=name.replace("/", "-"), query_seconds=min(schedules.dispatch_every, 5.0),
                    prefetch_seconds=min(schedules.dispatch_every, 5.0), limit=runs, pause_on_shutdown=False)
    async with get_client() as client:
        await apply_department_limits(client, limits)
    names = []
    for flow, interval, parameters, description in schedules.deployments():
        await runner.aadd_flow(flow, name=DEPLOYMENT, interval=interval, parameters=parameters,
                               description=description, tags=["onevisit"],
                               entrypoint_type=EntrypointType.MODULE_PATH)
        names.append(f"{flow.name}/{DEPLOYMENT}")
    if started is not None:
        started(WorkerInfo(name, str(api_url), tuple(names), limits))

    async def stop_when_asked() -> None:
        assert stop is not None
        while not (stop.is_set() and runner.started):
            await asyncio.sleep(0.5)
        await runner.astop()

    watcher = asyncio.create_task(stop_when_asked()) if stop is not None else None
    try:
        await runner.start()
    finally:
        if watcher is not None:
            watcher.cancel()
