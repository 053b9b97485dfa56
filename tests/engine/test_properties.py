"""Property-based tests: random acyclic bundles driven by random orders of actions.

Hypothesis builds bundles of 2-8 steps (random ``depends_on`` among earlier steps, sometimes a
``depends_on_any`` group, ``when`` conditions on boolean fields, human, commitment and timer
steps, an occasional ``for_each`` step, random limits and ``on_step_rejected``), accepts a
case, then applies a random sequence of claim / start / complete / reject /
request_supplement / receive_supplement actions on random steps, with stale versions, wrong
departments, withdrawals, clock jumps and timer sweeps mixed in. The actions are spread over
two long-lived sessions (two desks working the same case, one after the other), because real
workers keep sessions across transactions. Finally every remaining step is worked off until
the case is closed.

Checked, after every action: a refused action (any DomainError) changes nothing; every
step closed ⇒ the case is closed; a closed case has no open step; an open case always has a
step someone can act on (never stuck with only pending steps); the step and case clocks agree
with the states. Checked at the end, from the audit log: each step is released at most once
(a join exactly once) and only after the ``step.complete``/``step.skip`` events of all its
``depends_on`` and, for ``depends_on_any``, of one alternative (or of every alternative when
all were skipped); at most one alternative of a group is done; state columns and versions
equal what the events say; nothing happens after the case's closing event; the case's final
state agrees with its steps; ``verify_audit`` passes.

These tests run on SQLite only (a copy of the migrated template per example): they explore
orders of actions, not database behaviour, and PostgreSQL's row locks are exercised by
``test_concurrency.py`` instead.
"""

from __future__ import annotations

import shutil
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from engine.audit import case_history, verify_audit
from engine.calendar import TimeUnit, WorkingCalendar
from engine.clock import FixedClock, local_date
from engine.db.models import AuditEvent, Case, Step
from engine.db.session import make_engine, make_sessionmaker
from engine.errors import DomainError
from engine.intake import Applicant, accept_case
from engine.runtime import Runtime, publish_bundles
from engine.spec.conditions import Comparison
from engine.spec.loader import BundleRegistry, check_bundle, load_registry
from engine.spec.models import (
    BundleSpec,
    FieldSpec,
    FieldType,
    FieldUse,
    MinimumWait,
    Names,
    OnStepRejected,
    StepKind,
    StepSpec,
    TimeLimit,
)
from engine.states import (
    CASE_TERMINAL,
    STEP_ACTIVE,
    STEP_FAILED,
    STEP_OPEN,
    STEP_SATISFIED,
    STEP_TERMINAL,
    Actor,
    CaseState,
    StepState,
)
from engine.work import (
    claim_step,
    complete_step,
    receive_supplement,
    reject_step,
    release_due_timers,
    request_supplement,
    start_step,
    withdraw_case,
)
from tests.engine.people import CHILD, CLERK, GROOM, HEIR_2, applicant, officer

BUNDLE_ID = "prop_bundle"
FLAGS = ("prop_flag_a", "prop_flag_b")
FLAG_FIELDS = tuple(
    FieldSpec(id=name, label=Names(zh=f"测试开关{i + 1}", en=f"Test flag {i + 1}"), type=FieldType.BOOLEAN)
    for i, name in enumerate(FLAGS)
)
MATERIALS = ["身份证复印件"]
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Beijing
CLOSING_EVENTS = {"case.complete", "case.partially_complete", "case.reject", "case.withdraw"}


# --- bundles ------------------------------------------------------------------------------


@cache
def base_registry() -> BundleRegistry:
    return load_registry()


def registry_for(bundle: BundleSpec) -> BundleRegistry:
    base = base_registry()
    fields = {**base.fields, **{f.id: f for f in FLAG_FIELDS}}
    return BundleRegistry(catalog=base.catalog, fields=fields, bundles={bundle.id: bundle})


def make_bundle(
    steps: list[StepSpec],
    *,
    on_step_rejected: OnStepRejected = OnStepRejected.CONTINUE,
    time_limit: TimeLimit | None = None,
    heirs: bool = False,
) -> BundleSpec:
    uses = [FieldUse(field=name) for name in FLAGS]
    if heirs:
        uses.append(FieldUse(field="heirs", required=False))
    bundle = BundleSpec(
        id=BUNDLE_ID, version=1, name=Names(zh="随机组合事项", en="Random bundle"), applicant_kind="person",
        time_limit=time_limit or TimeLimit(amount=20, unit=TimeUnit.WORKING_DAYS),
        on_step_rejected=on_step_rejected, fields=tuple(uses), steps=tuple(steps),
    )
    registry = registry_for(bundle)
    problems = check_bundle(bundle, registry.catalog, registry.fields)
    assert not problems, problems
    return bundle


def flag_is(name: str, value: bool) -> Comparison:
    return Comparison.model_validate({"field": name, "eq": value})


CONDITIONS = [flag_is(name, value) for name in FLAGS for value in (True, False)]


@st.composite
def bundles(draw: st.DrawFn) -> BundleSpec:
    items = sorted(base_registry().catalog.items)
    n = draw(st.integers(min_value=2, max_value=8), label="steps")
    heirs_step = draw(st.sampled_from([None, None, None, *range(n)]), label="for_each step")
    steps: list[StepSpec] = []
    for i in range(n):
        sid = f"s{i}"
        earlier = [f"s{j}" for j in range(i)]
        depends_on: list[str] = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
        depends_on_any: list[str] = []
        # Alternatives among earlier steps not already required (and not for_each steps: what
        # "one alternative done" means for a step with several instances is not specified).
        rest = [e for e in earlier if e not in depends_on and e != f"s{heirs_step}"]
        if len(rest) >= 2 and draw(st.integers(min_value=0, max_value=2), label=f"{sid} any?") == 0:
            depends_on_any = draw(st.lists(st.sampled_from(rest), unique=True, min_size=2, max_size=3))
        when = draw(st.one_of(st.none(), st.none(), st.sampled_from(CONDITIONS)), label=f"{sid} when")
        kind = draw(st.sampled_from([StepKind.HUMAN, StepKind.HUMAN, StepKind.COMMITMENT, StepKind.TIMER]))
        unit = draw(st.sampled_from(list(TimeUnit)))
        steps.append(
            StepSpec(
                id=sid,
                item=draw(st.sampled_from(items)),
                kind=kind,
                depends_on=tuple(depends_on),
                depends_on_any=tuple(depends_on_any),
                when=when,
                time_limit=TimeLimit(amount=draw(st.integers(min_value=1, max_value=20)), unit=unit),
                min_wait=MinimumWait(calendar_days=draw(st.integers(1, 10))) if kind is StepKind.TIMER else None,
                excluded_from_limit=draw(st.integers(min_value=0, max_value=4)) == 0,
                for_each="heirs" if heirs_step == i else None,
            )
        )
    return make_bundle(
        steps,
        on_step_rejected=draw(st.sampled_from(list(OnStepRejected))),
        time_limit=TimeLimit(amount=draw(st.integers(1, 30)), unit=draw(st.sampled_from(list(TimeUnit)))),
        heirs=heirs_step is not None,
    )


def answers_for(bundle: BundleSpec, flags: tuple[bool, bool], heirs: int) -> dict[str, Any]:
    answers: dict[str, Any] = dict(zip(FLAGS, flags))
    if any(s.for_each for s in bundle.steps) and heirs:
        people = [("测试丙", CHILD), ("测试戊", HEIR_2)][:heirs]
        answers["heirs"] = [{"heir_name": n, "heir_id_number": i, "heir_bank": "示例银行"} for n, i in people]
    return answers


# --- a running case -------------------------------------------------------------------------


@dataclass(frozen=True)
class StepRow:
    id: str
    key: str
    instance: int
    state: StepState
    version: int
    department: str
    kind: str
    not_before: date | None
    due_on: date | None
    clock_start_on: date | None
    clock_stopped_on: date | None
    supplement: tuple[str, ...]


@dataclass(frozen=True)
class CaseRow:
    state: CaseState
    version: int
    audit_seq: int
    audit_head: str
    due_on: date
    paused_days: int
    clock_stopped_on: date | None
    closed: bool


@dataclass(frozen=True)
class Snapshot:
    case: CaseRow
    steps: tuple[StepRow, ...]
    events: int

    @property
    def open_steps(self) -> list[StepRow]:
        return [s for s in self.steps if s.state in STEP_OPEN]

    @property
    def actionable(self) -> list[StepRow]:
        return [s for s in self.steps if s.state in STEP_ACTIVE]


@dataclass
class Run:
    """One case of one bundle in a private SQLite file, worked through two sessions."""

    bundle: BundleSpec
    engine: Engine
    sessions: sessionmaker[Session]
    runtime: Runtime
    clock: FixedClock
    desks: list[Session] = field(default_factory=list)
    case_id: str = ""
    log: list[str] = field(default_factory=list)

    def read(self) -> Snapshot:
        """The database's truth, through a fresh session (never a desk's identity map)."""
        with self.sessions() as s:
            case = s.get(Case, self.case_id)
            assert case is not None
            steps = s.scalars(select(Step).where(Step.case_id == self.case_id).order_by(Step.position)).all()
            events = len(case_history(s, case_id=self.case_id))
            return Snapshot(
                CaseRow(CaseState(case.state), case.version, case.audit_seq, case.audit_head, case.due_on,
                        case.paused_days, case.clock_stopped_on, case.closed_at is not None),
                tuple(
                    StepRow(st_.id, st_.step_key, st_.instance, StepState(st_.state), st_.version, st_.department,
                            st_.kind, st_.not_before, st_.due_on, st_.clock_start_on, st_.clock_stopped_on,
                            tuple(st_.supplement.get("requested", [])))
                    for st_ in steps
                ),
                events,
            )

    def attempt(self, what: str, action: Callable[[], object]) -> bool:
        """Run one service call; a refusal must leave the database exactly as it was."""
        before = self.read()
        try:
            action()
        except DomainError as exc:
            after = self.read()
            self.log.append(f"{what} -> refused {type(exc).__name__}: {exc}")
            assert after == before, f"refused action {what} changed the database"
            return False
        self.log.append(f"{what} -> ok")
        return True


@dataclass
class World:
    template: Path
    folder: Path
    calendar: WorkingCalendar


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(sqlite_template, tmp_path_factory.mktemp("properties"), WorkingCalendar.default())

