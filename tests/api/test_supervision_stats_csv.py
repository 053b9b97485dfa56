"""GET /supervision/stats.csv: each office's decided steps, their timeliness and its cards, the red
cards it still has to explain, its ratings and rectifications, its 12345 complaints."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from engine.machine.actions import claim_step, complete_step
from engine.governance.office_report import CSV_HEADER
from engine.time.performance import p90
from engine.time.supervision import issue_cards
from tests.api.conftest import Api, problem
from tests.engine.sample_people import another_couple


def _rows(api: Api, who: str, query: str = "") -> list[dict[str, str]]:
    response = api.get(f"/supervision/stats.csv{query}", who)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(response.text))
    assert tuple(reader.fieldnames or ()) == CSV_HEADER
    return list(reader)


def test_the_csv_counts_on_time_and_late_steps_and_cards(api: Api) -> None:
    early, late = api.case(), api.case(**another_couple())
    step = api.step(early.id)
    actor = api.officer_for(step.department)
    with api.session() as session:
        claim_step(session, api.runtime, step_id=step.id, actor=actor)
        complete_step(session, api.runtime, step_id=step.id, actor=actor)
    late_step = api.step(late.id)
    assert late_step.due_on is not None
    api.clock.set_local(late_step.due_on + timedelta(days=30))
    with api.session() as session:
        issue_cards(session, api.runtime)
        claim_step(session, api.runtime, step_id=late_step.id, actor=actor)
        complete_step(session, api.runtime, step_id=late_step.id, actor=actor)
    [row] = [r for r in _rows(api, "supervisor") if int(r["decided"])]
    assert (row["decided"], row["on_time"], row["on_time_rate"]) == ("2", "1", "0.500")
    assert float(row["average_working_days"]) > 0 and int(row["p90_working_days"]) >= 20
    assert (row["yellow_cards"], row["red_cards"]) == ("0", "1")  # the step's highest card only
    assert _rows(api, "supervisor_other") == []  # another city
    assert problem(api.get("/supervision/stats.csv", "officer"), 403)
    assert problem(api.get("/supervision/stats.csv?region=430200", "supervisor"), 403)["field"] == "region"


def test_p90_is_the_nearest_rank() -> None:
    assert p90([]) is None and p90([4]) == 4
    assert p90(list(range(1, 11))) == 9 and p90(list(range(1, 21))) == 18


def test_the_csv_adds_ratings_rectifications_unexplained_red_cards_and_complaints(api: Api) -> None:
    from engine.governance.complaints import receive_complaint
    from engine.governance.ratings import rate
    from engine.machine.unit_of_work import in_transaction
    from tests.api.conftest import actor_of
    from tests.engine.machine.test_handover import work_off

    with api.session() as session:
        decided = work_off(session, api.runtime, api.case())
    registration = api.step(decided.id)
    late = api.case(**another_couple())
    with api.session() as session:
        in_transaction(session, lambda: rate(session, api.runtime, case_id=decided.id, actor=actor_of("applicant_own"),
                                             level=1, step_id=registration.id))
        in_transaction(session, lambda: rate(session, api.runtime, case_id=decided.id, actor=actor_of("applicant_own"),
                                             level=5))
        in_transaction(session, lambda: receive_complaint(session, api.runtime, actor=actor_of("supervisor"),
                                                          ticket_no="T-9", receipt_no=late.receipt_no, text="太慢"))
    late_step = api.step(late.id)
    assert late_step.due_on is not None
    api.clock.set_local(late_step.due_on + timedelta(days=30))
    with api.session() as session:
        issue_cards(session, api.runtime)
    [row] = [r for r in _rows(api, "supervisor") if r["office"] == registration.office]
    # the step's 非常不满意, and the case's 非常满意 (a case is rated to its worst-rated step's office)
    assert (row["ratings"], row["bad_ratings"], row["mean_level"], row["satisfied_share"]) == ("2", "1", "3.00", "0.500")
    assert (row["rectifications_open"], row["rectifications_overdue"]) == ("1", "1")  # 15 working days passed
    # red, their explanations owed: the late step's card, and the overdue rectification's and complaint's
    assert row["unexplained_red_cards"] == "3"
    assert (row["complaints"], row["complaints_open"], row["complaints_overdue"]) == ("1", "1", "1")
    assert row["office_name"]


def test_the_dashboard_shows_the_governance_table_and_exports_the_report(api: Api) -> None:
    from engine.governance.ratings import rate
    from engine.machine.unit_of_work import in_transaction
    from tests.api.conftest import actor_of
    from tests.api.test_pages import get
    from tests.engine.machine.test_handover import work_off

    with api.session() as session:
        decided = work_off(session, api.runtime, api.case())
        in_transaction(session, lambda: rate(session, api.runtime, case_id=decided.id, actor=actor_of("applicant_own"),
                                             level=2, step_id=api.step(decided.id).id))
    page = get(api, "/ui/supervision", "supervisor")
    assert page.status_code == 200
    table = page.text.split('<table id="governance">', 1)[1].split("</table>", 1)[0]
    assert 'data-office="11@430102"' in table and "2.0" in table
    exported = get(api, "/ui/supervision/report.csv", "supervisor")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[0] == ",".join(CSV_HEADER)
    assert get(api, "/ui/supervision/report.csv", "officer").status_code == 403
