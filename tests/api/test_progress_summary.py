"""The progress page's summary (issue 15): what the applicant must do now (linked to where), how
many steps are done of how many, the next due date, late steps with whom to ask, and the finished
and waiting steps folded away."""

from __future__ import annotations

import re

from tests.api.conftest import Api
from tests.api.test_pages import get


def _summary(html: str) -> str:
    return html[html.index('<div class="panel summary" id="summary">'):html.index('<div class="panel">')]


def test_the_applicant_sees_what_to_do_now_and_how_far_the_case_is(api: Api) -> None:
    case = api.case()
    step = api.advance(api.step(case.id), "supplement_requested")
    page = get(api, f"/ui/cases/{case.id}", "applicant_own").text
    summary = _summary(page)
    assert "您现在需要办理" in summary
    assert re.search(rf"<a href=\"#step-{step.id}\">补正「[^」]+」所需材料</a>", summary)
    assert f'id="step-{step.id}"' in page  # the link's target
    assert re.search(r"已办结 <strong>0</strong> / \d+ 项", summary)
    # steps waiting on the first one are folded, the one being worked on is not
    waiting = page[page.index('id="waiting-steps"'):]
    assert 'data-step="marriage_registration"' not in waiting.split("</details>")[0]


def test_nothing_to_do_says_so_and_a_late_step_names_whom_to_ask(api: Api) -> None:
    case = api.case()
    api.clock.advance(days=60)
    summary = _summary(get(api, f"/ui/cases/{case.id}", "applicant_own").text)
    assert "目前无需您办理任何事项" in summary
    assert "已超期" in summary and "可咨询" in summary


def test_staff_who_cannot_hand_in_see_no_to_do_of_the_applicant(api: Api) -> None:
    case = api.case()
    api.advance(api.step(case.id), "supplement_requested")
    summary = _summary(get(api, f"/ui/cases/{case.id}", "supervisor").text)
    assert "补正「" not in summary
