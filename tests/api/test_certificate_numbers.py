"""Issue 7.3: a certificate number used before is a 409 naming the field, never a 500 (and the
log of the attempt carries no personal data)."""

from __future__ import annotations

import logging

import pytest

from tests.api.conftest import Api, problem
from tests.engine.sample_people import BRIDE, GROOM, another_couple


def _complete(api: Api, number: str, **answers: object) -> object:
    """Marry a couple and complete the registration with ``number``. A second case needs another
    couple: the first couple holds 结婚证 now, and the guide's 双方无配偶 refuses them."""
    case = api.case(**answers)
    step = api.advance(api.step(case.id), "in_progress")
    return api.post(f"/steps/{step.id}/complete", "officer", {"version": step.version, "outputs": {"number": number}})


def test_a_used_certificate_number_is_a_conflict_naming_the_field(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    first = _complete(api, "J430102-2026-0001")
    assert first.status_code == 200, first.text  # type: ignore[attr-defined]
    second = another_couple()
    again = problem(_complete(api, "J430102-2026-0001", **second), 409)
    assert again["field"] == "outputs.number"
    assert again["type"] == "/problems/conflict"
    assert "J430102-2026-0001" in again["errors"][0]["message_en"]
    text = caplog.text
    for secret in (GROOM, BRIDE, *map(str, second.values()), "测试甲", "测试乙"):
        assert secret not in text


def test_the_step_stays_open_after_a_conflict(api: Api) -> None:
    _complete(api, "DUP-1")
    case = api.case(**another_couple())
    step = api.advance(api.step(case.id), "in_progress")
    problem(api.post(f"/steps/{step.id}/complete", "officer", {"version": step.version, "outputs": {"number": "DUP-1"}}),
            409)
    assert api.step(case.id).state == "in_progress"
    fixed = api.post(f"/steps/{step.id}/complete", "officer", {"version": step.version, "outputs": {"number": "DUP-2"}})
    assert fixed.status_code == 200, fixed.text
