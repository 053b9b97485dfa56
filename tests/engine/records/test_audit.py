"""Audit seals and verification on both databases: the Merkle tree, incremental seals, windows.

The tampering itself (every case of issue 7) is in tests/reliability/test_tamper.py.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from engine.records.audit import Tamper, append_event, verify_audit
from engine.records.audit_seal import (
    SEAL_GENESIS,
    MerkleTree,
    SealPending,
    key_id,
    seal_audit_heads,
    seal_on_schedule,
    sign_seal,
)
from engine.time.clock import FixedClock
from engine.db.models import AuditEvent, AuditSeal, AuditSealEntry, Case, Step
from engine.db.session import lock_case
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime
from engine.machine.states import SYSTEM
from engine.machine.actions import claim_step
from tests.conftest import Database
from tests.engine.db.owner import owner_transaction
from tests.engine.sample_people import CLERK, GROOM, another_couple, marriage_answers, officer

KEY = "test key, kept outside the database"

# RFC 6962 test vectors (certificate-transparency): leaf inputs and the tree hash of each prefix.
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_the_merkle_tree_hash_is_rfc_6962() -> None:
    tree = MerkleTree()
    assert tree.root() == hashlib.sha256(b"").hexdigest()
    for leaf, root in zip(CT_LEAVES, CT_ROOTS):
        tree.add(hashlib.sha256(b"\x00" + bytes.fromhex(leaf)).digest())
        assert tree.root() == root


def test_the_streaming_tree_agrees_with_the_recursive_definition() -> None:
    def mth(leaves: list[bytes]) -> bytes:  # RFC 6962 §2.1, word for word
        if len(leaves) == 1:
            return leaves[0]
        k = 1
        while k * 2 < len(leaves):
            k *= 2
        return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()

    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(70)]
    tree = MerkleTree()
    for n, leaf in enumerate(leaves, start=1):
        tree.add(leaf)
        assert tree.root() == mth(leaves[:n]).hex(), n


def accept(session: Session, runtime: Runtime) -> Case:
    return accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(**another_couple()), actor=CLERK)


def entries(session: Session, number: int) -> list[tuple[str, int]]:
    stmt = select(AuditSealEntry.case_id, AuditSealEntry.seq).where(AuditSealEntry.seal_number == number)
    return [tuple(row) for row in session.execute(stmt.order_by(AuditSealEntry.position))]


def test_each_seal_covers_only_the_chains_that_grew(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    first, second = accept(session, runtime), accept(session, runtime)
    seal = seal_audit_heads(session, key=KEY, now=clock.now())
    assert seal is not None and (seal.number, seal.entries, seal.prev_signature) == (1, 2, SEAL_GENESIS)
    assert sorted(entries(session, 1)) == sorted([(first.id, first.audit_seq), (second.id, second.audit_seq)])
    assert seal_audit_heads(session, key=KEY, now=clock.advance(minutes=5)) is None  # nothing grew

    step = session.scalars(select(Step).where(Step.case_id == second.id, Step.state == "ready")).first()
    assert step is not None
    claim_step(session, runtime, step_id=step.id, actor=officer(step.department))
    session.refresh(second)
    again = seal_audit_heads(session, key=KEY, now=clock.advance(minutes=5))
    assert again is not None and again.number == 2 and again.prev_signature == seal.signature
    assert entries(session, 2) == [(second.id, second.audit_seq)]
    assert again.event_mark > seal.event_mark
    assert again.key_id == key_id(KEY) and again.signature == sign_seal(again, key=KEY)

    report = verify_audit(session, key=KEY)
    assert report.ok and (report.seals, report.newest_seal, report.unsealed_events) == (2, 2, 0)


def test_events_after_the_newest_seal_are_counted_as_unsealed(session: Session, runtime: Runtime,
                                                             clock: FixedClock) -> None:
    accept(session, runtime)
    seal_audit_heads(session, key=KEY, now=clock.now())
    later = accept(session, runtime)
    report = verify_audit(session, key=KEY)
    assert report.ok and report.unsealed_events == later.audit_seq


def test_the_schedule_seals_only_with_a_key(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    accept(session, runtime)
    assert seal_on_schedule(session, key=None, now=clock.now()) is None
    assert session.scalar(select(AuditSeal.number)) is None
    seal = seal_on_schedule(session, key=KEY, now=clock.now())
    assert seal is not None and seal.number == 1


def test_sealing_refuses_to_run_without_a_key(session: Session, clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="ONEVISIT_AUDIT_KEY"):
        seal_audit_heads(session, key="", now=clock.now())


def test_verify_without_a_key_says_so(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    accept(session, runtime)
    seal_audit_heads(session, key=KEY, now=clock.now())
    report = verify_audit(session)
    assert report.ok and not report.seals_verified and report.seals == 1


@pytest.mark.parametrize("batch", [1, 2, 1000])
def test_verify_reads_in_windows_and_misses_nothing(db: Database, session: Session, runtime: Runtime,
                                                   clock: FixedClock, batch: int) -> None:
    cases = [accept(session, runtime) for _ in range(5)]
    seal_audit_heads(session, key=KEY, now=clock.now())
    # an orphan chain, a case without a chain and a chain with a gap, spread over the windows
    with owner_transaction(db) as conn:  # foreign keys off; PostgreSQL: every trigger off
        if db.backend == "sqlite":
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        conn.execute(text("DELETE FROM steps WHERE case_id = :id"), {"id": cases[0].id})
        conn.execute(text("DELETE FROM cases WHERE id = :id"), {"id": cases[0].id})
        conn.execute(text("DELETE FROM audit_events WHERE case_id = :id"), {"id": cases[2].id})
        conn.execute(text("DELETE FROM audit_events WHERE case_id = :id AND seq = 2"), {"id": cases[4].id})
    session.commit()
    report = verify_audit(session, key=KEY, batch=batch)
    assert report.cases == 4 and report.events == sum(c.audit_seq for c in cases) - cases[2].audit_seq - 1
    found = {(p.case_id, p.kind) for p in report.problems}
    assert found == {
        (cases[0].id, Tamper.ORPHAN_CHAIN),
        (cases[2].id, Tamper.MISSING_CHAIN),
        (cases[4].id, Tamper.SEQUENCE_GAP),
        (cases[4].id, Tamper.BROKEN_LINK),
    }


def test_verify_one_case(db: Database, session: Session, runtime: Runtime, clock: FixedClock) -> None:
    kept, gone = accept(session, runtime), accept(session, runtime)
    seal_audit_heads(session, key=KEY, now=clock.now())
    with owner_transaction(db) as conn:  # foreign keys off; PostgreSQL: every trigger off
        if db.backend == "sqlite":
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        conn.execute(text("DELETE FROM audit_events WHERE case_id = :id"), {"id": gone.id})
        conn.execute(text("DELETE FROM steps WHERE case_id = :id"), {"id": gone.id})
        conn.execute(text("DELETE FROM cases WHERE id = :id"), {"id": gone.id})
    session.commit()
    report = verify_audit(session, key=KEY, case_id=kept.id)
    assert report.ok and (report.cases, report.events) == (1, kept.audit_seq)
    report = verify_audit(session, key=KEY, case_id=gone.id)
    assert [(p.kind, p.receipt_no) for p in report.problems] == [(Tamper.DELETED_CASE, gone.receipt_no)]
    report = verify_audit(session, key=KEY, case_id="0" * 32)
    assert [p.kind for p in report.problems] == [Tamper.UNKNOWN_CASE]


def test_verify_keeps_the_callers_objects_loaded(session: Session, runtime: Runtime) -> None:
    case = accept(session, runtime)
    assert verify_audit(session).ok
    assert "receipt_no" in case.__dict__  # not expired: the caller can go on using it


# --- PostgreSQL: ids become visible out of order ----------------------------------------------


def test_a_seal_waits_for_transactions_still_appending(db: Database, session: Session, runtime: Runtime,
                                                       clock: FixedClock) -> None:
    if db.backend != "postgresql":
        pytest.skip("SQLite has one writer: a seal pass holds the write lock")
    case = accept(session, runtime)
    head = case.audit_seq + 1
    with db.session() as writer:
        locked = lock_case(writer, case.id)
        assert locked is not None
        append_event(writer, case=locked, actor=SYSTEM, action="note", at=clock.now(), payload={"n": 1})
        writer.flush()  # the event's id is drawn, its transaction still open
        with pytest.raises(SealPending, match="1 transaction"):
            seal_audit_heads(session, key=KEY, now=clock.now(), wait_seconds=0.2)
        assert session.scalar(select(AuditSeal.number)) is None
        writer.commit()
    seal = seal_audit_heads(session, key=KEY, now=clock.now())
    assert seal is not None and entries(session, 1) == [(case.id, head)]
    assert verify_audit(session, key=KEY).ok


def test_ids_of_rolled_back_transactions_make_no_seal(db: Database, session: Session, runtime: Runtime,
                                                      clock: FixedClock) -> None:
    if db.backend != "postgresql":
        pytest.skip("SQLite draws no ids ahead of the commit")
    case = accept(session, runtime)
    assert seal_audit_heads(session, key=KEY, now=clock.now()) is not None
    with db.session() as writer:
        locked = lock_case(writer, case.id)
        assert locked is not None
        append_event(writer, case=locked, actor=SYSTEM, action="note", at=clock.now())
        writer.flush()
        writer.rollback()
    assert seal_audit_heads(session, key=KEY, now=clock.now()) is None
    assert session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) is not None


def test_on_sqlite_a_seal_pass_holds_the_write_lock_from_its_first_read(db: Database, session: Session,
                                                                       runtime: Runtime, clock: FixedClock) -> None:
    if db.backend != "sqlite":
        pytest.skip("PostgreSQL waits for the writers instead (above)")
    accept(session, runtime)
    session.scalar(select(Case.id))  # the caller left a read transaction open
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert seal_audit_heads(session, key=KEY, now=clock.now()) is not None
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    first_read = next(i for i, s in enumerate(statements) if s.lstrip().upper().startswith("SELECT"))
    assert "BEGIN IMMEDIATE" in statements[:first_read]
