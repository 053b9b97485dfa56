"""Eligibility (前置校验): a bundle's ``requires`` rules, checked before anything is accepted.

The Hunan guides' process begins "前置校验 → 一次提交": the platform checks that the applicant may
use the bundle at all before the clerk types the whole form. A bundle declares its rules as
data (``requires``: a condition, the guide's reason in both languages and what a failure does —
refuse, warn, or, on a step, skip that step), and this module decides them:

1. :func:`resolve_facts` computes every computed fact the bundle's conditions name
   (:mod:`engine.spec.facts`) at the acceptance date: ages and sexes from ID numbers, days and
   months since a date, region membership and distinct values from the answers; valid licences
   (one query for every holder and type) and open cases of the same bundle from the database,
   with the caller's session. Each value goes into the condition scope under ``Fact.key``, so
   the condition nodes stay pure data and never touch a session.
2. :func:`assess` decides each bundle rule, and each rule of a step that may apply (its
   ``when`` is not false), three-valued: met, failed, or unknown (a field not answered yet, or a
   fact not looked up — an applicant's prefill never reads another person's licences). A rule
   reading ``entry.<field>`` is decided once per entry of its list (its ``for_each``, or its
   step's), with the facts computed from that entry, and a failure names the entry.
3. Intake (:func:`engine.machine.intake.accept_case`) refuses on a failed ``refuse`` rule with
   :class:`InvalidApplication` (HTTP 422, one problem per field the rule reads, code
   ``eligibility.<rule>``), skips the steps a failed ``skip`` rule names with the guide's reason,
   records warnings in the acceptance event, and when no step applies answers with the guides'
   reasons (:func:`nothing_applies`). Prefill (:func:`engine.machine.intake.preview_application`)
   shows the same verdicts before submission.
4. Intakes counting the same people's open cases are serialised (:func:`hold_open_case_keys`).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy import Select, String, bindparam, cast, false, select, text
from sqlalchemy.orm import Session

from engine.db.models import Case
from engine.db.session import LIKE_ESCAPE, like_literal
from engine.errors import FieldProblem, InvalidApplication
from engine.machine.scope import ENTRY_PREFIX, condition_scope
from engine.machine.states import CASE_OPEN
from engine.people.licences import LicenceReads
from engine.people.validators import (
    InvalidValue,
    id_number_birth_date,
    id_number_sex,
    validate_credit_code,
    validate_date,
    validate_id_number,
    validate_region_code,
)
from engine.spec.conditions import Condition, Fact, facts_of
from engine.spec.facts import APPLICANT
from engine.spec.fact_checks import entry_fields
from engine.spec.models import BundleSpec, Names, OnFail, Requirement, StepSpec

Outcome = Literal["met", "failed", "unknown"]


@dataclass(frozen=True)
class Verdict:
    """How one eligibility rule came out for an application."""

    rule: str
    step: str | None
    outcome: Outcome
    on_fail: OnFail
    reason: Names
    fields: tuple[str, ...]
    """The fields the rule reads (what the applicant would change), in order, without repeats; a
    field of a list entry by its path (``new_employees[1].employee_id_number``)."""
    entry: int | None = None
    """For a rule on each entry of a list: the entry (0-based, as in the field paths) it was decided on."""
    list_field: str | None = None
    """The list field that entry belongs to."""

    @property
    def code(self) -> str:
        """``eligibility.<rule>`` (bundle rules) or ``eligibility.<step>.<rule>`` (step rules)."""
        return f"eligibility.{self.step}.{self.rule}" if self.step else f"eligibility.{self.rule}"

    @property
    def refuses(self) -> bool:
        return self.outcome == "failed" and self.on_fail is OnFail.REFUSE

    @property
    def warns(self) -> bool:
        return self.outcome == "failed" and self.on_fail is OnFail.WARN

    def problems(self) -> list[FieldProblem]:
        """One problem per field the rule reads (``applicant.id`` when it reads none); a rule on each
        entry names the entry too (第2项 / entry 2, and the entry's fields by their paths)."""
        zh = "".join(part for part in (f"第{self.entry + 1}项" if self.entry is not None else "",
                                       f"事项环节 {self.step}" if self.step else "") if part)
        en = "; ".join(part for part in (f"entry {self.entry + 1}" if self.entry is not None else "",
                                         f"step {self.step}" if self.step else "") if part)
        return [FieldProblem(name, self.code, self.reason.zh + (f"（{zh}）" if zh else ""),
                             self.reason.en + (f" ({en})" if en else ""))
                for name in (self.fields or ("applicant.id",))]

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "step": self.step, "outcome": self.outcome, "on_fail": self.on_fail.value,
                "reason_zh": self.reason.zh, "reason_en": self.reason.en, "fields": list(self.fields),
                **({"entry": self.entry} if self.entry is not None else {})}


@dataclass(frozen=True)
class Assessment:
    """Every rule's verdict, the facts they were decided on and what the lookups read."""

    verdicts: tuple[Verdict, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)
    looked_up: frozenset[str] = frozenset()
    """People other than the applicant whose licences or cases were read (for the access log)."""

    @property
    def refusals(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.refuses]

    @property
    def warnings(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.warns]

    def skip_reason(self, step: StepSpec, instance: int = 0) -> str | None:
        """The guide's reason (``zh (en)``) a failed ``skip`` rule gives for leaving out instance
        ``instance`` of ``step``, or None: a rule decided on one entry of the step's own list leaves
        out that entry's instance only, any other failed rule every instance."""
        for v in self.verdicts:
            if v.step == step.id and v.outcome == "failed" and v.on_fail is OnFail.SKIP and (
                    v.list_field is None or v.list_field != step.for_each or v.entry == instance):
                return f"{v.reason.zh} ({v.reason.en})"
        return None

    @property
    def deferred(self) -> list[Verdict]:
        """Refusing rules left undecided (a fact about another person not looked up)."""
        return [v for v in self.verdicts if v.outcome == "unknown" and v.on_fail is OnFail.REFUSE]

    def record(self) -> dict[str, Any]:
        """What the acceptance event records: warnings and deferred rules (nothing when none)."""
        out: dict[str, Any] = {}
        if self.warnings:
            out["eligibility_warnings"] = [v.as_dict() for v in self.warnings]
        if self.deferred:
            out["eligibility_deferred"] = list(dict.fromkeys(v.code for v in self.deferred))
        return out

    def scope(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """The answers with the resolved facts: what a condition naming facts is evaluated on."""
        return {**answers, **self.facts}

    def refuse(self) -> None:
        """Raise :class:`InvalidApplication` naming every failed ``refuse`` rule and its fields."""
        refusals = self.refusals
        if refusals:
            raise InvalidApplication([p for v in refusals for p in v.problems()])


def bundle_facts(spec: BundleSpec) -> list[Fact]:
    """Every distinct fact the bundle's rules and step conditions name (one per scope key), but those
    computed from a list entry (``of: entry.<field>``), which are computed for each entry."""
    conditions: list[Condition | None] = [r.condition for r in spec.requires]
    for step in spec.steps:
        conditions.append(step.when)
        conditions.extend(r.condition for r in step.requires)
    found: dict[str, Fact] = {}
    for condition in conditions:
        for fact in facts_of(condition):
            if not _per_entry(fact):
                found.setdefault(fact.key, fact)
    return list(found.values())


def fact_licence_types(spec: BundleSpec) -> set[str]:
    """The licence types the bundle's ``holds_licence`` facts read (see :class:`LicenceReads`)."""
    return {t for fact in bundle_facts(spec) if fact.fact == "holds_licence" for t in fact.licence}


def _per_entry(fact: Fact) -> bool:
    return any(name.startswith(ENTRY_PREFIX) for name in fact.of)


def assess(
    session: Session, *, spec: BundleSpec, answers: Mapping[str, Any], applicant_id: str, today: date,
    others: bool = True, licences: LicenceReads | None = None,
) -> Assessment:
    """Decide the bundle's eligibility rules for these answers at ``today`` (the acceptance date).

    ``others=False`` (an applicant's own prefill) leaves the database facts about other people
    unknown: an applicant learns nothing about another person's licences or cases before
    submitting.
    """
    facts, looked_up = resolve_facts(session, spec=spec, answers=answers, applicant_id=applicant_id, today=today,
                                     others=others, licences=licences)
    scope = {**answers, **facts}
    verdicts: list[Verdict] = []
    for rule in spec.requires:
        verdicts.extend(_verdicts(rule, None, scope, applicant_id=applicant_id, today=today))
    for step in spec.steps:
        if not step.requires or (step.when is not None and step.when.settles(scope) is False):
            continue  # a step that does not apply asks nothing of the applicant
        if step.for_each is not None and not answers.get(step.for_each):
            continue
        for rule in step.requires:
            verdicts.extend(_verdicts(rule, step, scope, applicant_id=applicant_id, today=today))
    return Assessment(tuple(verdicts), facts, looked_up)


def _verdicts(
    rule: Requirement, step: StepSpec | None, scope: Mapping[str, Any], *, applicant_id: str, today: date,
) -> list[Verdict]:
    """The rule's verdict; a rule reading ``entry.*`` has one per entry of its list (its ``for_each``,
    else its step's), each decided on the answers, that entry's fields and the facts computed from
    them. No entries: met (every entry meets it); the list not answered: unknown. On a step's own
    list, an entry whose instance does not apply (the step's ``when`` is false for it) is left out."""
    step_id = step.id if step is not None else None
    name = (rule.for_each or (step.for_each if step is not None else None)) if entry_fields(rule.condition) else None
    if name is None:
        return [_verdict(rule, step_id, scope)]
    entries = scope.get(name)
    if not isinstance(entries, list):
        return [_verdict(rule, step_id, scope, outcome="unknown")]
    out = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            continue  # not an entry (refused by the form's validation)
        here = condition_scope(scope, entry=entry)
        if step is not None and step.for_each == name and step.when is not None and step.when.settles(here) is False:
            continue
        for fact in facts_of(rule.condition):
            if _per_entry(fact):
                here[fact.key] = _pure(fact, [_operand(n, here, applicant_id) for n in fact.of], today)
        out.append(_verdict(rule, step_id, here, entry=(name, index)))
    return out or [_verdict(rule, step_id, scope, outcome="met")]


def _verdict(
    rule: Requirement, step: str | None, scope: Mapping[str, Any], *, entry: tuple[str, int] | None = None,
    outcome: Outcome | None = None,
) -> Verdict:
    if outcome is None:
        settled = rule.condition.settles(scope)
        outcome = "unknown" if settled is None else ("met" if settled else "failed")
    names = dict.fromkeys(rule.condition.fields())
    if entry is not None:  # an entry's fields by their paths: new_employees[1].employee_id_number
        names = dict.fromkeys(f"{entry[0]}[{entry[1]}].{n.removeprefix(ENTRY_PREFIX)}" if n.startswith(ENTRY_PREFIX)
                              else n for n in names)
    return Verdict(rule.id, step, outcome, rule.on_fail, rule.reason, tuple(names),
                   entry=entry[1] if entry is not None else None, list_field=entry[0] if entry is not None else None)


def nothing_applies(spec: BundleSpec, assessment: Assessment) -> InvalidApplication:
    """The refusal when no step of the bundle applies: the guides' reasons of the steps a rule left
    out, else a plain statement naming the bundle."""
    skipped = [v for v in assessment.verdicts if v.step is not None and v.outcome == "failed"
               and v.on_fail is OnFail.SKIP]
    problems = [p for v in skipped for p in v.problems()]
    return InvalidApplication(problems or [FieldProblem(
        "answers", "eligibility.no_step", f"根据所填内容，{spec.name.zh}没有可以办理的事项",
        f"no step of bundle {spec.id} applies to these answers")])


# --- facts ---------------------------------------------------------------------------------


def resolve_facts(
    session: Session, *, spec: BundleSpec, answers: Mapping[str, Any], applicant_id: str, today: date,
    others: bool = True, licences: LicenceReads | None = None,
) -> tuple[dict[str, Any], frozenset[str]]:
    """The value of every fact the bundle names, by scope key (None: cannot be computed), and the
    other people whose records were read. Every ``holds_licence`` fact shares one query; each
    ``open_cases`` fact takes one."""
    facts = bundle_facts(spec)
    values: dict[str, Any] = {}
    operands = {f.key: [_operand(name, answers, applicant_id) for name in f.of] for f in facts}
    for fact in facts:
        if fact.fact not in ("holds_licence", "open_cases"):
            values[fact.key] = _pure(fact, operands[fact.key], today)

    def allowed(holders: Iterable[str | None]) -> bool:
        return others or all(h == applicant_id for h in holders)

    licence_facts = [f for f in facts if f.fact == "holds_licence"]
    holders = {h for f in licence_facts for h in _ids(operands[f.key]) if allowed([h])}
    types = {t for f in licence_facts for t in f.licence}
    reads = licences or LicenceReads(session, today=today, types=types)
    held = reads.valid(holders=holders, types=types)
    looked_up: set[str] = set(holders)
    for fact in licence_facts:
        ids = _ids(operands[fact.key])
        if len(ids) == 1 and ids[0] in holders:
            values[fact.key] = any((ids[0], t) in held for t in fact.licence)
    for fact in (f for f in facts if f.fact == "open_cases"):
        people = _open_case_people(fact, answers, applicant_id)
        if people is not None and allowed(people):
            values[fact.key] = _open_cases(session, spec=spec, fact=fact, people=people, applicant_id=applicant_id)
            looked_up.update(people)
    return values, frozenset(looked_up - {applicant_id})


def _open_case_people(fact: Fact, answers: Mapping[str, Any], applicant_id: str) -> list[str] | None:
    """The people an ``open_cases`` fact counts cases of (the applicant when it names nobody), or
    None when one of its fields holds no valid ID (the fact is then unknown)."""
    if not fact.of:
        return [applicant_id]
    people = _ids(_operand(name, answers, applicant_id) for name in fact.of)
    return people if len(people) == len(fact.of) else None


def _operand(name: str, answers: Mapping[str, Any], applicant_id: str) -> Any:
    return applicant_id if name == APPLICANT else answers.get(name)


def _ids(values: Iterable[Any]) -> list[str]:
    """The valid ID numbers / credit codes among ``values``, normalised (invalid ones dropped)."""
    out = []
    for value in values:
        ident = _id(value)
        if ident is not None:
            out.append(ident)
    return out


def _id(value: Any) -> str | None:
    if value in (None, ""):
        return None
    for validate in (validate_id_number, validate_credit_code):
        try:
            return validate(value)
        except InvalidValue:
            continue
    return None


def _person(value: Any, today: date) -> str | None:
    try:
        return validate_id_number(value, today=today) if value not in (None, "") else None
    except InvalidValue:
        return None


def _date(value: Any) -> date | None:
    try:
        return validate_date(value) if value not in (None, "") else None
    except InvalidValue:
        return None


def _pure(fact: Fact, operands: list[Any], today: date) -> Any:
    """A fact computed from the answers alone; None when an operand is missing or invalid."""
    match fact.fact:
        case "age" | "sex":
            ident = _person(operands[0], today)
            if ident is None:
                return None
            if fact.fact == "sex":
                return id_number_sex(ident)
            born = id_number_birth_date(ident)
            return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        case "days_since" | "months_since":
            day = _date(operands[0])
            if day is None:
                return None
            if fact.fact == "days_since":
                return (today - day).days
            months = (today.year - day.year) * 12 + today.month - day.month
            return months - 1 if today.day < day.day else months  # whole months elapsed (floor)
        case "in_region":
            code = _region_of(operands[0], today)
            return None if code is None or fact.region is None else code.startswith(_prefix(fact.region))
        case "distinct":
            values = [_normal(v) for v in operands]
            return None if any(v is None for v in values) else len(set(values)) == len(values)
    return None  # pragma: no cover - the loader refuses unknown facts


def _region_of(value: Any, today: date) -> str | None:
    """The six-digit division of an ID number (digits 1-6), a credit code (3-8) or a region code."""
    ident = _person(value, today)
    if ident is not None:
        return ident[:6]
    try:
        return validate_credit_code(value)[2:8] if value not in (None, "") else None
    except InvalidValue:
        pass
    try:
        return validate_region_code(value) if value not in (None, "") else None
    except InvalidValue:
        return None


def _prefix(region: str) -> str:
    """430000 → 43, 430100 → 4301, 430102 → 430102: the codes a region contains start so."""
    code = region
    while code.endswith("00") and len(code) > 2:
        code = code[:-2]
    return code


def _normal(value: Any) -> str | None:
    if value in (None, ""):
        return None
    ident = _id(value)
    return ident if ident is not None else str(value).strip()


def _open_cases(session: Session, *, spec: BundleSpec, fact: Fact, people: list[str], applicant_id: str) -> int:
    """Open cases of this bundle whose ``of`` fields name the same people (in any order), or, with
    no ``of``, whose applicant is this applicant."""
    if not fact.of:
        return len(session.execute(_OPEN_OF_APPLICANT, {"bundle": spec.id, "applicant": applicant_id}).all())
    # the LIKE narrows the rows in the database; the exact match is below
    found = session.execute(_open_naming(len(people)), {"bundle": spec.id, **{
        f"p{i}": f"%{like_literal(person)}%"
        for i, person in enumerate(people)}})
    wanted = sorted(people)
    return sum(1 for holder, answers in found
               if sorted(_ids(_operand(n, answers or {}, holder) for n in fact.of)) == wanted)


_OPEN_CASES = select(Case.applicant_id, Case.answers).where(
    Case.bundle_id == bindparam("bundle"), Case.state.in_(sorted(s.value for s in CASE_OPEN)))
_OPEN_OF_APPLICANT = _OPEN_CASES.where(Case.applicant_id == bindparam("applicant"))


@functools.cache
def _open_naming(people: int) -> Select[tuple[str, Any]]:
    """Open cases of a bundle whose answers contain each of ``people`` patterns (``p0``, ``p1``…)."""
    return _OPEN_CASES.where(*(cast(Case.answers, String).like(bindparam(f"p{i}"), escape=LIKE_ESCAPE)
                               for i in range(people)))


# --- serialising open_cases ------------------------------------------------------------------

OPEN_CASES_LOCK_SPACE = 0x4F43
"""The first key of ``pg_advisory_xact_lock(int, int)`` for open-case keys (the second is the key's
hash): the two-key form is a key space of its own, apart from the seals' one-key lock."""


def open_case_keys(
    spec: BundleSpec, *, answers: Mapping[str, Any], applicant_id: str, others: bool = True,
) -> list[str]:
    """The keys an intake of these answers counts open cases under, sorted: one per distinct
    ``open_cases`` fact that will be looked up — the bundle id and the sorted people the fact's ``of``
    fields name (or the applicant). Two intakes whose facts name the same people, in any order, have
    the same key; ``others=False`` (an applicant's own intake) leaves out the facts that name
    another person, which are not looked up either."""
    keys = set()
    for fact in bundle_facts(spec):
        if fact.fact != "open_cases":
            continue
        people = _open_case_people(fact, answers, applicant_id)
        if people is not None and (others or all(person == applicant_id for person in people)):
            keys.add(f"{spec.id}:{','.join(sorted(people))}")
    return sorted(keys)


def hold_open_case_keys(session: Session, keys: Iterable[str]) -> None:
    """Hold ``keys`` until the session's transaction ends, so that intakes counting the same people's
    open cases run one after another: the later one counts after the earlier one has committed its
    case (or rolled back). Take them before counting and keep them until the case is committed.

    PostgreSQL: a transaction-level advisory lock per key (``pg_advisory_xact_lock`` on a hash of
    the key), taken in the order of the locks so two intakes never wait for each other in a circle;
    intakes for other people take other keys and do not wait. Under READ COMMITTED (PostgreSQL's default, which the engine keeps) each
    statement after the lock reads what was committed before it, so the count sees the earlier
    case. A hash collision of two keys only makes unrelated intakes wait, never miscount.
    SQLite: one writer — the key is its write lock, taken now (a transaction that has only read
    so far begins again holding it, :mod:`engine.db.session`), so the count and the insert run with
    no other writer in between.
    """
    locks = sorted({int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big", signed=True) for key in keys})
    if not locks:
        return
    if session.get_bind().dialect.name == "postgresql":
        for lock in locks:
            session.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"),
                            {"space": OPEN_CASES_LOCK_SPACE, "key": lock})
    else:
        session.execute(select(Case.id).where(false()).with_for_update())  # FOR UPDATE: the write lock
