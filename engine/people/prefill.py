"""Prefill (智能预填) and waived materials (免提交).

How an application is prefilled:

1. The bundle's fields that declare ``prefill`` sources become *requests*: (field, licence type,
   attribute, holder). The holder is the applicant, or the id typed into the source's
   ``holder_field`` (the bride's ID number fills the bride's name from her ID card).
2. Every registered provider gets **all** requests of the application in one call (batch-first,
   as Open Forms' prefill plugins): the licence store answers with one query, the applicant's
   earlier cases with one query, and deployment plugins add their own sources after these.
   Providers are tried in registry order; the first value found for a field wins, and records
   its source.
3. Values the applicant typed are kept. Where one differs from a prefilled value, the field's
   ``correctable`` decides: a correction is accepted (and audited by intake) or refused.
4. Each applicable step's materials are then classified: template-generated (1) and
   data-interface (3) materials are always waived; an e-licence material (2, or any material
   naming a licence) is waived when a valid licence of that type exists for its holder, or
   when an earlier step of the same bundle issues it; it must be supplied otherwise. Expired
   or revoked licences are never used.

Other people's data (``PrefillContext.discloses_others``). Staff at a window have the spouse,
the heir or the deceased's papers in front of them, so for them other holders' licences fill fields
and waive materials (and :func:`engine.machine.intake.prefill_application` records the read in the
access log). A self-service applicant must learn nothing about another person — not a licence
number, not whether a licence exists (the 死亡医学证明 would tell whether someone has died) and
not even by how long the answer takes. So for an applicant the licence store is never asked
about anyone but the applicant: another person's licence material gets one classification and
one wording whatever the store holds (:data:`OTHERS_LICENCE`, to supply unless an earlier step
of the bundle issues it), and only the applicant's own licences are linked and shown.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine.db.models import Case, Licence
from engine.people.licences import LicenceReads
from engine.registry import Registry
from engine.spec.loader import BundleRegistry
from engine.spec.models import BundleSpec, Material, StepSpec, SupplyMode


@dataclass(frozen=True)
class PrefillRequest:
    """One way to fill one field: attribute ``attribute`` of ``holder``'s ``licence``."""

    field: str
    licence: str
    attribute: str
    holder: str


@dataclass(frozen=True)
class Prefilled:
    """A value found for a field, and where it came from."""

    field: str
    value: Any
    source: str
    """Provider id: ``licence``, ``earlier_case``, or a plugin's."""
    detail: str
    """Human-readable provenance: licence type and number, or the earlier receipt."""


@dataclass(frozen=True)
class PrefillContext:
    """What providers may know about the application being filled."""

    bundle: BundleSpec
    registry: BundleRegistry
    applicant_id: str
    answers: Mapping[str, Any]
    today: date
    case: Case | None = None
    """The running case, once there is one (a step's materials); intake has none yet."""
    licences: LicenceReads | None = None
    """The unit of work's shared licence reads (an intake's): one query for prefill, waivers and the
    eligibility facts; None: each lookup asks the store."""
    discloses_others: bool = True
    """Whether other people's licences (a spouse's, an heir's) may be read: to fill fields and to
    waive materials. Staff at a window have those people in front of them; a self-service
    applicant does not, so for applicants the store is asked about the applicant alone."""
    def is_other(self, holder: str | None) -> bool:
        """Whether ``holder`` (an ID typed into the form) is someone other than the applicant."""
        return holder is not None and _normal(holder) != _normal(self.applicant_id)


def _normal(identifier: str) -> str:
    return identifier.strip().upper()


class PrefillProvider(Protocol):
    """A prefill source. ``fetch`` receives every request of one application at once."""

    def __call__(
        self, session: Session, context: PrefillContext, requests: Sequence[PrefillRequest]
    ) -> dict[str, Prefilled]:
        """Return a value for each field this provider can fill (fields it cannot fill are absent)."""
        ...


class PrefillRegistry(Registry[PrefillProvider]):
    """Providers by id, in priority order; ids are unique."""

    kind = "prefill provider"

    def __iter__(self) -> Iterator[tuple[str, PrefillProvider]]:
        return self.items()


def licence_provider(session: Session, context: PrefillContext, requests: Sequence[PrefillRequest]) -> dict[str, Prefilled]:
    """Fill from valid e-licences of the holders, one query for the whole application."""
    found = _valid(session, context, holders={r.holder for r in requests}, types={r.licence for r in requests})
    values: dict[str, Prefilled] = {}
    for request in requests:
        licence = found.get((request.holder, request.licence))
        if licence is None or request.field in values:
            continue
        value = licence.attributes.get(request.attribute)
        if value not in (None, ""):
            values[request.field] = Prefilled(request.field, value, "licence", _describe(context, licence))
    return values


_EARLIER_CASES = (
    select(Case.receipt_no, Case.answers)
    .where(Case.applicant_id == bindparam("applicant"), Case.id != bindparam("case_id"))
    .order_by(Case.accepted_at.desc())
    .limit(20)
)


def earlier_case_provider(
    session: Session, context: PrefillContext, requests: Sequence[PrefillRequest]
) -> dict[str, Prefilled]:
    """Data reuse: the applicant's own answers in earlier cases (newest first), one query.

    Only fields whose holder is the applicant are reused: another person's data (a spouse's,
    an heir's) is never copied from an old application.
    """
    wanted = {r.field for r in requests if r.holder == context.applicant_id}
    if not wanted:
        return {}
    # a running case's own answers are not "earlier" (ids are never empty: "" excludes nothing)
    rows = session.execute(_EARLIER_CASES, {"applicant": context.applicant_id,
                                            "case_id": context.case.id if context.case is not None else ""})
    values: dict[str, Prefilled] = {}
    for receipt_no, answers in rows:
        for name in wanted - values.keys():
            if answers.get(name) not in (None, ""):
                values[name] = Prefilled(name, answers[name], "earlier_case", f"受理编号 {receipt_no}")
    return values


def default_providers() -> PrefillRegistry:
    """Licence store first (authoritative), then the applicant's earlier cases."""
    registry = PrefillRegistry()
    registry.register("licence")(licence_provider)
    registry.register("earlier_case")(earlier_case_provider)
    return registry


def _describe(context: PrefillContext, licence: Licence) -> str:
    licence_type = context.registry.catalog.licences.get(licence.type_code)
    name = licence_type.name.zh if licence_type else licence.type_code
    return f"{name} {licence.number}"


def _valid(session: Session, context: PrefillContext, *, holders: set[str], types: set[str]
           ) -> dict[tuple[str, str], Licence]:
    reads = context.licences or LicenceReads(session, today=context.today, types=types)
    return reads.valid(holders=holders, types=types)


def licence_types(bundle: BundleSpec, registry: BundleRegistry) -> set[str]:
    """Every licence type prefill and the waivers of ``bundle`` may read (see :class:`LicenceReads`)."""
    types = {source.licence for use in bundle.fields for source in registry.fields[use.field].prefill}
    materials = [*bundle.materials, *(m for step in bundle.steps for m in step.materials)]
    types |= {m.licence for material in materials for m in (material, *material.any_of) if m.licence}
    return types


def applicant_name_of(bundle: BundleSpec, registry: BundleRegistry, answers: Mapping[str, Any], applicant_id: str
                      ) -> str:
    """The applicant's name as the answers give it, for a case whose name was left blank: the field
    the dictionary marks ``names_applicant``, else a field filled from the ``name`` of a licence
    held by the applicant (男方姓名 when the groom applies: its holder field names the applicant)."""
    fields = registry.fields
    for use in bundle.fields:
        value = answers.get(use.field)
        if not isinstance(value, str) or not value.strip():
            continue
        spec = fields[use.field]
        if spec.names_applicant:
            return value.strip()
        for source in spec.prefill:
            holder = applicant_id if source.holder_field is None else answers.get(source.holder_field)
            if source.attribute == "name" and isinstance(holder, str) and _normal(holder) == _normal(applicant_id):
                return value.strip()
    return ""


def prefill_requests(context: PrefillContext) -> list[PrefillRequest]:
    """Every (field, licence, attribute, holder) the bundle's fields ask for."""
    requests: list[PrefillRequest] = []
    for use in context.bundle.fields:
        spec = context.registry.fields[use.field]
        for source in spec.prefill:
            holder = context.applicant_id if source.holder_field is None else context.answers.get(source.holder_field)
            if not isinstance(holder, str) or not holder:
                continue
            if context.is_other(holder) and not context.discloses_others:
                continue  # an applicant's form is never filled from another person's licences
            requests.append(PrefillRequest(use.field, source.licence, source.attribute, holder))
    return requests


@dataclass(frozen=True)
class MaterialStatus:
    """Whether one material of one step must be supplied, and why not if waived."""

    step: str
    """The step's id; empty for a material of the whole bundle (listed once)."""
    name: str
    code: str | None
    supply: SupplyMode
    required: bool
    waived: bool
    reason: str
    other_holder: bool = False
    """The material is another person's (the spouse's ID card, the deceased's register)."""


OTHERS_LICENCE = ("他人证照：由部门通过电子证照库核验，如库中无有效证照则需提交 "
                  "(another person's licence: the department checks the e-licence store; supply it if the store has "
                  "none)")
"""The one wording of another person's licence material for a self-service applicant, whatever
the store holds: true whether or not that person has the licence."""


@dataclass
class PrefillResult:
    values: dict[str, Prefilled] = field(default_factory=dict)
    materials: list[MaterialStatus] = field(default_factory=list)
    other_holders: frozenset[str] = frozenset()
    """Other people whose licences were looked up (for staff; always empty for an applicant)."""

    @property
    def waived(self) -> list[MaterialStatus]:
        return [m for m in self.materials if m.waived]

    @property
    def to_supply(self) -> list[MaterialStatus]:
        return [m for m in self.materials if not m.waived]


def step_materials(session: Session, context: PrefillContext, *, step: StepSpec) -> list[MaterialStatus]:
    """A running case's step materials, waived by the licences that exist *now* (including the
    ones earlier steps of the same case just issued)."""
    return material_statuses(session, context, steps=[step], answers=context.answers)


def prefill(
    session: Session,
    context: PrefillContext,
    *,
    providers: PrefillRegistry | None = None,
) -> PrefillResult:
    """Prefill an application and classify its materials (see the module docstring)."""
    requests = prefill_requests(context)
    # the applicant's own identifier, as identified: a company's credit code is not typed twice
    values: dict[str, Prefilled] = {
        use.field: Prefilled(use.field, context.applicant_id, "applicant", "申请人身份")
        for use in context.bundle.fields if context.registry.fields[use.field].identifies_applicant}
    for _provider_id, provider in providers or default_providers():
        pending = [r for r in requests if r.field not in values]
        if not pending:
            break
        for name, found in provider(session, context, pending).items():
            values.setdefault(name, found)
    merged = {**{k: v.value for k, v in values.items()}, **{k: v for k, v in context.answers.items() if v not in (None, "")}}
    steps = [s for s in context.bundle.steps if s.may_apply(merged)]  # entry.*/steps.* conditions too
    wanted = _materials_of(context, steps, merged, shared=context.bundle.materials)
    others = {r.holder for r in requests if context.is_other(r.holder)}
    others |= {h for _, material, holder, other in wanted if other and material.licence for h in _each(holder)
               if context.is_other(h)}
    return PrefillResult(values=values, materials=_classify(session, context, wanted, merged),
                         other_holders=frozenset(others) if context.discloses_others else frozenset())


Holder = str | tuple[str, ...] | None
"""Whose licence satisfies a material: one person, every entry's person of a ``for_each`` step's
list (each employee's ID card), or None (not typed yet)."""
Wanted = tuple[StepSpec | None, Material, Holder, bool]
"""A material that applies (of a step, or of the whole bundle: None), its holder and whether that
is another person."""


def _entry_holders(context: PrefillContext, step: StepSpec | None, material: Material, answers: Mapping[str, Any]
                   ) -> tuple[str, ...] | None:
    """The holders of a ``for_each`` step's material whose ``holder_field`` is a field of the list's
    entries: every entry's value (None while an entry lacks one)."""
    if step is None or step.for_each is None or material.holder_field is None:
        return None
    if material.holder_field not in context.registry.fields[step.for_each].item_fields:
        return None
    entries = answers.get(step.for_each)
    if not isinstance(entries, list) or not entries:
        return None
    holders = tuple(e.get(material.holder_field) for e in entries if isinstance(e, dict))
    return holders if holders and all(isinstance(h, str) and h for h in holders) else None  # type: ignore[return-value]


def _others(context: PrefillContext, holder: Holder) -> bool:
    return any(context.is_other(h) for h in _each(holder))


def _each(holder: Holder) -> tuple[str, ...]:
    return holder if isinstance(holder, tuple) else (holder,) if holder else ()


def _materials_of(
    context: PrefillContext, steps: Sequence[StepSpec], answers: Mapping[str, Any], *, shared: Sequence[Material] = ()
) -> list[Wanted]:
    wanted: list[Wanted] = []
    for step, material in [*((None, m) for m in shared), *((s, m) for s in steps for m in s.materials)]:
        if material.when is not None and not material.when.evaluate(answers):
            continue
        holder: Holder = _entry_holders(context, step, material, answers) or _holder_of(
            material, answers, default=context.applicant_id)
        wanted.append((step, material, holder, _others(context, holder)))
    return wanted


def _holder_of(material: Material, answers: Mapping[str, Any], *, default: Holder) -> Holder:
    """Whose licence satisfies ``material``: its ``holder_field``'s answer, else ``default``."""
    if material.holder_field is None:
        return default
    holder = answers.get(material.holder_field)
    return holder if isinstance(holder, str) and holder else None


Option = tuple[Material, Holder, bool]
"""One way to satisfy a material (itself, or one of its ``any_of``), with its holder."""


def _options(context: PrefillContext, material: Material, holder: Holder, answers: Mapping[str, Any]) -> list[Option]:
    if not material.any_of:
        return [(material, holder, _others(context, holder))]
    out: list[Option] = []
    for option in material.any_of:
        who = _holder_of(option, answers, default=holder)  # an alternative's own holder, else the material's
        out.append((option, who, _others(context, who)))
    return out


def material_statuses(
    session: Session, context: PrefillContext, *, steps: Sequence[StepSpec], answers: Mapping[str, Any],
    shared: Sequence[Material] = (),
) -> list[MaterialStatus]:
    """Classify the materials of ``steps`` (after ``shared``, the bundle's own: step '') as waived
    or to supply, one licence query in all."""
    return _classify(session, context, _materials_of(context, steps, answers, shared=shared), answers)


def _classify(
    session: Session, context: PrefillContext, wanted: Sequence[Wanted], answers: Mapping[str, Any]
) -> list[MaterialStatus]:
    # Without ``discloses_others`` the store is not asked about other people at all: an applicant's
    # answer must not depend on what it holds about them, not even in how long it takes.
    options = [_options(context, m, h, answers) for _, m, h, _ in wanted]
    every = [o for per in options for o in per]
    asked = {h for m, holder, other in every if m.licence and (context.discloses_others or not other)
             for h in _each(holder)}
    found = _valid(session, context, holders=asked, types={m.licence for m, _, _ in every if m.licence})
    out: list[MaterialStatus] = []
    for (step, material, _holder, other), per in zip(wanted, options, strict=True):
        verdicts = []
        for option, holder, option_other in per:
            undisclosed = option_other and not context.discloses_others
            held = [] if undisclosed else [found.get((h, option.licence or "")) for h in _each(holder)]
            licence = held[0] if held and all(held) else None
            waived, reason = _waiver(context, option, licence, undisclosed=undisclosed)
            if waived and licence is not None and len(held) > 1:  # every entry's person holds it
                reason = f"已关联电子证照（{len(held)} 人） (linked e-licences of all {len(held)} entries)"
            issuer = _issued_earlier(context.bundle, step, option, answers) if step is not None else None
            if not waived and issuer is not None:  # from the bundle alone: the same for every holder
                item = context.registry.catalog.items[issuer.chosen_item(answers)].name
                waived, reason = True, f"由前序环节「{item}」办结后自动关联 (issued by an earlier step of this bundle)"
            verdicts.append((option, waived, reason))
        if material.any_of:  # any one alternative waived waives the material
            option, waived, reason = next(((o, w, r) for o, w, r in verdicts if w), (material, False, ""))
            reason = (f"以「{option.name}」代替 (satisfied by {option.name}): {reason}" if waived else
                      f"任选其一提交：{'／'.join(o.name for o in material.any_of)} (supply any one of these)")
        else:
            _, waived, reason = verdicts[0]
        out.append(MaterialStatus(step.id if step is not None else "", material.name, material.code, material.supply,
                                  material.required, waived, reason, other_holder=other))
    return out


def _issued_earlier(
    bundle: BundleSpec, step: StepSpec, material: Material, answers: Mapping[str, Any]
) -> StepSpec | None:
    """The applicable prerequisite (direct or transitive) of ``step`` that issues the material's licence."""
    if material.licence is None:
        return None
    seen: set[str] = set()
    todo = list(step.prerequisites)
    while todo:
        current = bundle.step(todo.pop())
        if current.id in seen:
            continue
        seen.add(current.id)
        applies = current.may_apply(answers)
        if applies and current.outputs.licence == material.licence:
            return current
        todo.extend(current.prerequisites)
    return None


def _waiver(
    context: PrefillContext, material: Material, licence: Licence | None, *, undisclosed: bool = False
) -> tuple[bool, str]:
    if material.supply is SupplyMode.TEMPLATE:
        return True, "由申请表模板自动生成 (generated from the application form)"
    if material.supply is SupplyMode.DATA_INTERFACE:
        return True, "通过数据共享接口核验 (verified through a data-sharing interface)"
    if material.supply is SupplyMode.PERSONAL_CENTRE:
        return True, "取自申请人个人中心已上传的材料 (taken from the applicant's uploads in the personal centre)"
    if material.licence and undisclosed:
        return False, OTHERS_LICENCE
    if material.licence and licence is not None:
        return True, f"已关联电子证照 {_describe(context, licence)} (linked e-licence)"
    if material.supply is SupplyMode.E_LICENCE:
        return False, "未找到有效电子证照，请提交 (no valid e-licence found: please supply it)"
    return False, "申请人提交 (supplied by the applicant)"
