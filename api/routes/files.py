"""Files handed in for a case's materials (申请材料): upload before the case exists, list a case's
materials, download one file, the check of a material (材料核验), and the files of a 补正 notice
and of a 容缺 material handed in later.

The routes translate: the engine inspects every file (type from the content, size, pages, name,
bombs) and stores it before any row references it, decides who may do what, and records each
download in the access log (:mod:`engine.documents.files`, :mod:`engine.machine.actions`).

An upload's body limit is declared in its OpenAPI entry (:func:`api.limits.upload_limit`): the
largest file times the most files the settings allow, plus room for the form's other fields; a
larger ``Content-Length`` is a 413 before a byte is read. Each part is read only up to the limit
the engine applies to its material (one byte more, so that a part larger than it says is refused
as too large without being read whole).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Path, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.deps import CurrentActor, RuntimeDep, SessionDep
from api.errors import problems
from api.file_schemas import MATERIAL_NAME, UPLOAD_RULES, CheckIn, FileOut, MaterialFilesOut
from api.body_limits import upload_limit
from api.schemas import BUNDLE_PATTERN, ID_PATTERN, StepActionOut, VersionIn
from engine.db.models import Case, Step
from engine.documents.files import case_files, check_material, file_for_download, stage_files, upload_limits
from engine.documents.inspection import FileKind, Upload
from engine.errors import NotFound
from engine.machine.actions import hand_in_supplement, receive_supplement, supply_deferred
from engine.machine.permissions import allowed_actions
from engine.machine.states import Actor
from engine.records.queries import step_status
from engine.runtime import Runtime
from engine.settings import get_settings
from engine.spec.models import BundleSpec

router = APIRouter(tags=["files"])

FORM_ROOM = 65_536
"""Bytes an upload's body may carry besides its files (the other fields, the multipart framing)."""
UPLOAD_BODY_LIMIT = get_settings().upload_max_bytes * get_settings().upload_max_files + FORM_ROOM
"""The largest upload body (declared in each upload operation's OpenAPI entry)."""

CaseId = Annotated[str, Path(pattern=ID_PATTERN, description="The case id (not the receipt number)")]
StepId = Annotated[str, Path(pattern=ID_PATTERN, description="The step id")]
FileId = Annotated[str, Path(pattern=ID_PATTERN, description="The file id (FileOut.id)")]
MaterialPath = Annotated[str, Path(pattern=MATERIAL_NAME, description="The material's name, as the bundle spells it")]
MaterialField = Annotated[str, Form(pattern=MATERIAL_NAME, description="The material's name, as the bundle spells it")]
Files = Annotated[list[UploadFile], File(description="One or more files for the material (as many as it takes)")]
OptionalFiles = Annotated[list[UploadFile] | None, File(
    description="The files for the material (or none, with paper=true at the window)")]
Paper = Annotated[bool, Form(description="A window records the paper original handed in at the counter (clerks "
                                         "only; no files then)")]


def _described(*answers: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """``problems`` with this route's own description of each status."""
    documented = problems(*(status for status, _ in answers))
    return {status: {**documented[status], "description": text} for status, text in answers}


TOO_LARGE = (413, f"The body is larger than {UPLOAD_BODY_LIMIT} bytes (Content-Length, or counted while it "
                  f"streams): refused before it is read, nothing stored")
BAD_FILE = (422, "A bad file (code file.empty, file.too_large, file.type, file.name, file.bomb, file.corrupt, "
                 "file.encrypted, file.too_many; field materials.<name>), a material the bundle lacks "
                 "(material.unknown), or an invalid field: nothing stored")


def _read(files: list[UploadFile], cap: int) -> list[Upload]:
    """The uploaded parts as the engine takes them, each read up to ``cap`` + 1 bytes (whatever
    its headers claim): one byte more than the limit is enough for the engine to refuse it."""
    return [Upload(filename=part.filename or "", data=part.file.read(cap + 1)) for part in files]


def _spec(runtime: Runtime, bundle_id: str) -> BundleSpec | None:
    try:
        return runtime.current_spec(bundle_id)
    except NotFound:
        return None  # stage_files refuses it, naming bundle_id


def _cap(spec: BundleSpec | None, material: str) -> int:
    """The per-file limit the engine applies to ``material`` of ``spec`` (its rule, its bundle's,
    the settings'); the settings' for a bundle or material it does not know (the engine refuses
    those by name)."""
    declared = spec.material(material) if spec is not None else None
    return upload_limits(spec, declared).max_bytes if spec is not None and declared is not None \
        else get_settings().upload_max_bytes


def _case_spec(session: Session, runtime: Runtime, case: Case | None) -> BundleSpec | None:
    return runtime.spec_for(session, case) if case is not None else None


def _step_out(session: Session, runtime: Runtime, viewer: Actor, step: Step) -> StepActionOut:
    return StepActionOut.of_step(step_status(runtime, step, viewer=viewer), case_id=step.case_id,
                                 allowed_actions=allowed_actions(viewer, step, case=step.case,
                                                                 spec=runtime.spec_for(session, step.case)))


def _material_out(session: Session, runtime: Runtime, viewer: Actor, *, case_id: str,
                  material: str) -> MaterialFilesOut:
    """One material of the case as ``viewer`` now sees it."""
    case = session.get_one(Case, case_id)
    seen = {m.name: m for m in case_files(session, runtime, case=case, viewer=viewer)}
    if material not in seen:
        raise NotFound(f"no material {material!r} of case {case_id} for this caller", field="material")
    return MaterialFilesOut.of(seen[material])


# --- before the case: staging -------------------------------------------------------------------


@router.post("/uploads", status_code=201, response_model=list[FileOut], summary="Upload files for a material",
             openapi_extra=upload_limit(UPLOAD_BODY_LIMIT), description=(
                 "Scan at the window (a clerk) or upload online (the applicant, a phone included) the files of one "
                 "material before the application is sent; they wait, the uploader's own, until POST /cases names "
                 "their ids in ``materials.<name>.files``. " + UPLOAD_RULES),
             responses=_described(
                 (403, "The caller may start no case (officers, supervisors)"),
                 (404, "No such bundle"), TOO_LARGE, BAD_FILE))
def upload(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor,
           bundle_id: Annotated[str, Form(pattern=BUNDLE_PATTERN, description="The bundle applied for")],
           material: MaterialField, files: Files) -> list[FileOut]:
    """Stage the files of one material for an application to come (described in the decorator)."""
    uploads = _read(files, _cap(_spec(runtime, bundle_id), material))
    staged = stage_files(session, runtime, actor=actor, bundle_id=bundle_id, material=material, uploads=uploads)
    return [FileOut.of(view) for view in staged]


# --- a case's materials ----------------------------------------------------------------------------


@router.get("/cases/{case_id}/materials", response_model=list[MaterialFilesOut], summary="A case's materials",
            responses=_described((404, "No such case for this caller (unknown, or outside the caller's sight)")))
def materials(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, case_id: CaseId) -> list[MaterialFilesOut]:
    """Per material of the case the caller may see, its files, a paper original seen at the window,
    a 容缺 promise (and when it was supplied), or why it is waived. The applicant, the windows
    holding the case, supervisors and admins see every material; an officer the materials of
    their step only."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case {case_id}", field="case_id")
    return [MaterialFilesOut.of(m) for m in case_files(session, runtime, case=case, viewer=actor)]


DOWNLOAD_HEADERS = {
    "Content-Disposition": "inline; filename*=UTF-8''<the file's name, percent-encoded>",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
    "Cache-Control": "private, no-store",
}


@router.get("/files/{file_id}", response_class=Response, summary="Download a handed-in file", responses={
    200: {"description": "The file's bytes, of its media type (from its content), with the headers below",
          "content": {kind.media_type: {"schema": {"type": "string", "format": "binary"}} for kind in FileKind},
          "headers": {name: {"schema": {"type": "string"}, "description": value}
                      for name, value in DOWNLOAD_HEADERS.items()}},
    **_described((404, "No such file for this caller (unknown, another's, outside the caller's sight), or its "
                       "content is gone (code file.missing: purged after its retention period)"))})
def download(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, file_id: FileId) -> Response:
    """One file's bytes, for whoever may see its material (officers: their step's materials; a
    staged file: its uploader only); every download is recorded in the access log. Served inline
    in a sandbox, never sniffed, never cached."""
    view, data = file_for_download(session, runtime, file_id=file_id, actor=actor)
    return Response(content=data, media_type=view.media_type, headers={
        **DOWNLOAD_HEADERS, "Content-Disposition": content_disposition(view.filename)})


def content_disposition(filename: str) -> str:
    """``inline`` with the file's own name (RFC 6266/8187: percent-encoded UTF-8, and a plain
    ASCII stand-in for old clients); nothing of the name can end or extend the header."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename) or "file"
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.post("/cases/{case_id}/materials/{material}/check", response_model=MaterialFilesOut,
             summary="Check a material (材料核验)", responses=_described(
                 (403, "Not a window holding the case, nor the officer of a step needing the material"),
                 (404, "No such case or material for this caller"),
                 (422, "No reason for a returned material, a reason too long, or nothing handed in for it")))
def check(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, case_id: CaseId, material: MaterialPath,
          body: CheckIn) -> MaterialFilesOut:
    """A window holding the case, or the officer of a step needing the material, accepts its latest
    hand-in (at intake, or for the newest 补正 notice) or returns it with the reason the applicant
    reads; the audit trail records it with the files."""
    check_material(session, runtime, case_id=case_id, material=material, actor=actor, state=body.state,
                   reason=body.reason)
    return _material_out(session, runtime, actor, case_id=case_id, material=material)


# --- later: 补正 and 容缺 -----------------------------------------------------------------------------


# Explicit operation ids: FastAPI names a form body's schema after the operation, and the generated
# ids of these paths carry double underscores (Body_supplement_files_steps__step_id__…).
@router.post("/steps/{step_id}/supplement-files", status_code=201, response_model=StepActionOut, tags=["steps"],
             operation_id="hand_in_supplement_files",
             summary="Hand in a material a 补正 notice asks for", openapi_extra=upload_limit(UPLOAD_BODY_LIMIT),
             responses=_described(
                 (403, "Not the applicant of the case nor a window (a paper original: windows only)"),
                 (404, "No such step for this caller"),
                 (409, "The step waits for no 补正, or a stale version"), TOO_LARGE,
                 (422, BAD_FILE[1] + "; the notice does not ask for the material; neither files nor paper, or both")))
def supplement_files(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId,
                     material: MaterialField, files: OptionalFiles = None, paper: Paper = False,
                     version: Annotated[int | None, Form(ge=0, le=2**31 - 1, description="The step version you "
                                                                                         "last read")] = None,
                     ) -> StepActionOut:
    """补正: the applicant uploads the files of one material the step's notice asks for, or a window
    scans them or records the paper original. Nothing else is ticked: a partial hand-in stays
    partial, and the step's clock stays stopped until its officer confirms the receipt
    (POST /steps/{id}/receive-supplement)."""
    step = session.get(Step, step_id) if files else None
    uploads = _read(files or [], _cap(_case_spec(session, runtime, step.case if step is not None else None), material))
    done = hand_in_supplement(session, runtime, step_id=step_id, actor=actor, material=material, uploads=uploads,
                              paper=paper, expected_version=version)
    return _step_out(session, runtime, actor, done)


@router.post("/steps/{step_id}/receive-supplement", response_model=StepActionOut, tags=["steps"],
             summary="Confirm the receipt of the 补正 materials", responses=_described(
                 (403, "Not the step's officer"), (404, "No such step for this caller"),
                 (409, "A requested material has nothing handed in for this notice (the answer names them; a "
                       "returned file counts as missing), the step waits for no 补正, or a stale version")))
def confirm_supplement(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, step_id: StepId,
                       body: VersionIn) -> StepActionOut:
    """§32: the step's officer confirms that everything the notice asked for arrived; only this
    restarts the step's clock (the application counts as accepted on the day of the confirmation)."""
    step = receive_supplement(session, runtime, step_id=step_id, actor=actor, expected_version=body.version)
    return _step_out(session, runtime, actor, step)


@router.post("/cases/{case_id}/deferred/{material}", status_code=201, response_model=MaterialFilesOut,
             operation_id="supply_deferred_material",
             summary="Hand in a material accepted as deferred (容缺)", openapi_extra=upload_limit(UPLOAD_BODY_LIMIT),
             responses=_described(
                 (403, "Not the applicant of the case nor a window (a paper original: windows only)"),
                 (404, "No such case for this caller, or the material was not deferred"),
                 (409, "The material was supplied already, or the case is closed"), TOO_LARGE,
                 (422, BAD_FILE[1] + "; neither files nor paper, or both")))
def supply(session: SessionDep, runtime: RuntimeDep, actor: CurrentActor, case_id: CaseId, material: MaterialPath,
           files: OptionalFiles = None, paper: Paper = False) -> MaterialFilesOut:
    """容缺受理: the applicant uploads, or a window scans or records the paper original of, a material
    the case was accepted without; the steps needing it may then complete."""
    cap = _cap(_case_spec(session, runtime, session.get(Case, case_id) if files else None), material)
    supply_deferred(session, runtime, case_id=case_id, actor=actor, material=material, uploads=_read(files or [], cap),
                    paper=paper)
    return _material_out(session, runtime, actor, case_id=case_id, material=material)
