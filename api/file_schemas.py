"""Bodies of the file routes (:mod:`api.routes.files`): handed-in files, a case's materials with
their files, the check of a material. Responses are the engine's read models
(:mod:`engine.documents.files`) with their documentation added, as in :mod:`api.schemas`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints
from pydantic.dataclasses import dataclass

from api.schemas import PLAIN_TEXT_PATTERN, Request
from engine.documents.files import MAX_REASON, FileView, MaterialFiles
from engine.documents.inspection import FileKind

MATERIAL_NAME = r"^[^\x00-\x1f\x7f/\\]{1,200}$"
"""A material's name as the bundle spells it (no control characters, no slashes: it travels in paths)."""
MaterialName = Annotated[str, StringConstraints(pattern=MATERIAL_NAME)]


FILE_EXAMPLE: dict[str, Any] = {
    "id": "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f", "material": "新生儿出生医学记录", "filename": "出生记录.pdf",
    "media_type": "application/pdf", "pages": 3, "size": 48213, "sha256": "9f86d081884c",
    "sha256_full": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "check_state": "pending",
    "check_reason": "", "channel": "online", "uploaded_at": "2026-03-02T01:30:00Z", "notice": None, "purged": False,
}


@dataclass(frozen=True, config=ConfigDict(json_schema_extra={"examples": [FILE_EXAMPLE]}))
class FileOut(FileView):
    """One handed-in file (the engine's FileView); its bytes are ``GET /files/{id}``."""

    id: Annotated[str, Field(description="The file's id: name it in POST /cases ``materials.<name>.files``, "
                                         "download it from GET /files/{id}")]
    material: Annotated[str, Field(description="The material it was handed in for, as the bundle names it")]
    filename: Annotated[str, Field(description="The name it was uploaded under (cleaned: no path, trimmed)")]
    media_type: Annotated[str, Field(description="From the content, not the name: "
                                                 + ", ".join(k.media_type for k in FileKind))]
    pages: Annotated[int, Field(description="Pages (PDF, OFD); 1 for an image")]
    size: Annotated[int, Field(description="Bytes")]
    sha256: Annotated[str, Field(description="The first 12 hex digits of its SHA-256, for display")]
    sha256_full: Annotated[str, Field(description="Its SHA-256: the content address the audit trail records")]
    check_state: Annotated[Literal["pending", "accepted", "returned"], Field(
        description="The window's or the step officer's check (材料核验)")]
    check_reason: Annotated[str, Field(description="Why it was returned; empty otherwise")]
    channel: Annotated[Literal["window", "online", "supplement"], Field(
        description="Scanned at the window, uploaded online by the applicant, or handed in for a 补正 notice")]

    @classmethod
    def of(cls, view: FileView) -> FileOut:
        """From an :class:`engine.documents.files.FileView`."""
        return cls(**asdict(view))


@dataclass(frozen=True, config=ConfigDict(json_schema_extra={"examples": [{
    "name": "新生儿出生医学记录", "required": True, "waived": False, "reason": "", "files": [FILE_EXAMPLE],
    "deferred_until": None, "supplied_at": None, "paper": False, "items": ["23-CSYXZM"]}]}))
class MaterialFilesOut(MaterialFiles):
    """One material of a case as the caller sees it (the engine's MaterialFiles): its files, a
    paper original seen at the window, a 容缺 promise, or why it is waived."""

    name: Annotated[str, Field(description="The material's name, as the bundle spells it")]
    required: Annotated[bool, Field(description="Whether the application must hand it in")]
    waived: Annotated[bool, Field(description="免提交: the government already holds it (shared data, a licence)")]
    reason: Annotated[str, Field(description="Why it is waived (empty when it is not)")]
    files: tuple[FileOut, ...]
    items: Annotated[tuple[str, ...], Field(description="The service items (事项) needing it")] = ()

    @classmethod
    def of(cls, material: MaterialFiles) -> MaterialFilesOut:
        """From an :class:`engine.documents.files.MaterialFiles`."""
        return cls(**asdict(material))


class CheckIn(Request):
    """材料核验: the material's latest hand-in accepted, or returned with the reason the applicant reads."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"state": "accepted"}, {"state": "returned", "reason": "第二页不清晰，请重新扫描"}]})

    state: Annotated[Literal["accepted", "returned"], Field(description="accepted: 通过; returned: 退回 (needs a reason)")]
    reason: Annotated[str, StringConstraints(max_length=MAX_REASON, pattern=PLAIN_TEXT_PATTERN),
                      Field(description="Why it is returned (required then)")] = ""


UPLOAD_RULES = ("Each file's type comes from its content (PDF, JPEG, PNG, OFD, as the material or its bundle "
                "allows), never from its name. A file that is empty, too large, of another type, corrupt, a "
                "decompression bomb or named with a path, or more files than the material takes, refuses the whole "
                "batch (422 naming ``materials.<name>`` with the code ``file.<problem>``) and nothing is stored.")
"""How uploads are judged (the upload operations' descriptions say it)."""
