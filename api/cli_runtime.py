"""``onevisit worker``, ``onevisit sweep`` and ``onevisit outbox``: the distributed runtime.

None of them migrates: they refuse, in one line, a database whose schema is not current
(``onevisit db upgrade`` is the one command that migrates).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.errors import DomainError


def _open(args: argparse.Namespace) -> tuple[Engine, sessionmaker[Session]]:
    """The engine database, checked to be at the current schema, never migrated."""
    from engine.db.session import make_engine, make_sessionmaker, require_current_schema
    from engine.settings import get_settings

    url = getattr(args, "db", None) or get_settings().db
    try:
        engine = make_engine(url)
    except (ImportError, OSError) as exc:  # no driver for the URL's dialect; an unusable SQLite path
        raise DomainError(f"database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None
    require_current_schema(engine)
    return engine, make_sessionmaker(engine)


def _use_db(args: argparse.Namespace) -> None:
    """``--db`` for this process and the flow-run processes it starts (they read ONEVISIT_DB)."""
    if getattr(args, "db", None):
        from engine.settings import get_settings

        os.environ["ONEVISIT_DB"] = args.db
        get_settings.cache_clear()


def cmd_worker(args: argparse.Namespace) -> int:
    from flows.deployments import Schedules
    from flows.dispatch import WORKER_NAME_ENV
    from flows.worker import WorkerInfo, serve_worker

    _use_db(args)
    if args.name:
        os.environ[WORKER_NAME_ENV] = args.name
    schedules = Schedules(dispatch_every=args.dispatch_every, sweep_every=args.sweep_every,
                          lease_seconds=args.lease, batch=args.batch, red_after_working_days=args.red_after)

    def started(info: WorkerInfo) -> None:
        print(f"onevisit worker {info.name}: serving {', '.join(info.deployments)} on {info.api_url} "
              f"(dispatch every {args.dispatch_every:g} s, sweep every {args.sweep_every:g} s); "
              f"{len(info.department_limits)} department concurrency limits", flush=True)

    serve_worker(schedules, department_limit=args.department_limit, runs=args.runs, started=started)
    print("onevisit worker: stopped", flush=True)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from engine.runtime import Runtime
    from flows.context import FlowContext
    from flows.sweep import sweep_once

    _, sessions = _open(args)
    done = sweep_once(FlowContext(sessions, Runtime.default()), red_after_working_days=args.red_after)
    print(f"sweep: released {done['timers_released']} timer step(s); lapsed {done['supplements_lapsed']} 补正 "
          f"window(s); issued {done['yellow_cards']} yellow and {done['red_cards']} red card(s); "
          f"resolved {done['cards_resolved']} card(s)")
    return 0


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment is not None else "-"


def cmd_outbox(args: argparse.Namespace) -> int:
    from engine.machine.dispatch import outbox_health, stuck_messages
    from engine.runtime import Runtime

    _, sessions = _open(args)
    runtime = Runtime.default()
    with sessions() as session:
        health = outbox_health(session, runtime, show=0)
        stuck = stuck_messages(session, runtime, limit=args.limit)
    print(f"outbox: {health.due} due, {health.backing_off} backing off, {health.claimed} claimed, "
          f"{health.dead} dead; oldest due since {_when(health.oldest_due_at)}")
    for m in stuck:
        error = m.last_error.splitlines()[0][:160] if m.last_error else "-"
        print(f"{m.message_id:>8}  {m.state.value:<11} attempts={m.attempts:<2} {m.receipt_no}  "
              f"{m.bundle_id}/{m.step_key}  dept {m.department or '-'}  next {_when(m.available_at)}  "
              f"last error: {error}")
    if not stuck:
        print("outbox: nothing stuck")
    return 0


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    from engine.machine.dispatch import retry_message
    from engine.runtime import Runtime

    _, sessions = _open(args)
    with sessions() as session:
        before = retry_message(session, Runtime.default(), message_id=args.id)
    print(f"outbox: message {before.message_id} ({before.receipt_no} {before.bundle_id}/{before.step_key}) "
          f"is due again; it was {before.state.value} after {before.attempts} attempt(s)")
    return 0


def register(sub: Any) -> None:
    """Add ``worker``, ``sweep`` and ``outbox`` to the ``onevisit`` sub-commands."""
    worker = sub.add_parser("worker", help="serve the dispatch and sweep deployments on the Prefect server "
                                           "at PREFECT_API_URL (distributed mode)")
    worker.add_argument("--db", help="engine database URL (default: ONEVISIT_DB); never migrated here")
    worker.add_argument("--name", help="worker name shown in claims and Prefect (default: host-pid)")
    worker.add_argument("--dispatch-every", type=float, default=10.0, metavar="SECONDS",
                        help="schedule of the dispatch deployment: a new flow run (process) this often; "
                             "each run polls the outbox every half second until the next (default 10)")
    worker.add_argument("--sweep-every", type=float, default=300.0, metavar="SECONDS",
                        help="schedule of the deadline sweep deployment (default 300)")
    worker.add_argument("--lease", type=float, default=300.0, metavar="SECONDS",
                        help="how long a claimed message is held before another worker may take it (default 300)")
    worker.add_argument("--department-limit", type=int, default=4, metavar="N",
                        help="concurrent automated calls per department unless the catalog says (default 4)")
    worker.add_argument("--runs", type=int, default=4, metavar="N",
                        help="flow runs this worker executes at once (default 4)")
    worker.add_argument("--batch", type=int, default=100, metavar="N", help="messages claimed at a time (default 100)")
    worker.add_argument("--red-after", type=int, default=None, metavar="DAYS",
                        help="working days overdue before a yellow card turns red (default: ONEVISIT_RED_AFTER_DAYS)")
    worker.set_defaults(func=cmd_worker)

    sweep = sub.add_parser("sweep", help="run one deadline sweep now and print what it released, lapsed and issued")
    sweep.add_argument("--db", help="database URL (default: ONEVISIT_DB)")
    sweep.add_argument("--red-after", type=int, default=None, metavar="DAYS",
                       help="working days overdue before a yellow card turns red (default: ONEVISIT_RED_AFTER_DAYS)")
    sweep.set_defaults(func=cmd_sweep)

    outbox = sub.add_parser("outbox", help="list stuck outbox messages (dead letters, failing, abandoned) "
                                           "with their last error; `outbox retry ID` queues one again")
    outbox.add_argument("--db", help="database URL (default: ONEVISIT_DB)")
    outbox.add_argument("--limit", type=int, default=50, help="most messages listed (default 50)")
    outbox.set_defaults(func=cmd_outbox)
    actions = outbox.add_subparsers(dest="action")
    retry = actions.add_parser("retry", help="queue a dead or failing message again, due now, with fresh attempts")
    retry.add_argument("id", type=int, help="the message id (first column of `onevisit outbox`)")
    retry.add_argument("--db", default=argparse.SUPPRESS, help="database URL (default: ONEVISIT_DB)")
    retry.set_defaults(func=cmd_outbox_retry)
