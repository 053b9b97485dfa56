"""``onevisit serve``: the API and pages, with the Prefect flows running beside them.

Embedded mode (one machine): the dispatch and sweep flows run in a background thread on
Prefect's local mode, every few seconds. They are never on the request path: a request only
writes state and outbox rows; if Prefect is slow to start or fails, requests are unaffected
and the flows catch up on their next pass (every run is idempotent).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from engine.db.models import Case
from engine.db.session import make_engine, make_sessionmaker, migrate
from engine.errors import DomainError
from engine.demo import demo_clock, load_demo_data, run_demo, seed_licences, synthetic_person
from engine.intake import Applicant, accept_case
from engine.runtime import Runtime, publish_bundles
from engine.states import Actor, Role
from engine.tokens import issue_token

log = logging.getLogger("onevisit.server")

DEMO_DEPARTMENTS = ("09", "11", "14", "23", "36")


@dataclass(frozen=True)
class Served:
    app: FastAPI
    sessions: sessionmaker[Session]
    runtime: Runtime


def open_database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """An engine on ``url``, migrated to the latest revision; bad URLs are a DomainError."""
    try:
        engine = make_engine(url)
    except (ImportError, OSError) as exc:  # no driver for the URL's dialect; an unusable SQLite path
        raise DomainError(f"database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None
    migrate(engine)
    return engine, make_sessionmaker(engine)


def build(db_url: str, *, runtime: Runtime | None = None) -> Served:
    """Migrate the database, publish the bundles and build the app."""
    _, sessions = open_database(db_url)
    runtime = runtime or Runtime.default()
    with sessions() as session:
        publish_bundles(session, runtime)
    return Served(create_app(sessions=sessions, runtime=runtime), sessions, runtime)


def load_demo(served: Served, *, say: Callable[[str], None] = print) -> dict[str, str]:
    """Demo data on an empty database: licences, ten finished cases, three open ones; and a
    fresh token per demo role (tokens are stored hashed, so they are shown only now)."""
    with served.sessions() as session:
        if not session.scalar(select(func.count()).select_from(Case)):
            clock = demo_clock()
            run_demo(session, Runtime(registry=served.runtime.registry, calendar=served.runtime.calendar,
                                      clock=clock), clock, report=lambda line: None)
            say("demo: ten bundles run to completion (two months ago)")
            _open_cases(session, served.runtime)
        else:
            seed_licences(session, served.runtime, load_demo_data(), report=lambda line: None)
        return demo_tokens(session, served.runtime)


def _open_cases(session: Session, runtime: Runtime) -> None:
    """A few cases accepted today, waiting in departments' worklists."""
    scenarios = load_demo_data().scenarios
    clerk = Actor(id="demo-clerk", role=Role.CLERK, region="430102")
    for bundle_id in ("marriage", "post_death", "newborn"):
        scenario = scenarios[bundle_id]
        spec = runtime.current_spec(bundle_id)
        accept_case(session, runtime, bundle_id=bundle_id,
                    applicant=Applicant(scenario["applicant"]["id"], spec.applicant_kind, scenario["applicant"]["name"]),
                    answers=scenario["answers"], actor=clerk, region="430102",
                    idempotency_key=f"demo-open-{bundle_id}")


def demo_tokens(session: Session, runtime: Runtime) -> dict[str, str]:
    now = runtime.clock.now()
    tokens = {
        "clerk (430102)": issue_token(session, role="clerk", region="430102", label="demo clerk", now=now),
        "applicant 测试甲": issue_token(session, role="applicant", subject=synthetic_person(1), label="demo applicant",
                                       now=now),
        "supervisor (430100)": issue_token(session, role="supervisor", region="430100", label="demo supervisor",
                                           now=now),
        "admin": issue_token(session, role="admin", label="demo admin", now=now),
    }
    for department in DEMO_DEPARTMENTS:
        tokens[f"officer dept {department}"] = issue_token(
            session, role="officer", department=department, region="430100", label=f"demo officer {department}",
            now=now)
    return tokens


def start_flows(served: Served, *, every_seconds: float = 10.0) -> threading.Event:
    """Run the dispatch and sweep flows in a daemon thread; set the returned event to stop."""
    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / "data" / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    stop = threading.Event()

    def loop() -> None:
        from flows.context import FlowContext, use_context
        from flows.dispatch import dispatch_outbox
        from flows.sweep import deadline_sweep

        use_context(FlowContext(served.sessions, served.runtime))
        while not stop.is_set():
            try:
                dispatched = dispatch_outbox()
                swept = deadline_sweep()
                if dispatched or any(swept.values()):
                    log.info("flows: dispatched %s, sweep %s", dispatched, swept)
            except Exception:  # a failed pass is retried on the next one; requests never wait on it
                log.exception("flows: pass failed")
            stop.wait(every_seconds)

    threading.Thread(target=loop, name="onevisit-flows", daemon=True).start()
    return stop
