"""The demo: every bundle (the ten themes and 依申请公开) from intake to completion, on every backend."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.records.audit import verify_audit
from engine.time.clock import FixedClock
from engine.db.models import Case, Licence
from api.demo import load_demo_data, run_demo, synthetic_company, synthetic_person
from engine.people.identifiers import validate_credit_code, validate_id_number
from engine.runtime import Runtime


def test_demo_runs_every_bundle_to_completion(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    clock.set_local(date(2026, 9, 1))
    lines: list[str] = []
    results = run_demo(session, runtime, clock, report=lines.append)
    assert {r.bundle_id for r in results} == set(runtime.registry.bundles)  # all eleven
    assert len(results) == 11
    for result in results:
        assert result.state == "completed", result
        assert result.skipped == result.expected_skipped, result
    assert session.scalar(select(func.count()).select_from(Case)) == 11
    assert verify_audit(session).ok
    # progress is printed as it goes, and intake prefilled from the seeded licences
    assert lines[0].startswith("seeded 17 e-licences")
    assert any("[marriage] accepted" in line and "3 fields prefilled" in line for line in lines)
    marriage = session.scalars(select(Case).where(Case.bundle_id == "marriage")).one()
    assert marriage.answers["groom_name"] == "测试甲"  # from the groom's ID card, not typed
    # results became licences: both spouses now hold a marriage certificate
    certificates = session.scalars(select(Licence).where(Licence.type_code == "L2000025")).all()
    assert {c.holder_id for c in certificates} == {synthetic_person(1), synthetic_person(2)}


def test_demo_seeding_is_idempotent(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    from api.demo import seed_licences

    data = load_demo_data()
    assert seed_licences(session, runtime, data, report=lambda _: None) == 17
    assert seed_licences(session, runtime, data, report=lambda _: None) == 0


def test_synthetic_identifiers_are_valid_and_fictitious() -> None:
    data = load_demo_data()
    for n in data.people:
        assert validate_id_number(synthetic_person(n)) == synthetic_person(n)
    for n in data.companies:
        assert validate_credit_code(synthetic_company(n)) == synthetic_company(n)
    assert all(p["name"].startswith("测试") for p in data.people.values())
    assert all(c["name"].startswith("示例") for c in data.companies.values())
