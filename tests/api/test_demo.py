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
    # the eleven, and the governance part's three filings (land use, 告知承诺)
    assert session.scalar(select(func.count()).select_from(Case)) == 14
    assert verify_audit(session).ok
    # progress is printed as it goes, and intake prefilled from the seeded licences
    assert lines[0].startswith("seeded 18 e-licences")
    assert any("[marriage] accepted" in line and "3 fields prefilled" in line for line in lines)
    marriage = session.scalars(select(Case).where(Case.bundle_id == "marriage")).one()
    assert marriage.answers["groom_name"] == "测试甲"  # from the groom's ID card, not typed
    # results became licences: both spouses now hold a marriage certificate
    certificates = session.scalars(select(Licence).where(Licence.type_code == "L2000025")).all()
    assert {c.holder_id for c in certificates} == {synthetic_person(1), synthetic_person(2)}


def test_demo_seeding_is_idempotent(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    from api.demo import seed_licences

    data = load_demo_data()
    assert seed_licences(session, runtime, data, report=lambda _: None) == 18
    assert seed_licences(session, runtime, data, report=lambda _: None) == 0


def test_synthetic_identifiers_are_valid_and_fictitious() -> None:
    data = load_demo_data()
    for n in data.people:
        assert validate_id_number(synthetic_person(n)) == synthetic_person(n)
    for n in data.companies:
        assert validate_credit_code(synthetic_company(n)) == synthetic_company(n)
    assert all(p["name"].startswith("测试") for p in data.people.values())
    assert all(c["name"].startswith("示例") for c in data.companies.values())


def test_the_demo_exercises_every_governance_rule(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    """好差评 and a rectification, 告知承诺 checked true and found false (revoked, marked, the next
    filing reviewed, its red card explained and accepted), a 12345 complaint answered."""
    from api.demo_governance import run_governance
    from engine.db.models import Card, CreditMark, Followup, Rating

    clock.set_local(date(2026, 9, 1))
    lines: list[str] = []
    results = run_demo(session, runtime, clock, report=lines.append, governance=False)
    done = run_governance(session, runtime, clock, data=load_demo_data(), results=results, report=lines.append)
    assert (done.ratings, done.rectified, done.post_checks_passed, done.post_checks_failed, done.reviewed_instead,
            done.explanations_accepted, done.complaints_answered) == (2, 1, 1, 1, True, 1, 1)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Rating)) == 2
    outcomes = {(f.kind, f.outcome) for f in session.scalars(select(Followup))}
    assert outcomes == {("rectification", "rectified"), ("post_check", "passed"), ("post_check", "failed"),
                        ("complaint", "answered")}
    [mark] = session.scalars(select(CreditMark)).all()
    assert mark.holder_id == synthetic_company(2) and mark.severity == "serious"
    assert session.scalars(select(Card.explanation_state).where(Card.colour == "red",
                                                                 Card.step_id.is_not(None))).all() == ["accepted"]
    assert all(c.state == "completed" for c in session.scalars(select(Case)))
    assert any("post-check" in line and "failed" in line for line in lines)
    assert verify_audit(session).ok
