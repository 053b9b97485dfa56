"""Who may do what: every caller × every endpoint, table-driven; then tokens and scoping.

Each cell starts from a fresh database, brings a marriage case (region 430102, applicant GROOM,
registration at department 11) to the state the endpoint needs, calls it once as that caller and
checks the status; a refused call must leave the step untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from engine.db.models import ApiToken, Card, Case, Followup, Notification, Step
from engine.documents.files import MaterialHandIn, stage_files
from engine.documents.inspection import Upload
from engine.errors import DomainError, NotFound
from engine.governance.commitments import commitment_letter, sign_commitment
from engine.governance.complaints import answer_complaint, receive_complaint
from engine.governance.explanations import submit_explanation
from engine.governance.ratings import rate
from engine.governance.rectification import appeal
from engine.machine.unit_of_work import in_transaction
from engine.time.supervision import issue_cards
from engine.records.queries import region_covers, region_prefix
from engine.machine.actions import claim_step, hand_in_supplement, request_extension, request_supplement
from engine.machine.intake import Applicant, accept_case
from engine.machine.states import SYSTEM, Actor, Role
from engine.people.tokens import authenticate, hash_token, issue_token, revoke_token
from tests.api.conftest import Api, actor_of, case_body, prefill_body, problem
from tests.api.test_time_routes import runtime, timed_case, to_publicity
from tests.api.test_licence_qr_routes import show as show_licence, stored as stored_licence
from tests.engine.documents.test_inspection import image, pdf
from tests.engine.governance.test_commitments import COMPANY, land_use
from tests.engine.machine.test_access import _land_use
from tests.engine.machine.test_eligibility import newborn_answers
from tests.engine.machine.test_handover import work_off
from tests.engine.sample_people import CLERK, GROOM, another_couple, marriage_answers

__all__ = ["runtime"]  # the real bundles and the time test bundles (timers, §42 extensions)

WHO = ["anonymous", "applicant_own", "applicant_other", "clerk", "clerk_other", "officer", "officer_other",
       "supervisor", "admin"]

Call = tuple[str, str, Any, str | None]
"""method, url, JSON body, id of the step that must stay unchanged when refused."""


def _case(api: Api) -> Call:
    case = api.case()
    return "GET", f"/cases/{case.id}", None, None


def _on_step(state: str | None, action: str, body: Callable[[Any], dict[str, Any]]) -> Callable[[Api], Call]:
    def prepare(api: Api) -> Call:
        step = api.step(api.case().id)
        if state is not None:
            step = api.advance(step, state)
        return "POST", f"/steps/{step.id}/{action}", body(step), step.id

    return prepare


def _supplement(api: Api) -> Call:
    case = api.case()
    step = api.advance(api.step(case.id), "supplement_requested")
    body = {"step_id": step.id, "materials": ["合影照片"], "expected_version": step.version}
    return "POST", f"/cases/{case.id}/supplements", body, step.id


def _withdraw(api: Api) -> Call:
    case = api.case()
    return "POST", f"/cases/{case.id}/withdraw", {"reason": "不再需要"}, api.step(case.id).id


PHOTOS = "3张2寸男女双方近期半身免冠合影照片"
"""The marriage registration's (民政, 11) one material handed in as a file."""


@dataclass(frozen=True)
class Multipart:
    """A multipart/form-data body: its fields and its files (name, bytes)."""

    fields: dict[str, str]
    files: tuple[tuple[str, bytes], ...] = ()


def _photos(api: Api) -> str:
    """A marriage case whose photos the window scanned at intake; returns the photos' file id."""
    with api.session() as session:
        [photo] = stage_files(session, api.runtime, actor=CLERK, bundle_id="marriage", material=PHOTOS,
                              uploads=[Upload("合影.png", image("PNG"))])
        accept_case(session, api.runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                    answers=marriage_answers(), actor=CLERK,
                    materials={PHOTOS: MaterialHandIn(files=(photo.id,), check="accepted"), **{
                        name: MaterialHandIn(paper=True, check="accepted") for name in (
                            "女方居民身份证", "男方居民身份证", "女方居民户口簿", "男方居民户口簿")}})
    return photo.id


def _download(api: Api) -> Call:
    return "GET", f"/files/{_photos(api)}", None, None


def _download_staged(api: Api) -> Call:
    """A file the applicant uploaded for an application not sent yet: theirs alone."""
    answer = api.client.post("/uploads", headers=api.auth("applicant_own"), data={"bundle_id": "marriage",
                             "material": PHOTOS}, files=[("files", ("合影.png", image("PNG"), "image/png"))])
    assert answer.status_code == 201, answer.text
    return "GET", f"/files/{answer.json()[0]['id']}", None, None


def _materials(api: Api) -> Call:
    return "GET", f"/cases/{api.case().id}/materials", None, None


def _read_notice(api: Api) -> Call:
    """The applicant's acceptance notice in their case's inbox, to mark read."""
    case = api.case()
    with api.session() as session:
        notice = session.scalars(select(Notification.id).where(Notification.case_id == case.id,
                                                               Notification.channel == "inbox")).one()
    return "POST", f"/cases/{case.id}/notifications/{notice}/read", None, None


def _check(api: Api) -> Call:
    _photos(api)
    with api.session() as session:
        case_id = session.scalars(select(Case.id)).one()
    return "POST", f"/cases/{case_id}/materials/{PHOTOS}/check", {"state": "returned", "reason": "照片模糊"}, None


def _asked_for_photos(api: Api) -> Step:
    """The registration in 补正 (claimed by ``officer``), its notice asking for the photos."""
    step = api.advance(api.step(api.case().id), "in_progress")
    with api.session() as session:
        return request_supplement(session, api.runtime, step_id=step.id, actor=api.officer_for("11"),
                                  materials=[PHOTOS], expected_version=step.version)


def _supplement_files(api: Api) -> Call:
    step = _asked_for_photos(api)
    body = Multipart({"material": PHOTOS, "version": str(step.version)}, (("合影.png", image("PNG")),))
    return "POST", f"/steps/{step.id}/supplement-files", body, step.id


def _receive_supplement(api: Api) -> Call:
    step = _asked_for_photos(api)
    with api.session() as session:
        step = hand_in_supplement(session, api.runtime, step_id=step.id, actor=CLERK, material=PHOTOS, paper=True)
    return "POST", f"/steps/{step.id}/receive-supplement", {"version": step.version}, step.id


def _supply_deferred(api: Api) -> Call:
    """A newborn case the father (``applicant_own``) applied for at the window, its 知情告知书 deferred."""
    notice = "出生医学证明签发知情告知书"
    with api.session() as session:
        [record] = stage_files(session, api.runtime, actor=CLERK, bundle_id="newborn", material="新生儿出生医学记录",
                               uploads=[Upload("记录.pdf", pdf(1))])
        case = accept_case(session, api.runtime, bundle_id="newborn", applicant=Applicant(GROOM, "person", "测试甲"),
                           answers=newborn_answers(father_id_number=GROOM), actor=CLERK, region="430102", materials={
                               "新生儿出生医学记录": MaterialHandIn(files=(record.id,), check="accepted"),
                               "中华人民共和国结婚证": MaterialHandIn(paper=True, check="accepted"),
                               notice: MaterialHandIn(deferred_until=date(2026, 3, 9))})
    return "POST", f"/cases/{case.id}/deferred/{notice}", Multipart({}, (("告知书.pdf", pdf(1)),)), None


def _handover(api: Api) -> Call:
    """A case every step of which is done (the offices decided them): its results to hand out."""
    with api.session() as session:
        case = work_off(session, api.runtime, api.case())
    return "POST", f"/cases/{case.id}/handover", {"recipient": "applicant", "method": "window"}, None


def _decided(api: Api) -> Case:
    """The marriage case with every step decided by its office (ready to be rated)."""
    with api.session() as session:
        return work_off(session, api.runtime, api.case())


def _rated(api: Api) -> Call:
    case = _decided(api)
    with api.session() as session:
        in_transaction(session, lambda: rate(session, api.runtime, case_id=case.id, actor=actor_of("applicant_own"),
                                             level=4))
    return "GET", f"/cases/{case.id}/ratings", None, None


def _rectification(api: Api, *, appealed: bool = False) -> int:
    """A bad rating of the case's registration (民政 11 at 430102): its rectification's id."""
    case = _decided(api)
    registration = api.step(case.id)
    with api.session() as session:
        rating = in_transaction(session, lambda: rate(session, api.runtime, case_id=case.id, step_id=registration.id,
                                                      actor=actor_of("applicant_own"), level=1))
        followup = session.scalars(select(Followup.id).where(Followup.rating_id == rating.id)).one()
        if appealed:
            in_transaction(session, lambda: appeal(session, api.runtime, followup_id=followup,
                                                   actor=api.officer_for("11"), reason="非本部门原因"))
    return followup


def _on_rectification(action: str, body: dict[str, Any], *, appealed: bool = False) -> Callable[[Api], Call]:
    def prepare(api: Api) -> Call:
        followup = _rectification(api, appealed=appealed)
        return "POST", f"/rectifications/{followup}/{action}", {"version": 1 if appealed else 0, **body}, None

    return prepare


def _red_card(api: Api, *, explained: bool = False) -> int:
    """The marriage registration claimed by ``officer`` and left until its red card: the card's id
    (``explained``: with the office's explanation submitted)."""
    step = api.advance(api.step(api.case().id), "assigned")
    assert step.due_on is not None
    api.clock.set_local(api.runtime.calendar.add_working_days(step.due_on, 5))
    with api.session() as session:
        issue_cards(session, api.runtime, red_after_working_days=5)
        card = session.scalars(select(Card.id).where(Card.step_id == step.id, Card.colour == "red")).one()
        if explained:
            in_transaction(session, lambda: submit_explanation(session, api.runtime, card_id=card,
                                                               actor=api.officer_for("11"), reason="病假",
                                                               corrective_action="AB岗"))
    return card


def _on_red_card(action: str, body: dict[str, Any], *, explained: bool = False) -> Callable[[Api], Call]:
    def prepare(api: Api) -> Call:
        return "POST", f"/cards/{_red_card(api, explained=explained)}/{action}", body, None

    return prepare


def _complaint(api: Api, *, answered: bool = False) -> int:
    """A 12345 complaint about the marriage registration (民政 11 at 430102), delivered by the city's
    hotline (``supervisor``); ``answered``: with the office's answer."""
    case = api.case()
    registration = api.step(case.id)
    with api.session() as session:
        complaint, _ = in_transaction(session, lambda: receive_complaint(
            session, api.runtime, actor=actor_of("supervisor"), ticket_no="T-1", receipt_no=case.receipt_no,
            step_id=registration.id, text="等候时间过长"))
        if answered:
            in_transaction(session, lambda: answer_complaint(session, api.runtime, followup_id=complaint.id,
                                                             actor=api.officer_for("11"), answer="已致歉"))
    return complaint.id


def _on_complaint(action: str, body: dict[str, Any], *, answered: bool = False) -> Callable[[Api], Call]:
    def prepare(api: Api) -> Call:
        followup = _complaint(api, answered=answered)
        return "POST", f"/complaints/{followup}/{action}", {"version": 1 if answered else 0, **body}, None

    return prepare


def _filing(api: Api) -> Step:
    """A company's filed project, accepted by ``clerk`` in 430102: its 项目备案, a commitment step, ready."""
    with api.session() as session:
        case = land_use(session, api.runtime, COMPANY)
        return session.scalars(select(Step).where(Step.case_id == case.id, Step.step_key == "project_filing")).one()


def _letter(api: Api) -> Call:
    return "GET", f"/steps/{_filing(api).id}/commitment", None, None


def _sign(api: Api) -> Call:
    step = _filing(api)
    with api.session() as session:
        letter = commitment_letter(session, api.runtime, step_id=step.id, actor=SYSTEM)
    return "POST", f"/steps/{step.id}/sign", {"version": step.version, "text_hash": letter.text_hash}, step.id


def _post_check(api: Api) -> int:
    """The post-check of a signed filing (the 发改 office of the filing decides it)."""
    step = _filing(api)
    with api.session() as session:
        letter = commitment_letter(session, api.runtime, step_id=step.id, actor=SYSTEM)
        signed = sign_commitment(session, api.runtime, step_id=step.id, actor=CLERK, text_hash=letter.text_hash)
        assert signed.post_check is not None
        return signed.post_check.id


def _on_post_check(action: str) -> Callable[[Api], Call]:
    def prepare(api: Api) -> Call:
        return "POST", f"/post-checks/{_post_check(api)}/{action}", {"version": 0, "findings": "经核查"}, None

    return prepare


def _step_detail(api: Api) -> Call:
    return "GET", f"/steps/{api.step(api.case().id).id}", None, None


def _colleague(api: Api, label: str = "colleague") -> str:
    """Another officer of department 11 in 430102, as caller ``label``; returns their actor id."""
    with api.session() as session:
        api.tokens[label] = issue_token(session, role="officer", department="11", region="430102", label=label,
                                        now=api.clock.now())
        api.actor_ids[label] = session.scalars(select(ApiToken.id).where(ApiToken.label == label)).one()
    return api.actor_ids[label]


def _reassign(api: Api) -> Call:
    step = api.advance(api.step(api.case().id), "in_progress")
    return "POST", f"/steps/{step.id}/reassign", {"version": step.version, "to": _colleague(api)}, step.id


def _on_publicity(action: str, body: Callable[[Any], dict[str, Any]]) -> Callable[[Api], Call]:
    """A timed_demo case's publicity (a timer whose bundle declares no-objection and objection)."""

    def prepare(api: Api) -> Call:
        step = to_publicity(api)
        return "POST", f"/steps/{step.id}/{action}", body(step), step.id

    return prepare


def _on_review(action: str, body: Callable[[Any], dict[str, Any]], *, pending: bool = False) -> Callable[[Api], Call]:
    """A timed_demo case's review in progress with ``officer`` (its bundle allows a §42 extension);
    ``pending``: with an extension request waiting for approval."""

    def prepare(api: Api) -> Call:
        _case_id, review = timed_case(api)
        step = api.advance(review, "in_progress")
        if pending:
            with api.session() as session:
                step = request_extension(session, api.runtime, step_id=step.id, actor=api.officer_for("11"), days=3,
                                         reason="需现场核查")
        return "POST", f"/steps/{step.id}/{action}", body(step), step.id

    return prepare


def _fixed(method: str, url: str, body: Any = None) -> Callable[[Api], Call]:
    return lambda api: (method, url, body, None)


@dataclass(frozen=True)
class Row:
    endpoint: str
    prepare: Callable[[Api], Call]
    expected: tuple[int, ...]  # in the order of WHO


version = lambda step: {"version": step.version}  # noqa: E731
MATRIX = [
    #                                                                 anon own  oth  clk  clk2 off  off2 sup  adm
    Row("GET /bundles", _fixed("GET", "/bundles"), (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    # The service items in the national shape (事项要素): public, like the bundle catalogue.
    Row("GET /items", _fixed("GET", "/items"), (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("GET /bundles/{id}", _fixed("GET", "/bundles/marriage"), (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("GET /bundles/{id}/versions", _fixed("GET", "/bundles/marriage/versions"),
        (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("POST /prefill", _fixed("POST", "/prefill", prefill_body()), (401, 200, 403, 200, 200, 403, 403, 403, 200)),
    # 无差别受理: any window of the province accepts (clerk_other is 430200's)
    Row("POST /cases", _fixed("POST", "/cases", case_body()), (401, 201, 403, 201, 201, 403, 403, 403, 201)),
    # Outside one's scope (another applicant, region or department) a case is a 404, as if it did not exist.
    Row("GET /cases/{id}", _case, (401, 200, 404, 200, 404, 200, 404, 200, 200)),
    # until the upload forms, the hand-in is a window's paper record: the applicant's is refused
    Row("POST /cases/{id}/supplements", _supplement, (401, 403, 404, 200, 404, 403, 404, 403, 403)),
    Row("POST /cases/{id}/withdraw", _withdraw, (401, 200, 404, 200, 404, 403, 404, 403, 200)),
    # 出件: only a clerk of the window that received the case (430102's) hands its results out.
    Row("POST /cases/{id}/handover", _handover, (401, 403, 404, 201, 404, 403, 404, 403, 403)),
    Row("GET /departments/{code}/steps", _fixed("GET", "/departments/11/steps"),
        (401, 403, 403, 403, 403, 200, 403, 200, 200)),
    Row("GET /steps/{id}", _step_detail, (401, 200, 404, 200, 404, 200, 404, 200, 200)),
    Row("POST /steps/{id}/claim", _on_step(None, "claim", version), (401, 403, 404, 403, 404, 200, 404, 403, 403)),
    # Steps claimed by ``officer`` (api.advance): only the assignee works them.
    Row("POST /steps/{id}/start", _on_step("assigned", "start", version),
        (401, 403, 404, 403, 404, 200, 404, 403, 403)),
    Row("POST /steps/{id}/complete", _on_step("in_progress", "complete", lambda s: {"version": s.version, "outputs": {}}),
        (401, 403, 404, 403, 404, 200, 404, 403, 403)),
    Row("POST /steps/{id}/reject", _on_step("in_progress", "reject", lambda s: {"version": s.version, "reason": "不符"}),
        (401, 403, 404, 403, 404, 200, 404, 403, 403)),
    Row("POST /steps/{id}/request-supplement",
        _on_step("in_progress", "request-supplement", lambda s: {"version": s.version, "materials": ["照片"]}),
        (401, 403, 404, 403, 404, 200, 404, 403, 403)),
    Row("POST /steps/{id}/unclaim", _on_step("assigned", "unclaim", version),
        (401, 403, 404, 403, 404, 200, 404, 200, 200)),
    Row("POST /steps/{id}/reassign", _reassign, (401, 403, 404, 403, 404, 403, 404, 200, 200)),
    # A wait's declared events: the applicant or a clerk (the officer of another department: no such step).
    Row("POST /steps/{id}/declare-no-objection", _on_publicity("declare-no-objection", version),
        (401, 200, 404, 200, 404, 404, 404, 403, 403)),
    Row("POST /steps/{id}/raise-objection",
        _on_publicity("raise-objection", lambda s: {"version": s.version, "grounds": "信息有误"}),
        (401, 200, 404, 200, 404, 404, 404, 403, 403)),
    # §42: the assignee asks, a supervisor of the region or an admin decides.
    Row("POST /steps/{id}/request-extension",
        _on_review("request-extension", lambda s: {"version": s.version, "days": 3, "reason": "需现场核查"}),
        (401, 403, 404, 403, 404, 200, 404, 403, 403)),
    Row("POST /steps/{id}/approve-extension", _on_review("approve-extension", version, pending=True),
        (401, 403, 404, 403, 404, 403, 404, 200, 200)),
    Row("POST /steps/{id}/refuse-extension",
        _on_review("refuse-extension", lambda s: {"version": s.version, "reason": "理由不足"}, pending=True),
        (401, 403, 404, 403, 404, 403, 404, 200, 200)),
    # Files (issue 12): uploads by whoever may start a case; a case's materials and a file's bytes for
    # whoever reads the case (an officer: their step's materials); a staged file is its uploader's alone.
    Row("POST /uploads", _fixed("POST", "/uploads", Multipart({"bundle_id": "marriage", "material": PHOTOS},
                                                               (("合影.png", image("PNG")),))),
        (401, 201, 201, 201, 201, 403, 403, 403, 201)),
    Row("GET /cases/{id}/materials", _materials, (401, 200, 404, 200, 404, 200, 404, 200, 200)),
    # A case's inbox: whoever sees the case reads their own notices about it; a notice is its recipient's alone.
    Row("GET /cases/{id}/notifications", lambda api: ("GET", f"/cases/{api.case().id}/notifications", None, None),
        (401, 200, 404, 200, 404, 200, 404, 200, 200)),
    Row("POST /cases/{id}/notifications/{notification_id}/read", _read_notice,
        (401, 200, 404, 404, 404, 404, 404, 404, 404)),
    Row("GET /files/{id}", _download, (401, 200, 404, 200, 404, 200, 404, 200, 200)),
    Row("GET /files/{id}", _download_staged, (401, 200, 404, 404, 404, 404, 404, 404, 404)),
    Row("POST /cases/{id}/materials/{material}/check", _check, (401, 403, 404, 200, 404, 200, 404, 403, 200)),
    # 补正 with files: the applicant or a window hands in, only the step's officer confirms the receipt.
    Row("POST /steps/{id}/supplement-files", _supplement_files, (401, 201, 404, 201, 404, 403, 404, 403, 403)),
    Row("POST /steps/{id}/receive-supplement", _receive_supplement, (401, 403, 404, 403, 404, 200, 404, 403, 403)),
    Row("POST /cases/{id}/deferred/{material}", _supply_deferred, (401, 201, 404, 201, 404, 404, 404, 403, 403)),
    # 好差评: the applicant (or the window holding the case, recording it) rates a decided case once.
    Row("POST /cases/{id}/ratings", lambda api: ("POST", f"/cases/{_decided(api).id}/ratings", {"level": 5}, None),
        (401, 201, 404, 201, 404, 403, 404, 403, 403)),
    Row("GET /cases/{id}/ratings", _rated, (401, 200, 404, 200, 404, 200, 404, 200, 200)),
    # 整改: each sees the rectifications in reach (a list, possibly empty); the office's officer works
    # one, a supervisor over its region decides an appeal; the applicant sees their own rating's.
    Row("GET /rectifications", _fixed("GET", "/rectifications"), (401, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("POST /rectifications/{followup_id}/rectify", _on_rectification("rectify", {
        "measures": "已整改", "called_at": "2026-01-01T08:00:00+08:00", "reached": True}),
        (401, 403, 404, 404, 404, 200, 404, 403, 403)),
    Row("POST /rectifications/{followup_id}/appeal", _on_rectification("appeal", {"reason": "非本部门原因"}),
        (401, 403, 404, 404, 404, 200, 404, 403, 403)),
    Row("POST /rectifications/{followup_id}/decide-appeal",
        _on_rectification("decide-appeal", {"uphold": True}, appealed=True),
        (401, 403, 404, 404, 404, 403, 404, 200, 200)),
    Row("GET /supervision/cards", _fixed("GET", "/supervision/cards"), (401, 403, 403, 403, 403, 403, 403, 200, 200)),
    # 情况说明: the late office's officer explains its red card; a supervisor of the region or an admin decides.
    Row("GET /explanations", _fixed("GET", "/explanations"), (401, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("POST /cards/{card_id}/explanation",
        _on_red_card("explanation", {"reason": "病假", "corrective_action": "AB岗"}),
        (401, 404, 404, 404, 404, 200, 404, 403, 403)),
    Row("POST /cards/{card_id}/explanation/accept", _on_red_card("explanation/accept", {}, explained=True),
        (401, 404, 404, 404, 404, 403, 404, 200, 200)),
    Row("POST /cards/{card_id}/explanation/return", _on_red_card("explanation/return", {"note": "不具体"}, explained=True),
        (401, 404, 404, 404, 404, 403, 404, 200, 200)),
    # 告知承诺: whoever sees the step reads its letter; the applicant or a window holding the case signs
    # (the company has no caller here: ``applicant_own`` is a person); the office's officer decides
    # the post-check (04 发改, not ``officer``'s 11), a supervisor sees it.
    Row("GET /steps/{id}/commitment", _letter, (401, 404, 404, 200, 404, 404, 404, 200, 200)),
    Row("POST /steps/{id}/sign", _sign, (401, 404, 404, 200, 404, 404, 404, 403, 403)),
    Row("GET /post-checks", _fixed("GET", "/post-checks"), (401, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("POST /post-checks/{followup_id}/pass", _on_post_check("pass"), (401, 404, 404, 404, 404, 404, 404, 403, 403)),
    Row("POST /post-checks/{followup_id}/fail", _on_post_check("fail"), (401, 404, 404, 404, 404, 404, 404, 403, 403)),
    # 12345 诉求: only the hotline's token (a supervisor's, an admin's) delivers; the office answers;
    # the hotline reopens; each lists what it reaches.
    Row("POST /complaints", lambda api: ("POST", "/complaints", {
        "ticket_no": "T-1", "receipt_no": api.case().receipt_no, "text": "等候时间过长"}, None),
        (401, 403, 403, 403, 403, 403, 403, 201, 201)),
    Row("GET /complaints", _fixed("GET", "/complaints"), (401, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("POST /complaints/{followup_id}/answer", _on_complaint("answer", {"answer": "已致歉"}),
        (401, 403, 404, 404, 404, 200, 404, 403, 403)),
    Row("POST /complaints/{followup_id}/reopen", _on_complaint("reopen", {"reason": "不满意"}, answered=True),
        (401, 403, 404, 404, 404, 403, 404, 200, 200)),
    Row("GET /supervision/stats", _fixed("GET", "/supervision/stats"), (401, 403, 403, 403, 403, 403, 403, 200, 200)),
    Row("GET /supervision/stats.csv", _fixed("GET", "/supervision/stats.csv"),
        (401, 403, 403, 403, 403, 403, 403, 200, 200)),
    # 一码通办: no token, the receipt number and the second factor (the last four of the applicant's ID).
    Row("GET /track/{receipt_no}", lambda api: ("GET", f"/track/{api.case().receipt_no}?factor={GROOM[-4:]}", None, None),
        (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    # 扫码亮证: only the holder shows a licence (anyone else: as an unknown id); anyone checks the code.
    Row("POST /licences/{licence_id}/show", lambda api: ("POST", f"/licences/{stored_licence(api).id}/show", None, None),
        (401, 200, 404, 404, 404, 404, 404, 404, 404)),
    Row("GET /verify/licence/{token}", lambda api: ("GET", show_licence(api, stored_licence(api))["verify_url"], None, None),
        (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    # Probes for the process supervisor and the monitoring: public, no case data.
    Row("GET /healthz", _fixed("GET", "/healthz"), (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("GET /readyz", _fixed("GET", "/readyz"), (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    Row("GET /metrics", _fixed("GET", "/metrics"), (200, 200, 200, 200, 200, 200, 200, 200, 200)),
]
CELLS = [
    pytest.param(row, who, status, id=f"{row.endpoint}-{who}")
    for row in MATRIX for who, status in zip(WHO, row.expected, strict=True)
]


def test_matrix_covers_every_route(api: Api) -> None:
    paths = api.get("/openapi.json", None).json()["paths"]
    routes = {f"{method.upper()} {path}" for path, operations in paths.items() for method in operations}
    named = {"{bundle_id}": "{x}", "{case_id}": "{x}", "{step_id}": "{x}", "{code}": "{x}", "{id}": "{x}",
             "{file_id}": "{x}", "{receipt_no}": "{x}", "{notification_id}": "{x}", "{followup_id}": "{x}", "{card_id}": "{x}",
             "{licence_id}": "{x}", "{token}": "{x}"}

    def generic(endpoint: str) -> str:
        for name, placeholder in named.items():
            endpoint = endpoint.replace(name, placeholder)
        return endpoint

    assert {generic(r) for r in routes} == {generic(row.endpoint) for row in MATRIX}
    assert len(CELLS) == len(MATRIX) * len(WHO) == 558


@pytest.mark.parametrize(("row", "who", "expected"), CELLS)
def test_authorization_matrix(api: Api, row: Row, who: str, expected: int) -> None:
    method, url, body, step_id = row.prepare(api)
    before = api.step_version(step_id) if step_id else None
    caller = None if who == "anonymous" else who
    if isinstance(body, Multipart):
        response = api.client.post(url, headers=api.auth(caller), data=body.fields,
                                   files=[("files", (name, data, "application/octet-stream")) for name, data in body.files])
    else:
        response = api.get(url, caller) if method == "GET" else api.post(url, caller, body)
    assert response.status_code == expected, f"{row.endpoint} as {who}: {response.text}"
    if expected >= 400:
        problem(response, expected)
        if step_id:
            assert api.step_version(step_id) == before, "a refused call changed the step"


def test_scoping_beyond_the_matrix(api: Api) -> None:
    case = api.case()
    step = api.step(case.id)
    # the right department in another city may neither read nor act: for them the step does not exist
    assert problem(api.get(f"/steps/{step.id}", "officer_far"), 404)
    assert problem(api.post(f"/steps/{step.id}/claim", "officer_far", {"version": step.version}), 404)
    assert problem(api.get(f"/cases/{case.id}", "supervisor_other"), 404)
    # an officer whose department has a step sees the case, not another department's step
    assert api.get(f"/cases/{case.id}", "officer_09").status_code == 200
    assert problem(api.get(f"/steps/{step.id}", "officer_09"), 404)
    # a clerk accepts any applicant of the province (无差别受理), none of another province
    couple: dict[str, Any] = another_couple()
    assert api.post("/cases", "clerk_other", case_body(region="430203", **couple)).status_code == 201
    received = api.post("/cases", "clerk", case_body(region="430405", **another_couple()))
    assert received.status_code == 201 and received.json()["region"] == "430405"
    assert problem(api.post("/cases", "clerk", case_body(region="110105")), 403)["field"] == "region"
    # an applicant may not apply for someone else
    assert problem(api.post("/cases", "applicant_other", case_body()), 403)["field"] == "applicant.id"
    # an officer skipped by a condition is not involved in the case
    skipped = api.case(register_birth_plan=False, **another_couple())
    api.tokens["officer_23"] = _token(api, "officer", "23")
    assert api.get(f"/cases/{case.id}", "officer_23").status_code == 200
    assert problem(api.get(f"/cases/{skipped.id}", "officer_23"), 404)


def test_out_of_scope_answers_exactly_as_a_missing_case(api: Api) -> None:
    """Issue 7: a 403 used to name the receipt number of a case outside the caller's scope."""
    case = api.case()
    step = api.step(case.id)
    missing_case, missing_step = "0" * 32, "f" * 32
    for who in ("clerk_other", "officer_other", "officer_far", "supervisor_other", "applicant_other"):
        outside = api.get(f"/cases/{case.id}", who)
        nowhere = api.get(f"/cases/{missing_case}", who)
        assert outside.status_code == nowhere.status_code == 404, who
        assert outside.text.replace(case.id, "X") == nowhere.text.replace(missing_case, "X"), who
        assert case.receipt_no not in outside.text and "430102" not in outside.text
        for url in ("/steps/{}", "/steps/{}/claim"):
            method = api.get if url == "/steps/{}" else lambda u, w: api.post(u, w, {"version": step.version})
            hidden, absent = method(url.format(step.id), who), method(url.format(missing_step), who)
            assert hidden.status_code == absent.status_code == 404, (who, url)
            assert hidden.text.replace(step.id, "X") == absent.text.replace(missing_step, "X"), (who, url)
    # the same for a stale version: the version is not even looked at outside one's scope
    stale = api.post(f"/steps/{step.id}/claim", "officer_far", {"version": step.version + 7})
    assert problem(stale, 404)["field"] == "step_id"


def test_only_the_assignee_works_a_claimed_step_and_a_supervisor_reassigns_it(api: Api) -> None:
    step = api.advance(api.step(api.case().id), "in_progress")  # claimed by ``officer``
    colleague = _colleague(api)
    refused = problem(api.post(f"/steps/{step.id}/complete", "colleague", {"version": step.version, "outputs": {}}),
                      409)
    assert refused["type"] == "/problems/claimed_by_another" and api.actor_ids["officer"] not in str(refused)
    assert problem(api.post(f"/steps/{step.id}/unclaim", "colleague", {"version": step.version}), 409)
    assert problem(api.post(f"/steps/{step.id}/reassign", "officer", {"version": step.version, "to": colleague}), 403)
    assert problem(api.post(f"/steps/{step.id}/reassign", "supervisor", {"version": step.version, "to": "nobody"}),
                   422)["field"] == "to"
    moved = api.post(f"/steps/{step.id}/reassign", "supervisor", {"version": step.version, "to": colleague})
    assert moved.status_code == 200 and moved.json()["state"] == "in_progress"
    detail = api.get(f"/steps/{step.id}", "officer").json()
    assert detail["assigned_to"] == colleague
    assert problem(api.post(f"/steps/{step.id}/complete", "officer", {"version": moved.json()["version"]}), 409)
    done = api.post(f"/steps/{step.id}/complete", "colleague", {"version": moved.json()["version"], "outputs": {}})
    assert done.status_code == 200, done.text


def _token(api: Api, role: str, department: str) -> str:
    with api.session() as session:
        return issue_token(session, role=role, department=department, region="430102", label=f"{role}-{department}",
                           now=api.clock.now())


def test_tokens_are_hashed_at_rest_and_scoped(api: Api) -> None:
    now = api.clock.now()
    with api.session() as session:
        token = issue_token(session, role=Role.APPLICANT, subject=GROOM.lower(), label="citizen", now=now,
                            expires_at=now + timedelta(days=1))
        row = session.scalars(select(ApiToken).where(ApiToken.label == "citizen")).one()
        assert row.token_hash == hash_token(token) and token not in str(vars(row))
        actor = authenticate(session, token=token, now=now)
        assert actor is not None and actor.role is Role.APPLICANT and actor.subject == GROOM
        assert actor.id == row.id and actor.label == "citizen"
        assert authenticate(session, token=token, now=now + timedelta(days=1)) is None
        assert authenticate(session, token="x" * 600, now=now) is None
        revoke_token(session, token_id=row.id, now=now)
        revoke_token(session, token_id=row.id, now=now)  # twice is harmless
        assert authenticate(session, token=token, now=now) is None
        with pytest.raises(NotFound):
            revoke_token(session, token="unknown", now=now)
        for kwargs, field in (
            ({"role": "applicant"}, "subject"),
            ({"role": "applicant", "subject": "123"}, "subject"),
            ({"role": "officer", "region": "430102"}, "department"),
            ({"role": "clerk"}, "region"),
            ({"role": "clerk", "region": "999999"}, "region"),
            ({"role": "system"}, "role"),
            ({"role": "wizard"}, "role"),
            ({"role": "admin", "expires_at": now}, "expires_at"),
            ({"role": "admin", "label": "x" * 65}, "label"),
        ):
            with pytest.raises(DomainError) as caught:
                issue_token(session, now=now, **kwargs)  # type: ignore[arg-type]
            assert caught.value.field == field, kwargs


@pytest.mark.parametrize(("scope", "region", "covered"), [
    ("430000", "430102", True), ("430100", "430102", True), ("430102", "430102", True),
    ("430102", "430103", False), ("430100", "430200", False), (None, "110101", True),
    ("430102", "430102001", True), ("430102001000", "430102001", True), ("430102001", "430102002", False),
    ("430100000", "430111", True),
])
def test_region_prefixes(scope: str | None, region: str, covered: bool) -> None:
    assert region_covers(scope, region) is covered
    assert [region_prefix(c) for c in ("430000", "430100", "430102")] == ["43", "4301", "430102"]


def test_a_case_records_the_applicant_who_created_it(api: Api) -> None:
    created = api.post("/cases", "applicant_own", case_body())
    assert created.status_code == 201
    with api.session() as session:
        case = session.get_one(Case, created.json()["case_id"])
        assert case.applicant_id == GROOM and case.created_by == api.actor_ids["applicant_own"]


# --- offices and levels (issue 11): the same matrix over routed steps -------------------------------

LEVEL_CALLERS: dict[str, tuple[str, str | None, str]] = {
    "officer_15_county": ("officer", "15", "430102"),
    "officer_15_city": ("officer", "15", "430100"),
    "officer_15_province": ("officer", "15", "430000"),
    "supervisor": ("supervisor", None, "430100"),  # already a caller: Changsha's supervisor
    "supervisor_province": ("supervisor", None, "430000"),
}
LEVEL_WHO = list(LEVEL_CALLERS)


def _level_callers(api: Api) -> None:
    """Tokens for the 自然资源 officers of a county, its city and the province, and the province's supervisor."""
    with api.session() as session:
        for label, (role, department, region) in LEVEL_CALLERS.items():
            if label not in api.tokens:
                api.tokens[label] = issue_token(session, role=role, department=department, region=region, label=label,
                                                now=api.clock.now())
        api.actor_ids.update({label: token_id for label, token_id in session.execute(select(ApiToken.label, ApiToken.id))})


def _preapproval(api: Api, level: str, *, claimed: bool = False) -> Any:
    """The 用地预审 step of a fresh land-use case of 430102 decided at ``level`` (15@430000 for
    the province, 15@430102 for the county); ``claimed``: by the province's officer."""
    with api.session() as session:
        _case, step = _land_use(session, api.runtime, level)
        if claimed:
            who = Actor(id=api.actor_ids["officer_15_province"], role=Role.OFFICER, department="15", region="430000")
            step = claim_step(session, api.runtime, step_id=step.id, actor=who)
        return step


@dataclass(frozen=True)
class LevelRow:
    endpoint: str
    level: str
    claimed: bool
    expected: tuple[int, ...]  # in the order of LEVEL_WHO


LEVEL_MATRIX = [
    #                                                             county city prov  sup  sup43
    LevelRow("GET /steps/{id}", "province", False, (404, 404, 200, 200, 200)),
    LevelRow("POST /steps/{id}/claim", "province", False, (404, 404, 200, 403, 403)),
    LevelRow("POST /steps/{id}/unclaim", "province", True, (404, 404, 200, 403, 200)),
    LevelRow("GET /steps/{id}", "county", False, (200, 200, 200, 200, 200)),
    LevelRow("POST /steps/{id}/claim", "county", False, (200, 200, 200, 403, 403)),
]


@pytest.mark.parametrize(("row", "who", "expected"), [
    pytest.param(row, who, status, id=f"{row.endpoint}-{row.level}-{who}")
    for row in LEVEL_MATRIX for who, status in zip(LEVEL_WHO, row.expected, strict=True)
])
def test_authorization_matrix_over_offices_and_levels(api: Api, row: LevelRow, who: str, expected: int) -> None:
    """A county officer never decides a province-level step; the department's province officer
    decides any; a supervisor takes over only the work of their region's offices."""
    _level_callers(api)
    step = _preapproval(api, row.level, claimed=row.claimed)
    method, _, path = row.endpoint.partition(" ")
    url = path.replace("{id}", step.id)
    response = api.get(url, who) if method == "GET" else api.post(url, who, {"version": step.version})
    assert response.status_code == expected, f"{row.endpoint} ({row.level}) as {who}: {response.text}"
    if expected >= 400:
        problem(response, expected)
        assert api.step_version(step.id) == step.version, "a refused call changed the step"


def test_worklists_and_the_json_offer_follow_the_deciding_office(api: Api) -> None:
    _level_callers(api)
    province, county = _preapproval(api, "province"), _preapproval(api, "county")

    def listed(who: str) -> set[str]:
        answer = api.get("/departments/15/steps", who)
        assert answer.status_code == 200, answer.text
        return {item["step_id"] for item in answer.json()["items"]}

    assert listed("officer_15_county") >= {county.id} and province.id not in listed("officer_15_county")
    assert province.id not in listed("officer_15_city")
    assert listed("officer_15_province") >= {province.id, county.id}
    offered = api.get(f"/steps/{province.id}", "officer_15_province").json()["status"]["allowed_actions"]
    assert offered == ["claim"]
    assert api.get(f"/steps/{province.id}", "supervisor").json()["status"]["allowed_actions"] == []


def test_the_receiving_window_reads_the_case_it_took_in(api: Api) -> None:
    """A 430102 clerk received a case for a 430405 applicant (受理地 430102, the case's region 430405)."""
    with api.session() as session:
        case = accept_case(session, api.runtime, bundle_id="marriage", applicant=Applicant(GROOM, "person", "测试甲"),
                           answers=marriage_answers(**another_couple()), actor=CLERK, region="430405")
        session.execute(update(Case).where(Case.id == case.id).values(received_in="430102"))
        session.commit()
    assert api.get(f"/cases/{case.id}", "clerk").status_code == 200
    assert problem(api.get(f"/cases/{case.id}", "clerk_other"), 404)
    assert problem(api.get(f"/cases/{case.id}", "officer"), 404)  # decided in 430405, not by 430102's office
