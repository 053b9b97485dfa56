"""The API over a real database (every backend), with a token for every kind of caller.

``Api.case()`` accepts a marriage case through the engine (region 430102, applicant GROOM) and
``Api.advance()`` moves one of its steps through the engine, so tests reach any state quickly
and then exercise exactly one endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.app import create_app
from engine.time.clock import FixedClock
from engine.db.models import ApiToken, Case, Step
from engine.machine.intake import Applicant, accept_case
from engine.runtime import Runtime, publish_bundles
from engine.machine.states import Actor, Role
from engine.people.tokens import issue_token
from engine.machine.actions import claim_step, request_supplement, start_step
from tests.conftest import Database
from tests.engine.sample_people import BRIDE, CHILD, CLERK, GROOM, marriage_answers, officer

# name: (role, subject, department, region)
CALLERS: dict[str, tuple[Role, str | None, str | None, str | None]] = {
    "applicant_own": (Role.APPLICANT, GROOM, None, None),
    "applicant_other": (Role.APPLICANT, CHILD, None, None),
    "clerk": (Role.CLERK, None, None, "430102"),
    "clerk_other": (Role.CLERK, None, None, "430200"),
    "officer": (Role.OFFICER, None, "11", "430102"),  # 民政: marriage registration
    "officer_other": (Role.OFFICER, None, "30", "430102"),  # 税务: no step in a marriage case
    "officer_09": (Role.OFFICER, None, "09", "430102"),  # 公安: the household steps
    "officer_far": (Role.OFFICER, None, "11", "430200"),  # right department, other city
    "supervisor": (Role.SUPERVISOR, None, None, "430100"),
    "supervisor_other": (Role.SUPERVISOR, None, None, "430200"),
    "admin": (Role.ADMIN, None, None, None),
}


@dataclass
class Api:
    client: TestClient
    db: Database
    runtime: Runtime
    clock: FixedClock
    tokens: dict[str, str] = field(default_factory=dict)
    actor_ids: dict[str, str] = field(default_factory=dict)
    """The actor id (the token's own id) the audit and access logs record for each caller."""

    def auth(self, who: str | None) -> dict[str, str]:
        """Headers for a caller of :data:`CALLERS` (None: anonymous)."""
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, url: str, who: str | None, **kwargs: Any) -> Any:
        return self.client.get(url, headers={**self.auth(who), **kwargs.pop("headers", {})}, **kwargs)

    def post(self, url: str, who: str | None, json: Any = None, **kwargs: Any) -> Any:
        return self.client.post(url, json=json, headers={**self.auth(who), **kwargs.pop("headers", {})}, **kwargs)

    def session(self) -> Session:
        return self.db.session()

    def case(self, **answers: Any) -> Case:
        """A marriage case accepted by a clerk of 430102 for GROOM."""
        with self.session() as session:
            return accept_case(session, self.runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                               answers=marriage_answers(**answers), actor=CLERK)

    def step(self, case_id: str, key: str = "marriage_registration") -> Step:
        with self.session() as session:
            return session.scalars(select(Step).where(Step.case_id == case_id, Step.step_key == key)).one()

    def step_version(self, step_id: str) -> int:
        with self.session() as session:
            return session.get_one(Step, step_id).version

    def officer_for(self, department: str) -> Actor:
        """The calling officer of ``department`` in 430102 (``officer``, ``officer_09``) as the engine
        knows them, so the step they claim is theirs to work through the API; else a test officer."""
        for who, (role, _subject, code, region) in CALLERS.items():
            if role is Role.OFFICER and code == department and region == "430102" and who in self.actor_ids:
                return Actor(id=self.actor_ids[who], role=role, department=code, region=region, label=who)
        return officer(department)

    def advance(self, step: Step, to: str) -> Step:
        """Move a ready step to ``assigned``, ``in_progress`` or ``supplement_requested``, claimed by
        :meth:`officer_for` its department (only the assignee may go on working a claimed step)."""
        actor = self.officer_for(step.department)
        with self.session() as session:
            step = claim_step(session, self.runtime, step_id=step.id, actor=actor, expected_version=step.version)
            if to != "assigned":
                step = start_step(session, self.runtime, step_id=step.id, actor=actor, expected_version=step.version)
            if to == "supplement_requested":
                step = request_supplement(session, self.runtime, step_id=step.id, actor=actor, materials=["合影照片"],
                                          expected_version=step.version)
            return step


def actor_of(who: str) -> Actor:
    role, subject, department, region = CALLERS[who]
    return Actor(id=who, role=role, subject=subject, department=department, region=region)


@pytest.fixture
def api(db: Database, runtime: Runtime, clock: FixedClock) -> Iterator[Api]:
    with db.session() as session:
        publish_bundles(session, runtime)
        tokens = {
            who: issue_token(session, role=role, subject=subject, department=department, region=region, label=who,
                             now=clock.now(), commit=False)
            for who, (role, subject, department, region) in CALLERS.items()
        }
        session.commit()
        actor_ids = {label: token_id for token_id, label in session.execute(select(ApiToken.id, ApiToken.label))}
    app = create_app(sessions=db.sessions, runtime=runtime)
    with TestClient(app) as client:
        yield Api(client=client, db=db, runtime=runtime, clock=clock, tokens=tokens, actor_ids=actor_ids)


def case_body(applicant: str = GROOM, region: str | None = "430102", **answers: Any) -> dict[str, Any]:
    """A valid POST /cases body for a marriage case."""
    body: dict[str, Any] = {
        "bundle_id": "marriage",
        "applicant": {"id": applicant, "kind": "person", "name": "测试甲"},
        "answers": marriage_answers(**answers),
    }
    if region is not None:
        body["region"] = region
    return body


def prefill_body(applicant: str = GROOM, **answers: Any) -> dict[str, Any]:
    """A POST /prefill body: the marriage form with only the two ID numbers typed."""
    return {
        "bundle_id": "marriage",
        "applicant": {"id": applicant, "kind": "person"},
        "answers": {"groom_id_number": GROOM, "bride_id_number": BRIDE, **answers},
    }


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert a problem+json answer with ``status``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"] and body["title"]
    assert isinstance(body["errors"], list)
    for error in body["errors"]:
        assert set(error) == {"field", "code", "message_zh", "message_en"}
    return body
