"""一码通办 over HTTP, on every backend: GET /track/{receipt_no}, the public page, the receipt's QR."""

from __future__ import annotations

import segno

from engine.records.tracking import short_code, track_url
from tests.api.conftest import Api
from tests.api.test_pages import csrf
from tests.engine.sample_people import BRIDE, GROOM

PHONE = "13800000000"  # marriage_answers' applicant_phone


def test_the_right_factor_shows_the_progress_and_nothing_else(api: Api) -> None:
    case = api.case()
    response = api.get(f"/track/{case.receipt_no}?factor={GROOM[-4:]}", None)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["receipt_no"] == case.receipt_no and body["bundle_name"] and body["steps"]
    assert set(body) == {"receipt_no", "bundle_name", "state", "state_label", "steps"}
    assert all(set(s) == {"item_name", "state", "state_label", "due_on"} for s in body["steps"])
    for secret in (GROOM, BRIDE, PHONE, "测试甲", "测试乙", case.id):
        assert secret not in response.text
    by_phone = api.get(f"/track/{short_code(case.receipt_no)}?factor={PHONE[-4:]}", None)
    assert by_phone.status_code == 200 and by_phone.json() == body


def test_a_wrong_factor_is_answered_exactly_as_an_unknown_receipt_number(api: Api) -> None:
    case = api.case()
    wrong = api.get(f"/track/{case.receipt_no}?factor=QQQQ", None)
    unknown = api.get(f"/track/430102-20000101-99999?factor={GROOM[-4:]}", None)
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.content == unknown.content and wrong.headers["content-type"] == unknown.headers["content-type"]
    malformed = api.get(f"/track/{case.receipt_no}?factor=12", None)
    assert malformed.status_code == 422 and malformed.json()["field"] == "factor"


def test_failures_lock_the_receipt_number_until_the_window_passes(api: Api) -> None:
    case = api.case()
    for _ in range(5):
        assert api.get(f"/track/{case.receipt_no}?factor=QQQQ", None).status_code == 404
    locked = api.get(f"/track/{case.receipt_no}?factor={GROOM[-4:]}", None)
    assert locked.status_code == 429 and locked.headers["content-type"].startswith("application/problem+json")
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    api.clock.advance(minutes=15, seconds=1)
    assert api.get(f"/track/{case.receipt_no}?factor={GROOM[-4:]}", None).status_code == 200


def test_failures_lock_the_client_across_receipt_numbers(api: Api) -> None:
    case = api.case()
    for n in range(5):
        assert api.get(f"/track/430102-20000101-{n:05d}?factor=QQQQ", None).status_code == 404
    assert api.get(f"/track/{case.receipt_no}?factor={GROOM[-4:]}", None).status_code == 429
    api.clock.advance(minutes=16)
    assert api.get(f"/track/{case.receipt_no}?factor={GROOM[-4:]}", None).status_code == 200


def test_the_receipt_carries_the_qr_of_the_track_url(api: Api) -> None:
    case = api.case()
    receipt = api.get(f"/ui/cases/{case.id}/receipt", "clerk")
    assert receipt.status_code == 200
    url = track_url(case.receipt_no)
    assert url.endswith(f"/ui/track?receipt_no={case.receipt_no}")
    svg = segno.make(url).svg_inline()
    assert svg.startswith("<svg") and svg in receipt.text
    assert short_code(case.receipt_no) in receipt.text


def test_the_public_page_opens_from_the_qr_and_shows_the_progress_after_the_factor(api: Api) -> None:
    case = api.case()
    form = api.client.get(f"/ui/track?receipt_no={case.receipt_no}")
    assert form.status_code == 200 and f'value="{case.receipt_no}"' in form.text
    token = csrf(api)
    shown = api.client.post("/ui/track", data={"receipt_no": case.receipt_no, "factor": PHONE[-4:], "csrf_token": token})
    assert shown.status_code == 200 and "track-result" in shown.text
    assert "测试甲" not in shown.text and GROOM not in shown.text and PHONE not in shown.text
    wrong = api.client.post("/ui/track", data={"receipt_no": case.receipt_no, "factor": "QQQQ", "csrf_token": token})
    unknown = api.client.post("/ui/track", data={"receipt_no": "430102-20000101-99999", "factor": GROOM[-4:],
                                                 "csrf_token": token})
    assert wrong.status_code == unknown.status_code == 404 and "track-result" not in wrong.text
