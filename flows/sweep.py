"""The supervision sweep: scheduled, set-based, idempotent.

Each pass releases timer steps whose minimum wait has passed (publicity periods, document
sale, bid windows), closes the steps whose 补正 hand-in window passed without the materials
(逾期未补正，视为撤回申请), records the reminders of 容缺 materials whose promised date is near
(``defer_remind_days`` working days before; the notifications of issue 13 will send them), reminds
officers of steps due within ``remind_before_days`` working days (once per step), resolves the
cards of work that has since been closed, and issues yellow and red cards (电子监察) for overdue
steps and cases (red ``red_after_days`` working days after the due date). The thresholds are
settings (:mod:`engine.settings`), not flow parameters; ``red_after_working_days`` given to a flow
or task overrides the setting for that pass only. Every part may be re-run after a crash:
a card is never issued twice, a timer never released twice, a window never lapsed twice. Task retries are off: the next
scheduled pass is the retry.
"""

from __future__ import annotations

from prefect import flow, task

from engine.records.audit_seal import seal_on_schedule
from engine.settings import get_settings
from engine.time.reminders import remind_officers
from engine.time.supervision import card_counts, issue_cards as issue_due_cards, resolve_cards
from engine.machine.timers import lapse_supplement_windows, release_due_timers, remind_deferred_materials
from flows.context import FlowContext, flow_context

SWEEP_FLOW = "deadline-sweep"


def release_timers_now(context: FlowContext) -> list[str]:
    """Complete the timer steps whose minimum wait has passed; their step ids."""
    with context.sessions() as session:
        return release_due_timers(session, context.runtime)


def lapse_supplements_now(context: FlowContext) -> list[str]:
    """Close the steps whose 补正 hand-in window passed without the materials; their step ids."""
    with context.sessions() as session:
        return lapse_supplement_windows(session, context.runtime)


def remind_deferred_now(context: FlowContext) -> list[tuple[str, str]]:
    """Record the reminders of 容缺 materials now due; the (case id, material) pairs."""
    with context.sessions() as session:
        return remind_deferred_materials(session, context.runtime, days_before=get_settings().defer_remind_days)


def remind_officers_now(context: FlowContext) -> list[str]:
    """Remind the officers of the steps due within ``remind_before_days`` working days; the step ids."""
    with context.sessions() as session:
        return remind_officers(session, context.runtime, days_before=get_settings().remind_before_days)


def issue_cards_now(context: FlowContext, *, red_after_working_days: int | None = None) -> dict[str, int]:
    """Resolve the cards of closed work, then issue the yellow and red cards now due (red after the
    ``red_after_days`` setting unless given); the counts."""
    red_after = red_after_working_days if red_after_working_days is not None else get_settings().red_after_days
    with context.sessions() as session:
        resolved = resolve_cards(session, context.runtime)
        counts = card_counts(issue_due_cards(session, context.runtime, red_after_working_days=red_after))
    return {"yellow_cards": counts["yellow"], "red_cards": counts["red"], "cards_resolved": resolved}


def seal_audit_now(context: FlowContext) -> int:
    """Seal the audit chain heads that grew since the last seal (only with ONEVISIT_AUDIT_KEY set);
    how many. The engine logs each seal: keep those lines outside the database (docs/deploy.md)."""
    with context.sessions() as session:
        seal = seal_on_schedule(session, key=get_settings().audit_key, now=context.runtime.clock.now())
    return seal.entries if seal is not None else 0


def sweep_once(context: FlowContext, *, red_after_working_days: int | None = None) -> dict[str, int]:
    """One pass without Prefect (``onevisit sweep``): what it released, issued and resolved."""
    released = release_timers_now(context)
    lapsed = lapse_supplements_now(context)  # before the cards: a lapse resumes its case's clock
    reminded = remind_deferred_now(context)
    officers = remind_officers_now(context)
    counts = {"timers_released": len(released), "supplements_lapsed": len(lapsed), "deferred_reminded": len(reminded),
              "officers_reminded": len(officers), **issue_cards_now(context, red_after_working_days=red_after_working_days)}
    seal_audit_now(context)  # last, so the seal covers what this pass appended
    return counts


@task(name="release-due-timers", retries=0)
def release_timers() -> list[str]:
    return release_timers_now(flow_context())


@task(name="lapse-supplement-windows", retries=0)
def lapse_supplements() -> list[str]:
    return lapse_supplements_now(flow_context())


@task(name="remind-deferred-materials", retries=0)
def remind_deferred() -> list[tuple[str, str]]:
    return remind_deferred_now(flow_context())


@task(name="remind-officers", retries=0)
def remind_officers_task() -> list[str]:
    return remind_officers_now(flow_context())


@task(name="issue-cards", retries=0)
def issue_cards(red_after_working_days: int | None = None) -> dict[str, int]:
    """Resolve the cards of closed work, then issue the yellow and red cards now due; the counts."""
    return issue_cards_now(flow_context(), red_after_working_days=red_after_working_days)


@flow(name=SWEEP_FLOW, retries=0)
def deadline_sweep(red_after_working_days: int | None = None) -> dict[str, int]:
    """One pass of the sweep; safe to run as often as wanted."""
    released = release_timers()
    lapsed = lapse_supplements()  # before the cards: a lapse resumes its case's clock
    reminded = remind_deferred()
    officers = remind_officers_task()
    counts = {"timers_released": len(released), "supplements_lapsed": len(lapsed), "deferred_reminded": len(reminded),
              "officers_reminded": len(officers), **issue_cards(red_after_working_days)}
    seal_audit_now(flow_context())  # last, so the seal covers what this pass appended
    return counts
