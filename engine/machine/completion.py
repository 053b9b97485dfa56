"""What every finished step records, whoever finished it: outputs, closing time, licences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.db.models import Case, Step
from engine.people.licences import issue_step_licences
from engine.runtime import Runtime
from engine.time.clock import local_date


def record_completion(
    session: Session, runtime: Runtime, *, case: Case, step: Step, outputs: dict[str, Any], now: datetime
) -> None:
    """What every finished step records, whoever finished it (an officer, a handler, a timer):
    its outputs and the licence it issues (the gate has closed it) — so later steps and cases are
    prefilled from it."""
    step.outputs = dict(outputs)
    spec = runtime.spec_for(session, case).step(step.step_key)
    department = runtime.registry.catalog.departments.get(step.department)
    issued = issue_step_licences(
        session, case_id=case.id, step_id=step.id, applicant_id=case.applicant_id, answers=case.answers,
        element=step.entry, output=spec.outputs, issuer=department.name.zh if department else step.department,
        outputs=step.outputs, now=now, today=local_date(now),
    )
    if issued:
        step.outputs = {**step.outputs, "licences": [{"type": l.type_code, "number": l.number, "holder": l.holder_id}
                                                     for l in issued]}
