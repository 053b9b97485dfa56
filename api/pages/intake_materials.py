"""The intake form's materials to supply: a file input per material (the window scans the papers,
the applicant uploads from a phone), the window's check (accepted / returned with a reason), the
paper original seen at the window, and 容缺's promised date for a deferrable material.

Inputs are named ``m.<n>.<part>`` (``m.0.name`` carries the material's name), so they never
collide with the answers' ``a.`` inputs. Files are staged with the engine's
:func:`~engine.documents.files.stage_files` before :func:`~engine.machine.intake.accept_case`
names them in :class:`~engine.documents.files.MaterialHandIn`; a refused submission keeps the
files already staged (hidden ``m.<n>.staged`` ids, each shown with its name and pages) so nothing
is uploaded twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from api.pages.common import form_text
from api.pages.forms import MaterialRow
from api.pages.materials import UploadRule, problems_at, split_message, upload_rule, uploads_in
from engine.documents.files import FileView, MaterialHandIn, file_view, rows_of, stage_files
from engine.documents.inspection import BadFile, Upload
from engine.errors import FieldProblem, InvalidApplication
from engine.machine.states import Actor
from engine.runtime import Runtime
from engine.spec.models import BundleSpec

MAX_MATERIALS = 100


@dataclass
class HandInTyped:
    """What the form posted for one material."""

    name: str
    uploads: list[Upload] = field(default_factory=list)
    staged: list[str] = field(default_factory=list)
    check: str = ""
    reason: str = ""
    paper: bool = False
    until: str = ""

    @property
    def empty(self) -> bool:
        return not (self.uploads or self.staged or self.check or self.paper or self.until)


def read_hand_ins(form: Any) -> dict[str, HandInTyped]:
    """The materials part of a posted intake form, by material name."""
    found: dict[str, HandInTyped] = {}
    for n in range(MAX_MATERIALS):
        name = form_text(form, f"m.{n}.name", 200)
        if not name:
            break
        found[name] = HandInTyped(
            name=name, uploads=[*uploads_in(form, f"m.{n}.files"), *uploads_in(form, f"m.{n}.photo")],
            staged=[v for v in (form_text({"v": s}, "v", 32) for s in form.getlist(f"m.{n}.staged")) if v][:50],
            check=form_text(form, f"m.{n}.check", 16), reason=form_text(form, f"m.{n}.reason", 600),
            paper=form_text(form, f"m.{n}.paper", 8) == "true", until=form_text(form, f"m.{n}.until", 10))
    return found


def stage_hand_ins(session: Session, runtime: Runtime, *, actor: Actor, bundle_id: str,
                   typed: Mapping[str, HandInTyped]) -> tuple[dict[str, list[FileView]], list[FieldProblem]]:
    """Stage every material's new files (each material's batch checked whole by the engine: a bad
    file stores nothing of it) and read back the ones staged before; every refusal as a problem
    at its material."""
    staged: dict[str, list[FileView]] = {}
    problems: list[FieldProblem] = []
    for name, hand_in in typed.items():
        # Files staged by an earlier submission of this form: the caller's own, not yet handed in.
        kept = [file_view(r) for r in rows_of(session, hand_in.staged)
                if r.staged_by == actor.id and r.case_id is None and r.material == name]
        session.rollback()
        staged[name] = kept
        if not hand_in.uploads:
            continue
        try:
            staged[name] = [*kept, *stage_files(session, runtime, actor=actor, bundle_id=bundle_id, material=name,
                                                uploads=hand_in.uploads)]
        except BadFile as exc:
            session.rollback()
            chinese, english = split_message(exc.message)
            problems.append(FieldProblem(exc.field or f"materials.{name}", exc.code, chinese, english))
        except InvalidApplication as exc:
            session.rollback()
            problems.extend(exc.problems)
    return staged, problems


def hand_ins(typed: Mapping[str, HandInTyped], staged: Mapping[str, Sequence[FileView]]
             ) -> tuple[dict[str, MaterialHandIn], list[FieldProblem]]:
    """What intake is asked to record (materials left blank are left out: the engine names those
    it needs), and the promised dates that are not dates."""
    out: dict[str, MaterialHandIn] = {}
    problems = []
    for name, hand_in in typed.items():
        files = tuple(v.id for v in staged.get(name, ()))
        if hand_in.empty and not files:
            continue
        until = None
        if hand_in.until:
            try:
                until = date.fromisoformat(hand_in.until)
            except ValueError:
                problems.append(FieldProblem(f"materials.{name}.deferred_until", "material.defer_date",
                                             "承诺补交日期格式不正确", "the promised date is not a date"))
        check = hand_in.check if hand_in.check in ("accepted", "returned") else None
        out[name] = MaterialHandIn(files=files, paper=hand_in.paper, deferred_until=until,
                                   check="accepted" if check == "accepted" else "returned" if check else None,
                                   check_reason=hand_in.reason)
    return out, problems


@dataclass(frozen=True)
class MaterialInput:
    """One material to supply as the intake form shows it."""

    index: int
    name: str
    items: tuple[str, ...]
    required: bool
    reason: str
    rule: UploadRule | None
    deferrable: bool
    defer_from: date
    defer_to: date
    staged: tuple[FileView, ...]
    typed: HandInTyped
    problems: tuple[FieldProblem, ...]

    def problems_of(self, part: str = "") -> list[FieldProblem]:
        """The problems of the whole material (``part`` ''), or of one of its parts (``files``, ``check``…)."""
        key = f"materials.{self.name}" + (f".{part}" if part else "")
        return [p for p in self.problems if p.field == key]


def material_inputs(runtime: Runtime, spec: BundleSpec, rows: Sequence[MaterialRow], *,
                    typed: Mapping[str, HandInTyped], staged: Mapping[str, Sequence[FileView]],
                    problems: Sequence[FieldProblem]) -> list[MaterialInput]:
    """The to-supply materials with their inputs, what was typed and staged, and their problems."""
    today = runtime.today()
    out = []
    for n, row in enumerate(rows):
        declared = spec.material(row.name)
        deferrable = declared is not None and declared.deferrable
        latest = runtime.calendar.add_working_days(today, declared.defer_limit) if declared and deferrable else today
        out.append(MaterialInput(
            index=n, name=row.name, items=row.items, required=row.required, reason=row.reason,
            rule=upload_rule(spec, row.name), deferrable=deferrable, defer_from=today, defer_to=latest,
            staged=tuple(staged.get(row.name, ())), typed=typed.get(row.name) or HandInTyped(row.name),
            problems=tuple(problems_at(problems, row.name))))
    return out
