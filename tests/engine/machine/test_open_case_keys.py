"""The open-case check is serialised per key (bundle + the people it names), on both databases.

Intakes for the same couple arriving at the same moment used to count no open case each and both
be accepted. Now the count runs under a lock on the key (a PostgreSQL advisory transaction lock;
SQLite's one write lock), taken before the count and held until the case is committed, so of
several simultaneous intakes exactly one is accepted and the others get the guide's reason (422,
``eligibility.no_open_case``). Intakes for other people take other keys and do not wait; a
``warn`` rule (twins) is serialised too, so exactly one of two simultaneous twins is warned.

Every worker thread has its own session and waits at a barrier right before ``accept_case``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case
from engine.errors import DomainError, InvalidApplication
from engine.machine.eligibility import hold_open_case_keys, open_case_keys
from engine.machine.intake import Applicant, accept_case
from engine.people.validators import make_id_number
from engine.runtime import Runtime, publish_bundles
from engine.db.session import make_sessionmaker
from tests.conftest import BACKENDS, Database, wipe_pg_tables
from tests.engine.sample_people import CLERK, another_couple, marriage_answers

ROUNDS = 12
"""Couples raced one after another (each round a fresh couple)."""
CONTENDERS = 4
"""Simultaneous intakes per couple."""
BARRIER_TIMEOUT = 60.0

requires_pg = pytest.mark.skipif("postgresql" not in BACKENDS, reason="no PostgreSQL answered")


def race(db: Database, calls: list[Callable[[Session], Any]]) -> list[Any]:
    """Run every call on its own thread and session, all released by one barrier; results or errors."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[Session], Any]) -> Any:
        with db.session() as session:
            barrier.wait(timeout=BARRIER_TIMEOUT)
            try:
                return call(session)
            except DomainError as exc:
                return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def marry(runtime: Runtime, couple: dict[str, object], *, key: str | None = None) -> Callable[[Session], Any]:
    def call(session: Session) -> Any:
        return accept_case(session, runtime, bundle_id="marriage", answers=marriage_answers(**couple),
                           applicant=Applicant(str(couple["groom_id_number"]), "person", "测试甲"), actor=CLERK,
                           region="430102", idempotency_key=key)

    return call


def codes(result: Any) -> set[str]:
    assert isinstance(result, InvalidApplication), result
    return {p.code for p in result.problems}


def test_of_simultaneous_intakes_for_one_couple_exactly_one_is_accepted(db: Database, runtime: Runtime) -> None:
    with db.session() as session:
        publish_bundles(session, runtime)
    for _ in range(ROUNDS):
        couple = another_couple()
        results = race(db, [marry(runtime, couple) for _ in range(CONTENDERS)])
        accepted = [r for r in results if isinstance(r, Case)]
        assert len(accepted) == 1, results
        for loser in (r for r in results if not isinstance(r, Case)):
            assert codes(loser) == {"eligibility.no_open_case"}
            assert isinstance(loser, InvalidApplication)
            assert [p.field for p in loser.problems] == ["groom_id_number", "bride_id_number"]
            assert loser.problems[0].message_en == "this couple already has an open marriage case"
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == ROUNDS


def test_simultaneous_retries_with_one_idempotency_key_return_the_same_case(db: Database, runtime: Runtime) -> None:
    """A retried request racing its original is answered with the original's case, not with the
    refusal a second case for the couple would get."""
    with db.session() as session:
        publish_bundles(session, runtime)
    couple = another_couple()
    results = race(db, [marry(runtime, couple, key="same-request-1") for _ in range(CONTENDERS)])
    assert all(isinstance(r, Case) for r in results), results
    assert len({r.id for r in results}) == 1


def test_simultaneous_twins_are_both_accepted_and_one_is_warned(db: Database, runtime: Runtime) -> None:
    """The newborn bundle warns (twins) instead of refusing: the count is serialised as well, so the
    second of two simultaneous twins is the one warned."""
    mother = make_id_number("430104", date(1995, 6, 1), 42)
    father = make_id_number("430102", date(1993, 1, 9), 13)
    with db.session() as session:
        publish_bundles(session, runtime)

    def twin(name: str) -> Callable[[Session], Any]:
        answers = {
            "applicant_name": "测试乙", "applicant_phone": "13800000002", "baby_name": name, "baby_sex": "female",
            "baby_birth_date": "2026-02-20", "birth_institution": "示例妇幼保健院", "mother_name": "测试乙",
            "mother_id_number": mother, "father_name": "测试甲", "father_id_number": father,
            "registration_parent": "father", "household_region": "430102", "parents_same_ethnicity": True,
            "claim_maternity_benefit": False, "pickup_method": "self",
        }
        return lambda session: accept_case(session, runtime, bundle_id="newborn", answers=answers, actor=CLERK,
                                           applicant=Applicant(mother, "person"), region="430102")

    results = race(db, [twin("测试宝一"), twin("测试宝二")])
    assert all(isinstance(r, Case) for r in results), results
    with db.session() as session:
        payloads = session.scalars(select(AuditEvent.payload).where(
            AuditEvent.case_id.in_([r.id for r in results]), AuditEvent.seq == 1)).all()
    assert sorted(len(p.get("eligibility_warnings", [])) for p in payloads) == [0, 1]


def test_the_key_is_the_bundle_and_the_people_in_any_order(runtime: Runtime) -> None:
    spec = runtime.current_spec("marriage")
    couple = another_couple()
    swapped = {"groom_id_number": couple["bride_id_number"], "bride_id_number": couple["groom_id_number"]}
    keys = open_case_keys(spec, answers=marriage_answers(**couple), applicant_id=str(couple["groom_id_number"]))
    assert len(keys) == 1
    assert keys == open_case_keys(spec, answers=marriage_answers(**swapped), applicant_id="x")
    assert keys != open_case_keys(spec, answers=marriage_answers(**another_couple()), applicant_id="x")
    # an applicant's own intake does not look up cases naming another person: no key, no lock
    assert open_case_keys(spec, answers=marriage_answers(**couple), applicant_id=str(couple["groom_id_number"]),
                          others=False) == []
    # a bundle with no open_cases fact has none
    assert open_case_keys(runtime.current_spec("employment"), answers={}, applicant_id="x") == []


@pytest.fixture
def pg_db(request: pytest.FixtureRequest) -> Database:
    """The PostgreSQL test database alone (the advisory lock is PostgreSQL's; SQLite has one writer)."""
    engine = request.getfixturevalue("pg_engine")
    wipe_pg_tables(engine)
    return Database("postgresql", engine, make_sessionmaker(engine))


@requires_pg
def test_an_intake_waits_only_for_its_own_key(pg_db: Database, runtime: Runtime) -> None:
    """PostgreSQL: while a transaction holds one couple's key, another couple's intake goes through at
    once, and the same couple's intake waits until the holder ends (then it counts afresh)."""
    db = pg_db
    spec = runtime.current_spec("marriage")
    with db.session() as session:
        publish_bundles(session, runtime)
    held, other = another_couple(), another_couple()
    with db.session() as holder:
        hold_open_case_keys(holder, open_case_keys(spec, answers=marriage_answers(**held), applicant_id="x"))
        with ThreadPoolExecutor(max_workers=2) as pool:
            same = pool.submit(lambda: _in_session(db, marry(runtime, held)))
            elsewhere = pool.submit(lambda: _in_session(db, marry(runtime, other)))
            assert isinstance(elsewhere.result(timeout=30), Case)
            with pytest.raises(TimeoutError):
                same.result(timeout=1.0)
            holder.rollback()  # ends the transaction: the waiting intake goes on
            assert isinstance(same.result(timeout=30), Case)


def _in_session(db: Database, call: Callable[[Session], Any]) -> Any:
    with db.session() as session:
        return call(session)
