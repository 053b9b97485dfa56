"""GET /supervision/stats.csv: each office's decided steps, their timeliness and its cards."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from engine.machine.actions import claim_step, complete_step
from engine.time.performance import CSV_HEADER, p90
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
