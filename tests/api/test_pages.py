"""The web pages under /ui, on every backend: login, CSRF, who sees which page, intake with
prefill and field errors, department actions with stale versions, the applicant's progress,
supervision, and escaping of untrusted text everywhere.

The role × page matrix below is the pages' counterpart of ``test_authz.MATRIX`` (the pages are
left out of the OpenAPI schema, so that matrix does not list them): every /ui route has a row.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from api import pages
from engine.db.models import ApiToken, Case, Licence, Step
from api.demo import load_demo_data, seed_licences, synthetic_person
from engine.machine.intake import Applicant, accept_case
from engine.time.supervision import issue_cards
from engine.people.tokens import issue_token
from engine.people.validators import mask_id_number
from engine.machine.actions import claim_step, hand_in_supplement, withdraw_case
from tests.api.conftest import Api
from tests.api.test_licence_qr_routes import show as show_licence, stored as stored_licence
from tests.engine.machine.test_handover import work_off
from tests.engine.sample_people import BRIDE, CLERK, GROOM, another_couple, marriage_answers, post_death_answers

WHO = ["anonymous", "applicant_own", "applicant_other", "clerk", "clerk_other", "officer", "officer_other",
       "supervisor", "admin"]
XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


# --- helpers -----------------------------------------------------------------------------


def csrf(api: Api) -> str:
    """The double-submit value: the cookie the login page sets, to echo in the form."""
    if not api.client.cookies.get("onevisit_csrf"):
        assert api.client.get("/ui/login").status_code == 200
    value = api.client.cookies.get("onevisit_csrf")
    assert value
    return value


def get(api: Api, url: str, who: str | None) -> Any:
    return api.get(url, who, follow_redirects=False)


def post(api: Api, url: str, who: str | None, data: dict[str, Any], *, token: bool = True) -> Any:
    form = {"csrf_token": csrf(api), **data} if token else data
    return api.client.post(url, data=form, headers=api.auth(who), follow_redirects=False)


def form_of(answers: dict[str, Any]) -> dict[str, Any]:
    """Answers as the intake form posts them: ``a.<field>``, booleans as true/false, list cells."""
    form: dict[str, Any] = {}
    for name, value in answers.items():
        if isinstance(value, list):
            for i, row in enumerate(value):
                form.update({f"a.{name}.{i}.{k}": v for k, v in row.items()})
        elif isinstance(value, bool):
            form[f"a.{name}"] = "true" if value else "false"
        else:
            form[f"a.{name}"] = value
    return form


def intake_form(applicant: str = GROOM, name: str = "测试甲", key: str = "key-0000001", **answers: Any) -> dict[str, Any]:
    return {"applicant_id": applicant, "applicant_name": name, "idempotency_key": key,
            **form_of(marriage_answers(**answers))}


def case_id_of(response: Any) -> str:
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/ui/cases/([0-9a-f]{32})/receipt\?msg=accepted", response.headers["location"])
    assert found, response.headers["location"]
    return found[1]


def field_box(html: str, field: str) -> str:
    """The markup of one intake field (its label, input, source and errors)."""
    found = re.search(rf'<div class="field[^"]*" data-field="a-{field}".*?(?=<div class="field|</div>\s*<h2)', html, re.S)
    assert found, f"no field {field}"
    return found[0]


# --- the role × page matrix --------------------------------------------------------------

Call = tuple[str, str, dict[str, Any] | None, str | None]
"""method, url, form (POST), id of the step that must stay unchanged when refused."""


def _fixed(method: str, url: str, data: dict[str, Any] | None = None) -> Callable[[Api], Call]:
    return lambda api: (method, url, data, None)


def _case_page(suffix: str = "", state: str | None = None, withdrawn: bool = False) -> Callable[[Api], Call]:
    def prepare(api: Api) -> Call:
        case = api.case()
        if state:
            api.advance(api.step(case.id), state)
        if withdrawn:
            with api.session() as session:
                withdraw_case(session, api.runtime, case_id=case.id, actor=CLERK)
        return "GET", f"/ui/cases/{case.id}{suffix}", None, None

    return prepare


def _step_page(api: Api) -> Call:
    return "GET", f"/ui/steps/{api.step(api.case().id).id}", None, None


def _act(state: str | None, action: str, data: Callable[[Step], dict[str, Any]]) -> Callable[[Api], Call]:
    def prepare(api: Api) -> Call:
        step = api.step(api.case().id)
        if state is not None:
            step = api.advance(step, state)
        return "POST", f"/ui/steps/{step.id}/{action}", {"version": str(step.version), **data(step)}, step.id

    return prepare


def _receive(api: Api) -> Call:
    """A 补正 notice the window handed the paper original in for: the officer's to confirm."""
    step = api.advance(api.step(api.case().id), "supplement_requested")
    with api.session() as session:
        step = hand_in_supplement(session, api.runtime, step_id=step.id, actor=CLERK, material="合影照片", paper=True,
                                  expected_version=step.version)
    return "POST", f"/ui/steps/{step.id}/receive-supplement", {"version": str(step.version)}, step.id


def _file(api: Api) -> Call:
    from tests.api.test_document_pages import case_with_files

    _case, views = case_with_files(api)
    return "GET", f"/ui/files/{views[1].id}", None, None


def _check(api: Api) -> Call:
    from tests.api.test_document_pages import PHOTO, case_with_files

    case, _views = case_with_files(api)
    form = {"step_id": api.step(case.id).id, "material": PHOTO, "state": "returned", "reason": "照片模糊"}
    return "POST", f"/ui/cases/{case.id}/materials/check", form, None


def _deferred(api: Api) -> Call:
    from tests.api.test_document_pages import NOTICE, deferred_case

    case = deferred_case(api)
    return "POST", f"/ui/cases/{case.id}/deferred", {"material": NOTICE, "paper": "true"}, None


def _withdraw(api: Api) -> Call:
    case = api.case()
    return "POST", f"/ui/cases/{case.id}/withdraw", {"reason": "不再需要"}, api.step(case.id).id


def _handover(api: Api) -> Call:
    """A case every step of which is done: its results for the window that received it to hand out."""
    with api.session() as session:
        case = work_off(session, api.runtime, api.case())
    return "POST", f"/ui/cases/{case.id}/handover", {"recipient": "applicant", "method": "window"}, None


def _rate(api: Api) -> Call:
    """A decided case: 好差评 from its progress page (the applicant; a window records it as the window's)."""
    with api.session() as session:
        case = work_off(session, api.runtime, api.case())
    return "POST", f"/ui/cases/{case.id}/rate", {"level": "5"}, None


def _explain(action: str, body: dict[str, Any], *, explained: bool = False) -> Callable[[Api], Call]:
    def prepare(api: Api) -> Call:
        from tests.api.test_authz import _red_card

        return "POST", f"/ui/cards/{_red_card(api, explained=explained)}/{action}", body, None

    return prepare


def _answer_complaint(api: Api) -> Call:
    from tests.api.test_authz import _complaint

    return "POST", f"/ui/followups/{_complaint(api)}/answer", {"version": "0", "answer": "已致歉"}, None


def _show_licence(api: Api) -> Call:
    """The groom's marriage certificate, once the case is worked off: only he may show it."""
    with api.session() as session:
        work_off(session, api.runtime, api.case())
        licence = session.scalars(select(Licence.id).where(Licence.holder_id == GROOM,
                                                           Licence.type_code == "L2000025")).one()
    return "POST", f"/ui/licences/{licence}/show", {}, None


def _reassign(api: Api) -> Call:
    step = api.advance(api.step(api.case().id), "in_progress")
    with api.session() as session:
        issue_token(session, role="officer", department="11", region="430102", label="colleague", now=api.clock.now())
        colleague = session.scalars(select(ApiToken.id).where(ApiToken.label == "colleague")).one()
    return "POST", f"/ui/steps/{step.id}/reassign", {"version": str(step.version), "to": colleague}, step.id


def _track(api: Api) -> Call:
    """一码通办: the receipt number and the last four of the applicant's ID, whoever asks."""
    return "POST", "/ui/track", {"receipt_no": api.case().receipt_no, "factor": GROOM[-4:]}, None


def _read_notices(api: Api) -> Call:
    """标为已读 on the case page: every unread notice of the caller's about the case."""
    return "POST", f"/ui/cases/{api.case().id}/notifications/read", {}, None


def _login(api: Api) -> Call:
    return "POST", "/ui/login", {}, None  # the token is the caller's own (see the test)


@dataclass(frozen=True)
class Row:
    endpoint: str
    prepare: Callable[[Api], Call]
    expected: tuple[int, ...]  # in the order of WHO; 303 is a redirect (login, or the result of an action)


nothing: Callable[[Step], dict[str, Any]] = lambda step: {}  # noqa: E731
PAGES = [
    #                                                                          anon own  oth  clk  clk2 off  off2 sup  adm
    Row("GET /ui/login", _fixed("GET", "/ui/login"), (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("POST /ui/login", _login, (401, 303, 303, 303, 303, 303, 303, 303, 303)),
    Row("POST /ui/logout", _fixed("POST", "/ui/logout", {}), (303, 303, 303, 303, 303, 303, 303, 303, 303)),
    Row("POST /ui/language", _fixed("POST", "/ui/language", {"lang": "zh-en", "next": "/ui/intake"}),
        (303, 303, 303, 303, 303, 303, 303, 303, 303)),
    Row("GET /ui/", _fixed("GET", "/ui/"), (303, 303, 303, 303, 303, 303, 303, 303, 303)),
    Row("GET /ui/intake", _fixed("GET", "/ui/intake"), (303, 200, 200, 200, 200, 403, 403, 403, 200)),
    Row("GET /ui/intake/{bundle_id}", _fixed("GET", f"/ui/intake/marriage?applicant_id={GROOM}"),
        (303, 200, 200, 200, 200, 403, 403, 403, 200)),
    Row("POST /ui/intake/{bundle_id}/identify", _fixed("POST", "/ui/intake/marriage/identify", {
        "applicant_id": GROOM, "a.groom_id_number": GROOM}), (303, 200, 200, 200, 200, 403, 403, 403, 200)),
    Row("POST /ui/intake/{bundle_id}", _fixed("POST", "/ui/intake/marriage", intake_form()),
        (303, 303, 303, 303, 303, 403, 403, 403, 303)),
    Row("GET /ui/cases", _fixed("GET", "/ui/cases"), (303, 200, 200, 200, 200, 403, 403, 200, 200)),
    Row("POST /ui/cases/search", _fixed("POST", "/ui/cases/search", {"q": "430102"}),
        (303, 403, 403, 200, 200, 403, 403, 200, 200)),
    # Outside one's scope a case or step is a 404; officers work from their step, not the case's documents.
    Row("GET /ui/cases/{case_id}", _case_page(), (303, 200, 404, 200, 404, 200, 404, 200, 200)),
    Row("GET /ui/cases/{case_id}/receipt", _case_page("/receipt"), (303, 200, 404, 200, 404, 403, 404, 200, 200)),
    Row("GET /ui/cases/{case_id}/notices/missing-materials", _case_page("/notices/missing-materials",
        state="supplement_requested"), (303, 200, 404, 200, 404, 403, 404, 200, 200)),
    Row("GET /ui/cases/{case_id}/notices/completion", _case_page("/notices/completion", withdrawn=True),
        (303, 200, 404, 200, 404, 403, 404, 200, 200)),
    # Files: readers of the case, an officer of a step needing the material; the check by the windows
    # holding the case and that officer; 容缺 (here a paper original: the window's) by the applicant or a window
    # (民政 has no step in a newborn case: it is not theirs to see).
    Row("GET /ui/files/{file_id}", _file, (303, 200, 404, 200, 404, 200, 404, 200, 200)),
    Row("POST /ui/cases/{case_id}/materials/check", _check, (303, 403, 404, 303, 404, 303, 404, 403, 303)),
    Row("POST /ui/cases/{case_id}/deferred", _deferred, (303, 403, 404, 303, 404, 404, 404, 403, 403)),
    Row("POST /ui/cases/{case_id}/withdraw", _withdraw, (303, 303, 404, 303, 404, 403, 404, 403, 303)),
    # 消息: whoever sees the case marks their own notices about it read.
    Row("POST /ui/cases/{case_id}/notifications/read", _read_notices, (303, 303, 404, 303, 404, 303, 404, 303, 303)),
    # 出件: only a clerk of the receiving window (430102's) hands the results out.
    Row("POST /ui/cases/{case_id}/handover", _handover, (303, 403, 404, 303, 404, 403, 404, 403, 403)),
    Row("POST /ui/cases/{case_id}/rate", _rate, (303, 303, 404, 303, 404, 403, 404, 403, 403)),
    Row("GET /ui/departments/{code}", _fixed("GET", "/ui/departments/11"), (303, 403, 403, 403, 403, 200, 403, 200, 200)),
    Row("POST /ui/departments/{code}/claim", _fixed("POST", "/ui/departments/11/claim", {}),
        (303, 403, 403, 403, 403, 303, 403, 303, 303)),
    Row("POST /ui/departments/{code}/complete", _fixed("POST", "/ui/departments/11/complete", {"result": "结婚证"}),
        (303, 403, 403, 403, 403, 303, 403, 303, 303)),
    Row("GET /ui/steps/{step_id}", _step_page, (303, 200, 404, 200, 404, 200, 404, 200, 200)),
    Row("POST /ui/steps/{step_id}/claim", _act(None, "claim", nothing), (303, 403, 404, 403, 404, 303, 404, 403, 403)),
    # Steps claimed by ``officer`` (api.advance): only the assignee works them; supervisors hand them over.
    Row("POST /ui/steps/{step_id}/start", _act("assigned", "start", nothing),
        (303, 403, 404, 403, 404, 303, 404, 403, 403)),
    Row("POST /ui/steps/{step_id}/complete", _act("in_progress", "complete", lambda s: {"result": "结婚证"}),
        (303, 403, 404, 403, 404, 303, 404, 403, 403)),
    Row("POST /ui/steps/{step_id}/reject", _act("in_progress", "reject", lambda s: {"reason": "不符合条件"}),
        (303, 403, 404, 403, 404, 303, 404, 403, 403)),
    Row("POST /ui/steps/{step_id}/request-supplement",
        _act("in_progress", "request-supplement", lambda s: {"materials": "合影照片\n户口簿", "note": ""}),
        (303, 403, 404, 403, 404, 303, 404, 403, 403)),
    Row("POST /ui/steps/{step_id}/unclaim", _act("assigned", "unclaim", nothing),
        (303, 403, 404, 403, 404, 303, 404, 303, 303)),
    Row("POST /ui/steps/{step_id}/reassign", _reassign, (303, 403, 404, 403, 404, 403, 404, 303, 303)),
    # The time actions on a real marriage step, whose bundle declares no extension, wait or window (the
    # forms work: tests/api/test_step_page_actions.py): the caller's scope and role first, then the gate.
    Row("POST /ui/steps/{step_id}/request-extension",
        _act("in_progress", "request-extension", lambda s: {"days": "3", "reason": "需现场核查"}),
        (303, 403, 404, 403, 404, 409, 404, 403, 403)),
    Row("POST /ui/steps/{step_id}/approve-extension", _act("in_progress", "approve-extension", nothing),
        (303, 403, 404, 403, 404, 403, 404, 409, 409)),
    Row("POST /ui/steps/{step_id}/refuse-extension", _act("in_progress", "refuse-extension", lambda s: {"reason": "否"}),
        (303, 403, 404, 403, 404, 403, 404, 409, 409)),
    Row("POST /ui/steps/{step_id}/declare-no-objection", _act(None, "declare-no-objection", nothing),
        (303, 409, 404, 409, 404, 409, 404, 409, 409)),
    Row("POST /ui/steps/{step_id}/raise-objection", _act(None, "raise-objection", lambda s: {"grounds": "信息有误"}),
        (303, 409, 404, 409, 404, 409, 404, 409, 409)),
    # 告知承诺 on a marriage step, which is no commitment step: scope first, then the gate (409).
    Row("POST /ui/steps/{step_id}/sign", _act(None, "sign", lambda s: {"text_hash": "0" * 64, "agree": "1"}),
        (303, 409, 404, 409, 404, 409, 404, 409, 409)),
    # 补正: a paper original is the window's to record (the applicant's files: test_document_pages);
    # only the step's officer confirms the receipt.
    Row("POST /ui/steps/{step_id}/hand-in",
        _act("supplement_requested", "hand-in", lambda s: {"material": "合影照片", "paper": "true"}),
        (303, 403, 404, 303, 404, 403, 404, 403, 403)),
    Row("POST /ui/steps/{step_id}/receive-supplement", _receive, (303, 403, 404, 403, 404, 303, 404, 403, 403)),
    Row("GET /ui/supervision", _fixed("GET", "/ui/supervision"), (303, 403, 403, 403, 403, 403, 403, 200, 200)),
    # 情况说明: the late office's officer explains its red card; a supervisor of the region (or an admin) decides.
    Row("GET /ui/explanations", _fixed("GET", "/ui/explanations"), (303, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("POST /ui/cards/{card_id}/explanation", _explain("explanation", {"reason": "病假", "corrective_action": "AB岗"}),
        (303, 404, 404, 404, 404, 303, 404, 403, 403)),
    Row("POST /ui/cards/{card_id}/explanation/accept", _explain("explanation/accept", {}, explained=True),
        (303, 404, 404, 404, 404, 403, 404, 303, 303)),
    Row("POST /ui/cards/{card_id}/explanation/return", _explain("explanation/return", {"note": "不具体"}, explained=True),
        (303, 404, 404, 404, 404, 403, 404, 303, 303)),
    # 整改, 核查, 诉求: each reaches its own (a list, possibly empty); here the office's officer answers a complaint.
    Row("GET /ui/followups", _fixed("GET", "/ui/followups"), (303, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("POST /ui/followups/{followup_id}/{action}", _answer_complaint, (303, 403, 404, 404, 404, 303, 404, 403, 403)),
    # 我的证照 (an applicant's own) and 消息 (everyone's own notices).
    Row("GET /ui/licences", _fixed("GET", "/ui/licences"), (303, 200, 200, 403, 403, 403, 403, 403, 403)),
    Row("POST /ui/licences/{licence_id}/show", _show_licence, (303, 200, 404, 404, 404, 404, 404, 404, 404)),
    Row("GET /ui/inbox", _fixed("GET", "/ui/inbox"), (303, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("GET /ui/supervision/report.csv", _fixed("GET", "/ui/supervision/report.csv"),
        (303, 403, 403, 403, 403, 403, 403, 200, 200)),
    # 一码通办: public, what the receipt's QR opens.
    Row("GET /ui/track", _fixed("GET", "/ui/track?receipt_no=430102-20260101-00001"),
        (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("POST /ui/track", _track, (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    # 扫码亮证: public, what a licence's QR opens.
    Row("GET /ui/verify/licence/{token}", lambda api: ("GET", show_licence(api, stored_licence(api))["page_url"], None, None),
        (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("GET /ui/{rest}", _fixed("GET", "/ui/no/such/page"), (404, 404, 404, 404, 404, 404, 404, 404, 404)),
]
CELLS = [pytest.param(row, who, status, id=f"{row.endpoint}-{who}")
         for row in PAGES for who, status in zip(WHO, row.expected, strict=True)]


def test_every_page_has_a_matrix_row(api: Api) -> None:
    routes = set()
    for info in pkgutil.iter_modules(pages.__path__):
        module = importlib.import_module(f"api.pages.{info.name}")
        for route in getattr(getattr(module, "router", None), "routes", []):
            routes |= {f"{method} /ui{route.path.replace(':path', '')}" for method in route.methods}
    assert routes == {row.endpoint for row in PAGES}
    assert "/ui" not in str(api.get("/openapi.json", None).json()["paths"])  # HTML pages are not API


@pytest.mark.parametrize(("row", "who", "expected"), CELLS)
def test_page_matrix(api: Api, row: Row, who: str, expected: int) -> None:
    method, url, data, step_id = row.prepare(api)
    before = api.step_version(step_id) if step_id else None
    caller = None if who == "anonymous" else who
    if method == "GET":
        response = get(api, url, caller)
    elif row.endpoint == "POST /ui/login":
        response = post(api, url, None, {"token": api.tokens[who] if caller else ""})
    else:
        response = post(api, url, caller, data or {})
    assert response.status_code == expected, f"{row.endpoint} as {who}: {response.text[:2000]}"
    if expected == 303 and caller is None and row.endpoint not in ("POST /ui/logout", "POST /ui/language"):
        assert response.headers["location"].startswith("/ui/login")
    if expected >= 400:
        assert response.headers["content-type"].startswith("text/html")
        assert "<html" in response.text and "Traceback" not in response.text
        if step_id:
            assert api.step_version(step_id) == before, "a refused action changed the step"


# --- login, cookies, CSRF ----------------------------------------------------------------


def test_login_sets_a_strict_httponly_cookie_and_logout_clears_it(api: Api) -> None:
    login = api.client.get("/ui/login")
    assert 'name="csrf_token"' in login.text
    assert "httponly" in login.headers["set-cookie"].lower() and "samesite=strict" in login.headers["set-cookie"].lower()
    response = post(api, "/ui/login", None, {"token": api.tokens["clerk"], "next": "/ui/"})
    assert response.status_code == 303 and response.headers["location"] == "/ui/intake"
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("onevisit_token=") and "httponly" in cookie and "samesite=strict" in cookie
    assert "path=/ui" in cookie and "secure" not in cookie  # plain http in tests; https gets Secure
    assert api.client.get("/ui/intake").status_code == 200  # the cookie alone logs in
    assert "综合窗口受理人员" in api.client.get("/ui/intake").text
    out = post(api, "/ui/logout", None, {})
    assert out.status_code == 303 and 'onevisit_token=""' in out.headers["set-cookie"]
    again = api.client.get("/ui/intake", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/ui/login?next=%2Fui%2Fintake"


def test_login_returns_to_the_page_asked_for_and_never_to_another_site(api: Api) -> None:
    case = api.case()
    back = post(api, "/ui/login", None, {"token": api.tokens["applicant_own"], "next": f"/ui/cases/{case.id}"})
    assert back.headers["location"] == f"/ui/cases/{case.id}"
    for target in ("https://evil.example/", "//evil.example/ui", "/ui\\..\\x"):
        away = post(api, "/ui/login", None, {"token": api.tokens["applicant_own"], "next": target})
        assert away.headers["location"] == "/ui/cases"


@pytest.mark.parametrize(("who", "home"), [("clerk", "/ui/intake"), ("officer", "/ui/departments/11"),
                                           ("applicant_own", "/ui/cases"), ("supervisor", "/ui/supervision"),
                                           ("admin", "/ui/supervision")])
def test_home_by_role(api: Api, who: str, home: str) -> None:
    assert get(api, "/ui/", who).headers["location"] == home


def test_unknown_revoked_or_missing_tokens_go_to_the_login_page(api: Api) -> None:
    bad = post(api, "/ui/login", None, {"token": "not-a-token"})
    assert bad.status_code == 401 and "令牌无效" in bad.text and "onevisit_token" not in bad.headers.get("set-cookie", "")
    for url in ("/ui/intake", "/ui/cases", "/ui/supervision", "/ui/departments/11"):
        response = api.client.get(url, headers={"Authorization": "Bearer nope"}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/ui/login?next=")
    api.client.cookies.set("onevisit_token", "stale-token", path="/ui")
    response = api.client.get("/ui/cases", follow_redirects=False)
    assert response.status_code == 303 and 'onevisit_token=""' in response.headers["set-cookie"]


def test_posts_without_the_matching_csrf_value_are_refused(api: Api) -> None:
    step = api.step(api.case().id)
    csrf(api)
    for data in ({}, {"csrf_token": "x" * 43}, {"csrf_token": "令牌" * 20}):
        response = api.client.post(f"/ui/steps/{step.id}/claim", data={"version": str(step.version), **data},
                                   headers=api.auth("officer"), follow_redirects=False)
        assert response.status_code == 403 and "页面已过期" in response.text
    assert api.step_version(step.id) == step.version
    assert post(api, "/ui/login", None, {"token": api.tokens["clerk"]}, token=False).status_code == 403
    api.client.cookies.clear()  # no cookie at all: the hidden field alone proves nothing
    response = api.client.post("/ui/logout", data={"csrf_token": "x" * 43}, follow_redirects=False)
    assert response.status_code == 403


def test_pages_send_security_headers(api: Api) -> None:
    response = get(api, "/ui/intake/marriage", "clerk")
    policy = response.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce and f'<script nonce="{nonce[1]}">' in response.text and "default-src 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in response.text


# --- intake ------------------------------------------------------------------------------


def _seed(api: Api) -> tuple[str, str]:
    with api.session() as session:
        seed_licences(session, api.runtime, load_demo_data(), report=lambda _: None)
    return synthetic_person(1), synthetic_person(2)


def test_intake_shows_prefilled_values_with_their_source_and_waived_materials(api: Api) -> None:
    groom, bride = _seed(api)
    chooser = get(api, "/ui/intake", "clerk")
    assert 'href="/ui/intake/marriage"' in chooser.text and "结婚落户" in chooser.text
    first = get(api, "/ui/intake/marriage", "clerk")
    assert 'id="identify"' in first.text and 'id="application"' not in first.text
    page = get(api, f"/ui/intake/marriage?applicant_id={groom}&applicant_name=测试甲&a.groom_id_number={groom}"
                    f"&a.bride_id_number={bride}", "clerk")
    assert page.status_code == 200
    groom_name = field_box(page.text, "groom_name")
    assert 'value="测试甲"' in groom_name and "readonly" in groom_name
    assert f"已从 居民身份证 ID-{groom[-8:]} 自动填写" in groom_name
    assert 'value="测试乙"' in field_box(page.text, "bride_name")
    waived = page.text[page.text.index('id="waived"'):page.text.index('id="to-supply"')]
    assert "男方居民身份证" in waived and "已关联电子证照" in waived and "结婚证" in waived
    assert "3张2寸男女双方近期半身免冠合影照片" in page.text[page.text.index('id="to-supply"'):]
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert key
    form = intake_form(groom, key=key[1], groom_id_number=groom, bride_id_number=bride, groom_name="测试甲",
                       bride_name="测试乙")
    case_id = case_id_of(post(api, "/ui/intake/marriage", "clerk", form))
    receipt = get(api, f"/ui/cases/{case_id}/receipt?msg=accepted", "clerk")
    assert receipt.status_code == 200 and "受理回执" in receipt.text and "受理成功" in receipt.text
    assert re.search(r"回执号：<strong>430102-20260302-\d{5}</strong>", receipt.text)
    assert 'id="print"' in receipt.text and 'class="no-print"' in receipt.text


def test_applicants_apply_for_themselves_with_only_their_own_data_prefilled(api: Api) -> None:
    groom, bride = _seed(api)
    with api.session() as session:
        api.tokens["demo_groom"] = issue_token(session, role="applicant", subject=groom, now=api.clock.now())
    page = get(api, f"/ui/intake/marriage?applicant_id={BRIDE}&a.groom_id_number={groom}&a.bride_id_number={bride}",
               "demo_groom")
    assert f'value="{groom}"' in page.text and 'value="测试甲"' in field_box(page.text, "groom_name")
    assert 'value="测试乙"' not in field_box(page.text, "bride_name")  # the bride's card is not theirs to read


def test_invalid_input_comes_back_with_every_error_next_to_its_field(api: Api) -> None:
    form = intake_form(applicant_phone="12345", bride_id_number="430104199608030228")
    del form["a.previously_married"]
    response = post(api, "/ui/intake/marriage", "clerk", form)
    assert response.status_code == 422
    phone = field_box(response.text, "applicant_phone")
    assert 'class="field invalid"' in phone and 'value="12345"' in phone and "电话号码格式不正确" in phone
    assert "必填" in field_box(response.text, "previously_married")
    assert 'class="field invalid"' in field_box(response.text, "bride_id_number")
    assert 'value="测试甲"' in field_box(response.text, "groom_name")  # typed values are kept
    assert "申请内容有误" in response.text and 'href="#a-applicant_phone"' in response.text
    with api.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_list_rows_errors_and_garbage_never_make_a_500(api: Api) -> None:
    answers = post_death_answers()
    answers["heirs"][1]["heir_id_number"] = "123"
    form = {"applicant_id": answers["heirs"][0]["heir_id_number"], "idempotency_key": "k" * 10, **form_of(answers),
            "a.heirs.7.heir_name": "", "a.unknown_field": "x"}
    response = post(api, "/ui/intake/post_death", "clerk", form)
    assert response.status_code == 422, response.text[:500]
    assert re.search(r'<td class="invalid"><input type="text" name="a\.heirs\.1\.heir_id_number"[^>]*value="123"',
                     response.text)
    assert "继承人（提取小额存款） 第2行 继承人身份证号" in response.text
    for garbage in ({"applicant_id": "\x00" * 40, "a.groom_name": "\x00"}, {"applicant_id": "x" * 10_000},
                    {"a.previously_married": "maybe", "a.heirs.999999.x": "1", "idempotency_key": "\x01"}):
        assert post(api, "/ui/intake/marriage", "clerk", garbage).status_code == 422
    raw = f"csrf_token={csrf(api)}&applicant_id=%ED%A0%80%FF&a.groom_name=%ED%A0%80&a.bride_name=%00".encode()
    response = api.client.post("/ui/intake/marriage", content=raw, follow_redirects=False, headers={
        **api.auth("clerk"), "content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 422
    assert get(api, "/ui/intake/Not-A-Bundle", "clerk").status_code == 422
    assert "未找到" in get(api, "/ui/intake/no_such_bundle", "clerk").text


def test_a_double_submit_makes_one_case(api: Api) -> None:
    form = intake_form(key="double-submit-1")
    first = case_id_of(post(api, "/ui/intake/marriage", "clerk", form))
    assert case_id_of(post(api, "/ui/intake/marriage", "clerk", form)) == first
    with api.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1


# --- department work ---------------------------------------------------------------------


def test_a_stale_version_reloads_the_step_with_a_clear_message(api: Api) -> None:
    step = api.step(api.case().id)
    page = get(api, f"/ui/steps/{step.id}", "officer")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version and int(version[1]) == step.version
    with api.session() as session:  # the same officer claims it meanwhile, in another tab
        claim_step(session, api.runtime, step_id=step.id, actor=api.officer_for("11"), expected_version=step.version)
    response = post(api, f"/ui/steps/{step.id}/claim", "officer", {"version": version[1]})
    assert response.status_code == 409
    assert "已被他人修改，已为您重新加载" in response.text and "已分派" in response.text
    assert f'name="version" value="{step.version + 1}"' in response.text  # the reloaded step's forms


def test_officer_claims_completes_rejects_and_asks_for_supplements(api: Api) -> None:
    case = api.case()
    step = api.step(case.id)
    page = get(api, f"/ui/steps/{step.id}", "officer")
    assert "男方姓名" in page.text and "生育" not in page.text.split("本事项所需信息")[1].split("申请材料")[0]
    assert "免提交" in page.text and "11-JHDJ" in page.text
    claimed = post(api, f"/ui/steps/{step.id}/claim", "officer", {"version": str(step.version)})
    assert claimed.headers["location"] == f"/ui/steps/{step.id}?msg=claimed"
    assert "已认领" in get(api, claimed.headers["location"], "officer").text
    version = api.step_version(step.id)
    no_reason = post(api, f"/ui/steps/{step.id}/reject", "officer", {"version": str(version), "reason": "  "})
    assert no_reason.status_code == 422 and "rejection needs a reason" in no_reason.text
    done = post(api, f"/ui/steps/{step.id}/complete", "officer",
                {"version": str(version), "result": "结婚证", "number": "J430102-2026-000123"})
    assert done.status_code == 303
    with api.session() as session:
        finished = session.get_one(Step, step.id)
        assert finished.state == "done" and finished.outputs["result"] == "结婚证"
        assert finished.outputs["licences"][0]["number"].startswith("J430102-2026-000123")
    history = get(api, f"/ui/steps/{step.id}", "officer").text
    assert "认领" in history and "办结" in history
    household = api.advance(api.step(case.id, "marital_status_change"), "in_progress")
    asked = post(api, f"/ui/steps/{household.id}/request-supplement", "officer_09",
                 {"version": str(household.version), "materials": "户口簿原件\n\n  结婚证复印件 ", "note": "请带原件"})
    assert asked.status_code == 303
    progress = get(api, f"/ui/cases/{case.id}", "applicant_own").text
    assert "户口簿原件" in progress and "结婚证复印件" in progress and "补正告知书" in progress


def test_worklist_filters_pages_masks_and_marks_provisional_and_overdue_dates(api: Api) -> None:
    for i in range(22):
        api.case(**(another_couple() if i else {}))
    api.clock.current = datetime(2026, 12, 14, 1, tzinfo=UTC)  # due in 2027: holidays not yet published
    late = api.case(**another_couple())
    page = get(api, "/ui/departments/11", "officer").text
    assert "共 23 件" in page and page.count('data-step="marriage_registration"') == 20 and 'rel="next"' in page
    assert GROOM not in page and mask_id_number(GROOM) in page
    second = get(api, "/ui/departments/11?offset=20", "officer").text
    assert second.count('data-step="marriage_registration"') == 3 and 'rel="prev"' in second
    assert "预计（假期安排未公布）" in second
    # "next" goes by keyset: the same rows as the offset page, without a count
    cursor = re.search(r'href="(/ui/departments/11\?after=[^"]+)" rel="next"', page)
    assert cursor is not None
    keyset = get(api, cursor[1].replace("&amp;", "&"), "officer").text
    assert keyset.count('data-step="marriage_registration"') == 3 and "续页" in keyset and "回到第一页" in keyset
    overdue = get(api, "/ui/departments/11?overdue=true", "officer").text
    assert "共 22 件" in overdue and 'class="overdue"' in overdue and "已超期" in overdue
    soon = get(api, "/ui/departments/11?due_soon=true&state=ready", "officer").text
    assert "共 22 件" in soon
    assert api.step(late.id).due_provisional
    assert get(api, "/ui/departments/11?state=nonsense", "officer").status_code == 422


# --- applicant and supervisor --------------------------------------------------------------


def test_applicant_follows_progress_hands_in_supplements_and_withdraws(api: Api) -> None:
    case = api.case()
    listed = get(api, "/ui/cases", "applicant_own").text
    assert case.receipt_no in listed and "已受理" in listed
    assert case.receipt_no not in get(api, "/ui/cases", "applicant_other").text
    step = api.advance(api.step(case.id), "supplement_requested")
    page = get(api, f"/ui/cases/{case.id}", "applicant_own").text
    assert "待补正" in page and "合影照片" in page and "前序事项办结后起算" in page and "内地居民结婚登记 办结" in page
    notice = get(api, f"/ui/cases/{case.id}/notices/missing-materials", "applicant_own")
    assert notice.status_code == 200 and "合影照片" in notice.text
    hand_in = f"/ui/steps/{step.id}/hand-in"
    missing = post(api, hand_in, "applicant_own", {"version": str(step.version), "material": "合影照片", "back": "case"})
    assert missing.status_code == 422 and "未上传材料文件" in missing.text
    # a paper original is the window's to record (the applicant's files: tests/api/test_document_pages.py)
    paper = post(api, hand_in, "applicant_own", {"version": str(step.version), "material": "合影照片", "paper": "true"})
    assert paper.status_code == 403 and "窗口" in paper.text
    handed = post(api, hand_in, "clerk", {"version": str(step.version), "material": "合影照片", "paper": "true",
                                          "back": "case"})
    assert handed.headers["location"].startswith(f"/ui/cases/{case.id}?msg=supplement_handed_in")
    assert api.step(case.id).state == "supplement_requested"  # the officer confirms the receipt
    confirmed = post(api, f"/ui/steps/{step.id}/receive-supplement", "officer", {"version": str(api.step_version(step.id))})
    assert confirmed.status_code == 303 and api.step(case.id).state == "in_progress"
    assert get(api, f"/ui/cases/{case.id}/notices/completion", "applicant_own").status_code == 409
    assert post(api, f"/ui/cases/{case.id}/withdraw", "applicant_own", {"reason": "不办了"}).status_code == 303
    closed = get(api, f"/ui/cases/{case.id}", "applicant_own").text
    # the withdraw form is gone (the reason text below also contains the words 撤回申请)
    assert "已撤回" in closed and "/notices/completion" in closed and f"/ui/cases/{case.id}/withdraw" not in closed
    assert "Withdraw the application" not in closed
    assert "终止原因" in closed and "申请人已撤回申请" in closed and "case withdrawn" not in closed
    assert "办结通知" in get(api, f"/ui/cases/{case.id}/notices/completion", "applicant_own").text


def test_supervision_dashboard_has_the_table_the_chart_and_the_cards(api: Api) -> None:
    case = api.case()
    empty = get(api, "/ui/supervision", "supervisor").text
    assert "<svg" in empty and "暂无未解决的黄牌" in empty
    api.clock.advance(days=60)
    with api.session() as session:
        assert issue_cards(session, api.runtime)
    page = get(api, "/ui/supervision", "supervisor").text
    assert re.search(r'<tr class="overdue" data-department="11">', page)
    assert re.search(r'<rect class="overdue" x="\d+" y="[\d.]+" width="[1-9][\d.]*"', page)
    # 60 days late, every card is red: a step (or case) shows its highest card only
    assert 'data-card="red"' in page and 'data-card="yellow"' not in page and case.receipt_no in page
    assert "民政局" in page and "Open and overdue" in page
    assert 'data-card="red"' in get(api, "/ui/supervision", "admin").text
    assert 'data-card="red"' not in get(api, "/ui/supervision", "supervisor_other").text  # another city


# --- untrusted text is escaped everywhere ------------------------------------------------


def test_a_script_in_the_applicant_name_is_escaped_on_every_page(api: Api) -> None:
    case_id = case_id_of(post(api, "/ui/intake/marriage", "clerk", intake_form(name=XSS, key="xss-key-0001")))
    step = api.advance(api.step(case_id), "supplement_requested")
    with api.session() as session:
        other = accept_case(session, api.runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", XSS),
                            answers=marriage_answers(**another_couple()), actor=CLERK, idempotency_key="closed")
        withdraw_case(session, api.runtime, case_id=other.id, actor=CLERK, reason=XSS)
    api.clock.advance(days=60)
    with api.session() as session:
        issue_cards(session, api.runtime)
    pages = [
        ("clerk", f"/ui/cases/{case_id}/receipt"), ("clerk", f"/ui/cases/{case_id}"),
        ("applicant_own", "/ui/cases"), ("applicant_own", f"/ui/cases/{case_id}"),
        ("applicant_own", f"/ui/cases/{case_id}/notices/missing-materials"),
        ("applicant_own", f"/ui/cases/{other.id}/notices/completion"),
        ("officer", "/ui/departments/11"), ("officer", f"/ui/steps/{step.id}"), ("supervisor", "/ui/supervision"),
        ("supervisor", f"/ui/cases/{case_id}"),
    ]
    for who, url in pages:
        response = get(api, url, who)
        assert response.status_code == 200, (url, response.text[:500])
        assert XSS not in response.text, url
        assert "<script>alert" not in response.text, url
        if "supervision" not in url:
            assert ESCAPED in response.text, url
    rerendered = post(api, "/ui/intake/marriage", "clerk", intake_form(name=XSS, key="xss-key-0002", applicant_phone="1"))
    assert rerendered.status_code == 422 and XSS not in rerendered.text and ESCAPED in rerendered.text


def test_error_pages_are_friendly_and_bilingual(api: Api) -> None:
    missing = get(api, f"/ui/cases/{'0' * 32}", "clerk")
    assert missing.status_code == 404 and "未找到该记录" in missing.text and "Not found" in missing.text
    assert "综合受理" in missing.text  # the navigation of the logged-in clerk
    assert get(api, "/ui/steps/not-an-id", "officer").status_code == 422
    forbidden = get(api, "/ui/departments/09", "officer")
    # the engine's own reason, in Chinese with its English echo (not a generic 请求无法处理)
    assert forbidden.status_code == 403 and "非本部门事项" in forbidden.text and "department 09 is not yours" in forbidden.text
    no_version = post(api, f"/ui/steps/{api.step(api.case().id).id}/claim", "officer", {"version": "abc"})
    assert no_version.status_code == 422 and "no step version" in no_version.text


def test_the_language_switch_is_remembered_and_chinese_alone_hides_the_english(api: Api) -> None:
    """Chinese alone by default (the English echoes are hidden, not removed); the switch keeps the
    reader's choice in a cookie and returns to the page it was on (issue 15)."""
    first = get(api, "/ui/login", None)
    assert '<body class="lang-zh">' in first.text and 'value="zh-en"' in first.text
    assert '<a class="skip" href="#main">' in first.text and '<main id="main"' in first.text
    switched = post(api, "/ui/language", None, {"lang": "zh-en", "next": "/ui/login"})
    assert switched.status_code == 303 and switched.headers["location"] == "/ui/login"
    assert "onevisit_lang=zh-en" in switched.headers["set-cookie"] and "HttpOnly" in switched.headers["set-cookie"]
    after = get(api, "/ui/login", None)
    assert '<body class="lang-zh-en">' in after.text and 'value="zh"' in after.text
    elsewhere = post(api, "/ui/language", None, {"lang": "fr", "next": "https://example.org/"})
    assert elsewhere.headers["location"] == "/ui/" and "onevisit_lang=zh;" in elsewhere.headers["set-cookie"]


def test_intake_errors_are_tied_to_their_inputs_and_every_summary_link_has_a_target(api: Api) -> None:
    """Each listed problem links to an element that exists (the applicant's identifier too), and each
    invalid input says so (aria-invalid) and names its message (aria-describedby) (issue 15)."""
    import re as _re

    refused = post(api, "/ui/intake/marriage", "clerk", {"applicant_id": "430102X", "a.applicant_phone": "12"})
    assert refused.status_code == 422
    text = refused.text
    ids = set(_re.findall(r'\sid="([^"]+)"', text))
    targets = _re.findall(r'<div class="panel" id="problems" tabindex="-1"><ul class="errors">(.*?)</ul>', text, _re.S)
    links = _re.findall(r'href="#([^"]+)"', targets[0])
    assert "applicant_id" in links and all(link in ids for link in links), (links, sorted(ids))
    for described in _re.findall(r'aria-invalid="true" aria-describedby="([^"]+)"', text):
        assert described in ids, described
    assert 'id="applicant_id-error"' in text


def test_the_worklist_filters_searches_and_claims_the_ticked_steps(api: Api) -> None:
    """Issue 15: mine / unclaimed, a search by receipt, the ticked steps claimed together, a claimed
    row handed back from the list, the marker when 补正 came back."""
    first, second = api.case(), api.case(**another_couple())
    steps = [api.step(first.id), api.step(second.id)]
    listing = get(api, "/ui/departments/11?assigned=unassigned", "officer").text
    for step in steps:
        assert f'name="step" value="{step.id}:{step.version}"' in listing
    claimed = post(api, "/ui/departments/11/claim", "officer", {"step": [f"{s.id}:{s.version}" for s in steps]})
    assert claimed.status_code == 303 and claimed.headers["location"] == "/ui/departments/11?assigned=mine&msg=batch_claimed"
    mine = get(api, "/ui/departments/11?assigned=mine&msg=batch_claimed", "officer").text
    assert "已认领所选事项" in mine and all(f'data-step-id="{s.id}"' in mine for s in steps)
    again = post(api, "/ui/departments/11/claim", "officer", {"step": [f"{steps[0].id}:{steps[0].version}"]})
    assert again.headers["location"].endswith("msg=batch_partly")  # already taken: nothing changed
    found = get(api, f"/ui/departments/11?q={first.receipt_no}", "officer").text
    assert f'data-step-id="{steps[0].id}"' in found and f'data-step-id="{steps[1].id}"' not in found
    back = post(api, f"/ui/steps/{steps[1].id}/unclaim", "officer",
                {"version": str(api.step_version(steps[1].id)), "back": "list"})
    assert back.status_code == 303 and back.headers["location"] == "/ui/departments/11?msg=unclaimed"
    assert api.step(second.id).assigned_to is None


def test_a_window_finds_its_regions_cases_and_no_other(api: Api) -> None:
    """办件查询 (issue 15: /ui/cases was a 403 for the clerk): by receipt, name or identifier, only
    the cases the window may see; the menu links it; the search is recorded, its text is not."""
    mine = api.case()
    home = get(api, "/ui/cases", "clerk").text
    assert "办件查询" in home and mine.receipt_no in home and 'href="/ui/cases"' in home
    def search(q: str, who: str = "clerk") -> Any:
        return post(api, "/ui/cases/search", who, {"q": q})

    assert mine.receipt_no in search(mine.receipt_no[:12]).text
    by_id = search(GROOM)
    assert mine.receipt_no in by_id.text and by_id.text.count(GROOM) == 1  # the query typed; the rows masked
    assert mine.receipt_no not in search("nobody-like-this").text
    assert mine.receipt_no not in get(api, "/ui/cases", "clerk_other").text  # another region's window
    assert f'<dd class="mono">{mine.receipt_no}</dd>' not in search(mine.receipt_no, "clerk_other").text
    with api.session() as session:
        from engine.db.models import AccessRecord

        logged = [r.what for r in session.scalars(select(AccessRecord))]
    assert any(w.startswith("find cases:") for w in logged) and not any(GROOM in w for w in logged)
    assert search("x" * 65).status_code == 422


def test_the_window_is_warned_of_a_second_open_case_of_the_same_bundle(api: Api) -> None:
    first = api.case()
    form = post(api, "/ui/intake/marriage/identify", "clerk", {"applicant_id": GROOM, "a.groom_id_number": GROOM})
    assert form.status_code == 200 and 'id="open-cases"' in form.text and first.receipt_no in form.text
    fresh = post(api, "/ui/intake/marriage/identify", "clerk", {"applicant_id": BRIDE, "a.bride_id_number": BRIDE})
    assert 'id="open-cases"' not in fresh.text


def test_the_ticked_steps_are_completed_together_with_one_result(api: Api) -> None:
    """Issue 15: sibling steps (an application's entries) are finished together; a ready one is taken
    first; without a result nothing is done."""
    first, second = api.case(), api.case(**another_couple())
    steps = [api.step(first.id), api.advance(api.step(second.id), "in_progress")]
    ticked = {"step": [f"{s.id}:{api.step_version(s.id)}" for s in steps]}
    missing = post(api, "/ui/departments/11/complete", "officer", ticked)
    assert missing.status_code == 422 and "请填写办理结果" in missing.text
    assert all(api.step(c.id).state != "done" for c in (first, second))
    done = post(api, "/ui/departments/11/complete", "officer", {**ticked, "result": "结婚证"})
    assert done.status_code == 303 and done.headers["location"] == "/ui/departments/11?msg=batch_completed"
    with api.session() as session:
        states = [session.get(Step, s.id).state for s in steps]
    assert states == ["done", "done"]
