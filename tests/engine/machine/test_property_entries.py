"""Per-entry chains in the machine the property tests drive (tests/engine/machine/test_properties.py):
a regression written out, with the same history checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.machine.actions import claim_step, complete_step, reject_step
from engine.machine.states import StepState
from engine.spec.models import StepSpec, TimeLimit
from engine.time.calendar import TimeUnit, WorkingCalendar
from tests.engine.machine.test_properties import World, accept, answers_for, check_history, make_bundle, open_run, work_off
from tests.engine.sample_people import officer


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(sqlite_template, tmp_path_factory.mktemp("entries"), WorkingCalendar.default())


def test_a_refused_entry_cancels_its_own_chain_only(world: World) -> None:
    """Two steps over the heirs, the second after the first: refusing heir 0's first step cancels heir
    0's second step only; heir 1's is released by heir 1's first step alone (the history checks hold)."""
    first = StepSpec(id="s0", item="11-JHDJ", for_each="heirs", time_limit=TimeLimit(amount=5, unit=TimeUnit.WORKING_DAYS))
    second = StepSpec(id="s1", item="09-HYZK", for_each="heirs", depends_on=("s0",),
                      time_limit=TimeLimit(amount=5, unit=TimeUnit.WORKING_DAYS))
    with open_run(world, make_bundle([first, second], heirs=True)) as run:
        assert accept(run, answers_for(run.bundle, (True, True), 2))
        s0_0, s0_1 = (s for s in run.read().steps if s.key == "s0")
        desk, actor = run.desks[0], officer(s0_0.department)
        claim_step(desk, run.runtime, step_id=s0_0.id, actor=actor)
        reject_step(desk, run.runtime, step_id=s0_0.id, actor=actor, reason="不符合条件")
        run.keep()
        assert {(s.key, s.instance): s.state for s in run.read().steps if s.key == "s1"} == {
            ("s1", 0): StepState.CANCELLED, ("s1", 1): StepState.PENDING}
        claim_step(desk, run.runtime, step_id=s0_1.id, actor=actor)
        complete_step(desk, run.runtime, step_id=s0_1.id, actor=actor)
        run.keep()
        assert [s.state for s in run.read().steps if s.key == "s1"] == [StepState.CANCELLED, StepState.READY]
        work_off(run)
        seen = check_history(run)
        assert "a per-entry chain was released" in seen and "case partially_completed" in seen
