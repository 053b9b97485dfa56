"""The loader's checks of the time keys (min_wait units, 补正 notices and windows, declared timer
events, §42 maximum extensions): each problem is bilingual and names the file, line and step."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.spec.models import OnNoObjection, OnObjection
from engine.time.calendar import TimeUnit
from tests.engine.spec.test_loader import FIRST, bundle, expect_problem, load, plus, problems_of, write

TIMER = """\
- id: publicity
  item: 23-SYDJ
  kind: timer
  time_limit: {working_days: 10}
"""


def test_the_time_keys_load(bundles: Path) -> None:
    text = bundle(
        plus(FIRST, "supplement_notices: 2\nsupplement_window: {working_days: 5}\nmax_extension: {working_days: 5}\n"),
        plus(TIMER, "min_wait: {working_days: 10}\non_no_objection: end_wait\non_objection: officer_decides\n"),
    )
    write(bundles, "sample.yaml", text)
    spec = load(bundles).get("sample")
    first, publicity = spec.steps
    assert (first.supplement_notices, first.supplement_window.amount if first.supplement_window else None) == (2, 5)
    assert publicity.min_wait is not None
    assert (publicity.min_wait.amount, publicity.min_wait.unit) == (10, TimeUnit.WORKING_DAYS)
    assert (publicity.on_no_objection, publicity.on_objection) == (OnNoObjection.END_WAIT, OnObjection.OFFICER_DECIDES)


def test_a_min_wait_has_exactly_one_unit(bundles: Path) -> None:
    text = bundle(plus(TIMER, "min_wait: {working_days: 5, calendar_days: 7}\n"))
    problem = expect_problem(bundles, text, "minimum wait", "min_wait:", "publicity")
    assert "最短等待期" in problem.problem


def test_a_min_wait_longer_than_the_limit(bundles: Path) -> None:
    text = bundle(plus(TIMER, "min_wait: {working_days: 11}\n"))
    problem = expect_problem(bundles, text, "outlasts", "min_wait:", "publicity")
    assert problem.problem == ("min_wait (11 working_days) outlasts the step's time_limit (10) / "
                               "最短等待期超过了本环节办理时限")


@pytest.mark.parametrize("key", ["on_no_objection: end_wait", "on_objection: officer_decides"])
def test_declared_wait_events_are_for_timers(bundles: Path, key: str) -> None:
    text = bundle(plus(FIRST, key + "\n"))
    problem = expect_problem(bundles, text, "timer steps", key, "first")
    assert "仅适用于等待期" in problem.problem


def test_an_unknown_wait_event_effect(bundles: Path) -> None:
    text = bundle(plus(TIMER, "min_wait: {working_days: 5}\non_objection: ignore\n"))
    expect_problem(bundles, text, "on_objection", "on_objection: ignore", "publicity")


@pytest.mark.parametrize("key", ["supplement_window: {working_days: 5}", "supplement_notices: 2",
                                 "max_extension: {working_days: 5}"])
def test_supplement_and_extension_keys_are_for_desk_steps(bundles: Path, key: str) -> None:
    text = bundle(plus(TIMER, "min_wait: {working_days: 5}\n" + key + "\n"))
    problem = expect_problem(bundles, text, key.split(":")[0], key.split(":")[0] + ":", "publicity")
    assert "仅人工环节" in problem.problem or "非人工环节" in problem.problem


def test_a_max_extension_in_another_unit(bundles: Path) -> None:
    text = bundle(plus(FIRST, "max_extension: {calendar_days: 5}\n"))
    problem = expect_problem(bundles, text, "max_extension", "max_extension:", "first")
    assert "计时单位" in problem.problem


def test_a_bundle_max_extension_no_step_can_use(bundles: Path) -> None:
    text = bundle(FIRST).replace("time_limit: {working_days: 10}\n", "time_limit: {working_days: 10}\n"
                                 "max_extension: {calendar_days: 5}\n", 1)
    problem = expect_problem(bundles, text, "no desk step", "max_extension:", None)
    assert "计时单位" in problem.problem


def test_zero_notices_is_refused(bundles: Path) -> None:
    write(bundles, "sample.yaml", bundle(plus(FIRST, "supplement_notices: 0\n")))
    assert any("supplement_notices" in p.problem for p in problems_of(bundles))


SECOND_FROM = """\
- id: second
  item: 09-HYZK
  time_limit: {working_days: 5}
  clock_from: {step: %s, event: %s}
"""


def test_clock_from_loads(bundles: Path) -> None:
    write(bundles, "sample.yaml", bundle(FIRST, SECOND_FROM.replace("  clock_from", "  depends_on: [first]\n  clock_from")
                                         % ("first", "done")))
    origin = load(bundles).get("sample").step("second").clock_from
    assert origin is not None and (origin.step, origin.event.value) == ("first", "done")


@pytest.mark.parametrize(("target", "event", "fragment", "zh"), [
    ("nowhere", "released", "unknown step 'nowhere'", "不存在"),
    ("second", "released", "names the step itself", "不能指向本环节"),
    ("first", "done", "does not wait for 'first'", "无法从其办结之日起算"),
])
def test_clock_from_problems(bundles: Path, target: str, event: str, fragment: str, zh: str) -> None:
    text = bundle(FIRST, SECOND_FROM % (target, event))
    problem = expect_problem(bundles, text, fragment, "clock_from:", "second")
    assert zh in problem.problem


def test_clock_from_an_unknown_event(bundles: Path) -> None:
    text = bundle(FIRST, SECOND_FROM % ("first", "started"))
    expect_problem(bundles, text, "clock_from.event", "clock_from:", "second")
