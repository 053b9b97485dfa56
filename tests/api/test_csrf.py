"""CSRF on the pages (issue 7, item 10): the token is an HMAC of the login session.

A cookie planted from a subdomain or over plain http, with the same value in the form, used to
pass the double-submit check. Now the value must be the server's signature of the session it
is sent with, so a planted pair, or another session's valid value, is refused; cookies are
SameSite=Strict, the session cookie HttpOnly, and both Secure when the setting says so.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import Api

FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def _login(client: TestClient, token: str) -> None:
    client.get("/ui/login")
    value = client.cookies.get("onevisit_csrf")
    response = client.post("/ui/login", data={"token": token, "csrf_token": value}, follow_redirects=False)
    assert response.status_code == 303, response.text


def _claim(client: TestClient, api: Api, step_id: str, csrf: str) -> Any:
    return client.post(f"/ui/steps/{step_id}/claim", data={"version": str(api.step_version(step_id)), "csrf_token": csrf},
                       follow_redirects=False)


def test_a_planted_matching_cookie_and_field_are_refused(api: Api) -> None:
    step = api.step(api.case().id)
    _login(api.client, api.tokens["officer"])
    planted = "A" * 43
    api.client.cookies.set("onevisit_csrf", planted, path="/ui")
    response = _claim(api.client, api, step.id, planted)
    assert response.status_code == 403 and "页面已过期" in response.text
    assert api.step_version(step.id) == step.version


def test_another_sessions_valid_value_is_refused(api: Api) -> None:
    step = api.step(api.case().id)
    with TestClient(api.client.app) as attacker:
        _login(attacker, api.tokens["officer_far"])  # the attacker's own, valid login
        stolen = FIELD.search(attacker.get("/ui/departments/11").text)
        assert stolen
        _login(api.client, api.tokens["officer"])
        api.client.cookies.set("onevisit_csrf", stolen[1], path="/ui")
        assert _claim(api.client, api, step.id, stolen[1]).status_code == 403
    assert api.step_version(step.id) == step.version


def test_an_unsigned_pair_cannot_log_anyone_in(api: Api) -> None:
    api.client.cookies.set("onevisit_csrf", "B" * 43, path="/ui")
    response = api.client.post("/ui/login", data={"token": api.tokens["clerk"], "csrf_token": "B" * 43},
                               follow_redirects=False)
    assert response.status_code == 403 and "onevisit_token" not in response.headers.get("set-cookie", "")


def test_the_proper_flow_works_and_the_value_follows_the_session(api: Api) -> None:
    step = api.step(api.case().id)
    login_page = api.client.get("/ui/login")
    anonymous = FIELD.search(login_page.text)
    assert anonymous and anonymous[1] == api.client.cookies.get("onevisit_csrf")
    _login(api.client, api.tokens["officer"])
    page = api.client.get(f"/ui/steps/{step.id}")
    bound = FIELD.search(page.text)
    assert bound and bound[1] != anonymous[1] and bound[1] == api.client.cookies.get("onevisit_csrf")
    claimed = _claim(api.client, api, step.id, bound[1])
    assert claimed.status_code == 303, claimed.text
    assert api.step_version(step.id) == step.version + 1
    out = api.client.post("/ui/logout", data={"csrf_token": bound[1]}, follow_redirects=False)
    assert out.status_code == 303
    # logged out: the old session's value is worth nothing, and the login page hands out a new one
    fresh = FIELD.search(api.client.get("/ui/login").text)
    assert fresh and fresh[1] != bound[1]


def test_values_survive_a_restart_with_the_same_secret(api: Api) -> None:
    first = create_app(sessions=api.db.sessions, runtime=api.runtime, csrf_secret="s" * 32)
    second = create_app(sessions=api.db.sessions, runtime=api.runtime, csrf_secret="s" * 32)
    other = create_app(sessions=api.db.sessions, runtime=api.runtime, csrf_secret="t" * 32)
    with TestClient(first) as client:
        _login(client, api.tokens["clerk"])
        value = FIELD.search(client.get("/ui/intake").text)
        assert value
        cookies = dict(client.cookies)
    for app, status in ((second, 303), (other, 403)):
        with TestClient(app, cookies=cookies) as client:
            response = client.post("/ui/logout", data={"csrf_token": value[1]}, follow_redirects=False)
            assert response.status_code == status


def test_cookies_are_secure_when_the_setting_is_on(api: Api) -> None:
    app = create_app(sessions=api.db.sessions, runtime=api.runtime, secure_cookies=True)
    with TestClient(app) as client:  # plain http: the client keeps no Secure cookie, so it is sent by hand
        login = client.get("/ui/login")
        csrf_cookie = login.headers["set-cookie"].lower()
        assert "onevisit_csrf=" in csrf_cookie and "secure" in csrf_cookie and "samesite=strict" in csrf_cookie
        value = re.search(r"onevisit_csrf=([^;]+)", login.headers["set-cookie"])
        assert value
        response = client.post("/ui/login", data={"token": api.tokens["clerk"], "csrf_token": value[1]},
                               headers={"Cookie": f"onevisit_csrf={value[1]}"}, follow_redirects=False)
        assert response.status_code == 303
        cookies = response.headers.get_list("set-cookie")
        token_cookie = next(c.lower() for c in cookies if c.startswith("onevisit_token="))
        assert "secure" in token_cookie and "httponly" in token_cookie and "samesite=strict" in token_cookie
        assert all("secure" in c.lower() for c in cookies)
    plain = api.client.get("/ui/login").headers["set-cookie"].lower()
    assert "secure" not in plain  # the setting is off by default (plain http in development)
