"""出件 on the case page, on every backend: the window that received a finished case records how its
results went out, and every reader of the case sees the record.

The form is offered exactly when the engine's ``may_hand_over`` holds (a clerk of the receiving
window, a finished case not handed out yet); it posts with the page's CSRF value and comes back
with a confirmation, or the page again with the wrong field marked and the input kept. The page
also shows where the case came in (受理地), each step's office and 办理地, and a step sent to
another province's system as its transfer stands.
"""

from __future__ import annotations

import re
from typing import Any

from engine.db.models import Case, Handover
from engine.interprovince.local import DeskProvince
from engine.machine.dispatch import drain_outbox
from engine.machine.intake import Applicant, accept_case
from engine.people.identifiers import mask_id_number
from tests.api.conftest import Api
from tests.api.test_handover_api import caller, finished, received
from tests.api.test_pages import get, post
from tests.engine.interprovince.test_exchange import ANSWERS, REGISTRATION, WORKER
from tests.engine.machine.test_handover import AGENT, work_off
from tests.engine.sample_people import CLERK

FORM = re.compile(r'<form method="post" action="/ui/cases/([0-9a-f]{32})/handover"')
BY_POST: dict[str, Any] = {"recipient": "agent", "method": "post", "agent_name": "测试代", "agent_id_number": AGENT,
                           "tracking_no": "SF1234567890", "handed_at": "", "note": "申请人委托代领"}


def offers_form(html: str) -> bool:
    return bool(FORM.search(html))


def field_box(html: str, name: str) -> str:
    """The markup of one input of the 出件 form (label, control, errors)."""
    found = re.search(rf'<div class="field[^"]*" data-field="{name}">.*?</div>', html, re.S)
    assert found, f"no field {name}"
    return found[0]


def handover_row(api: Api, case: Case) -> Handover | None:
    with api.session() as session:
        return session.get(Handover, case.id)


def readers(api: Api) -> dict[str, str]:
    """Every kind of reader of a finished 衡阳 case received in 430102, none of whom is its window."""
    return {"applicant_own": "applicant_own",
            "home clerk": caller(api, "clerk_hengyang", role="clerk", region="430405"),
            "officer": caller(api, "officer_43", role="officer", region="430000", department="11"),
            "supervisor": caller(api, "supervisor_hengyang", role="supervisor", region="430400"),
            "admin": "admin"}


def test_the_form_is_offered_only_to_the_receiving_window_of_a_finished_case(api: Api) -> None:
    case = received(api)
    assert not offers_form(get(api, f"/ui/cases/{case.id}", "clerk").text)  # nothing to hand out yet
    with api.session() as session:
        work_off(session, api.runtime, case)
    page = get(api, f"/ui/cases/{case.id}", "clerk").text
    assert FORM.findall(page) == [case.id]
    form = page[page.index('id="handover-form"'):page.index("</form>", page.index('id="handover-form"'))]
    assert 'name="csrf_token"' in form
    for name in ("agent_name", "agent_id_number", "tracking_no", "handed_at", "note"):
        assert f'name="{name}"' in form, name
    assert 'name="recipient" value="applicant" checked' in form and 'name="recipient" value="agent"' in form
    assert 'name="method" value="window" checked' in form and 'name="method" value="post"' in form
    for label, who in readers(api).items():
        shown = get(api, f"/ui/cases/{case.id}", who)
        assert shown.status_code == 200, label
        assert not offers_form(shown.text) and "确认出件" not in shown.text, label


def test_posting_the_form_records_the_hand_over_and_every_reader_sees_it(api: Api) -> None:
    case = finished(api)
    api.clock.advance(hours=2)
    done = post(api, f"/ui/cases/{case.id}/handover", "clerk", BY_POST)
    assert done.status_code == 303 and done.headers["location"] == f"/ui/cases/{case.id}?msg=handed_over"
    row = handover_row(api, case)
    assert row is not None and (row.recipient, row.method, row.tracking_no) == ("agent", "post", "SF1234567890")
    assert row.handed_at.replace(tzinfo=None) == api.clock.now().replace(tzinfo=None)  # empty time: now

    page = get(api, done.headers["location"], "clerk").text
    assert "已出件，出件记录已保存" in page and not offers_form(page)
    record = page[page.index('id="handover"'):]
    assert f"代领人：测试代（{mask_id_number(AGENT)}）" in record and "邮寄送达" in record and "SF1234567890" in record
    assert "2026年3月2日 11:00" in record  # 01:00 UTC + 2 hours, in Beijing time
    assert "申请人委托代领" in record and api.actor_ids["clerk"] in record  # staff see the clerk
    assert AGENT not in page
    for label, who in readers(api).items():
        shown = get(api, f"/ui/cases/{case.id}", who).text
        assert f"代领人：测试代（{mask_id_number(AGENT)}）" in shown and "SF1234567890" in shown, label
        assert AGENT not in shown, label
        assert (api.actor_ids["clerk"] in shown) is (label != "applicant_own"), label  # never to the applicant

    again = post(api, f"/ui/cases/{case.id}/handover", "clerk", {"recipient": "applicant", "method": "window"})
    assert again.status_code == 409 and "邮寄送达" in again.text  # the first one named


def test_a_bad_field_comes_back_marked_with_the_input_kept(api: Api) -> None:
    case = finished(api)
    for given, field in [
        ({**BY_POST, "agent_id_number": ""}, "agent_id_number"),
        ({**BY_POST, "agent_id_number": AGENT[:-1] + ("0" if AGENT[-1] != "0" else "1")}, "agent_id_number"),
        ({**BY_POST, "tracking_no": "顺丰"}, "tracking_no"),
        ({**BY_POST, "recipient": "applicant"}, "agent_name"),
        ({**BY_POST, "handed_at": "yesterday"}, "handed_at"),
        ({**BY_POST, "handed_at": "2026-03-02T12:00"}, "handed_at"),  # Beijing time: later than now
        ({**BY_POST, "recipient": "neighbour"}, "recipient"),
        ({**BY_POST, "note": "x" * 501}, "note"),
    ]:
        page = post(api, f"/ui/cases/{case.id}/handover", "clerk", given)
        assert page.status_code == 422, (field, page.text[:500])
        box = field_box(page.text, field)
        assert 'class="field invalid"' in box and 'aria-invalid="true"' in box and " / " in box, field
        assert offers_form(page.text) and 'value="测试代"' in field_box(page.text, "agent_name"), field
        others = [n for n in ("agent_name", "tracking_no", "note") if n != field]
        assert all('class="field"' in field_box(page.text, n) for n in others), field
    assert handover_row(api, case) is None


def test_the_form_needs_the_pages_csrf_value(api: Api) -> None:
    case = finished(api)
    refused = post(api, f"/ui/cases/{case.id}/handover", "clerk", BY_POST, token=False)
    assert refused.status_code == 403 and "页面已过期或来源不明" in refused.text
    forged = post(api, f"/ui/cases/{case.id}/handover", "clerk", {**BY_POST, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert handover_row(api, case) is None


def test_the_window_elsewhere_and_the_applicant_cannot_post_it(api: Api) -> None:
    case = finished(api)
    home = caller(api, "clerk_hengyang", role="clerk", region="430405")
    refused = post(api, f"/ui/cases/{case.id}/handover", home, {"recipient": "applicant", "method": "window"})
    assert refused.status_code == 403 and "430102" in refused.text
    assert post(api, f"/ui/cases/{case.id}/handover", "applicant_own",
                {"recipient": "applicant", "method": "window"}).status_code == 403
    hidden = post(api, f"/ui/cases/{case.id}/handover", "clerk_other", {"recipient": "applicant", "method": "window"})
    assert hidden.status_code == 404 and case.receipt_no not in hidden.text
    assert handover_row(api, case) is None


def test_the_page_shows_where_the_case_came_in_and_where_each_step_is_decided(api: Api) -> None:
    case = received(api)
    page = get(api, f"/ui/cases/{case.id}", "applicant_own").text
    received_at = page[page.index('id="received"'):page.index("</dl>", page.index('id="received"'))]
    assert "受理地" in received_at and "湖南省长沙市芙蓉区（430102）" in received_at
    assert "湖南省衡阳市珠晖区（430405）" in received_at and "异地代收" in received_at
    entries = re.findall(r'<li class="[a-z_]+" data-step="([a-z_]+)"[^>]*>(.*?)\n  </li>', page, re.S)
    assert entries
    for key, entry in entries:
        assert "办理地" in entry and re.search(r"（43[0-9]{4}）", entry), key
    # a released step names its office and why it went there
    assert any("办理机构" in entry and "分办依据" in entry for _key, entry in entries)


def test_a_step_sent_to_another_province_shows_its_transfer(api: Api) -> None:
    with api.session() as session:
        case = accept_case(session, api.runtime, bundle_id="employment", applicant=Applicant(WORKER, "person"),
                           answers=ANSWERS, actor=CLERK)
    waiting = get(api, f"/ui/cases/{case.id}", "clerk").text
    entry = re.search(rf'data-step="{REGISTRATION}"[^>]*>(.*?)\n  </li>', waiting, re.S)
    assert entry and "跨省通办" in entry[1] and "广东省（44）" in entry[1] and "待推送" in entry[1]

    # no system for Guangdong yet: the failure shows to the window, not to the applicant
    with api.session() as session:
        drain_outbox(session, api.runtime)
    failed = get(api, f"/ui/cases/{case.id}", "clerk").text
    assert "失败次数" in failed and "province 44" in failed
    worker = caller(api, "worker", role="applicant", subject=WORKER)
    own = get(api, f"/ui/cases/{case.id}", worker).text
    assert "跨省通办" in own and "失败次数" not in own and "province 44" not in own

    desk = DeskProvince(name="广东省一体化政务服务平台", code="44")
    api.runtime.provinces.register("44")(desk)
    api.clock.advance(days=1)
    with api.session() as session:
        drain_outbox(session, api.runtime)
    sent = get(api, f"/ui/cases/{case.id}", "clerk").text
    entry = re.search(rf'data-step="{REGISTRATION}"[^>]*>(.*?)\n  </li>', sent, re.S)
    assert entry and "广东省一体化政务服务平台" in entry[1] and "2026年3月3日 已推送" in entry[1]
    assert "办理中" in entry[1] and "失败次数" not in entry[1]
