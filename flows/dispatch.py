"""Dispatch: drain the outbox, running automated steps as Prefect tasks.

Each bundle is a Prefect flow named after it (``bundle-marriage`` …) whose tasks are that
bundle's automated steps, tagged ``department:<code>`` so a Prefect concurrency limit on the
tag models the capacity of a department's system. ``dispatch_outbox`` finds which bundles
have due messages and runs their flows. Every task is idempotent: processing a message locks
its case and marks it processed in the same transaction as the step's completion (see
``engine/dispatch.py``), so a retried or re-run task never completes a step twice.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from typing import Any

from prefect import Flow, flow, task
from prefect.futures import wait
from sqlalchemy import select

from engine.db.models import Case, OutboxMessage, Step
from engine.dispatch import Outcome, pending_message_ids, process_message
from flows.context import flow_context


@task(name="run-automated-step", retries=3, retry_delay_seconds=[5, 30, 120])
def run_automated_step(message_id: int) -> dict[str, Any]:
    """Perform one outbox message; a handler failure raises so Prefect retries it."""
    context = flow_context()
    with context.sessions() as session:
        result = process_message(session, context.runtime, message_id=message_id)
    if result.outcome is Outcome.FAILED:
        raise RuntimeError(f"message {message_id}: {result.detail}")
    return {"message": message_id, "outcome": result.outcome.value, "detail": result.detail}


@cache
def bundle_flow(bundle_id: str) -> Flow[[list[tuple[int, str]]], list[dict[str, Any]]]:
    """The Prefect flow of one bundle: its due automated steps, one task each."""

    @flow(name=f"bundle-{bundle_id}".replace("_", "-"), log_prints=False)
    def run_bundle(messages: list[tuple[int, str]]) -> list[dict[str, Any]]:
        futures = [
            run_automated_step.with_options(tags={f"department:{department}", f"bundle:{bundle_id}"}).submit(message_id)
            for message_id, department in messages
        ]
        wait(futures)
        return [f.result(raise_on_failure=False) for f in futures]

    return run_bundle


def due_messages_by_bundle(limit: int = 200) -> dict[str, list[tuple[int, str]]]:
    context = flow_context()
    with context.sessions() as session:
        ids = pending_message_ids(session, context.runtime, limit=limit)
        rows = session.execute(
            select(OutboxMessage.id, Case.bundle_id, Step.department)
            .join(Case, Case.id == OutboxMessage.case_id)
            .join(Step, Step.id == OutboxMessage.step_id)
            .where(OutboxMessage.id.in_(ids))
        ).all()
    grouped: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for message_id, bundle_id, department in rows:
        grouped[bundle_id].append((message_id, department))
    return dict(grouped)


@flow(name="dispatch-outbox")
def dispatch_outbox(limit: int = 200) -> dict[str, int]:
    """Run every bundle flow that has due automated steps; return how many ran per bundle."""
    counts: dict[str, int] = {}
    for bundle_id, messages in due_messages_by_bundle(limit).items():
        bundle_flow(bundle_id)(messages)
        counts[bundle_id] = len(messages)
    return counts
