"""扫码亮证 over HTTP, on every backend: POST /licences/{id}/show, GET /verify/licence/{token}, the page."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date

import pytest
import segno
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from engine.db.models import Licence
from engine.documents.licence_qr import VERIFY_FAILURES
from engine.people.licences import revoke_licence, store_licence
from engine.settings import get_settings
from tests.api.conftest import Api, problem
from tests.engine.machine.test_handover import work_off
from tests.engine.sample_people import BRIDE, GROOM

VERIFIED = {"type_name_zh", "type_name_en", "number", "issuer", "valid_from", "valid_to", "status", "status_label",
            "holder", "holder_name", "checked_at"}
_numbers = itertools.count(1)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Environment settings for one test (the settings are cached: cleared before and after)."""
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def married(api: Api) -> Licence:
    """GROOM's 结婚证, issued by working off a marriage case (the real way a licence comes)."""
    case = api.case()
    with api.session() as session:
        work_off(session, api.runtime, case)
        return session.scalars(select(Licence).where(Licence.holder_id == GROOM,
                                                     Licence.type_code == "L2000025")).one()


def stored(api: Api, *, holder: str = GROOM, valid_to: date | None = None) -> Licence:
    with api.session() as session:
        licence = store_licence(session, type_code="L2000016", holder_id=holder, number=f"430102-ID-{next(_numbers):04d}",
                                attributes={"name": "测试甲", "address": "长沙市芙蓉区某某路1号", "id_number": holder},
                                issuer="长沙市公安局芙蓉分局", valid_from=date(2020, 1, 1), valid_to=valid_to,
                                now=api.clock.now())
        session.commit()
        return licence


def show(api: Api, licence: Licence, who: str = "applicant_own") -> dict[str, str]:
    response = api.post(f"/licences/{licence.id}/show", who)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def test_the_holder_shows_a_licence_and_anyone_verifies_it(api: Api) -> None:
    licence = married(api)
    body = show(api, licence)
    assert set(body) == {"token", "expires_at", "verify_url", "page_url", "qr_svg"}
    token = body["token"]
    assert body["verify_url"] == f"/verify/licence/{token}" and body["page_url"] == f"/ui/verify/licence/{token}"
    assert body["qr_svg"].startswith("<svg") and body["qr_svg"] == segno.make(body["page_url"]).svg_inline()
    for secret in (GROOM, BRIDE, "测试甲", "测试乙"):
        assert secret not in token
    checked = api.get(body["verify_url"], None)
    assert checked.status_code == 200, checked.text
    found = checked.json()
    assert set(found) == VERIFIED
    assert found["type_name_zh"] == "结婚证" and found["status"] == "valid" and found["status_label"] == "有效"
    assert found["holder"] == GROOM[:6] + "********" + GROOM[-4:] and found["number"] == licence.number
    for secret in (GROOM, BRIDE, "测试乙", licence.id):
        assert secret not in checked.text
    page = api.client.get(body["page_url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "有效" in page.text and "结婚证" in page.text and licence.number in page.text
    assert "<script" not in page.text and GROOM not in page.text and BRIDE not in page.text


def test_only_the_holder_may_show_it(api: Api) -> None:
    licence = stored(api)
    anonymous = problem(api.post(f"/licences/{licence.id}/show", None), 401)
    assert anonymous["field"] == "Authorization"
    other = api.post(f"/licences/{licence.id}/show", "applicant_other")
    unknown = api.post(f"/licences/{'0' * 32}/show", "applicant_own")
    assert problem(other, 404)["field"] == "licence_id"
    assert other.content == unknown.content  # the same answer: an id never tells it exists
    for staff in ("clerk", "officer", "admin"):
        assert problem(api.post(f"/licences/{licence.id}/show", staff), 404)["field"] == "licence_id"
    assert problem(api.post("/licences/not-an-id/show", "applicant_own"), 422)["field"] == "licence_id"


def test_a_revoked_or_expired_licence_is_not_shown(api: Api) -> None:
    expired = stored(api, valid_to=date(2026, 3, 1))
    refused = problem(api.post(f"/licences/{expired.id}/show", "applicant_own"), 409)
    assert refused["field"] == "licence_id" and "已过期" in refused["errors"][0]["message_zh"]
    revoked = stored(api)
    with api.session() as session:
        revoke_licence(session, licence_id=revoked.id, now=api.clock.now())
        session.commit()
    refused = problem(api.post(f"/licences/{revoked.id}/show", "applicant_own"), 409)
    assert "已注销" in refused["errors"][0]["message_zh"] and refused["errors"][0]["message_en"]


def test_an_expired_or_tampered_token_is_one_not_found(api: Api) -> None:
    body = show(api, stored(api))
    token = body["token"]
    payload, _, mac = token.partition(".")
    tampered = api.get(f"/verify/licence/{payload}.{mac[::-1]}", None)
    assert problem(tampered, 404)["field"] == "token"
    api.clock.advance(seconds=get_settings().licence_qr_seconds)
    expired = api.get(body["verify_url"], None)
    assert expired.content == tampered.content
    page = api.client.get(body["page_url"])
    assert page.status_code == 404 and "该二维码无效或已过期" in page.text and "有效期" not in page.text


def test_a_licence_revoked_after_showing_reads_revoked(api: Api) -> None:
    licence = stored(api)
    body = show(api, licence)
    with api.session() as session:
        revoke_licence(session, licence_id=licence.id, now=api.clock.now())
        session.commit()
    assert api.get(body["verify_url"], None).json()["status"] == "revoked"
    page = api.client.get(body["page_url"])
    assert page.status_code == 200 and "已注销" in page.text and 'data-status="revoked"' in page.text
    assert "某某路" not in page.text and GROOM not in page.text


def test_a_licence_expired_after_showing_reads_expired(api: Api) -> None:
    api.clock.set_local(date(2026, 3, 2), hour=23)
    api.clock.advance(minutes=59)
    body = show(api, stored(api, valid_to=date(2026, 3, 2)))
    api.clock.advance(minutes=2)
    page = api.client.get(body["page_url"])
    assert page.status_code == 200 and "已过期" in page.text and 'data-status="expired"' in page.text


def test_repeated_bad_tokens_lock_the_client(api: Api) -> None:
    body = show(api, stored(api))
    for n in range(VERIFY_FAILURES):
        assert api.get(f"/verify/licence/forged{n}.token", None).status_code == 404
    locked = api.get(body["verify_url"], None)
    assert problem(locked, 429)["field"] == "token"
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    page = api.client.get(body["page_url"])
    assert page.status_code == 429 and page.headers["Retry-After"] and "尝试次数过多" in page.text
    api.clock.advance(minutes=15, seconds=1)
    body = show(api, stored(api))
    assert api.get(body["verify_url"], None).status_code == 200


def test_the_urls_are_absolute_under_public_url(api: Api, settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("ONEVISIT_PUBLIC_URL", "https://zwfw.example.gov.cn/")
    body = show(api, stored(api))
    assert body["page_url"] == f"https://zwfw.example.gov.cn/ui/verify/licence/{body['token']}"
    assert body["verify_url"] == f"https://zwfw.example.gov.cn/verify/licence/{body['token']}"
    assert body["qr_svg"] == segno.make(body["page_url"]).svg_inline()


def test_replicas_sharing_the_key_verify_each_others_codes(api: Api, settings_env: pytest.MonkeyPatch) -> None:
    body = show(api, stored(api))  # this app: a random key of its own
    with TestClient(create_app(sessions=api.db.sessions, runtime=api.runtime)) as other:
        assert other.get(body["verify_url"]).status_code == 404
    settings_env.setenv("ONEVISIT_LICENCE_QR_KEY", "a shared secret of the replicas")
    settings_env.setenv("ONEVISIT_LICENCE_QR_SECONDS", "60")
    get_settings.cache_clear()
    with TestClient(create_app(sessions=api.db.sessions, runtime=api.runtime)) as first, \
            TestClient(create_app(sessions=api.db.sessions, runtime=api.runtime)) as second:
        shown = first.post(f"/licences/{stored(api).id}/show", headers=api.auth("applicant_own"))
        assert shown.status_code == 200, shown.text
        assert second.get(shown.json()["verify_url"]).status_code == 200
        api.clock.advance(seconds=60)
        assert second.get(shown.json()["verify_url"]).status_code == 404
