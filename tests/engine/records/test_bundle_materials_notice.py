"""一次性告知书 with bundle materials (issue 10, item 5): a material of the whole bundle that two
steps ask for is requested once; the steps' own materials stay under each step."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from engine.machine.actions import claim_step, complete_step, request_supplement, start_step
from engine.machine.intake import Applicant, accept_case
from engine.records.documents import render_missing_materials_notice
from engine.runtime import Runtime
from engine.spec.models import BundleSpec
from tests.engine.sample_people import CLERK, GROOM, marriage_answers, officer


def test_a_bundle_material_two_steps_ask_for_is_requested_once(session: Session, runtime: Runtime) -> None:
    data = runtime.registry.get("marriage").canonical()
    data["version"] += 1
    data["materials"] = [{"name": "申请人居民身份证复印件", "supply": 4}]
    trying = runtime.with_draft(BundleSpec.model_validate(data))
    case = accept_case(session, trying, bundle_id="marriage", applicant=Applicant(GROOM, "person"),
                       answers=marriage_answers(), actor=CLERK)
    first = next(s for s in case.steps if s.step_key == "marriage_registration")
    civil = officer(first.department)
    claim_step(session, trying, step_id=first.id, actor=civil)
    complete_step(session, trying, step_id=first.id, actor=civil)
    session.refresh(case)
    asked = [s for s in case.steps if s.state == "ready"][:2]
    assert len(asked) == 2
    for step in asked:
        actor = officer(step.department)
        claim_step(session, trying, step_id=step.id, actor=actor)
        start_step(session, trying, step_id=step.id, actor=actor)
        request_supplement(session, trying, step_id=step.id, actor=actor,
                           materials=["申请人居民身份证复印件", f"{step.step_key} 专用材料"])
    session.refresh(case)
    html = render_missing_materials_notice(case, trying.spec_for(session, case), trying.registry, today=date(2026, 3, 3))
    assert html.count("申请人居民身份证复印件") == 1
    for step in asked:
        assert f"{step.step_key} 专用材料" in html
