"""Synthetic applicants with valid-checksum identifiers (names are clearly fictitious)."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Protocol

from engine.machine.states import Actor, Role
from engine.people.validators import make_id_number

GROOM = make_id_number("430102", date(1994, 5, 17), 11)  # odd sequence: male
BRIDE = make_id_number("430104", date(1996, 8, 3), 22)  # even sequence: female
DECEASED = make_id_number("430103", date(1941, 2, 9), 31)
CHILD = make_id_number("430105", date(1968, 11, 20), 44)
HEIR_2 = make_id_number("430111", date(1972, 4, 1), 55)

CLERK = Actor(id="clerk-1", role=Role.CLERK, region="430102")

_couples = itertools.count(1)


def another_couple() -> dict[str, object]:
    """Answers naming a couple no earlier call named: marrying registers both spouses' 结婚证, after
    which the same couple is no longer eligible to marry (the guide's 双方无配偶)."""
    n = next(_couples)
    return {"groom_id_number": make_id_number("430102", date(1990, 1, 1 + n % 28), 101 + 2 * (n // 28)),
            "bride_id_number": make_id_number("430104", date(1992, 2, 1 + n % 28), 100 + 2 * (n // 28))}


def officer(department: str, region: str = "430102") -> Actor:
    return Actor(id=f"officer-{department}", role=Role.OFFICER, department=department, region=region)


class Routed(Protocol):
    """A step as routing left it (a row, or a test's snapshot of one)."""

    @property
    def department(self) -> str: ...

    @property
    def decided_in(self) -> str | None: ...


def decider(step: Routed) -> Actor:
    """:func:`officer` of the step's department at the office release routed it to (where it is
    decided: a city-level department's step in 430100, a township's in its township), who may
    decide it; a step not routed yet: 430102's."""
    return officer(step.department, region=step.decided_in or "430102")


def applicant(subject: str) -> Actor:
    return Actor(id=f"applicant-{subject[-4:]}", role=Role.APPLICANT, subject=subject)


def marriage_answers(**overrides: object) -> dict[str, object]:
    answers: dict[str, object] = {
        "groom_name": "测试甲",
        "groom_id_number": GROOM,
        "bride_name": "测试乙",
        "bride_id_number": BRIDE,
        "applicant_phone": "13800000000",
        "previously_married": False,
        "both_hunan_household": True,
        "move_household": True,
        "receiving_household_type": "family",
        "register_birth_plan": True,
    }
    answers.update(overrides)
    return answers


def post_death_answers(**overrides: object) -> dict[str, object]:
    answers: dict[str, object] = {
        "applicant_name": "测试丙",
        "applicant_phone": "13900000000",
        "relationship": "child",
        "deceased_name": "测试丁",
        "deceased_id_number": DECEASED,
        "death_date": "2026-02-26",
        "death_kind": "natural",
        "was_retired_employee": True,
        "had_medical_insurance": True,
        "had_driving_licence": True,
        "had_housing_fund": True,
        "check_will": True,
        "check_shareholdings": False,
        "heirs": [
            {"heir_name": "测试丙", "heir_id_number": CHILD, "heir_bank": "示例银行长沙分行"},
            {"heir_name": "测试戊", "heir_id_number": HEIR_2, "heir_bank": "示例银行长沙分行"},
        ],
    }
    answers.update(overrides)
    return answers
