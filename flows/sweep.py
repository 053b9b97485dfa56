"""The supervision sweep: scheduled, set-based, idempotent.

For now it releases timer steps whose minimum wait has passed (publicity periods, document
sale, bid windows); reminders and yellow/red cards join it with the supervision issue.
"""

from __future__ import annotations

from prefect import flow, task

from engine.work import release_due_timers
from flows.context import flow_context


@task(name="release-due-timers", retries=2, retry_delay_seconds=10)
def release_timers() -> list[str]:
    context = flow_context()
    with context.sessions() as session:
        return release_due_timers(session, context.runtime)


@flow(name="deadline-sweep")
def deadline_sweep() -> dict[str, int]:
    """One pass of the sweep; safe to run as often as wanted."""
    return {"timers_released": len(release_timers())}
