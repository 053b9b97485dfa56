"""一码通办 in the engine: the second factor's rules, one answer for unknown and wrong, nothing disclosed."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta

import pytest
import segno
from sqlalchemy.orm import Session

from engine.db.models import Case
from engine.errors import NotFound
from engine.machine.intake import Applicant, accept_case
from engine.records.documents import render_receipt
from engine.records.tracking import (
    TooManyAttempts,
    TrackLimiter,
    receipt_from_code,
    short_code,
    track,
    track_url,
)
from engine.runtime import Runtime
from engine.time.clock import FixedClock
from tests.engine.sample_people import CLERK, GROOM, marriage_answers

PHONE = "13812345678"


def _case(session: Session, runtime: Runtime) -> Case:
    return accept_case(session, runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                       answers=marriage_answers(applicant_phone=PHONE), actor=CLERK)


def _limiter(clock: FixedClock, failures: int = 5) -> TrackLimiter:
    return TrackLimiter(clock=clock, failures=failures, window=timedelta(minutes=15))


def test_the_last_four_of_the_id_or_of_the_phone_open_the_progress(
        session: Session, runtime: Runtime, clock: FixedClock) -> None:
    case = _case(session, runtime)
    limiter = _limiter(clock)
    by_id = track(session, runtime, receipt_no=case.receipt_no, factor=GROOM[-4:].lower(), client="a", limiter=limiter)
    by_phone = track(session, runtime, receipt_no=case.receipt_no, factor=PHONE[-4:], client="a", limiter=limiter)
    by_code = track(session, runtime, receipt_no=short_code(case.receipt_no), factor=PHONE[-4:], client="a",
                    limiter=limiter)
    assert by_id == by_phone == by_code
    assert by_id.receipt_no == case.receipt_no and by_id.bundle_name
    assert by_id.steps and all(s.item_name and s.state and s.state_label for s in by_id.steps)
    assert any(s.due_on is not None for s in by_id.steps)


@pytest.mark.parametrize("factor", ["0000", GROOM[-5:-1], PHONE[:4], ""])
def test_a_wrong_factor_answers_as_an_unknown_receipt_number(
        session: Session, runtime: Runtime, clock: FixedClock, factor: str) -> None:
    case = _case(session, runtime)
    limiter = _limiter(clock, failures=100)
    with pytest.raises(NotFound) as wrong:
        track(session, runtime, receipt_no=case.receipt_no, factor=factor, client="a", limiter=limiter)
    with pytest.raises(NotFound) as unknown:
        track(session, runtime, receipt_no="430102-20000101-99999", factor=GROOM[-4:], client="a", limiter=limiter)
    assert (str(wrong.value), wrong.value.field) == (str(unknown.value), unknown.value.field)


def test_nothing_but_the_progress_is_disclosed(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    case = _case(session, runtime)
    view = track(session, runtime, receipt_no=case.receipt_no, factor=PHONE[-4:], client="a", limiter=_limiter(clock))
    disclosed = json.dumps(asdict(view), ensure_ascii=False, default=str)
    for secret in (GROOM, GROOM[-4:], PHONE, "测试甲", "测试乙", case.applicant_id, case.id):
        assert secret not in disclosed
    assert set(asdict(view)) == {"receipt_no", "bundle_name", "state", "state_label", "steps"}
    assert set(asdict(view.steps[0])) == {"item_name", "state", "state_label", "due_on"}


def test_failures_per_receipt_and_per_client_are_limited_within_the_window(
        session: Session, runtime: Runtime, clock: FixedClock) -> None:
    case = _case(session, runtime)
    limiter = _limiter(clock, failures=3)
    for n in range(3):
        with pytest.raises(NotFound):
            track(session, runtime, receipt_no=case.receipt_no, factor="0000", client=f"c{n}", limiter=limiter)
    with pytest.raises(TooManyAttempts) as blocked:  # another client, the right factor: the number is locked
        track(session, runtime, receipt_no=case.receipt_no, factor=PHONE[-4:], client="fresh", limiter=limiter)
    assert 0 < blocked.value.retry_after <= 15 * 60
    clock.advance(minutes=15, seconds=1)
    assert track(session, runtime, receipt_no=case.receipt_no, factor=PHONE[-4:], client="fresh", limiter=limiter)
    for _ in range(3):  # one client guessing across receipt numbers
        with pytest.raises(NotFound):
            track(session, runtime, receipt_no="430102-20000101-99999", factor="0000", client="guesser", limiter=limiter)
    with pytest.raises(TooManyAttempts):
        track(session, runtime, receipt_no=case.receipt_no, factor=PHONE[-4:], client="guesser", limiter=limiter)


def test_the_short_code_stands_for_the_receipt_number() -> None:
    number = "430102-20261202-00042"
    code = short_code(number)
    assert len(code.replace("-", "")) == 13 and receipt_from_code(code) == number
    assert receipt_from_code(code.lower()) == number and receipt_from_code(number) == number


def test_the_receipt_carries_the_qr_of_the_track_url_and_the_short_code(session: Session, runtime: Runtime) -> None:
    case = _case(session, runtime)
    html = render_receipt(case, runtime.spec_for(session, case), runtime.registry, track_base="https://zw.example.cn")
    url = track_url(case.receipt_no, base="https://zw.example.cn")
    assert url == f"https://zw.example.cn/ui/track?receipt_no={case.receipt_no}"
    assert segno.make(url).svg_inline() in html and short_code(case.receipt_no) in html
    assert GROOM[-4:] not in url and PHONE[-4:] not in url


def test_the_limiter_forgets_expired_keys(clock: FixedClock) -> None:
    limiter = _limiter(clock, failures=1)
    limiter.MAX_KEYS = 3
    limiter.failed([f"receipt:{n}" for n in range(4)])
    clock.advance(minutes=16)
    limiter.failed(["client:late"])
    limiter.check([f"receipt:{n}" for n in range(4)])  # expired: not locked any more
    assert len(limiter._seen) == 1


def test_the_track_url_starts_with_the_public_url_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.records.tracking import track_url
    from engine.settings import get_settings

    monkeypatch.setenv("ONEVISIT_PUBLIC_URL", "https://zwfw.example.gov.cn/")
    get_settings.cache_clear()
    try:
        assert track_url("430102-20260302-0001") == "https://zwfw.example.gov.cn/ui/track?receipt_no=430102-20260302-0001"
    finally:
        get_settings.cache_clear()
    monkeypatch.delenv("ONEVISIT_PUBLIC_URL")
    assert track_url("430102-20260302-0001") == "/ui/track?receipt_no=430102-20260302-0001"
    get_settings.cache_clear()
