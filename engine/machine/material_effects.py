"""The gate's effects on handed-in materials: 补正 hand-ins and their receipt (行政许可法 §32),
a 容缺 material supplied or reminded of, and the retention purge.

Part of the gate (:mod:`engine.machine.effects` registers these in its tables; the one-gate test
counts this module as the gate): only here are ``case_files`` rows written for a running case and
``deferred_materials`` marked. The bytes are in the file store before the transaction starts
(:func:`engine.documents.files.store_inspected`); an effect only writes the rows that reference
them, and adds the files (id, material, SHA-256, size, pages) to the transition's one audit event.

A 补正 notice keeps what came in for it on the step: ``supplement["handed_in"]`` maps each
requested material to its entries, ``{"file": id}`` (a ``case_files`` row of the notice's round)
or ``{"paper": true, "by", "at"}`` (an original a window took in). A material is handed in when
one entry counts: a paper record, or a file not returned (the officer returns files with
:func:`engine.documents.files.check_material`; :func:`missing_materials`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import CaseFile, DeferredMaterial, Step, new_id
from engine.documents.inspection import Inspected
from engine.errors import Conflict, DomainError, Forbidden, IllegalTransition, NotFound
from engine.machine.states import Role
from engine.spec.models import BundleSpec, Material

if TYPE_CHECKING:
    from engine.db.models import Case
    from engine.machine.effects import Change


@dataclass(frozen=True, slots=True)
class HandIn:
    """What is handed in for one material: inspected files already in the file store, or (a
    window only) a paper original recorded at the counter."""

    material: str
    files: tuple[Inspected, ...] = ()
    paper: bool = False


def file_entry(row: CaseFile) -> dict[str, Any]:
    """What an audit event records of a file (the shared shape: id, material, SHA-256, size, pages)."""
    from engine.documents.files import file_event_entry  # the documents layer reads the gate: import late

    return file_event_entry(row)


def notice_round(step: Step) -> int:
    """The round (1-based) of the step's current 补正 notice (0: none sent)."""
    if not step.supplement:
        return 0
    return int(step.supplement.get("notices", 1))


def _entries(step: Step) -> dict[str, list[dict[str, Any]]]:
    handed_in = step.supplement.get("handed_in") or {}
    return {str(name): [dict(e) for e in entries] for name, entries in handed_in.items()}


def all_handed_in(step: Step) -> bool:
    """Whether, as the step records it, every requested material has something handed in."""
    entries = _entries(step)
    return all(entries.get(str(m)) for m in step.supplement.get("requested", []))


def missing_materials(session: Session, step: Step) -> list[str]:
    """The materials the step's open 补正 notice asks for that have nothing counting for them yet:
    no paper record, and no file of this round that was not returned. In the notice's order."""
    requested = [str(m) for m in step.supplement.get("requested", [])]
    entries = _entries(step)
    ids = [e["file"] for name in requested for e in entries.get(name, []) if "file" in e]
    returned = set(session.scalars(select(CaseFile.id).where(CaseFile.id.in_(ids), CaseFile.check_state == "returned"))) \
        if ids else set()
    return [name for name in requested
            if not any(e.get("paper") or ("file" in e and e["file"] not in returned) for e in entries.get(name, []))]


def _new_rows(change: Change, *, hand_in: HandIn, step_id: str | None, channel: str, notice: int | None) -> list[CaseFile]:
    rows = [CaseFile(
        id=new_id(), case_id=change.case.id, step_id=step_id, bundle_id=change.case.bundle_id, material=hand_in.material,
        sha256=f.sha256, size=f.size, media_type=f.media_type, pages=f.pages, filename=f.filename, channel=channel,
        uploaded_by=change.actor.id, uploaded_at=change.at, staged_by=change.actor.id, check_state="pending",
        check_reason="", notice=notice,
    ) for f in hand_in.files]
    change.session.add_all(rows)
    return rows


def _check_hand_in(change: Change) -> HandIn:
    hand_in = change.inputs.hand_in
    if hand_in is None:
        raise ValueError("a hand-in needs what is handed in")
    if hand_in.paper and change.actor.role is not Role.CLERK:
        raise Forbidden("only a window records a paper original handed in at the counter / 纸质原件仅由窗口登记",
                        field="paper")
    if hand_in.paper and hand_in.files:
        raise DomainError(f"{hand_in.material}: hand in files or record the paper original, not both / "
                          "上传文件与登记纸质原件只能选其一", field=f"materials.{hand_in.material}")
    if not hand_in.paper and not hand_in.files:
        raise DomainError(f"{hand_in.material}: no file handed in / 未上传材料文件", field=f"materials.{hand_in.material}")
    return hand_in


# --- 补正: the hand-in, a returned file, the receipt ----------------------------------------------


def guard_hand_in_material(change: Change, step: Step) -> None:
    hand_in = _check_hand_in(change)
    requested = [str(m) for m in step.supplement.get("requested", [])]
    if hand_in.material not in requested:
        raise DomainError(f"the 补正 notice does not ask for {hand_in.material!r}; it asks for {', '.join(requested)} / "
                          f"补正通知未要求该材料", field="material")


def hand_in_material(change: Change, step: Step) -> None:
    """Record the files (or the paper original) handed in for one requested material."""
    hand_in = change.inputs.hand_in
    assert hand_in is not None  # the guard saw it
    round_ = notice_round(step)
    rows = _new_rows(change, hand_in=hand_in, step_id=step.id, channel="supplement", notice=round_)
    entries = _entries(step)
    added: list[dict[str, Any]] = ([{"paper": True, "by": change.actor.id, "at": change.at.isoformat()}] if hand_in.paper
                                   else [{"file": row.id} for row in rows])
    entries[hand_in.material] = [*entries.get(hand_in.material, []), *added]
    step.supplement = {**step.supplement, "handed_in": entries}
    change.session.flush()  # the rows are there for the count below
    change.details["supplement"] = {"handed_in": hand_in.material, "round": round_, "paper": hand_in.paper,
                                    "missing": missing_materials(change.session, step)}
    change.details["files"] = [file_entry(row) for row in rows]


def guard_receipt(change: Change, step: Step) -> None:
    missing = missing_materials(change.session, step)
    if missing:
        raise Conflict(f"the 补正 materials are not all handed in yet, still missing: {', '.join(missing)} / "
                       f"补正材料尚未补齐，仍缺：{'、'.join(missing)}", field="materials")


def receive_materials(change: Change, step: Step) -> None:
    """§32: the officer confirms the receipt of everything the notice asked for (the clock restarts today)."""
    requested = [str(m) for m in step.supplement.get("requested", [])]
    entries = _entries(step)
    ids = [str(e["file"]) for name in requested for e in entries.get(name, []) if "file" in e]
    step.supplement = {**step.supplement, "received": requested, "received_at": change.at.isoformat(),
                       "received_by": change.actor.id}
    change.details["supplement"] = {"received": requested, "round": notice_round(step), "files": ids}


# --- 容缺: supplied, reminded --------------------------------------------------------------------


def names_of(materials: Iterable[Material]) -> set[str]:
    """The names a list of materials is known by (each one's and its alternatives')."""
    return {name for m in materials for name in (m.name, *(a.name for a in m.any_of))}


def needed_by(bundle: BundleSpec, step_key: str) -> set[str]:
    """The materials a step needs by name: its own, and the bundle's own materials (every step's)."""
    step = next((s for s in bundle.steps if s.id == step_key), None)
    return names_of(bundle.materials) | (names_of(step.materials) if step is not None else set())


def _deferred(change: Change, material: str) -> DeferredMaterial:
    row = change.session.get(DeferredMaterial, (change.case.id, material))
    if row is None:
        raise NotFound(f"{material!r} was not deferred at acceptance (容缺) / 该材料未容缺受理", field="material")
    return row


def guard_deferred_open(change: Change, step: Step) -> None:
    """A step cannot complete while a material it needs was deferred and is not supplied yet."""
    bundle = change.runtime.spec_for(change.session, change.case)
    names = needed_by(bundle, step.step_key)
    if not names:  # a step needing no material waits for none (and asks the database nothing)
        return
    waiting = change.session.scalars(select(DeferredMaterial).where(
        DeferredMaterial.case_id == change.case.id, DeferredMaterial.supplied_at.is_(None),
        DeferredMaterial.material.in_(sorted(names))).order_by(DeferredMaterial.promised_on, DeferredMaterial.material)
    ).all()
    if waiting:
        shown = "; ".join(f"{w.material} (promised by {w.promised_on.isoformat()})" for w in waiting)
        zh = "；".join(f"{w.material}（承诺于{w.promised_on.isoformat()}前补交）" for w in waiting)
        raise Conflict(f"step {step.step_key} needs materials accepted as deferred (容缺) and not handed in yet: {shown} / "
                       f"容缺材料尚未补交，本环节不能办结：{zh}", field="materials")


def guard_supply_deferred(change: Change, case: Case) -> None:
    hand_in = _check_hand_in(change)
    row = _deferred(change, hand_in.material)
    if row.supplied_at is not None:
        raise Conflict(f"{hand_in.material} was already supplied on {row.supplied_at:%Y-%m-%d} / 该容缺材料已补交",
                       field="material")


def supply_deferred(change: Change, case: Case) -> None:
    """The deferred material arrives: its files (channel online or window) and the supplied mark."""
    hand_in = change.inputs.hand_in
    assert hand_in is not None
    row = _deferred(change, hand_in.material)
    bundle = change.runtime.spec_for(change.session, case)
    steps = [s for s in case.steps if hand_in.material in needed_by(bundle, s.step_key)
             and hand_in.material not in names_of(bundle.materials)]
    channel = "online" if change.actor.role is Role.APPLICANT else "window"
    rows = _new_rows(change, hand_in=hand_in, step_id=steps[0].id if len(steps) == 1 else None, channel=channel,
                     notice=None)
    row.supplied_at = change.at
    change.details["deferred"] = {"material": hand_in.material, "promised_on": row.promised_on.isoformat(),
                                  "paper": hand_in.paper}
    change.details["files"] = [file_entry(r) for r in rows]


def guard_remind(change: Change, case: Case) -> None:
    for material in change.inputs.materials or ():
        row = _deferred(change, material)
        if row.supplied_at is not None or row.reminded_at is not None:
            raise IllegalTransition(f"{material}: supplied or reminded already / 已补交或已提醒")


def remind_deferred(change: Change, case: Case) -> None:
    """The reminder before the promised date is recorded (sent by issue 13's notifications)."""
    reminded = []
    for material in change.inputs.materials or ():
        row = _deferred(change, material)
        row.reminded_at = change.at
        reminded.append({"material": material, "promised_on": row.promised_on.isoformat()})
    change.details["reminded"] = reminded


# --- retention ----------------------------------------------------------------------------------


def guard_purge(change: Change, case: Case) -> None:
    if not change.inputs.files:
        raise ValueError("purge_files needs the files to purge")


def purge_files(change: Change, case: Case) -> None:
    """The retention period of these files passed: their rows are marked purged (the bytes go
    after the commit, once no row that is not purged references them)."""
    ids = list(change.inputs.files or ())
    rows = change.session.scalars(select(CaseFile).where(CaseFile.id.in_(ids), CaseFile.case_id == case.id,
                                                         CaseFile.purged_at.is_(None)).order_by(CaseFile.id)).all()
    for row in rows:
        row.purged_at = change.at
    change.details["files"] = [file_entry(row) for row in rows]
    change.details["purged"] = len(rows)
