"""The application's PostgreSQL role appends to the audit trail and cannot do anything else to it.

A role is created for the test, given the runtime GRANTs (``onevisit db grant-runtime``), and
the application is run as that role; every way around the append-only triggers is refused.
The role is dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.records.audit import verify_audit
from engine.records.audit_seal import seal_audit_heads
from engine.time.clock import FixedClock
from engine.db.models import AuditSeal, Step
from engine.db.roles import grant_runtime, runtime_grants
from engine.db.session import make_engine, make_sessionmaker
from engine.errors import DomainError
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime, publish_bundles
from engine.machine.actions import claim_step
from tests.conftest import Database
from tests.engine.sample_people import CLERK, GROOM, marriage_answers, officer

KEY = "runtime role test key"


@pytest.fixture
def runtime_engine(db: Database, session: Session) -> Iterator[Engine]:
    """An engine connected as a fresh runtime role with exactly the runtime privileges."""
    if db.backend != "postgresql":
        pytest.skip("roles and privileges are PostgreSQL's; SQLite has none")
    role = f"ov_runtime_{uuid.uuid4().hex[:10]}"
    with db.engine.begin() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        grant_runtime(conn, role=role)
    url = db.engine.url.set(username=role).render_as_string(hide_password=False)
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))


def test_the_runtime_role_runs_the_application(runtime_engine: Engine, runtime: Runtime, clock: FixedClock) -> None:
    sessions = make_sessionmaker(runtime_engine)
    with sessions() as session:
        publish_bundles(session, runtime)
        case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                           answers=marriage_answers(), actor=CLERK)
        step = session.scalars(select(Step).where(Step.case_id == case.id, Step.state == "ready")).first()
        assert step is not None
        claim_step(session, runtime, step_id=step.id, actor=officer(step.department))
        seal = seal_audit_heads(session, key=KEY, now=clock.now())
        assert seal is not None and seal.entries == 1
        assert verify_audit(session, key=KEY).ok


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("TRUNCATE audit_events", "permission denied"),
        ("TRUNCATE audit_seals, audit_seal_entries", "permission denied"),
        ("TRUNCATE cases CASCADE", "permission denied"),
        ("DELETE FROM audit_events", "permission denied"),
        ("UPDATE audit_events SET payload = '{}'", "permission denied"),
        ("DELETE FROM audit_seal_entries", "permission denied"),
        ("UPDATE audit_seals SET signature = ''", "permission denied"),
        ("DELETE FROM cases", "permission denied"),
        ("ALTER TABLE audit_events DISABLE TRIGGER ALL", "must be owner"),
        ("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_truncate", "must be owner"),
        ("DROP TRIGGER audit_events_no_change ON audit_events", "must be owner"),
        ("SET session_replication_role = replica", "permission denied"),
        ("ALTER TABLE audit_events OWNER TO CURRENT_USER", "must be owner"),
    ],
)
def test_the_runtime_role_cannot_get_around_the_triggers(runtime_engine: Engine, statement: str,
                                                         refusal: str) -> None:
    with runtime_engine.connect() as conn:
        with pytest.raises(DBAPIError, match=refusal):
            conn.execute(text(statement))
        conn.rollback()


def test_grants_are_refused_for_roles_that_would_keep_every_power(db: Database, session: Session) -> None:
    with db.engine.connect() as conn:
        if db.backend != "postgresql":
            with pytest.raises(DomainError, match="need PostgreSQL"):
                runtime_grants(conn, role="onevisit_app")
            return
        with pytest.raises(DomainError, match="is a superuser"):
            runtime_grants(conn, role="postgres")
        with pytest.raises(DomainError, match="does not exist"):
            runtime_grants(conn, role="ov_no_such_role")
        with pytest.raises(DomainError, match="lower-case PostgreSQL identifier"):
            runtime_grants(conn, role='x"; DROP TABLE cases; --')
        statements = runtime_grants(conn, role="pg_monitor")  # any existing non-superuser role will do
        assert any("audit_events" in s and s.startswith("GRANT SELECT, INSERT ON") for s in statements)
        assert not any("audit_events" in s and "UPDATE" in s for s in statements)
        assert conn.scalar(select(AuditSeal.number)) is None  # printing changes nothing


def test_onevisit_db_grant_runtime_prints_and_applies(db: Database, session: Session,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    if db.backend != "postgresql":
        pytest.skip("roles and privileges are PostgreSQL's")
    from api.cli import main

    role = f"ov_runtime_{uuid.uuid4().hex[:10]}"
    with db.engine.begin() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    url = db.engine.url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        assert main(["db", "grant-runtime", role, "--db", url]) == 0
        printed = capsys.readouterr().out.splitlines()
        with db.engine.connect() as conn:
            assert printed == [f"{s};" for s in runtime_grants(conn, role=role)]
            assert not conn.scalar(text("SELECT has_table_privilege(:r, 'audit_events', 'INSERT')"), {"r": role})
        assert main(["db", "grant-runtime", role, "--apply", "--db", url]) == 0
        assert capsys.readouterr().out.splitlines()[-1].startswith("-- applied")
        with db.engine.connect() as conn:
            allowed = {p: conn.scalar(text("SELECT has_table_privilege(:r, 'audit_events', :p)"), {"r": role, "p": p})
                       for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER")}
        assert allowed == {"SELECT": True, "INSERT": True, "UPDATE": False, "DELETE": False, "TRUNCATE": False,
                           "TRIGGER": False}
    finally:
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
