"""扫码亮证: the holder shows a licence as a signed short-lived token; anyone checks it, masked."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from engine.db.models import Licence
from engine.documents.licence_qr import (
    TOKEN_NOT_FOUND,
    VerifiedLicence,
    licence_qr_key,
    licence_token,
    show_licence,
    verify_licence,
    verify_limiter,
)
from engine.errors import Conflict, NotFound
from engine.machine.states import Actor, Role
from engine.people.identifiers import make_credit_code
from engine.people.licences import revoke_licence, store_licence
from engine.records.tracking import TooManyAttempts, TrackLimiter
from engine.runtime import Runtime
from engine.time.clock import FixedClock
from tests.engine.sample_people import BRIDE, CHILD, CLERK, GROOM, applicant

KEY = licence_qr_key(None)
TTL = 300
COMPANY = make_credit_code("430100", "MA4L88002")


def _licence(session: Session, clock: FixedClock, *, holder: str = GROOM, type_code: str = "L2000025",
             valid_to: date | None = None, **attributes: object) -> Licence:
    licence = store_licence(
        session, type_code=type_code, holder_id=holder, number="J430102-2026-000123",
        attributes={"name": "测试甲", "spouse_name": "测试乙", "spouse_id_number": BRIDE, **attributes}
        if type_code == "L2000025" else attributes,
        issuer="长沙市芙蓉区民政局", valid_from=date(2026, 1, 5), valid_to=valid_to, now=clock.now())
    session.commit()
    return licence


def _show(session: Session, runtime: Runtime, licence: Licence, actor: Actor | None = None) -> str:
    shown = show_licence(session, actor=actor or applicant(GROOM), licence_id=licence.id, now=runtime.clock.now(),
                         key=KEY, ttl_seconds=TTL)
    return shown.token


def _verify(session: Session, runtime: Runtime, token: str, *, limiter: TrackLimiter | None = None,
            client: str = "") -> VerifiedLicence:
    return verify_licence(session, token=token, now=runtime.clock.now(), key=KEY, catalog=runtime.registry.catalog,
                          limiter=limiter, client=client)


def test_the_holder_shows_a_licence_and_the_token_verifies(session: Session, runtime: Runtime,
                                                          clock: FixedClock) -> None:
    licence = _licence(session, clock)
    shown = show_licence(session, actor=applicant(GROOM), licence_id=licence.id, now=clock.now(), key=KEY,
                         ttl_seconds=TTL)
    assert shown.expires_at == clock.now() + timedelta(seconds=TTL)
    assert shown.verify_path == f"/verify/licence/{shown.token}"
    assert shown.page_path == f"/ui/verify/licence/{shown.token}"
    assert set(shown.token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    for personal in (GROOM, BRIDE, "测试甲", "测试乙"):
        assert personal not in shown.token
    clock.advance(seconds=TTL - 1)
    found = verify_licence(session, token=shown.token, now=clock.now(), key=KEY, catalog=runtime.registry.catalog)
    assert (found.type_name_zh, found.type_name_en) == ("结婚证", "Marriage certificate")
    assert (found.number, found.issuer, found.valid_from, found.valid_to) == (
        "J430102-2026-000123", "长沙市芙蓉区民政局", date(2026, 1, 5), None)
    assert (found.status, found.status_zh, found.status_en) == ("valid", "有效", "Valid")
    assert found.holder == GROOM[:6] + "*" * 8 + GROOM[-4:]
    assert found.holder_name == "测*"
    assert found.checked_at == clock.now()


def test_nothing_but_the_public_facts_is_in_the_result(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    licence = _licence(session, clock, address="长沙市芙蓉区某某路1号")
    found = _verify(session, runtime, _show(session, runtime, licence))
    text = repr(asdict(found))
    for secret in (GROOM, BRIDE, "测试甲", "测试乙", "某某路", licence.id):
        assert secret not in text
    assert set(asdict(found)) == {
        "type_name_zh", "type_name_en", "number", "issuer", "valid_from", "valid_to", "status", "holder",
        "holder_name", "checked_at"}


@pytest.mark.parametrize("who", [
    applicant(CHILD),  # another applicant
    Actor(id="x", role=Role.APPLICANT),  # an applicant token without a subject
    CLERK,  # staff: not the holder either
    Actor(id="officer-11", role=Role.OFFICER, department="11", region="430102", subject=GROOM),
    Actor(id="admin", role=Role.ADMIN, subject=GROOM),
])
def test_only_the_holder_may_show_it_others_get_the_unknown_ids_answer(
        session: Session, runtime: Runtime, clock: FixedClock, who: Actor) -> None:
    licence = _licence(session, clock)
    with pytest.raises(NotFound) as stranger:
        _show(session, runtime, licence, who)
    with pytest.raises(NotFound) as unknown:
        show_licence(session, actor=applicant(GROOM), licence_id="0" * 32, now=clock.now(), key=KEY, ttl_seconds=TTL)
    assert stranger.value.field == unknown.value.field == "licence_id"
    assert stranger.value.message == unknown.value.message


def test_a_revoked_expired_or_future_licence_is_not_shown(session: Session, runtime: Runtime,
                                                           clock: FixedClock) -> None:
    revoked = _licence(session, clock)
    revoke_licence(session, licence_id=revoked.id, now=clock.now())
    session.commit()
    expired = _licence(session, clock, type_code="L2000016", valid_to=date(2026, 3, 1), name="测试甲")
    future = store_licence(session, type_code="L2000036", holder_id=GROOM, number="S-1", attributes={},
                           issuer="人社局", valid_from=date(2026, 3, 3), now=clock.now())
    session.commit()
    for licence, word in ((revoked, "已注销"), (expired, "已过期"), (future, "尚未生效")):
        with pytest.raises(Conflict) as refused:
            _show(session, runtime, licence)
        assert refused.value.field == "licence_id"
        english, _, chinese = refused.value.message.rpartition(" / ")
        assert english and word in chinese
    # the last day of validity still counts
    last_day = _licence(session, clock, type_code="L2000041", valid_to=date(2026, 3, 2), name="测试甲")
    assert _verify(session, runtime, _show(session, runtime, last_day)).status == "valid"


def test_a_tampered_token_a_foreign_key_and_garbage_are_one_not_found(session: Session, runtime: Runtime,
                                                                      clock: FixedClock) -> None:
    licence = _licence(session, clock)
    token = _show(session, runtime, licence)
    payload, _, mac = token.partition(".")
    other = _licence(session, clock, type_code="L2000016", name="测试甲")
    other_payload = _show(session, runtime, other).partition(".")[0]
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    bad = [
        payload + "." + flipped,  # the MAC changed
        other_payload + "." + mac,  # another licence's payload under this MAC
        licence_token(licence_id=licence.id, holder_id=GROOM, now=clock.now(), key=b"k" * 32, ttl_seconds=TTL),
        licence_token(licence_id="f" * 32, holder_id=GROOM, now=clock.now(), key=KEY, ttl_seconds=TTL),  # no licence
        "", "abc", "...", "%%%.%%%", payload, "é." + mac, token + "x" * 300,
    ]
    for wrong in bad:
        with pytest.raises(NotFound) as refused:
            _verify(session, runtime, wrong)
        assert refused.value.field == "token" and refused.value.message == TOKEN_NOT_FOUND, wrong


def test_an_expired_token_is_the_same_not_found(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    licence = _licence(session, clock)
    token = _show(session, runtime, licence)
    clock.advance(seconds=TTL)
    with pytest.raises(NotFound) as expired:
        _verify(session, runtime, token)
    assert expired.value.field == "token" and expired.value.message == TOKEN_NOT_FOUND
    # showing it again gives a new token that works
    assert _verify(session, runtime, _show(session, runtime, licence)).status == "valid"


def test_a_licence_revoked_or_expiring_after_showing_reads_so(session: Session, runtime: Runtime,
                                                               clock: FixedClock) -> None:
    licence = _licence(session, clock)
    token = _show(session, runtime, licence)
    revoke_licence(session, licence_id=licence.id, now=clock.now())
    session.commit()
    found = _verify(session, runtime, token)
    assert (found.status, found.status_zh) == ("revoked", "已注销")
    # valid until today (Beijing): shown at 23:58, checked after midnight it has expired
    clock.set_local(date(2026, 3, 2), hour=23)
    clock.advance(minutes=58)
    ending = _licence(session, clock, type_code="L2000016", valid_to=date(2026, 3, 2), name="测试甲")
    token = _show(session, runtime, ending)
    clock.advance(minutes=3)
    found = _verify(session, runtime, token)
    assert (found.status, found.status_en) == ("expired", "Expired")


def test_an_enterprise_shows_its_credit_code_in_full(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    licence = _licence(session, clock, holder=COMPANY, type_code="L1000001", name="湖南测试科技有限公司",
                       address="长沙市岳麓区某某路2号")
    found = _verify(session, runtime, _show(session, runtime, licence, applicant(COMPANY)))
    assert found.holder == COMPANY and found.holder_name == "湖*"
    assert found.type_name_zh == "营业执照"


def test_a_licence_without_a_name_shows_none(session: Session, runtime: Runtime, clock: FixedClock) -> None:
    licence = _licence(session, clock, type_code="L2000036")
    assert _verify(session, runtime, _show(session, runtime, licence)).holder_name is None


def test_failures_lock_the_client_until_the_window_passes(session: Session, runtime: Runtime,
                                                          clock: FixedClock) -> None:
    licence = _licence(session, clock)
    limiter = verify_limiter(clock)
    for _ in range(limiter.failures):
        with pytest.raises(NotFound):
            _verify(session, runtime, "forged.token", limiter=limiter, client="10.0.0.1")
    token = _show(session, runtime, licence)
    with pytest.raises(TooManyAttempts):
        _verify(session, runtime, token, limiter=limiter, client="10.0.0.1")
    # another client is not locked, and the window passes
    assert _verify(session, runtime, token, limiter=limiter, client="10.0.0.2").status == "valid"
    clock.advance(minutes=15, seconds=1)
    token = _show(session, runtime, licence)
    assert _verify(session, runtime, token, limiter=limiter, client="10.0.0.1").status == "valid"


def test_the_key_comes_from_the_setting_or_is_random() -> None:
    from pydantic import SecretStr

    assert licence_qr_key(SecretStr("s" * 16)) == licence_qr_key(SecretStr("s" * 16)) != licence_qr_key(None)
    assert licence_qr_key(None) != licence_qr_key(None)
    with pytest.raises(ValueError):
        licence_token(licence_id="a", holder_id=GROOM, now=FixedClock().now(), key=KEY, ttl_seconds=0)
