"""The engine's file actions: files handed in for a case's materials (申请材料).

A file's bytes go to the file store (:mod:`engine.documents.storage`) *before* the transaction
that records them: a row never names content that is not stored, and a failed transaction
leaves at most an unreferenced stored file, which is harmless (content-addressed, never
overwritten). The rows are :class:`~engine.db.models.CaseFile`.

- :func:`stage_files` — the window (clerk) or the applicant online uploads files for one material
  before the case exists; they are staged, owned by the uploader.
- :func:`check_hand_ins` and :func:`link_hand_ins` — intake (:func:`engine.machine.intake.accept_case`)
  checks what is handed in for every material to supply (files, a paper original seen at the window,
  or 容缺: a promised date) and links the staged files to the new case in the acceptance transaction.
- :func:`check_material` — a clerk or the step's officer accepts a material or returns it with a reason.
- :func:`case_files` — per material, the files a reader may see, what is waived and what is deferred.
- :func:`file_for_download` — one file's bytes, authorised like reading the step, recorded in the access log.

Who may see a material's files: whoever may read the whole case (:data:`Access.READ_CASE_FILES`:
the applicant their own, the windows holding the case, the region's supervisors, admins), and
whoever may see in full a step that lists the material (an officer: their step's materials only,
matched by name; the bundle's own materials are not a step's).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent, Case, CaseFile, DeferredMaterial, new_id
from engine.documents.inspection import FileKind, Inspected, Upload, inspect_uploads
from engine.documents.storage import FileMissing, content_hash
from engine.errors import Conflict, DomainError, FieldProblem, InvalidApplication, NotFound
from engine.machine.access import Access, Target, authorize, permits, start_refusal
from engine.machine.states import DEPARTMENT_OFFICERS, Actor, Role, StepState
from engine.machine.unit_of_work import in_transaction, load_case
from engine.records.audit import append_event
from engine.records.documents import ReceivedMaterial
from engine.records.queries import case_materials, record_access
from engine.runtime import Runtime
from engine.spec.models import BundleSpec, Material, SupplyMode

log = logging.getLogger(__name__)

__all__ = [
    "CheckState",
    "FileView",
    "HandInPlan",
    "MaterialFiles",
    "MaterialHandIn",
    "UploadLimits",
    "case_files",
    "check_hand_ins",
    "check_material",
    "file_event_entry",
    "file_for_download",
    "file_view",
    "link_hand_ins",
    "may_read_material",
    "receipt_materials",
    "rows_of",
    "stage_files",
    "store_inspected",
    "upload_limits",
]

CheckState = Literal["accepted", "returned"]
MAX_REASON = 500
"""The longest reason a returned material may carry."""
MIB = 1_048_576


# --- views ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileView:
    """One handed-in file as readers see it (``sha256`` shortened for display; ``sha256_full`` whole)."""

    id: str
    material: str
    filename: str
    media_type: str
    pages: int
    size: int
    sha256: str
    sha256_full: str
    check_state: str
    check_reason: str
    channel: str
    uploaded_at: datetime
    notice: int | None = None
    """The 补正 round the file was handed in for (None: at intake)."""
    purged: bool = False
    """The retention purge removed its content; the record stays."""


def file_view(row: CaseFile) -> FileView:
    """The read model of one file row."""
    return FileView(id=row.id, material=row.material, filename=row.filename, media_type=row.media_type,
                    pages=row.pages, size=row.size, sha256=row.sha256[:12], sha256_full=row.sha256,
                    check_state=row.check_state, check_reason=row.check_reason, channel=row.channel,
                    uploaded_at=row.uploaded_at, notice=row.notice, purged=row.purged_at is not None)


def file_event_entry(row: CaseFile) -> dict[str, Any]:
    """What an audit event's ``files`` list holds for one file: what ``audit verify --files`` re-hashes."""
    return {"id": row.id, "material": row.material, "sha256": row.sha256, "size": row.size, "pages": row.pages}


@dataclass(frozen=True)
class UploadLimits:
    """What files a material accepts: its own rule, else the bundle's, else the settings'."""

    allowed: frozenset[FileKind]
    max_bytes: int
    max_files: int


def upload_limits(bundle: BundleSpec, material: Material) -> UploadLimits:
    """The limits of ``material`` of ``bundle``, key by key (see :class:`engine.spec.models.FileRule`)."""
    from engine.settings import get_settings

    settings = get_settings()
    own, default = material.files, bundle.files
    types = (own.types if own and own.types else None) or (default.types if default and default.types else None)
    max_mb = (own.max_mb if own else None) or (default.max_mb if default else None)
    max_files = (own.max_files if own else None) or (default.max_files if default else None)
    return UploadLimits(
        allowed=frozenset(FileKind(t) for t in types) if types else frozenset(settings.upload_types),
        max_bytes=int(max_mb * MIB) if max_mb is not None else settings.upload_max_bytes,
        max_files=max_files or settings.upload_max_files,
    )


def _unknown_material(bundle: BundleSpec, name: str) -> InvalidApplication:
    return InvalidApplication([FieldProblem(
        f"materials.{name}", "material.unknown", f"「{name}」不是本事项的申请材料",
        f"{name!r} is not a material of bundle {bundle.id}")])


def handed_in_material(bundle: BundleSpec, name: str, *, named: Collection[str] = ()) -> Material | None:
    """The material ``name`` of ``bundle`` as files are handed in for it: the bundle's own, or one
    a 补正 notice names in the officer's words (in ``named``), under the bundle's default limits."""
    declared = bundle.material(name)
    if declared is None and name in named:
        return Material(name=name, supply=SupplyMode.APPLICANT)
    return declared


def store_inspected(runtime: Runtime, uploads: Sequence[Upload], *, bundle: BundleSpec, material: str,
                    named: Collection[str] = ()) -> list[Inspected]:
    """Inspect every upload for ``material`` with its limits (one bad file refuses all: nothing is
    stored), then put each in the file store. Call it before the transaction that records them.
    ``named``: materials a 补正 notice asks for in the officer's own words (户口簿原件), which may be
    handed in as files too, within the bundle's (else the settings') default limits."""
    declared = handed_in_material(bundle, material, named=named)
    if declared is None:
        raise _unknown_material(bundle, material)
    if not uploads:
        raise InvalidApplication([FieldProblem(f"materials.{material}", "file.none", f"「{material}」未选择文件",
                                               f"no file given for {material!r}")])
    limits = upload_limits(bundle, declared)
    inspected = inspect_uploads(uploads, material=material, allowed=limits.allowed, max_bytes=limits.max_bytes,
                                max_files=limits.max_files)
    for upload, found in zip(uploads, inspected, strict=True):
        stored = runtime.files.put(upload.data)
        assert stored.sha256 == found.sha256, "the store hashed other bytes than inspection did"
    return inspected


def _channel(actor: Actor) -> str:
    return "online" if actor.role is Role.APPLICANT else "window"


# --- staging ---------------------------------------------------------------------------------


def stage_files(
    session: Session, runtime: Runtime, *, actor: Actor, bundle_id: str, material: str, uploads: Sequence[Upload],
) -> list[FileView]:
    """Upload files for ``material`` of ``bundle_id`` before the case exists (the window scans the
    originals, or the applicant uploads online); they wait, owned by ``actor``, until intake names
    them in :class:`MaterialHandIn`. Whoever may start a case may stage files. Every file is
    inspected (type from the content, size, pages) and stored before anything is recorded; one bad
    file refuses the whole batch (:class:`~engine.documents.inspection.BadFile`, 422 naming
    ``materials.<name>``). Commits."""
    refused = start_refusal(actor)
    if refused is not None:
        raise refused
    spec = runtime.current_spec(bundle_id)
    inspected = store_inspected(runtime, uploads, bundle=spec, material=material)
    now = runtime.clock.now()

    def record() -> list[FileView]:
        rows = [CaseFile(id=new_id(), case_id=None, step_id=None, bundle_id=spec.id, material=material,
                         sha256=found.sha256, size=found.size, media_type=found.media_type, pages=found.pages,
                         filename=found.filename, channel=_channel(actor), uploaded_by=actor.id, uploaded_at=now,
                         staged_by=actor.id, check_state="pending", check_reason="", notice=None)
                for found in inspected]
        session.add_all(rows)
        session.flush()
        return [file_view(row) for row in rows]

    return in_transaction(session, record)


# --- intake -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaterialHandIn:
    """What is handed in at intake for one material: staged ``files`` (their ids), a ``paper``
    original seen at the window (clerks only), or 容缺 ``deferred_until`` (a deferrable material
    only). ``check``: the clerk's check of what was handed in (required at the window)."""

    files: tuple[str, ...] = ()
    paper: bool = False
    deferred_until: date | None = None
    check: CheckState | None = None
    check_reason: str = ""


@dataclass
class HandInPlan:
    """What intake will record, checked before the case is written."""

    rows: dict[str, list[CaseFile]] = field(default_factory=dict)
    """Staged rows to link, by material."""
    paper: list[str] = field(default_factory=list)
    deferred: dict[str, date] = field(default_factory=dict)
    checked: dict[str, tuple[str, str]] = field(default_factory=dict)
    """The clerk's check per material: (state, reason)."""

    def record(self) -> dict[str, Any]:
        """The acceptance audit event's part: ``files`` (what ``audit verify --files`` re-hashes),
        ``paper`` originals and ``deferred`` materials with their promised dates."""
        return {
            "files": [file_event_entry(row) for rows in self.rows.values() for row in rows],
            "paper": list(self.paper),
            "deferred": [{"material": name, "until": until.isoformat()} for name, until in self.deferred.items()],
        }


def _problem(name: str, code: str, zh: str, en: str, *, sub: str = "") -> FieldProblem:
    return FieldProblem(f"materials.{name}{sub}", code, zh, en)


def check_hand_ins(
    session: Session, runtime: Runtime, *, spec: BundleSpec, actor: Actor, intake: Mapping[str, Any],
    materials: Mapping[str, MaterialHandIn],
) -> HandInPlan:
    """Check ``materials`` against what the application must hand in (``intake["to_supply"]``, from
    prefill: not waived); every problem at once in one :class:`InvalidApplication` (422 naming
    ``materials.<name>``). Reads the staged rows, locking them (PostgreSQL) until the commit."""
    to_supply: dict[str, bool] = {}
    for entry in intake.get("to_supply", ()):
        to_supply[entry["material"]] = to_supply.get(entry["material"], False) or bool(entry["required"])
    today = runtime.today()
    problems: list[FieldProblem] = []
    plan = HandInPlan()
    ids = [i for hand_in in materials.values() for i in hand_in.files]
    staged = {row.id: row for row in session.scalars(select(CaseFile).where(CaseFile.id.in_(ids)).with_for_update())} \
        if ids else {}
    at_window = actor.role is Role.CLERK
    for name, hand_in in materials.items():
        declared = spec.material(name)
        if declared is None:
            problems.extend(_unknown_material(spec, name).problems)
            continue
        if name not in to_supply:
            problems.append(_problem(name, "material.not_asked", f"「{name}」无需提交（已免提交或不适用）",
                                     f"{name!r} is not to be handed in for this application (waived or not applicable)"))
            continue
        given = bool(hand_in.files) or hand_in.paper
        if hand_in.paper and actor.role is Role.APPLICANT:
            problems.append(_problem(name, "material.paper_online", "纸质原件须在窗口核验",
                                     "a paper original is seen at the window, not online", sub=".paper"))
        if hand_in.deferred_until is not None:
            refused = _deferral_problems(runtime, name, declared, hand_in, given=given, today=today)
            problems.extend(refused)
            if not refused:
                plan.deferred[name] = hand_in.deferred_until
            continue
        rows = []
        for file_id in hand_in.files:
            row = staged.get(file_id)
            if row is None or row.staged_by != actor.id or row.case_id is not None:
                problems.append(_problem(name, "file.not_staged", f"文件 {file_id} 不是您上传且未使用的文件",
                                         f"file {file_id} is not a file you staged and not yet handed in",
                                         sub=".files"))
            elif row.material != name or row.bundle_id != spec.id:
                problems.append(_problem(name, "file.other_material", f"文件 {file_id} 是为「{row.material}」上传的",
                                         f"file {file_id} was staged for {row.material!r}", sub=".files"))
            else:
                rows.append(row)
        if len(set(hand_in.files)) != len(hand_in.files):
            problems.append(_problem(name, "file.repeated", "同一文件列出了两次", "a file is listed twice", sub=".files"))
        if not given:
            if to_supply[name]:
                problems.append(_problem(name, "material.missing", f"缺少材料「{name}」（需上传文件或核验纸质原件）",
                                         f"{name!r} is missing: hand in its files or the paper original"))
            continue
        if at_window:
            problems.extend(_check_problems(name, hand_in))
        elif hand_in.check is not None and actor.role is Role.APPLICANT:
            problems.append(_problem(name, "material.check_by_window", "材料由窗口或部门核验",
                                     "the window or the department checks a material, not the applicant",
                                     sub=".check"))
        plan.rows[name] = rows
        if hand_in.paper:
            plan.paper.append(name)
        if hand_in.check is not None:
            plan.checked[name] = (hand_in.check, hand_in.check_reason.strip())
    for name, required in to_supply.items():
        if required and name not in materials:
            problems.append(_problem(name, "material.missing", f"缺少材料「{name}」（需上传文件、核验纸质原件或容缺承诺）",
                                     f"{name!r} is missing: hand in its files, the paper original, or a promised date"))
    if problems:
        raise InvalidApplication(problems)
    return plan


def _deferral_problems(
    runtime: Runtime, name: str, declared: Material, hand_in: MaterialHandIn, *, given: bool, today: date,
) -> list[FieldProblem]:
    until = hand_in.deferred_until
    assert until is not None
    if not declared.deferrable:
        return [_problem(name, "material.not_deferrable", f"「{name}」不适用容缺受理",
                         f"{name!r} may not be missing at acceptance (not deferrable)", sub=".deferred_until")]
    if given:
        return [_problem(name, "material.deferred_and_given", "已提交的材料无需容缺承诺",
                         "a material handed in is not also deferred", sub=".deferred_until")]
    latest = runtime.calendar.add_working_days(today, declared.defer_limit)
    if until < today or until > latest:
        return [_problem(name, "material.defer_date", f"承诺补交日期须在 {today.isoformat()} 至 {latest.isoformat()} 之间",
                         f"the promised date must lie between {today.isoformat()} and {latest.isoformat()} "
                         f"({declared.defer_limit} working days)", sub=".deferred_until")]
    return []


def _check_problems(name: str, hand_in: MaterialHandIn) -> list[FieldProblem]:
    """At the window every material handed in is checked before acceptance."""
    if hand_in.check is None:
        return [_problem(name, "material.unchecked", f"请先核验材料「{name}」",
                         f"check {name!r} (accepted, or returned with a reason) before accepting", sub=".check")]
    if hand_in.check == "returned":
        reason = hand_in.check_reason.strip() or "—"
        return [_problem(name, "material.returned", f"材料「{name}」被退回：{reason}",
                         f"{name!r} was returned: {reason}; the case cannot be accepted without it", sub=".check")]
    return []


def _step_for(case: Case, spec: BundleSpec, material: str) -> str | None:
    """The one step row of the case needing ``material`` (None: several, or the bundle's own)."""
    keys = {s.id for s in spec.steps_needing(material)}
    rows = [s for s in case.steps if s.step_key in keys and s.state != StepState.SKIPPED.value]
    return rows[0].id if len(rows) == 1 else None


def link_hand_ins(session: Session, runtime: Runtime, *, case: Case, spec: BundleSpec, actor: Actor,
                  plan: HandInPlan) -> None:
    """Link the staged files to the new case (in the acceptance transaction, after its steps are
    written) with the clerk's check, and record the 容缺 promises. A file linked meanwhile by
    another intake is a :class:`Conflict` (the transaction rolls back)."""
    now = runtime.clock.now()
    for name, rows in plan.rows.items():
        if not rows:
            continue
        state, reason = plan.checked.get(name, ("pending", ""))
        checked = state != "pending"
        result = session.execute(
            update(CaseFile)
            .where(CaseFile.id.in_([r.id for r in rows]), CaseFile.case_id.is_(None), CaseFile.staged_by == actor.id)
            .values(case_id=case.id, step_id=_step_for(case, spec, name), check_state=state, check_reason=reason,
                    checked_by=actor.id if checked else None, checked_at=now if checked else None)
            .execution_options(synchronize_session=False))
        if result.rowcount != len(rows):  # type: ignore[attr-defined]
            raise Conflict(f"a file of {name!r} was handed in for another case meanwhile", field=f"materials.{name}")
    for name, until in plan.deferred.items():
        session.add(DeferredMaterial(case_id=case.id, material=name, promised_on=until, committed_by=actor.id,
                                     committed_at=now))


# --- reading -------------------------------------------------------------------------------


def may_read_material(actor: Actor, case: Case, spec: BundleSpec, material: str, *, step_id: str | None = None) -> bool:
    """Whether ``actor`` may see the files of ``material`` of ``case`` (see the module docstring);
    ``step_id``: the step the files were handed in for (a 补正 of a material its notice names in
    words, which no step of the bundle declares), whose readers see them too."""
    if permits(actor, Access.READ_CASE_FILES, Target(case=case)):
        return True
    keys = {s.id for s in spec.steps_needing(material)}
    return any(permits(actor, Access.SEE_STEP, Target(case=case, step=s))
               for s in case.steps if (s.step_key in keys or s.id == step_id) and s.state != StepState.SKIPPED.value)


@dataclass(frozen=True)
class MaterialFiles:
    """One material of a case as a reader sees it: its files, or why none are needed."""

    name: str
    required: bool
    waived: bool
    reason: str
    """Why it is waived (prefill's wording), else empty."""
    files: tuple[FileView, ...]
    deferred_until: date | None = None
    """容缺: the date the applicant promised it by (None: not deferred)."""
    supplied_at: datetime | None = None
    """容缺: when the deferred material arrived."""
    paper: bool = False
    """A paper original was seen at the window at acceptance."""
    items: tuple[str, ...] = ()


def acceptance_hand_in(session: Session, case: Case) -> dict[str, Any]:
    """What the acceptance event recorded as handed in (``files``, ``paper``, ``deferred``); empty
    for a case accepted without hand-ins."""
    payload = session.scalar(select(AuditEvent.payload).where(AuditEvent.case_id == case.id, AuditEvent.seq == 1))
    return {k: payload[k] for k in ("files", "paper", "deferred") if isinstance(payload, dict) and k in payload}


def case_files(session: Session, runtime: Runtime, *, case: Case, viewer: Actor) -> tuple[MaterialFiles, ...]:
    """Per material of ``case`` ``viewer`` may see (officers: their steps' materials only), its
    files, whether it is waived and why, and what is deferred (容缺). Outside sight :class:`NotFound`.
    No access record: the read of the case records it; a download records itself."""
    if not permits(viewer, Access.SEE_CASE, Target(case=case)):
        raise NotFound(f"no case {case.id}", field="case_id")
    spec = runtime.spec_for(session, case)
    rows = list(session.scalars(select(CaseFile).where(CaseFile.case_id == case.id)
                                .order_by(CaseFile.uploaded_at, CaseFile.id)))
    deferred = {d.material: d for d in session.scalars(select(DeferredMaterial)
                                                       .where(DeferredMaterial.case_id == case.id))}
    paper = set(acceptance_hand_in(session, case).get("paper", ()))
    out = []
    declared = case_materials(session, runtime, case=case, viewer=viewer)
    for material in declared:
        if not may_read_material(viewer, case, spec, material.name):
            continue
        promise = deferred.get(material.name)
        out.append(MaterialFiles(
            name=material.name, required=material.required, waived=material.waived,
            reason=material.reason if material.waived else "",
            files=tuple(file_view(r) for r in rows if r.material == material.name),
            deferred_until=promise.promised_on if promise else None,
            supplied_at=promise.supplied_at if promise else None, paper=material.name in paper, items=material.items))
    # Files of materials a 补正 notice named in the officer's words: listed after the bundle's own,
    # for those who may read the step they were handed in for.
    listed = {m.name for m in declared}
    extra: dict[str, list[CaseFile]] = {}
    for row in rows:
        if row.material not in listed and may_read_material(viewer, case, spec, row.material, step_id=row.step_id):
            extra.setdefault(row.material, []).append(row)
    out.extend(MaterialFiles(name=name, required=True, waived=False, reason="", files=tuple(file_view(r) for r in found))
               for name, found in extra.items())
    return tuple(out)


def receipt_materials(session: Session, runtime: Runtime, *, case: Case, viewer: Actor) -> list[ReceivedMaterial]:
    """What the receipt (受理回执) lists as received (:func:`engine.records.documents.render_receipt`):
    per material ``viewer`` sees, the files intake linked (count and pages, as the acceptance
    event recorded them), a paper original, a 容缺 promise, or the reason it is waived. A case
    accepted without hand-in records lists its waived materials only."""
    received = acceptance_hand_in(session, case)
    recorded = "files" in received
    files: dict[str, list[Mapping[str, Any]]] = {}
    for entry in received.get("files", ()):
        files.setdefault(str(entry["material"]), []).append(entry)
    paper = set(received.get("paper", ()))
    deferred = {str(d["material"]): date.fromisoformat(str(d["until"])) for d in received.get("deferred", ())}
    out = []
    for material in case_materials(session, runtime, case=case, viewer=viewer):
        if material.waived:
            out.append(ReceivedMaterial(name=material.name, waived=True, reason=material.reason,
                                        required=material.required))
        elif recorded:
            mine = files.get(material.name, [])
            out.append(ReceivedMaterial(name=material.name, files=len(mine), pages=sum(int(e["pages"]) for e in mine),
                                        paper=material.name in paper, deferred_until=deferred.get(material.name),
                                        required=material.required))
    return out


def file_for_download(session: Session, runtime: Runtime, *, file_id: str, actor: Actor) -> tuple[FileView, bytes]:
    """One file and its bytes, for whoever may see its material (a staged file: its uploader only);
    otherwise the same :class:`NotFound` as for an unknown id. The read is recorded in the access
    log (committed). :class:`~engine.documents.storage.FileMissing` when the content is gone
    (purged by retention, or lost by the store) or no longer hashes to its address."""
    row = session.get(CaseFile, file_id)
    unknown = NotFound(f"no file {file_id}", field="file_id")
    if row is None:
        raise unknown
    case = session.get(Case, row.case_id) if row.case_id is not None else None
    if case is None:
        if row.staged_by != actor.id:
            raise unknown
    elif not may_read_material(actor, case, runtime.spec_for(session, case), row.material, step_id=row.step_id):
        raise unknown
    view = file_view(row)
    record_access(session, actor=actor, case_id=row.case_id, step_id=row.step_id,
                  what=f"file {row.id} ({row.material})", at=runtime.clock.now())
    session.commit()
    if row.purged_at is not None:
        raise FileMissing(row.sha256)
    data = runtime.files.get(row.sha256)
    if content_hash(data) != row.sha256:
        log.error("stored file %s… does not hash to its address", row.sha256[:12])
        raise FileMissing(row.sha256)
    return view, data


# --- checking ------------------------------------------------------------------------------


def _check_targets(case: Case, spec: BundleSpec, material: str) -> list[Target]:
    keys = {s.id for s in spec.steps_needing(material)}
    return [Target(case=case), *(Target(case=case, step=s) for s in case.steps
                                 if s.step_key in keys and s.state != StepState.SKIPPED.value)]


def check_material(
    session: Session, runtime: Runtime, *, case_id: str, material: str, actor: Actor, state: CheckState,
    reason: str = "",
) -> list[FileView]:
    """材料核验: a clerk of the windows holding the case, or the officer of a step needing the
    material, accepts the material's latest hand-in or returns it with a reason. The files of
    its latest round (intake, or the newest 补正 notice) take the state; the case's audit trail
    records it with the files. Commits."""

    def work() -> list[FileView]:
        case = load_case(session, case_id)
        spec = runtime.spec_for(session, case)
        targets = _check_targets(case, spec, material)
        if not any(permits(actor, Access.CHECK_MATERIAL, t) for t in targets):
            officer_target = targets[1] if actor.role in DEPARTMENT_OFFICERS and len(targets) > 1 else targets[0]
            authorize(actor, Access.CHECK_MATERIAL, officer_target)
        if state not in ("accepted", "returned"):
            raise DomainError("state must be accepted or returned / 核验结果须为通过或退回", field="state")
        why = reason.strip()
        if state == "returned" and not why:
            raise DomainError("a returned material needs a reason / 退回材料须说明理由", field="reason")
        if len(why) > MAX_REASON:
            raise DomainError(f"the reason is longer than {MAX_REASON} characters / 理由过长", field="reason")
        rows = _latest_round(session, case.id, material)
        if not rows:
            raise DomainError(f"no files were handed in for {material!r} / 「{material}」尚无已提交的文件",
                              field=f"materials.{material}")
        now = runtime.clock.now()
        for row in rows:
            row.check_state, row.check_reason, row.checked_by, row.checked_at = state, why, actor.id, now
        append_event(session, case=case, actor=actor, action="material.check", at=now,
                     step_id=rows[0].step_id,
                     payload={"material": material, "state": state, "reason": why, "file_ids": [r.id for r in rows]})
        session.flush()
        return [file_view(r) for r in rows]

    return in_transaction(session, work)


def _latest_round(session: Session, case_id: str, material: str) -> list[CaseFile]:
    rows = list(session.scalars(select(CaseFile).where(CaseFile.case_id == case_id, CaseFile.material == material,
                                                       CaseFile.purged_at.is_(None))
                                .order_by(CaseFile.uploaded_at, CaseFile.id)))
    if not rows:
        return []
    newest = max(r.notice or 0 for r in rows)
    return [r for r in rows if (r.notice or 0) == newest]


def rows_of(session: Session, ids: Iterable[str]) -> list[CaseFile]:
    """The file rows with these ids, in the given order (unknown ids left out)."""
    wanted = list(ids)
    found = {r.id: r for r in session.scalars(select(CaseFile).where(CaseFile.id.in_(wanted)))} if wanted else {}
    return [found[i] for i in wanted if i in found]
