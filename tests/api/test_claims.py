"""Claimed work on the pages (issue 7, item 8): the assignee's forms, a colleague's notice, the
supervisor's reassignment — and the API race: many officers completing one claimed step."""

from __future__ import annotations

import re
import threading
from typing import Any

from sqlalchemy import select

from engine.records.audit import case_history
from engine.db.models import ApiToken, Step
from engine.people.tokens import issue_token
from tests.api.conftest import Api


def _colleague(api: Api, label: str) -> str:
    with api.session() as session:
        api.tokens[label] = issue_token(session, role="officer", department="11", region="430102", label=label,
                                        now=api.clock.now())
        api.actor_ids[label] = session.scalars(select(ApiToken.id).where(ApiToken.label == label)).one()
    return api.actor_ids[label]


def _post(api: Api, url: str, who: str, data: dict[str, Any]) -> Any:
    if not api.client.cookies.get("onevisit_csrf"):
        api.client.get("/ui/login")
    form = {"csrf_token": api.client.cookies.get("onevisit_csrf"), **data}
    return api.client.post(url, data=form, headers=api.auth(who), follow_redirects=False)


def test_the_step_page_shows_work_forms_to_the_assignee_only_and_lets_a_supervisor_reassign(api: Api) -> None:
    step = api.advance(api.step(api.case().id), "in_progress")  # claimed by ``officer``
    colleague = _colleague(api, "wang")
    mine = api.get(f"/ui/steps/{step.id}", "officer").text
    assert f'action="/ui/steps/{step.id}/complete"' in mine and f'action="/ui/steps/{step.id}/unclaim"' in mine
    theirs = api.get(f"/ui/steps/{step.id}", "wang").text
    assert "该事项已由其他工作人员认领" in theirs and f'action="/ui/steps/{step.id}/complete"' not in theirs
    refused = _post(api, f"/ui/steps/{step.id}/complete", "wang", {"version": str(step.version), "result": "结婚证"})
    assert refused.status_code == 409 and "只有认领人可以办理" in refused.text
    lead = api.get(f"/ui/steps/{step.id}", "supervisor").text
    assert f'action="/ui/steps/{step.id}/reassign"' in lead and f'<option value="{colleague}">wang</option>' in lead
    assert f'<option value="{api.actor_ids["officer"]}">' not in lead  # not to the current assignee
    moved = _post(api, f"/ui/steps/{step.id}/reassign", "supervisor", {"version": str(step.version), "to": colleague})
    assert moved.status_code == 303 and moved.headers["location"] == f"/ui/steps/{step.id}?msg=reassigned"
    now_theirs = api.get(f"/ui/steps/{step.id}?msg=reassigned", "wang").text
    assert "已改派" in now_theirs and f'action="/ui/steps/{step.id}/complete"' in now_theirs
    assert re.search(r"办理人 <span class=\"en\" lang=\"en\">Assigned to</span></th><td>wang</td>", now_theirs)
    version = api.step_version(step.id)
    assert _post(api, f"/ui/steps/{step.id}/unclaim", "wang", {"version": str(version)}).status_code == 303
    assert api.step(step.case_id).state == "ready"
    with api.session() as session:
        trail = [(e.action, e.actor_id, e.payload.get("from"), e.payload.get("to"))
                 for e in case_history(session, case_id=step.case_id) if e.step_id == step.id]
    assert ("step.reassign", api.actor_ids["supervisor"], api.actor_ids["officer"], colleague) in trail
    assert ("step.unclaim", colleague, colleague, None) in trail


def test_many_officers_racing_to_complete_a_claimed_step_through_the_api(api: Api) -> None:
    step = api.advance(api.step(api.case().id), "in_progress")
    racers = ["officer"] + [f"colleague{n}" for n in range(5)]
    for who in racers[1:]:
        _colleague(api, who)
    barrier = threading.Barrier(len(racers))
    results: dict[str, Any] = {}

    def complete(who: str) -> None:
        barrier.wait(timeout=60)
        results[who] = api.post(f"/steps/{step.id}/complete", who, {"version": step.version, "outputs": {"certificate_no": who}})

    threads = [threading.Thread(target=complete, args=(who,)) for who in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["officer"].status_code == 200, results["officer"].text
    for who in racers[1:]:
        assert results[who].status_code == 409, results[who].text
        assert results[who].json()["type"] in ("/problems/claimed_by_another", "/problems/stale_version",
                                               "/problems/illegal_transition")
    with api.session() as session:
        stored = session.get_one(Step, step.id)
        assert stored.state == "done" and stored.outputs["certificate_no"] == "officer"


def test_an_officer_completes_a_ready_step_with_claim_in_one_request(api: Api) -> None:
    """``claim: true`` takes a ready step and completes it (即办件); without it a ready step is refused."""
    step = api.step(api.case().id)
    assert step.state == "ready"
    refused = api.post(f"/steps/{step.id}/complete", "officer", json={"version": step.version, "outputs": {}})
    assert refused.status_code == 409
    done = api.post(f"/steps/{step.id}/complete", "officer",
                    json={"version": step.version, "outputs": {"certificate_no": "J430102-2026-000001"}, "claim": True})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "done"
    with api.session() as session:
        trail = [e.action for e in case_history(session, case_id=step.case_id) if e.step_id == step.id]
    assert trail[-2:] == ["step.claim", "step.complete"]


def test_the_worklist_names_who_claimed_each_step(api: Api) -> None:
    """Issue 15: a claimed row names its officer as colleagues know them (the token's label)."""
    step = api.step(api.case().id)
    _colleague(api, "wang")
    taken = api.post(f"/steps/{step.id}/claim", "wang", json={"version": step.version})
    assert taken.status_code == 200, taken.text
    listing = api.get("/ui/departments/11", "officer").text
    row = listing[listing.index(f'data-step-id="{step.id}"'):]
    assert "<td>wang</td>" in row.split("</tr>")[0].replace("\n", "").replace("  ", "")
