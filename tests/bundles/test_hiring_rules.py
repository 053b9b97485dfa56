"""The shipped hiring bundle refuses an employee under 16 (劳动法 §15: 禁止用人单位招用未满十六周岁的
未成年人), checked on each entry of its new_employees list: POST /cases answers 422 naming the
entry, and accepts an employee who turns 16 on the acceptance date. Every backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from engine.db.models import Case
from engine.machine.states import Role
from engine.people.tokens import issue_token
from engine.runtime import Runtime, publish_bundles
from engine.spec.loader import BundleRegistry
from tests.api.conftest import problem
from tests.conftest import Database
from tests.engine.spec.test_entry_requirements import ADULT, ADULT_2, COMPANY, MINOR, SIXTEEN, employees


@pytest.fixture
def clerk(db: Database, runtime: Runtime) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The API with the shipped bundles and a clerk's headers (region 430102)."""
    with db.session() as session:
        publish_bundles(session, runtime)
        token = issue_token(session, role=Role.CLERK.value, region="430102", label="clerk", now=runtime.clock.now())
    with TestClient(create_app(sessions=db.sessions, runtime=runtime)) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def hiring(*people: tuple[str, str]) -> dict[str, Any]:
    return {"bundle_id": "hiring", "applicant": {"id": COMPANY, "kind": "enterprise", "name": "示例科技有限公司"},
            "answers": employees(*people), "region": "430102"}


def test_the_rule_is_on_each_new_employee_in_a_new_version(registry: BundleRegistry) -> None:
    bundle = registry.get("hiring")
    rule = next(r for r in bundle.requires if r.id == "employee_age")
    assert rule.for_each == "new_employees" and rule.on_fail.value == "refuse"
    assert bundle.version == 3  # version 2 was published without it


def test_a_fifteen_year_old_employee_is_refused_naming_the_entry(db: Database,
                                                                 clerk: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = clerk
    response = client.post("/cases", json=hiring(("测试甲", ADULT), ("测试乙", MINOR), ("测试丙", ADULT_2)),
                           headers=headers)
    body = problem(response, 422)
    assert body["errors"] == [{
        "field": "new_employees[1].employee_id_number", "code": "eligibility.employee_age",
        "message_zh": "新录用员工须年满16周岁（第2项）", "message_en": "every new employee must be at least 16 (entry 2)",
    }]
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_an_employee_who_turns_sixteen_that_day_is_accepted(db: Database,
                                                             clerk: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = clerk
    response = client.post("/cases", json=hiring(("测试甲", ADULT), ("测试乙", SIXTEEN)), headers=headers)
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["bundle_id"] == "hiring" and case["bundle_version"] == 3
    assert sorted({s["instance_label"] for s in case["steps"]}) == ["测试乙", "测试甲"]
