"""Issue 11, item 5, through HTTP: GET /supervision/stats and the supervision page count what the
worklists list, per office and rolled up per region level, within the supervisor's region."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from engine.db.models import Case, Step
from engine.machine.actions import claim_step, complete_step
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import Actor, Role
from tests.api.conftest import Api, problem
from tests.engine.sample_people import GROOM, another_couple, marriage_answers


def _case(api: Api, region: str, *, register: bool = False) -> str:
    """A marriage case of ``region``; ``register``: its registration done, so its dependents are open."""
    clerk = Actor(id=f"clerk-{region}", role=Role.CLERK, region=region)
    with api.session() as session:
        case = accept_case(session, api.runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                           answers=marriage_answers(**another_couple()), actor=clerk, region=region)
        if register:
            step = case.steps[0]
            office = (step.office or "").partition("@")[2] or region  # the office it is routed to
            officer = Actor(id=f"officer-11-{office}", role=Role.OFFICER, department="11", region=office)
            claim_step(session, api.runtime, step_id=step.id, actor=officer)
            complete_step(session, api.runtime, step_id=step.id, actor=officer)
        return case.id


def _scenario(api: Api) -> None:
    _case(api, "430102", register=True)
    _case(api, "430102")
    _case(api, "430104", register=True)
    _case(api, "430104")
    _case(api, "430202")


def _stats(api: Api, who: str, **params: str) -> dict[str, Any]:
    response = api.get("/supervision/stats", who, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_stats_count_each_worklist_per_office_and_region_level(api: Api) -> None:
    _scenario(api)
    body = _stats(api, "supervisor")
    assert body["region"] == "430100"
    # Every department's count is the length of its worklist; steps not yet released are not counted.
    for load in body["departments"]:
        listed = api.get(f"/departments/{load['department']}/steps", "supervisor", params={"limit": 200})
        assert listed.status_code == 200 and listed.json()["total"] == load["open"], load
    with api.session() as session:
        prefix = Case.region.startswith("4301")
        released = session.scalar(select(func.count()).select_from(Step).join(Case).where(
            prefix, Step.state.in_(["ready", "assigned", "in_progress", "supplement_requested"])))
        pending = session.scalar(select(func.count()).select_from(Step).join(Case).where(
            prefix, Step.state == "pending"))
    assert pending and sum(d["open"] for d in body["departments"]) == released
    # Per office: named from the directory (or region and department), adding up per department.
    offices = {o["office"]: o for o in body["offices"]}
    assert {"11@430102", "11@430104"} <= set(offices)
    assert all(o["region"].startswith("4301") for o in offices.values())
    registration = offices["11@430102"]
    assert (registration["department_name"], registration["region_name"], registration["level"]) == (
        "民政局", "芙蓉区", "county")
    assert registration["office_name"] and "民政" in registration["office_name"]
    per_department: dict[str, int] = {}
    for office in body["offices"]:
        per_department[office["department"]] = per_department.get(office["department"], 0) + office["open"]
    assert per_department == {d["department"]: d["open"] for d in body["departments"]}
    # Rolled up: the supervisor's city on top, its districts below, nothing of 430200.
    rows = {r["region"]: r for r in body["rollup"]}
    assert {"430100", "430102", "430104"} <= set(rows) and not any(code.startswith("4302") for code in rows)
    city = rows["430100"]
    assert (city["level"], city["parent"], city["region_name"]) == ("city", None, "长沙市")
    assert city["open"] == sum(d["open"] for d in body["departments"])
    for row in body["rollup"]:
        below = [r for r in body["rollup"] if r["parent"] == row["region"]]
        assert row["open"] == row["own_open"] + sum(r["open"] for r in below), row
        assert row["overdue"] == row["own_overdue"] + sum(r["overdue"] for r in below), row
    # The other city's supervisor sees nothing of Changsha's.
    other = _stats(api, "supervisor_other")
    assert not any(r["region"].startswith("4301") for r in other["rollup"])
    assert not any(o["region"].startswith("4301") for o in other["offices"])


def test_stats_narrow_to_a_region_within_the_callers(api: Api) -> None:
    _scenario(api)
    whole = {r["region"]: r for r in _stats(api, "supervisor")["rollup"]}
    district = _stats(api, "supervisor", region="430104")
    assert district["region"] == "430104"
    assert [(r["region"], r["parent"], r["open"]) for r in district["rollup"]] == [
        ("430104", None, whole["430104"]["open"])]
    assert sum(d["open"] for d in district["departments"]) == whole["430104"]["open"]
    body = problem(api.get("/supervision/stats", "supervisor", params={"region": "430202"}), 403)
    assert body["field"] == "region"
    assert problem(api.get("/supervision/stats", "supervisor", params={"region": "439999"}), 422)["field"] == "region"
    problem(api.get("/supervision/stats", "supervisor", params={"region": "4301"}), 422)
    everywhere = _stats(api, "admin")
    assert everywhere["region"] is None and {"430000", "430100"} <= {r["region"] for r in everywhere["rollup"]}
    assert sum(r["open"] for r in everywhere["rollup"] if r["parent"] is None) == sum(
        d["open"] for d in everywhere["departments"])
    assert _stats(api, "admin", region="430200")["region"] == "430200"
    problem(api.get("/supervision/stats", "officer"), 403)
    problem(api.get("/supervision/stats", None), 401)


def test_openapi_documents_the_office_and_rollup_fields(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    operation = spec["paths"]["/supervision/stats"]["get"]
    assert {"200", "401", "403", "422"} <= set(operation["responses"])
    assert any(p["name"] == "region" for p in operation["parameters"])
    schemas = spec["components"]["schemas"]
    stats = schemas["StatsOut"]["properties"]
    assert stats["offices"]["description"] and stats["rollup"]["description"]
    office = schemas["OfficeLoadOut"]["properties"]
    assert {"office", "office_name", "department_name", "region_name", "level", "open", "overdue", "yellow_cards",
            "red_cards"} <= set(office)
    assert office["open"]["description"]
    rollup = schemas["RegionLoadOut"]["properties"]
    assert {"region", "region_name", "level", "parent", "open", "own_open", "overdue", "own_overdue"} <= set(rollup)


def _rows(html: str, table: str, attribute: str) -> list[str]:
    section = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(rf'data-{attribute}="([^"]+)"', section)


def test_the_page_shows_the_offices_and_the_rollup(api: Api) -> None:
    _scenario(api)
    page = api.get("/ui/supervision", "supervisor")
    assert page.status_code == 200, page.text
    offices = _rows(page.text, "offices", "office")
    assert {"11@430102", "11@430104"} <= set(offices) and not any("@4302" in o for o in offices)
    assert _rows(page.text, "rollup", "region")[:1] == ["430100"]
    regions = _rows(page.text, "rollup", "region")
    assert {"430102", "430104"} <= set(regions) and not any(r.startswith("4302") for r in regions)
    assert "长沙市" in page.text and "芙蓉区" in page.text and "岳麓区" in page.text and "县级" in page.text
    assert 'href="/ui/supervision?region=430102"' in page.text
    assert 'href="/ui/departments/11"' in page.text
    # The numbers on the page are the JSON's.
    body = _stats(api, "supervisor")
    registration = next(o for o in body["offices"] if o["office"] == "11@430102")
    row = page.text.split('data-office="11@430102"', 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">(\d+)</td>', row) == [
        str(registration[k]) for k in ("open", "overdue", "yellow_cards", "red_cards")]
    # Drilling into a district narrows the whole desk to it; another city's is refused.
    district = api.get("/ui/supervision", "supervisor", params={"region": "430104"})
    assert district.status_code == 200
    assert _rows(district.text, "rollup", "region") == ["430104"]
    assert 'href="/ui/supervision"' in district.text and 'href="/ui/departments/' not in district.text
    assert api.get("/ui/supervision", "supervisor", params={"region": "430202"}).status_code == 403


def test_a_long_department_name_keeps_its_start_on_two_chart_lines() -> None:
    """Issue 15: 住房和城乡建设局（住房公积金中心） lost 住房和 on the chart."""
    from api.pages.supervision import label_lines

    name = "住房和城乡建设局（住房公积金中心）"
    lines = label_lines(name)
    assert len(lines) == 2 and lines[0].startswith("住房和") and "".join(lines) == name
    assert label_lines("民政局") == ("民政局",)
    long = label_lines("一" * 40)
    assert len(long) == 2 and long[1].endswith("…") and max(len(line) for line in long) <= 13


def test_the_supervisor_filters_the_cards_and_each_leads_to_its_case(api: Api) -> None:
    """Issue 15: the cards by colour, department, bundle and since when; a red card's row names the
    case and the step (its yellow card is not listed beside it)."""
    from tests.api.test_authz import _red_card
    from tests.api.test_pages import get

    _red_card(api)

    def rows(query: str) -> list[str]:
        page = get(api, f"/ui/supervision?{query}", "supervisor")
        assert page.status_code == 200, page.text
        return re.findall(r'<tr data-card="(yellow|red)">', page.text)

    everything = rows("")
    assert everything and set(everything) == {"red"}  # the step's highest card only: no yellow beside it
    assert rows("colour=red&bundle=marriage&department=11") == ["red"]  # the step's (the case's has no department)
    assert rows("colour=yellow") == []
    assert rows("department=09") == []
    assert rows("since=2099-01-01") == []
    page = get(api, "/ui/supervision?colour=red", "supervisor").text
    assert re.search(r'<td class="mono nowrap"><a href="/ui/cases/[0-9a-f]{32}">', page)
    assert get(api, "/ui/supervision?colour=green", "supervisor").status_code == 422
