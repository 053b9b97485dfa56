"""GET /departments/{code}/steps with the worklist's filters: assigned (mine, unassigned, an officer)
and q (a receipt number from its start, or the applicant's name); a bad value is a 422 naming it."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.engine.sample_people import another_couple


def test_the_worklist_api_filters_by_claim_and_searches(api: Api) -> None:
    first, second = api.case(), api.case(**another_couple())
    api.advance(api.step(first.id), "assigned")  # claimed by the department's officer
    mine = api.get("/departments/11/steps?assigned=mine", "officer").json()
    assert [i["case_id"] for i in mine["items"]] == [first.id]
    assert mine["items"][0]["assigned_to"] == api.actor_ids["officer"] and mine["items"][0]["handed_in"] is False
    free = api.get("/departments/11/steps?assigned=unassigned", "officer").json()
    assert [i["case_id"] for i in free["items"]] == [second.id]
    found = api.get(f"/departments/11/steps?q={second.receipt_no}", "officer").json()
    assert [i["case_id"] for i in found["items"]] == [second.id]
    bad = api.get("/departments/11/steps?assigned=no%20such", "officer")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "assigned"
    long = api.get(f"/departments/11/steps?q={'x' * 65}", "officer")
    assert long.status_code == 422 and long.json()["errors"][0]["field"] == "q"
