"""``onevisit serve``: the API and pages, with the Prefect flows running beside them.

Embedded mode (one machine): this process starts and owns a Prefect server (a child that never
outlives it, :mod:`api.embedded_prefect`) and runs the dispatch and sweep flows against it every
few seconds, in background threads (:mod:`api.background`). They are never on the request path:
a request only writes state and outbox rows; if Prefect is slow to start or fails, requests are
unaffected, ``/readyz`` and the supervision dashboard say so, and the flows catch up once it
answers (every run is idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.background import Background, PartState, run_flows, supervise_prefect
from api.observability import metrics_of
from engine.db.models import Case
from engine.db.session import make_engine, make_sessionmaker, migrate, require_current_schema
from engine.errors import DomainError
from api.demo import dated, demo_clock, load_demo_data, run_demo, seed_licences, synthetic_person
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime, publish_bundles
from engine.machine.states import Actor, Role

log = logging.getLogger("onevisit.server")

DEMO_DEPARTMENTS = ("09", "11", "14", "23", "36")


@dataclass(frozen=True)
class Served:
    app: FastAPI
    sessions: sessionmaker[Session]
    runtime: Runtime


def open_database(url: str, *, migrate_schema: bool | None = None) -> tuple[Engine, sessionmaker[Session]]:
    """An engine on ``url`` whose schema is at this code's head; bad URLs are a DomainError.

    ``migrate_schema`` None (the default) migrates an embedded SQLite database — one machine,
    so the command that opens it may set it up — and only checks a shared (PostgreSQL) one:
    replicas and workers never migrate, ``onevisit db upgrade`` does (True).
    """
    try:
        engine = make_engine(url)
    except (ImportError, OSError) as exc:  # no driver for the URL's dialect; an unusable SQLite path
        raise DomainError(f"database: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None
    if migrate_schema is None:
        migrate_schema = engine.dialect.name == "sqlite"
    if migrate_schema:
        migrate(engine)
    else:
        require_current_schema(engine)
    return engine, make_sessionmaker(engine)


def build(db_url: str, *, runtime: Runtime | None = None) -> Served:
    """Open the database (see :func:`open_database`), publish the bundles and build the app."""
    _, sessions = open_database(db_url)
    runtime = runtime or Runtime.default()
    with sessions() as session:
        publish_bundles(session, runtime)
    return Served(create_app(sessions=sessions, runtime=runtime), sessions, runtime)


def load_demo(served: Served, *, say: Callable[[str], None] = print) -> dict[str, str]:
    """Demo data on an empty database: licences, one finished case per bundle, three open ones; and a
    fresh token per demo role (tokens are stored hashed, so they are shown only now)."""
    with served.sessions() as session:
        if not session.scalar(select(func.count()).select_from(Case)):
            clock = demo_clock()
            done = run_demo(session, Runtime(registry=served.runtime.registry, calendar=served.runtime.calendar,
                                             clock=clock), clock, report=lambda line: None)
            say(f"demo: {len(done)} bundles run to completion (two months ago), then ratings, 告知承诺 and 12345")
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
        # A scenario's open_case names other people where the finished case made its own ineligible
        # (the demo couple married two months ago).
        other = scenario.get("open_case", {})
        person = other.get("applicant", scenario["applicant"])
        spec = runtime.current_spec(bundle_id)
        accept_case(session, runtime, bundle_id=bundle_id,
                    applicant=Applicant(person["id"], spec.applicant_kind, person["name"]),
                    answers=dated({**scenario["answers"], **other.get("answers", {})}, runtime.today()),
                    actor=clerk, region="430102", idempotency_key=f"demo-open-{bundle_id}")


DEMO_SCOPES: dict[str, dict[str, str]] = {
    "clerk (430102)": {"role": "clerk", "region": "430102"},
    "applicant 测试甲": {"role": "applicant", "subject": synthetic_person(1)},
    "supervisor (430100)": {"role": "supervisor", "region": "430100"},
    "admin": {"role": "admin"},
    **{f"officer dept {d}": {"role": "officer", "department": d, "region": "430100"} for d in DEMO_DEPARTMENTS},
}


def demo_tokens(session: Session, runtime: Runtime) -> dict[str, str]:
    """A fresh demo token per role; the previous demo set is revoked, and these expire after
    ``ONEVISIT_DEMO_TOKEN_DAYS`` (so restarts never pile up valid admin tokens)."""
    from datetime import timedelta

    from engine.settings import get_settings
    from engine.people.tokens import reissue_demo_tokens

    return reissue_demo_tokens(session, scopes=DEMO_SCOPES, now=runtime.clock.now(),
                               valid_for=timedelta(days=get_settings().demo_token_days))


def start_background(
    served: Served,
    *,
    data_dir: Path,
    flows: bool = True,
    dispatch_every: float = 5.0,
    sweep_every: float = 30.0,
    prefect_startup_timeout: float = 600.0,
    prefect_url: str | None = None,
) -> Background:
    """Start the background work of ``served`` and attach its record to the app (``/readyz``).

    With ``flows``: a Prefect server owned by this process, its home in ``data_dir/prefect``
    (or the server at ``prefect_url``), and the dispatch and sweep passes. Call ``stop()`` on
    the result to end them; the Prefect server child never outlives this process anyway.
    """
    from flows.context import FlowContext

    background = Background(state=PartState.STARTING if flows else PartState.OFF)
    served.app.state.background = background
    metrics_of(served.app).watch_background(background)
    if flows:
        background.spawn("prefect", supervise_prefect(background, data_dir=data_dir, external_url=prefect_url,
                                                      startup_timeout=prefect_startup_timeout))
        background.spawn("flows", run_flows(background, FlowContext(served.sessions, served.runtime),
                                            dispatch_every=dispatch_every, sweep_every=sweep_every))
    return background
