"""The tamper suite: someone with the database owner's access rewrites the audit trail.

Every kind of tampering named in issue 7 is done here the way such an attacker would do it:
the append-only triggers are switched off (SQLite: dropped and re-created; PostgreSQL:
``ALTER TABLE … DISABLE TRIGGER`` or ``session_replication_role = replica``), the rows are
changed, the triggers are put back. ``verify_audit`` must then name the case (or the seal) and
the kind of damage. The key that signs the seals is known to the test, never to the attacker.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.records.audit import GENESIS, AuditReport, Tamper, event_digest, verify_audit
from engine.records.audit_seal import MerkleTree, leaf_hash, seal_audit_heads, sign_seal
from engine.time.clock import FixedClock
from engine.db.models import AuditEvent, AuditSeal, AuditSealEntry, Case, Step
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime
from tests.conftest import Database
from tests.engine.db.owner import owner_transaction
from tests.engine.sample_people import CLERK, GROOM, another_couple, marriage_answers

KEY = "the key lives in the environment, not in the database"
AUDIT_TABLES = ("audit_events", "audit_seals", "audit_seal_entries")


@pytest.fixture
def sealed(session: Session, runtime: Runtime, clock: FixedClock) -> list[Case]:
    """Three accepted cases whose chain heads were sealed."""
    cases = [
        accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                    answers=marriage_answers(**another_couple()), actor=CLERK)
        for _ in range(3)
    ]
    assert seal_audit_heads(session, key=KEY, now=clock.now()) is not None
    assert verify_audit(session, key=KEY).ok
    return cases


@contextmanager
def as_owner(db: Database) -> Iterator[Connection]:
    """One transaction of a database owner with the audit triggers and the foreign keys out of the way."""
    with owner_transaction(db) as conn:  # PostgreSQL: a superuser, every trigger off for this transaction
        if db.backend == "sqlite":
            triggers = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
            for name, _ in triggers:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
            yield conn
            for _, sql in triggers:
                conn.execute(text(sql))
        else:
            yield conn


def kinds(report: AuditReport) -> list[tuple[str | None, Tamper]]:
    return [(p.case_id if p.case_id is not None else f"seal #{p.seal}", p.kind) for p in report.problems]


def verify(session: Session, **options: Any) -> AuditReport:
    session.commit()  # end any read transaction: see what the attacker committed
    return verify_audit(session, key=KEY, **options)


def delete_case_rows(conn: Connection, case_id: str) -> None:
    conn.execute(delete(Step).where(Step.case_id == case_id))
    conn.execute(delete(Case).where(Case.id == case_id))


def rewrite_chain(conn: Connection, case_id: str, *, seq: int, payload: dict[str, Any]) -> str:
    """Edit event ``seq``'s payload, re-hash it and every later event, move the head; the new head."""
    events = conn.execute(select(AuditEvent.__table__).where(AuditEvent.case_id == case_id)
                          .order_by(AuditEvent.seq)).all()
    prev = GENESIS
    for row in events:
        event = AuditEvent(**row._asdict())
        if event.seq == seq:
            event.payload = payload
        if event.seq >= seq:
            event.prev_hash = prev
            event.hash = event_digest(event)
            conn.execute(update(AuditEvent).where(AuditEvent.id == row.id)
                         .values(payload=event.payload, prev_hash=event.prev_hash, hash=event.hash))
        prev = event.hash
    conn.execute(update(Case).where(Case.id == case_id).values(audit_head=prev))
    return prev


# --- TRUNCATE -------------------------------------------------------------------------------


def test_truncate_is_refused_on_postgresql(db: Database, sealed: list[Case]) -> None:
    if db.backend != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; its DELETE fires the row triggers (see test_db)")
    for table in AUDIT_TABLES:
        with db.engine.connect() as conn:
            with pytest.raises(DBAPIError, match=f"{table} is append-only \\(TRUNCATE refused\\)"):
                conn.execute(text(f"TRUNCATE {table} CASCADE"))
            conn.rollback()
    with db.session() as session:
        report = verify_audit(session, key=KEY)
    assert report.ok and report.cases == 3 and report.events > 3 and report.seals == 1


def test_truncate_with_the_trigger_disabled_leaves_every_case_without_its_chain(
    db: Database, session: Session, sealed: list[Case]
) -> None:
    if db.backend == "postgresql":  # the owner may switch the statement trigger off, and does
        with db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_truncate"))
            conn.execute(text("TRUNCATE audit_events"))
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_truncate"))
    else:
        with as_owner(db) as conn:
            conn.execute(text("DELETE FROM audit_events"))
    report = verify(session)
    assert report.cases == 3 and report.events == 0
    assert sorted(kinds(report)) == sorted((case.id, Tamper.MISSING_CHAIN) for case in sealed)
    assert all(p.receipt_no == case.receipt_no for p, case in zip(
        sorted(report.problems, key=lambda p: str(p.case_id)), sorted(sealed, key=lambda c: c.id)))


# --- deletions ------------------------------------------------------------------------------


def test_deleting_every_event_of_one_case(db: Database, session: Session, sealed: list[Case]) -> None:
    victim = sealed[1]
    with as_owner(db) as conn:
        conn.execute(delete(AuditEvent).where(AuditEvent.case_id == victim.id))
    report = verify(session)
    assert kinds(report) == [(victim.id, Tamper.MISSING_CHAIN)]
    assert report.problems[0].line() == (f"case {victim.id} ({victim.receipt_no}): missing_chain: the case has no "
                                         f"audit events (its head says {victim.audit_seq}); seals recorded it up to "
                                         f"event {victim.audit_seq}")


def test_deleting_a_case_with_its_chain_shows_in_the_seals(db: Database, session: Session,
                                                          sealed: list[Case]) -> None:
    victim = sealed[0]
    with as_owner(db) as conn:
        conn.execute(delete(AuditEvent).where(AuditEvent.case_id == victim.id))
        delete_case_rows(conn, victim.id)
    report = verify(session)
    assert kinds(report) == [(victim.id, Tamper.DELETED_CASE)]
    assert report.problems[0].receipt_no == victim.receipt_no  # known from the seal
    assert report.cases == 2


def test_deleting_only_the_case_row_leaves_an_orphan_chain(db: Database, session: Session,
                                                          sealed: list[Case]) -> None:
    victim = sealed[2]
    with as_owner(db) as conn:
        delete_case_rows(conn, victim.id)
    report = verify(session)
    assert kinds(report) == [(victim.id, Tamper.ORPHAN_CHAIN)]
    assert report.problems[0].receipt_no == victim.receipt_no  # known from the acceptance event


def test_deleting_the_last_event_and_moving_the_head_back(db: Database, session: Session,
                                                         sealed: list[Case]) -> None:
    victim = sealed[0]
    with as_owner(db) as conn:
        last = victim.audit_seq
        conn.execute(delete(AuditEvent).where(AuditEvent.case_id == victim.id, AuditEvent.seq == last))
        previous = conn.scalar(select(AuditEvent.hash).where(AuditEvent.case_id == victim.id,
                                                             AuditEvent.seq == last - 1))
        conn.execute(update(Case).where(Case.id == victim.id).values(audit_seq=last - 1, audit_head=previous))
    report = verify(session)
    assert kinds(report) == [(victim.id, Tamper.SEAL_MISMATCH)]  # a consistent chain: only the seal knows
    assert f"event {last}, sealed in seal #1, is gone" in report.problems[0].detail


# --- rewriting ------------------------------------------------------------------------------


def test_editing_an_event_and_rehashing_the_rest_of_its_chain(db: Database, session: Session,
                                                             sealed: list[Case]) -> None:
    victim = sealed[1]
    with as_owner(db) as conn:
        rewrite_chain(conn, victim.id, seq=2, payload={"forged": True})
    report = verify(session)
    assert kinds(report) == [(victim.id, Tamper.SEAL_MISMATCH)]
    # seals record heads: the rewrite shows at the newest sealed event, the head when it was sealed
    assert report.problems[0].detail == (f"event {victim.audit_seq} differs from seal #1: "
                                         "the chain was rewritten at or before it")
    assert report.problems[0].line().startswith(f"case {victim.id} ({victim.receipt_no}): seal_mismatch: ")


def test_editing_an_event_without_rehashing(db: Database, session: Session, sealed: list[Case]) -> None:
    victim = sealed[1]
    with as_owner(db) as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.case_id == victim.id, AuditEvent.seq == 3)
                     .values(actor_id="someone-else"))
    report = verify(session)
    assert kinds(report) == [(victim.id, Tamper.HASH_MISMATCH)]
    assert report.problems[0].seq == 3


def test_rewriting_the_chain_and_its_seal_entry_breaks_the_seal(db: Database, session: Session,
                                                                sealed: list[Case]) -> None:
    victim = sealed[1]
    with as_owner(db) as conn:
        head = rewrite_chain(conn, victim.id, seq=2, payload={"forged": True})
        conn.execute(update(AuditSealEntry).where(AuditSealEntry.case_id == victim.id).values(hash=head))
    report = verify(session)
    assert kinds(report) == [("seal #1", Tamper.SEAL_SIGNATURE)]
    assert "entries do not match the sealed root" in report.problems[0].detail
    assert report.problems[0].line().startswith("seal #1: seal_signature: ")


def test_rewriting_the_chain_the_entry_and_the_root_still_fails_the_signature(
    db: Database, session: Session, sealed: list[Case]
) -> None:
    victim = sealed[1]
    with as_owner(db) as conn:
        head = rewrite_chain(conn, victim.id, seq=2, payload={"forged": True})
        conn.execute(update(AuditSealEntry).where(AuditSealEntry.case_id == victim.id).values(hash=head))
        tree = MerkleTree()
        for entry in conn.execute(select(AuditSealEntry.__table__).order_by(AuditSealEntry.position)).all():
            tree.add(leaf_hash(case_id=entry.case_id, receipt_no=entry.receipt_no, seq=entry.seq, hash=entry.hash))
        conn.execute(update(AuditSeal).values(root=tree.root()))
    report = verify(session)
    assert kinds(report) == [("seal #1", Tamper.SEAL_SIGNATURE)]
    assert "signature does not match" in report.problems[0].detail


def test_a_seal_forged_with_another_key(db: Database, session: Session, sealed: list[Case]) -> None:
    with as_owner(db) as conn:
        seal = conn.execute(select(AuditSeal.__table__)).one()
        forged = AuditSeal(**{**seal._asdict(), "key_id": "0123456789abcdef"})
        conn.execute(update(AuditSeal).values(key_id=forged.key_id, signature=sign_seal(forged, key="guessed")))
    report = verify(session)
    assert kinds(report) == [("seal #1", Tamper.SEAL_SIGNATURE)]
    assert "signed with another key" in report.problems[0].detail


# --- the seals themselves -------------------------------------------------------------------


def grow_and_seal(session: Session, runtime: Runtime, clock: FixedClock, count: int) -> None:
    """One more case and one more seal, ``count`` times."""
    for _ in range(count):
        clock.advance(minutes=5)
        accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                    answers=marriage_answers(**another_couple()), actor=CLERK)
        assert seal_audit_heads(session, key=KEY, now=clock.now()) is not None


def test_deleting_a_seal_from_the_middle_breaks_the_seal_chain(
    db: Database, session: Session, runtime: Runtime, clock: FixedClock, sealed: list[Case]
) -> None:
    grow_and_seal(session, runtime, clock, 2)
    with as_owner(db) as conn:
        conn.execute(delete(AuditSealEntry).where(AuditSealEntry.seal_number == 2))
        conn.execute(delete(AuditSeal).where(AuditSeal.number == 2))
    report = verify(session)
    assert kinds(report) == [("seal #3", Tamper.SEAL_CHAIN)]
    assert report.problems[0].detail == "seal #2 before it is missing (deleted)"


def test_deleting_the_newest_seals_shows_against_the_number_kept_outside(
    db: Database, session: Session, runtime: Runtime, clock: FixedClock, sealed: list[Case]
) -> None:
    grow_and_seal(session, runtime, clock, 2)
    with as_owner(db) as conn:
        conn.execute(delete(AuditSealEntry).where(AuditSealEntry.seal_number == 3))
        conn.execute(delete(AuditSeal).where(AuditSeal.number == 3))
    assert verify(session).ok  # by itself the database cannot tell: the rest is consistent
    report = verify(session, min_seal=3)
    assert kinds(report) == [("seal #3", Tamper.SEAL_MISSING)]
    assert report.unsealed_events > 0  # the newest case's events are no longer covered


def test_truncating_everything_shows_against_the_number_kept_outside(db: Database, session: Session,
                                                                    sealed: list[Case]) -> None:
    with as_owner(db) as conn:
        for table in ("audit_seal_entries", "audit_seals", "audit_events", "steps", "cases"):
            conn.execute(text(f"DELETE FROM {table}"))
    report = verify(session, min_seal=1)
    assert (report.cases, report.events, report.seals) == (0, 0, 0)
    assert kinds(report) == [("seal #1", Tamper.SEAL_MISSING)]


def test_entries_added_to_a_seal_break_its_root(db: Database, session: Session, sealed: list[Case]) -> None:
    with as_owner(db) as conn:
        conn.execute(AuditSealEntry.__table__.insert().values(
            seal_number=1, position=3, case_id="f" * 32, receipt_no="", seq=1, hash="0" * 64))
    report = verify(session)
    assert ("seal #1", Tamper.SEAL_SIGNATURE) in kinds(report)
    assert ("f" * 32, Tamper.DELETED_CASE) in kinds(report)  # the forged entry itself is reported too


# --- without the key ------------------------------------------------------------------------


def test_without_the_key_the_structure_and_the_sealed_heads_are_still_checked(
    db: Database, session: Session, sealed: list[Case]
) -> None:
    with as_owner(db) as conn:
        rewrite_chain(conn, sealed[0].id, seq=2, payload={"forged": True})
        delete_case_rows(conn, sealed[2].id)
        conn.execute(update(AuditSeal).values(signature="0" * 64))
    session.commit()
    report = verify_audit(session)
    assert not report.seals_verified and report.seals == 1
    assert sorted(kinds(report)) == sorted([(sealed[0].id, Tamper.SEAL_MISMATCH),
                                            (sealed[2].id, Tamper.ORPHAN_CHAIN)])
    assert ("seal #1", Tamper.SEAL_SIGNATURE) in kinds(verify(session))  # the key finds the forged signature


def test_an_untouched_trail_verifies_with_its_seals(session: Session, sealed: list[Case]) -> None:
    report = verify(session)
    assert report.ok and report.seals_verified
    assert (report.cases, report.seals, report.newest_seal, report.unsealed_events) == (3, 1, 1, 0)
