"""告知承诺 (国办发〔2020〕42号): the applicant promises instead of proving; the office checks afterwards.

A ``commitment`` step of a bundle declares the conditions promised and the consequence of a false
promise (:class:`~engine.spec.models.Commitment`). The applicant reads the letter rendered from
``forms/templates/commitment/letter.<locale>.j2`` (:func:`commitment_letter`) and signs exactly
that text (:func:`sign_commitment`, naming its SHA-256): the gate's ``sign`` rule stores the
letter, approves the step at once and issues its result and licences. A post-check
(事中事后核查, a follow-up of kind ``post_check``) opens for the step's office when the draw selects
the commitment — the bundle's ``post_check.rate`` (else the setting ``post_check_rate``) against a
hash of the setting ``post_check_seed`` and the step's id, so the same step is always drawn the
same way. The office passes it (:func:`pass_post_check`) or fails it (:func:`fail_post_check`):
the step's result and licences are revoked (the gate's ``revoke_result``), a credit mark is
recorded against the holder, the applicant is told, and so is every office whose later step of
the case waited for this one. A holder with a serious mark in force is reviewed normally: the
step turns human at release (or at signing, if the mark came in between).
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import Case, Commitment, CreditMark, Followup, Step
from engine.errors import Conflict, DomainError, IllegalTransition, NotFound
from engine.governance.followups import (
    FollowupChange,
    FollowupKind,
    load_followup,
    open_followup,
    transition_followup,
)
from engine.machine.access import Access, Target, authorize
from engine.machine.commitment_effects import SERIOUS, Signed, serious_mark
from engine.machine.effects import Inputs
from engine.machine.progress import settle
from engine.machine.routing import deciding_region
from engine.machine.states import SYSTEM, Actor, StepState
from engine.machine.transitions import transition_step
from engine.machine.unit_of_work import check_version, in_transaction, load_step
from engine.notify.queue import queue_office_notice
from engine.people.identifiers import mask_id_number
from engine.runtime import Runtime
from engine.settings import get_settings
from engine.spec.models import BundleSpec, StepKind, StepSpec

__all__ = ["LETTER", "MAX_FINDINGS", "Letter", "Signing", "commitment_letter", "fail_post_check", "pass_post_check",
           "post_check_draw", "sign_commitment"]

LETTER = "letter"
"""The template of the commitment letter (``forms/templates/commitment/letter.<locale>.j2``)."""
LOCALES = ("zh", "en")
MAX_FINDINGS = 2000
_CLOSED_STATES = frozenset({StepState.SKIPPED.value, StepState.CANCELLED.value})


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=PackageLoader("forms", "templates/commitment"), undefined=StrictUndefined,
                       autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


@dataclass(frozen=True, slots=True)
class Letter:
    """The commitment letter of a step, as the applicant reads and signs it."""

    step_id: str
    template: str
    locale: str
    text: str
    text_hash: str


def _spec(runtime: Runtime, session: Session, case: Case, step: Step) -> tuple[BundleSpec, StepSpec]:
    bundle = runtime.spec_for(session, case)
    spec = bundle.step(step.step_key)
    if step.kind != StepKind.COMMITMENT.value or spec.commitment is None:
        raise IllegalTransition(f"step {step.step_key} is reviewed by an officer, not decided on a commitment / "
                                "该环节按一般程序审查，不适用告知承诺", field="step_id")
    return bundle, spec


def _render(session: Session, runtime: Runtime, case: Case, step: Step, locale: str) -> Letter:
    if locale not in LOCALES:
        raise DomainError(f"locale must be one of {', '.join(LOCALES)} / 语言须为 zh 或 en", field="locale")
    bundle, spec = _spec(runtime, session, case, step)
    assert spec.commitment is not None  # _spec checked
    english = locale == "en"
    catalog = runtime.registry.catalog
    item = catalog.items.get(step.item_code)
    department = catalog.departments.get(step.department)
    holder = case.applicant_id if case.applicant_kind == "enterprise" else mask_id_number(case.applicant_id)
    context = {
        "holder_name": case.applicant_name or "—", "holder_id": holder, "receipt_no": case.receipt_no,
        "bundle": bundle.name.en if english else bundle.name.zh,
        "item": (item.name if item else step.item_code), "department": (
            (department.name.en if english else department.name.zh) if department else step.department),
        "conditions": [c.en if english else c.zh for c in spec.commitment.conditions],
        "consequence": spec.commitment.consequence.en if english else spec.commitment.consequence.zh,
    }
    text = _environment().get_template(f"{LETTER}.{locale}.j2").render(**context).strip() + "\n"
    return Letter(step_id=step.id, template=LETTER, locale=locale, text=text,
                  text_hash=hashlib.sha256(text.encode("utf-8")).hexdigest())


def commitment_letter(session: Session, runtime: Runtime, *, step_id: str, actor: Actor, locale: str = "zh") -> Letter:
    """The letter of commitment step ``step_id`` in ``locale`` for whoever may see the step (NotFound
    otherwise); IllegalTransition for a step that is reviewed normally."""
    step = session.get(Step, step_id)
    if step is None:
        raise NotFound(f"no step {step_id}", field="step_id")
    case = session.get_one(Case, step.case_id)
    authorize(actor, Access.SEE_STEP, Target(case=case, step=step))
    return _render(session, runtime, case, step, locale)


def post_check_draw(step_id: str, *, seed: str) -> float:
    """The step's draw in [0, 1): a hash of the seed and the step's id, so it is reproducible (the
    same step is drawn the same way by every process, and an auditor can recompute it)."""
    digest = hashlib.sha256(f"{seed}:{step_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True, slots=True)
class Signing:
    """What signing did: the step (done; or, with ``review_instead``, turned to normal review),
    the stored commitment and, when drawn, its post-check."""

    step: Step
    commitment: Commitment | None
    post_check: Followup | None
    review_instead: bool = False


def _office_region(case: Case, step: Step) -> str:
    return step.office.split("@", 1)[1] if step.office else deciding_region(case, step)


def sign_commitment(session: Session, runtime: Runtime, *, step_id: str, actor: Actor, text_hash: str,
                    locale: str = "zh", expected_version: int | None = None) -> Signing:
    """The applicant (or a window recording the applicant's signature) signs the letter whose
    SHA-256 is ``text_hash``: the step is approved at once (its result and licences issued) and,
    if drawn, a post-check opens for its office. A letter that changed since it was read is a
    Conflict on ``text_hash``. A holder found with a serious credit mark is not refused: the step
    turns to normal review (``review_instead``) and waits for an officer. Commits."""
    settings = get_settings()

    def work() -> Signing:
        case, step = load_step(session, step_id)
        authorize(actor, Access.ACT_ON_STEP, Target(case=case, step=step), action="sign")
        check_version(step, expected_version)
        now = runtime.clock.now()
        bundle = runtime.spec_for(session, case)
        if (step.kind == StepKind.COMMITMENT.value and step.state == StepState.READY.value
                and serious_mark(session, holder_id=case.applicant_id, today=runtime.today()) is not None):
            transition_step(session, runtime, case=case, step=step, action="review_instead", actor=SYSTEM, at=now)
            return Signing(step=step, commitment=None, post_check=None, review_instead=True)
        letter = _render(session, runtime, case, step, locale)
        if text_hash != letter.text_hash:
            raise Conflict("the letter is not the one you read (it changed): read it again before signing / "
                           "承诺书内容已变化，请重新阅读后再签署", field="text_hash")
        spec = bundle.step(step.step_key)
        assert spec.commitment is not None  # _render checked
        rule = spec.commitment.post_check
        rate = rule.rate if rule.rate is not None else settings.post_check_rate
        draw = post_check_draw(step.id, seed=settings.post_check_seed)
        sampled = draw < rate
        transition_step(session, runtime, case=case, step=step, action="sign", actor=actor, at=now,
                        payload={"post_check": {"sampled": sampled, "rate": rate, "draw": round(draw, 6)}},
                        inputs=Inputs(outputs={}, commitment=Signed(text=letter.text, text_hash=letter.text_hash,
                                                                     locale=letter.locale, template=letter.template)))
        commitment = session.scalars(select(Commitment).where(Commitment.step_id == step.id)).one()
        post_check = None
        if sampled:
            post_check = open_followup(
                session, runtime, case=case, kind=FollowupKind.POST_CHECK, working_days=rule.working_days,
                region=_office_region(case, step), office=step.office, department=step.department, step=step,
                source_ref=f"commitment:{commitment.id}",
                details={"commitment": commitment.id, "text_hash": commitment.text_hash, "rate": rate,
                         "draw": round(draw, 6)})
        settle(session, runtime, case=case, spec=bundle, at=now)
        return Signing(step=step, commitment=commitment, post_check=post_check)

    return in_transaction(session, work)


def _findings(value: str) -> str:
    text = value.strip()
    if not text:
        raise DomainError("say what the check found / 请填写核查意见", field="findings")
    if len(text) > MAX_FINDINGS:
        raise DomainError(f"the findings are at most {MAX_FINDINGS} characters / 核查意见不超过{MAX_FINDINGS}字",
                          field="findings")
    return text


def _load(session: Session, followup_id: int) -> tuple[Case, Followup]:
    return load_followup(session, followup_id, kind=FollowupKind.POST_CHECK, missing=f"no post-check {followup_id} / 未找到该核查任务")


def pass_post_check(session: Session, runtime: Runtime, *, followup_id: int, actor: Actor, findings: str,
                    expected_version: int | None = None) -> Followup:
    """The office's officer found the commitment true: the post-check closes ``passed``."""
    text = _findings(findings)

    def work() -> Followup:
        case, followup = _load(session, followup_id)

        def effect(change: FollowupChange) -> None:
            change.details["check"] = {"findings": text, "by": actor.id, "at": change.at.isoformat()}

        transition_followup(session, runtime, case=case, followup=followup, action="pass", actor=actor,
                            expected_version=expected_version, effect=effect)
        return followup

    return in_transaction(session, work)


def _years_later(day: date, years: int) -> date:
    year = day.year + years
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


def _later_steps(bundle: BundleSpec, key: str) -> set[str]:
    """The keys of every step that waits for step ``key``, directly or through others."""
    found: set[str] = set()
    todo = [key]
    while todo:
        current = todo.pop()
        for spec in bundle.steps:
            if current in spec.prerequisites and spec.id not in found:
                found.add(spec.id)
                todo.append(spec.id)
    return found


def fail_post_check(session: Session, runtime: Runtime, *, followup_id: int, actor: Actor, findings: str,
                    serious: bool = True, expected_version: int | None = None) -> Followup:
    """The office's officer found the commitment false: the post-check closes ``failed``; the
    step's result and licences are revoked; a credit mark (``serious`` unless told otherwise, in
    force ``credit_mark_years``) is recorded against the holder; the applicant and the offices of
    the case's later steps that waited for the step are notified. One transaction."""
    text = _findings(findings)
    years = get_settings().credit_mark_years

    def work() -> Followup:
        case, followup = _load(session, followup_id)

        def effect(change: FollowupChange) -> None:
            step = next(s for s in case.steps if s.id == followup.step_id)
            bundle = runtime.spec_for(session, case)
            transition_step(session, runtime, case=case, step=step, action="revoke_result", actor=SYSTEM,
                            at=change.at, payload={"followup": followup.id}, inputs=Inputs(reason=text))
            mark = CreditMark(holder_id=case.applicant_id, severity=SERIOUS if serious else "general", reason=text,
                              case_id=case.id, followup_id=followup.id, marked_at=change.at,
                              expires_on=_years_later(change.at.date(), years))
            session.add(mark)
            session.flush()  # its id goes into the event
            later = _later_steps(bundle, step.step_key)
            notified: list[str] = []
            item = runtime.registry.catalog.items.get(step.item_code)
            name = item.name if item else step.item_code
            for other in sorted(case.steps, key=lambda s: (s.step_key, s.instance)):
                if other.step_key not in later or other.state in _CLOSED_STATES or not other.office:
                    continue
                if other.office in notified:
                    continue
                other_item = runtime.registry.catalog.items.get(other.item_code)
                queue_office_notice(session, runtime.channels, case=case, step=step, office=other.office,
                                    at=change.at, step_name=name, reason=text,
                                    later_step=other_item.name if other_item else other.item_code)
                notified.append(other.office)
            change.details["check"] = {"findings": text, "by": actor.id, "at": change.at.isoformat()}
            change.audit["credit_mark"] = {"id": mark.id, "severity": mark.severity,
                                           "expires_on": mark.expires_on.isoformat() if mark.expires_on else None}
            change.audit["revoked"] = list(step.outputs.get("revoked", {}).get("licences", []))
            change.audit["notified_offices"] = notified

        transition_followup(session, runtime, case=case, followup=followup, action="fail", actor=actor,
                            expected_version=expected_version, effect=effect)
        return followup

    return in_transaction(session, work)
