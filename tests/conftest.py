"""Shared fixtures: real databases (SQLite always, PostgreSQL when reachable), an injected clock.

Database-backed tests take the ``db`` fixture and run once per available backend. PostgreSQL
is used when ``ONEVISIT_TEST_PG`` names a URL (CI sets it; then it must answer) or when the
local server answers on the default URL. Each test session migrates a private schema once and
empties its tables between tests (wipe_pg_tables); SQLite tests copy a migrated template file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from engine.db.models import Base
from engine.db.session import make_engine, make_sessionmaker, migrate
from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import BundleRegistry, load_registry
from tests.s3_server import s3_server  # noqa: F401  (a session fixture: a local S3 server, started on first use)

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE: ``dev`` (the default) keeps the local suite
# quick with fewer examples and remembers failures in .hypothesis/; ``ci`` (.ci/run) is thorough
# and derandomised: every CI run tries the same fixed set of examples (Hypothesis then keeps no
# example database) and a failure prints the blob that reproduces it (``@reproduce_failure``).
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
"""The ``ci`` profile (.ci/run) is also the thorough one for the tests that repeat work to find
rare interleavings (the races, the kill -9 crash test, the distributed run, schemathesis): they
take their counts from :func:`scaled`, so the README's local run stays quick and CI hunts longer
(about twice as long: the whole suite must stay near five minutes on CI's two cores too)."""


def scaled(dev: int, ci: int, *, env: str | None = None) -> int:
    """A repetition count: ``ci`` under the thorough profile, ``dev`` otherwise; the variable
    ``env``, when set, overrides both (for a long hunt on one's own machine)."""
    if env and os.environ.get(env):
        return int(os.environ[env])
    return ci if THOROUGH else dev


def _pg_url() -> str | None:
    wanted = os.environ.get("ONEVISIT_TEST_PG")
    url = wanted or DEFAULT_PG
    try:
        engine = make_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return url
    except Exception as exc:
        if wanted:
            raise RuntimeError(f"ONEVISIT_TEST_PG={wanted} does not answer: {exc}") from exc
        return None


_PG = _pg_url()


@contextlib.contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server (named ``<prefix>_<pid>``), dropped
    afterwards: for tests of processes that open their own database (serve, migrations)."""
    assert _PG is not None, "PostgreSQL is not reachable"
    import psycopg

    name = f"{prefix}_{os.getpid()}"
    admin = _PG.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _PG.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
BACKENDS = ["sqlite"] + (["postgresql"] if _PG else [])


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """Nothing the run starts (its Prefect server, `onevisit serve` processes) outlives it."""
    yield
    import psutil

    _, alive = psutil.wait_procs(psutil.Process().children(recursive=True), timeout=30)
    left = []
    for process in alive:
        with contextlib.suppress(psutil.Error):
            left.append(f"{process.pid}: {' '.join(process.cmdline())[:200]}")
            process.kill()
    assert not left, f"processes left running by the tests (now killed): {left}"


# The modules of the longest single tests (a minute or more each on two cores), in the order an
# xdist worker should start them: handed out right after the groups, they run while the many
# short tests fill the other worker, instead of starting last and leaving one worker idle.
LONGEST_FIRST = (
    "tests/flows/test_distributed.py",
    "tests/engine/machine/test_properties.py",
    "tests/reliability/test_schemathesis.py",
    "tests/reliability/test_crash.py",
    "tests/browser/test_e2e.py",
    "tests/bench/test_bench_quick.py",
)


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own hook, which should have done this
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup`` (on each xdist worker): the longest modules first, and each
    ``xdist_group`` test with the ``<node id>@<group>`` id that the scheduler groups by.

    pytest-xdist 3.8 appends the group by assigning ``item._nodeid``, which pytest 9.2's structured
    node ids no longer read (pytest-dev/pytest-xdist#1386): without this the group is silently
    ignored, its tests spread over both workers and each worker starts a Prefect server of its
    own. Only where xdist's suffix did not take, so this does nothing once xdist sets it itself.
    Every worker collects the same order (the scheduler checks), and a module keeps its own order.
    """
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers only
        return
    from _pytest.nodeid import NodeId

    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable
    for item in items:
        groups = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                         for mark in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(groups)
        if groups and not item.nodeid.endswith(suffix) and isinstance(getattr(item, "_id", None), NodeId):
            item._id = NodeId.parse(item.nodeid + suffix)


def pytest_report_header() -> str:
    return f"onevisit database backends: {', '.join(BACKENDS)}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS, scope="session")


@dataclass
class Database:
    backend: str
    engine: Engine
    sessions: sessionmaker[Session]

    def session(self) -> Session:
        return self.sessions()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "onevisit.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    assert _PG is not None
    schema = f"ov_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(_PG)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(_PG, connect_args={"options": f"-csearch_path={schema}"}, pool_size=20, max_overflow=20)
    migrate(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def db(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if backend == "sqlite":
        path = tmp_path / "onevisit.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
        yield Database(backend, engine, make_sessionmaker(engine))
        engine.dispose()
    else:
        engine = request.getfixturevalue("pg_engine")
        wipe_pg_tables(engine)
        yield Database(backend, engine, make_sessionmaker(engine))


# The sequences owned by a column of the given tables (serial: 'a', identity: 'i'), set back to
# their start: what TRUNCATE ... RESTART IDENTITY does.
_RESTART_OWNED_SEQUENCES = text("""
    SELECT setval(s.oid, q.seqstart, false)
    FROM pg_class s
    JOIN pg_sequence q ON q.seqrelid = s.oid
    JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.deptype IN ('a', 'i')
    JOIN pg_class t ON t.oid = d.refobjid
    WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(:tables)
""")


def wipe_pg_tables(engine: Engine) -> None:
    """Empty every table of the models and restart their id sequences, as a fresh schema has them.

    DELETE, not TRUNCATE: TRUNCATE of a dozen tables costs a few hundred milliseconds (new files
    for each table), a few hundred times per run; DELETE of a test's few rows costs milliseconds.
    As a superuser in ``replica`` mode neither the audit tables' refusing triggers nor the
    foreign keys (triggers too) fire, so the order does not matter and everything goes.
    """
    tables = [t.name for t in Base.metadata.sorted_tables]
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(tables):
            conn.execute(text(f'DELETE FROM "{table}"'))
        conn.execute(_RESTART_OWNED_SEQUENCES, {"tables": tables})


@pytest.fixture(scope="session")
def registry() -> BundleRegistry:
    return load_registry()


@pytest.fixture(scope="session")
def calendar() -> WorkingCalendar:
    return WorkingCalendar.default()


@pytest.fixture
def clock() -> FixedClock:
    # Monday 2 March 2026, 09:00 Beijing time: an ordinary working week.
    clock = FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    return clock


@pytest.fixture
def runtime(registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock) -> Runtime:
    return Runtime(registry=registry, calendar=calendar, clock=clock)


@pytest.fixture
def session(db: Database, runtime: Runtime) -> Iterator[Session]:
    with db.session() as session:
        publish_bundles(session, runtime)
        yield session


def local(day: date, hour: int = 9) -> datetime:
    from engine.time.clock import CHINA

    return datetime(day.year, day.month, day.day, hour, tzinfo=CHINA)
