"""Dispatch: perform the outbox's automated steps, many per flow run.

One flow, ``dispatch-outbox``. A run claims due messages in batches (``engine/machine/dispatch.py``:
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of runs on any number of workers share
the outbox), and performs them as Prefect tasks, one per department and chunk of messages,
tagged ``department:<code>``: the Prefect concurrency limit on that tag (created from the
catalog by the worker) caps how many calls a department's systems receive at once, since a
task performs its messages one after another. A run keeps claiming until the outbox is empty
and its linger time is over, so one flow run serves many steps and a step released while it
runs is picked up within ``poll_seconds``.

Task and flow retries are off: the engine's back-off (1, 2, 4 … minutes, then a dead letter)
is the one retry mechanism, and it does not block the run.

There are no per-bundle flows. Dependencies between a bundle's automated steps are the
engine's (``settle`` releases the next step, which writes its own outbox message, claimed by
the same run moments later); a flow per bundle would only add flow-run overhead and a second
copy of the dependency graph.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter, defaultdict
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from prefect import Task, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from engine.machine.dispatch import Claimed, Outcome, claim_messages, release_claims, run_claimed
from flows.context import flow_context

log = logging.getLogger("onevisit.dispatch")

DISPATCH_FLOW = "dispatch-outbox"
WORKER_NAME_ENV = "ONEVISIT_WORKER_NAME"

stop_requested: ContextVar[threading.Event | None] = ContextVar("onevisit_dispatch_stop", default=None)
"""Set by an in-process caller (``flows.worker.run_worker``) so a lingering run ends at once."""


def dispatcher_name() -> str:
    """Who holds a claim: the worker's name (or host), its process and the flow run."""
    who = os.environ.get(WORKER_NAME_ENV) or socket.gethostname()
    run = (flow_run.get_id() or "local")[:8]
    return f"{who[:40]}/{os.getpid()}/{run}"


@task(name="run-automated-steps", retries=0, cache_policy=NO_CACHE,
      task_run_name="department {department}: {count} step(s)")
def run_automated_steps(department: str, count: int, message_ids: list[int], worker: str) -> list[tuple[int, str]]:
    """Perform claimed messages of one department, one after another; their outcomes."""
    context = flow_context()
    outcomes: list[tuple[int, str]] = []
    with context.sessions() as session:
        for message_id in message_ids:
            try:
                result = run_claimed(session, context.runtime, message_id=message_id, worker=worker)
            except Exception:  # not even the failure could be recorded: the lease runs out, a later claim retries
                session.rollback()
                log.exception("dispatch: message %s could not be recorded", message_id)
                outcomes.append((message_id, Outcome.FAILED.value))
                continue
            outcomes.append((message_id, result.outcome.value))
    return outcomes


@cache
def _department_task(department: str) -> Task[..., list[tuple[int, str]]]:
    return run_automated_steps.with_options(tags={f"department:{department or 'none'}"})


def _chunks(claimed: list[Claimed], size: int) -> list[tuple[str, list[int]]]:
    """Per department, the claimed ids cut into near-equal chunks of at most ``size``."""
    by_department: dict[str, list[int]] = defaultdict(list)
    for c in claimed:
        by_department[c.department].append(c.message_id)
    chunks: list[tuple[str, list[int]]] = []
    for department, ids in by_department.items():
        parts = -(-len(ids) // size)
        chunks.extend((department, ids[i::parts]) for i in range(parts))
    return chunks


def _linger_until(linger_seconds: float) -> float:
    """When an idle run may end, on the monotonic clock: its scheduled start plus the linger, so
    a late run (scheduled long ago, e.g. after an outage) drains once and ends at once."""
    scheduled: datetime = flow_run.get_scheduled_start_time()
    remaining = (scheduled + timedelta(seconds=linger_seconds) - datetime.now(UTC)).total_seconds()
    return time.monotonic() + max(0.0, min(remaining, linger_seconds + 60.0))


# Four threads: enough to keep a few departments' systems busy at once on a small worker.
RUNNER: Any = ThreadPoolTaskRunner(max_workers=4)


@flow(name=DISPATCH_FLOW, retries=0, log_prints=False, task_runner=RUNNER)
def dispatch_outbox(batch: int = 100, chunk: int = 10, linger_seconds: float = 0.0, max_seconds: float = 60.0,
                    lease_seconds: float = 300.0, poll_seconds: float = 0.5) -> dict[str, int]:
    """Claim and perform due automated steps until the outbox is empty and ``linger_seconds``
    have passed since the run's scheduled start (or ``max_seconds`` since it began); the
    number of messages per outcome."""
    # The body lives in a module function: a served flow is pickled into its run's process, and
    # a function hidden behind its decorator is pickled by value, with every global it touches.
    return _dispatch(batch=batch, chunk=chunk, linger_seconds=linger_seconds, max_seconds=max_seconds,
                     lease_seconds=lease_seconds, poll_seconds=poll_seconds)


def _dispatch(*, batch: int, chunk: int, linger_seconds: float, max_seconds: float, lease_seconds: float,
              poll_seconds: float) -> dict[str, int]:
    context = flow_context()
    worker = dispatcher_name()
    stop = stop_requested.get()
    began = time.monotonic()
    idle_until = _linger_until(linger_seconds)
    totals: Counter[str] = Counter({outcome.value: 0 for outcome in Outcome})
    try:
        while stop is None or not stop.is_set():
            with context.sessions() as session:
                claimed = claim_messages(session, context.runtime, worker=worker, limit=batch,
                                         lease=timedelta(seconds=lease_seconds))
            if claimed:
                futures = [_department_task(department).submit(department, len(ids), ids, worker)
                           for department, ids in _chunks(claimed, max(chunk, 1))]
                wait(futures)
                for future in futures:
                    outcomes: Any = future.result(raise_on_failure=False)
                    if isinstance(outcomes, list):
                        totals.update(outcome for _, outcome in outcomes)
                if time.monotonic() - began >= max_seconds:
                    break
                continue
            if time.monotonic() >= idle_until:
                break
            if stop is not None:
                stop.wait(poll_seconds)
            else:
                time.sleep(poll_seconds)
    finally:
        # Claims not yet performed (a stop, a crash of a task) go back at once, not after the lease.
        with context.sessions() as session:
            release_claims(session, context.runtime, worker=worker)
    return dict(totals)
