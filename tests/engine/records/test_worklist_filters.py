"""The worklist's filters (issue 15, compare Camunda Tasklist): mine, nobody's, a colleague's; a
search by receipt number or applicant name; and the marker when 补正 came back."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from engine.errors import DomainError
from engine.machine.actions import claim_step, hand_in_supplement, request_supplement, start_step
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import Actor, Role
from engine.records.worklists import MINE, UNASSIGNED, department_worklist
from engine.runtime import Runtime
from tests.engine.sample_people import CLERK, GROOM, another_couple, marriage_answers

ALICE = Actor(id="officer-alice", role=Role.OFFICER, department="11", region="430102")
BOB = Actor(id="officer-bob", role=Role.OFFICER, department="11", region="430102")


def _cases(session: Session, runtime: Runtime, names: list[str]) -> list[str]:
    """One marriage case per applicant name: the ids of their first (ready) steps."""
    steps = []
    for name in names:
        case = accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", name),
                           answers=marriage_answers(**another_couple()), actor=CLERK)
        steps.append(case.steps[0].id)
    return steps


def _ids(session: Session, runtime: Runtime, actor: Actor, **filters: str) -> set[str]:
    page = department_worklist(session, actor=actor, department="11", today=runtime.today(), limit=200, **filters)
    return {i.step_id for i in page.items}


def test_mine_nobodys_and_a_colleagues(session: Session, runtime: Runtime) -> None:
    first, second, third = _cases(session, runtime, ["张一", "李二", "王三"])
    claim_step(session, runtime, step_id=first, actor=ALICE)
    claim_step(session, runtime, step_id=second, actor=BOB)
    assert _ids(session, runtime, ALICE, assigned=MINE) == {first}
    assert _ids(session, runtime, BOB, assigned=MINE) == {second}
    assert third in _ids(session, runtime, ALICE, assigned=UNASSIGNED)
    assert not {first, second} & _ids(session, runtime, ALICE, assigned=UNASSIGNED)
    assert _ids(session, runtime, ALICE, assigned=BOB.id) == {second}
    page = department_worklist(session, actor=ALICE, department="11", today=runtime.today(), assigned=MINE)
    assert [i.assigned_to for i in page.items] == [ALICE.id]


def test_search_by_receipt_from_its_start_or_by_name(session: Session, runtime: Runtime) -> None:
    first, second = _cases(session, runtime, ["欧阳明月", "司马光"])
    page = department_worklist(session, actor=ALICE, department="11", today=runtime.today(), limit=200)
    receipt = next(i.receipt_no for i in page.items if i.step_id == first)
    assert _ids(session, runtime, ALICE, search=receipt) == {first}
    assert _ids(session, runtime, ALICE, search="明月") == {first}
    assert _ids(session, runtime, ALICE, search="司马") == {second}
    assert _ids(session, runtime, ALICE, search="%") == set()  # a wildcard is a character, not a pattern
    with pytest.raises(DomainError):
        _ids(session, runtime, ALICE, search="x" * 65)


def test_a_step_whose_supplement_came_back_is_marked(session: Session, runtime: Runtime) -> None:
    (step_id,) = _cases(session, runtime, ["赵六"])
    claim_step(session, runtime, step_id=step_id, actor=ALICE)
    start_step(session, runtime, step_id=step_id, actor=ALICE)
    request_supplement(session, runtime, step_id=step_id, actor=ALICE, materials=["合影照片"])
    marked = lambda: next(i.handed_in for i in department_worklist(  # noqa: E731
        session, actor=ALICE, department="11", today=runtime.today(), limit=200).items if i.step_id == step_id)
    assert marked() is False
    hand_in_supplement(session, runtime, step_id=step_id, actor=CLERK, material="合影照片", paper=True)
    assert marked() is True
