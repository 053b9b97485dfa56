"""Handed-in files on the pages: the file inputs' rules, reading uploads from a form, the viewer
of a file, the rendered e-licence of a waived material, and the routes that serve a file, check a
material and hand in a 容缺 material.

The pages stay adapters: what a material accepts comes from the engine's
:func:`~engine.documents.files.upload_limits`, files are read through
:func:`~engine.documents.files.file_for_download` (authorised like the step, recorded in the access
log) and served with the same safe headers as ``GET /files/{id}`` of the API (inline, ``nosniff``,
a sandboxing policy, never cached); checks and hand-ins are the engine's actions.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from api.deps import RuntimeDep, SessionDep
from api.body_limits import upload_limit
from api.pages.common import Csrf, FormDep, PageActor, PageRoute, bilingual, form_text, redirect
from api.schemas import ID_PATTERN
from engine.db.models import Step
from engine.documents.files import (
    FileView,
    MaterialFiles,
    check_material,
    file_for_download,
    handed_in_material,
    upload_limits,
)
from engine.documents.inspection import FileKind, Upload
from engine.errors import DomainError, FieldProblem
from engine.machine.actions import supply_deferred
from engine.machine.material_effects import missing_materials, notice_round
from engine.records.queries import check_case_scope
from engine.settings import get_settings
from engine.spec.models import BundleSpec

router = APIRouter(route_class=PageRoute)

FileId = Annotated[str, Path(pattern=ID_PATTERN)]
CaseId = Annotated[str, Path(pattern=ID_PATTERN)]

EXTENSIONS: Mapping[FileKind, tuple[str, ...]] = {
    FileKind.PDF: (".pdf",), FileKind.JPEG: (".jpg", ".jpeg"), FileKind.PNG: (".png",), FileKind.OFD: (".ofd",),
}
KIND_ORDER = (FileKind.PDF, FileKind.JPEG, FileKind.PNG, FileKind.OFD)
MIB = 1_048_576
def page_upload_limit() -> dict[str, int]:
    """The body limit of a page form that carries files (``openapi_extra`` of its route): every
    file of one material at the deployment's limits, and room for the form's other fields. The
    engine still refuses each file over its material's own limit, naming the material."""
    settings = get_settings()
    return upload_limit(settings.upload_max_bytes * settings.upload_max_files + MIB)


# --- what an input accepts ------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadRule:
    """What a material's file input offers (from the engine's limits for it)."""

    accept: str
    """The input's ``accept``: ``.pdf,.jpg,.jpeg,.png,.ofd``."""
    types: str
    """The types in words: PDF、JPEG、PNG、OFD."""
    max_mb: str
    max_files: int
    photo: bool
    """Images are accepted: on a phone a camera input makes sense."""


def upload_rule(bundle: BundleSpec, name: str, *, named: Collection[str] = ()) -> UploadRule | None:
    """The file input's rule for material ``name`` of ``bundle`` (None: not a material of it, nor
    one a 补正 notice names in ``named``)."""
    declared = handed_in_material(bundle, name, named=named)
    if declared is None:
        return None
    limits = upload_limits(bundle, declared)
    kinds = [k for k in KIND_ORDER if k in limits.allowed]
    return UploadRule(accept=",".join(e for k in kinds for e in EXTENSIONS[k]), types="、".join(k.label for k in kinds),
                      max_mb=f"{limits.max_bytes / MIB:g}", max_files=limits.max_files,
                      photo=bool({FileKind.JPEG, FileKind.PNG} & set(kinds)))


def uploads_in(form: Any, name: str) -> list[Upload]:
    """The files posted under ``name`` (an input left empty posts a nameless empty part: skipped)."""
    found = []
    for value in form.getlist(name):
        if isinstance(value, UploadFile) and (value.filename or value.size):
            value.file.seek(0)
            found.append(Upload(value.filename or "", value.file.read()))
    return found


def split_message(message: str) -> tuple[str, str]:
    """An engine message as (中文, English) for a problem next to its input: each part, or the whole
    message where it has one language only (:func:`~api.pages.common.bilingual`)."""
    chinese, english = bilingual(message)
    return chinese or message, english or message


def problem_of(exc: DomainError, *, field: str, zh: str = "") -> FieldProblem:
    """A domain error as one problem at ``field`` (the error's own field when it names one)."""
    chinese, english = split_message(exc.message)
    return FieldProblem(exc.field or field, exc.code, zh or chinese, english)


def problems_at(problems: Iterable[FieldProblem], name: str) -> list[FieldProblem]:
    """The problems naming material ``name`` (``materials.<name>`` or one of its parts)."""
    key = f"materials.{name}"
    return [p for p in problems if p.field == key or p.field.startswith(key + ".")]


# --- the viewer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One file as the viewer shows it: an image inline, a PDF in the browser, an OFD to download."""

    file: FileView
    viewer: Literal["image", "pdf", "download", "purged"]
    url: str


def shown(view: FileView) -> Shown:
    url = f"/ui/files/{view.id}"
    if view.purged:
        return Shown(view, "purged", url)
    if view.media_type.startswith("image/"):
        return Shown(view, "image", url)
    return Shown(view, "pdf" if view.media_type == "application/pdf" else "download", url)


@dataclass(frozen=True)
class RequestedMaterial:
    """One material an open 补正 notice asks for, with what was handed in for this notice so far."""

    name: str
    rule: UploadRule | None
    """The file input's rule (the bundle's default limits for a material the notice names in words)."""
    files: tuple[Shown, ...]
    paper: int
    """Paper originals a window recorded."""
    missing: bool
    """Nothing counts for it yet (no paper, no file that was not returned): the officer cannot confirm."""


def requested_materials(session: Session, step: Step, *, spec: BundleSpec,
                        files: Sequence[MaterialFiles]) -> list[RequestedMaterial]:
    """The open notice's materials in its order, each with this round's files the reader may see."""
    round_ = notice_round(step)
    missing = set(missing_materials(session, step))
    handed = step.supplement.get("handed_in") or {}
    by_name = {m.name: m for m in files}
    out = []
    for name in (str(m) for m in step.supplement.get("requested", [])):
        seen = by_name.get(name)
        entries = handed.get(name) or []
        out.append(RequestedMaterial(
            name=name, rule=upload_rule(spec, name, named=step.supplement.get("requested", ())),
            files=tuple(shown(f) for f in seen.files if f.notice == round_) if seen else (),
            paper=sum(1 for e in entries if isinstance(e, dict) and e.get("paper")), missing=name in missing))
    return out


# --- routes -------------------------------------------------------------------------------------


@router.get("/files/{file_id}")
def file(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, file_id: FileId) -> Response:
    """One handed-in file's bytes for whoever may see its material (the access log records the
    read), with the API's safe headers: shown inline (``?download=1``: saved), never sniffed as
    another type, sandboxed, never cached."""
    view, data = file_for_download(session, runtime, file_id=file_id, actor=actor)
    disposition = "attachment" if request.query_params.get("download") == "1" else "inline"
    return Response(data, media_type=view.media_type, headers={
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(view.filename, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; frame-ancestors 'self'",
        "Cache-Control": "private, no-store",
        "Referrer-Policy": "same-origin",
    })


@router.post("/cases/{case_id}/materials/check", dependencies=[Csrf])
def check(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, case_id: CaseId,
          form: FormDep) -> Response:
    """材料核验 from the step page: accept a material's latest files or return them with a reason
    (the window holding the case, or the officer of a step needing it); back to the step."""
    from api.pages.steps import step_page_again  # the step page renders the refusal

    step_id = form_text(form, "step_id", 32)
    check_case_scope(session, actor=actor, case_id=case_id, step_id=step_id or "-")
    material, state = form_text(form, "material", 200), form_text(form, "state", 16)
    try:
        if state not in ("accepted", "returned"):
            raise DomainError("choose accepted or returned / 请选择核验结果：通过或退回", field="state")
        check_material(session, runtime, case_id=case_id, material=material, actor=actor,
                       state="returned" if state == "returned" else "accepted", reason=form_text(form, "reason", 600))
    except DomainError as exc:
        session.rollback()
        return step_page_again(request, session, runtime, actor, step_id=step_id, exc=exc)
    return redirect(f"/ui/steps/{step_id}?msg={'material_returned' if state == 'returned' else 'material_accepted'}")


@router.post("/cases/{case_id}/deferred", dependencies=[Csrf], openapi_extra=page_upload_limit())
def deferred(request: Request, session: SessionDep, runtime: RuntimeDep, actor: PageActor, case_id: CaseId,
             form: FormDep) -> Response:
    """容缺: hand in a material the case was accepted without (its files, or a window's record of
    the paper original); back to the case page."""
    from api.pages.cases import progress_again  # the case page renders the refusal

    check_case_scope(session, actor=actor, case_id=case_id)
    material = form_text(form, "material", 200)
    try:
        supply_deferred(session, runtime, case_id=case_id, actor=actor, material=material,
                        uploads=uploads_in(form, "files"), paper=form_text(form, "paper", 8) == "true")
    except DomainError as exc:
        session.rollback()
        return progress_again(request, session, runtime, actor, case_id=case_id, exc=exc, material=material)
    return redirect(f"/ui/cases/{case_id}?msg=deferred_supplied")
