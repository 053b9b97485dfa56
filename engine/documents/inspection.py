"""What an uploaded file is, decided from its bytes; bad files refused naming the material.

The declared file name is never trusted for the type: a PNG named ``x.pdf`` is a PNG (refused
where only PDF is allowed), an executable named ``x.pdf`` is refused. Each file is checked in
this order, cheapest first, and nothing is parsed before the size is known to be within limits:

1. the name: a name carrying a path (``/``, ``\\``, ``..``, a drive letter), NUL or another
   control character, or longer than 200 characters is refused (``file.name``), not trimmed;
2. the size: empty (``file.empty``), over the material's limit (``file.too_large``);
3. the type from the content (``filetype``; an OFD is a ZIP with ``OFD.xml`` at its root,
   GB/T 33190) against the material's allowed types (``file.type``);
4. the content, by the format's own library, which also counts the pages:
   PDF (``pypdf``): must parse and have a page; a PDF that needs a password to open is refused
   (``file.encrypted``: the clerk and the officer could not read it), while one with only an
   owner password (printing or copying restricted, opens without a password) is accepted;
   JPEG and PNG (``Pillow``): the pixel count is read from the header and an image over the limit
   is refused before anything is decoded (``file.bomb``), then the image is verified; OFD
   (``zipfile``): the archive's central directory is read first and an archive that would unpack
   to too much, or far more than its own size, is refused before anything is extracted
   (``file.bomb``); its XML is parsed with entity expansion forbidden (``defusedxml``) and its
   pages are the ``Page`` entries of each document's ``Pages``.
   A file that does not parse as what it claims is ``file.corrupt``.

:func:`inspect_uploads` checks every file of a material before any is stored, and refuses the
whole batch for one bad file (``file.too_many`` when there are more files than allowed).
"""

from __future__ import annotations

import io
import posixpath
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import filetype

from engine.documents.storage import content_hash
from engine.errors import DomainError

MAX_NAME_CHARS = 200
MAX_PIXELS = 50_000_000
"""Largest image accepted, in pixels (50 MP: an A4 page scanned at 600 dpi is about 35 MP)."""
OFD_MAX_UNPACKED = 256 * 1024 * 1024
"""Largest total an OFD archive may unpack to, in bytes (by its central directory)."""
OFD_MAX_RATIO = 100
"""Largest ratio of an OFD's unpacked total to its own size, once it unpacks to over a MiB
(small archives of XML compress well and are harmless)."""
OFD_MAX_ENTRIES = 20_000
_OFD_MAX_XML = 16 * 1024 * 1024  # one XML part of the document, read into memory


class FileKind(StrEnum):
    """A file type a material may accept."""

    PDF = "pdf"
    JPEG = "jpeg"
    PNG = "png"
    OFD = "ofd"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]

    @property
    def label(self) -> str:
        """How messages name the type."""
        return self.value.upper()


_MEDIA_TYPES = {
    FileKind.PDF: "application/pdf",
    FileKind.JPEG: "image/jpeg",
    FileKind.PNG: "image/png",
    FileKind.OFD: "application/ofd",
}

# filetype's MIME types of the kinds (an animated PNG is a PNG; OFD is told from other ZIPs below).
_BY_MIME = {"application/pdf": FileKind.PDF, "image/jpeg": FileKind.JPEG, "image/png": FileKind.PNG,
            "image/apng": FileKind.PNG}


@dataclass(frozen=True)
class Upload:
    """One file as handed in: the name its sender gave it and its bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Inspected:
    """An upload found good: its checked name, its type from the content, pages and hash."""

    filename: str
    kind: FileKind
    media_type: str
    size: int
    pages: int
    sha256: str


class BadFile(DomainError):
    """An upload refused; ``code`` is ``file.<problem>``, ``field`` is ``materials.<material>``."""

    code = "file"

    def __init__(self, problem: str, message: str, *, material: str, filename: str | None = None) -> None:
        super().__init__(message, field=f"materials.{material}")
        self.code = f"file.{problem}"
        self.problem = problem
        self.material = material
        self.filename = filename


def inspect_upload(
    upload: Upload, *, material: str, allowed: frozenset[FileKind], max_bytes: int,
    label: str | None = None, max_pixels: int = MAX_PIXELS,
) -> Inspected:
    """Check one file handed in for ``material``; :class:`BadFile` if it is not acceptable.

    ``label`` is how messages name the material (default: ``material`` itself).
    """
    say = _Messages(label or material, material)
    name = _checked_name(upload.filename, say)
    say.file = name
    size = len(upload.data)
    if size == 0:
        raise say.bad("empty", "is empty", "为空文件")
    if size > max_bytes:
        raise say.bad("too_large", f"is {_mb(size)}, over the limit of {_mb(max_bytes)}",
                      f"大小为 {_mb(size)}，超过 {_mb(max_bytes)} 的限制")
    kind = _kind_of(upload.data, say)
    if kind not in allowed:
        allowed_en = ", ".join(k.label for k in FileKind if k in allowed) or "none"
        raise say.bad("type", f"is a {kind.label} file; {say.material_en} accepts {allowed_en}",
                      f"为 {kind.label} 文件，该材料只接受 {allowed_en.replace(', ', '、')}")
    if kind is FileKind.PDF:
        pages = _pdf_pages(upload.data, say)
    elif kind is FileKind.OFD:
        pages = _ofd_pages(upload.data, say)
    else:
        pages = _image_pages(upload.data, kind, say, max_pixels=max_pixels)
    return Inspected(filename=name, kind=kind, media_type=kind.media_type, size=size, pages=pages,
                     sha256=content_hash(upload.data))


def inspect_uploads(
    uploads: Sequence[Upload], *, material: str, allowed: frozenset[FileKind], max_bytes: int, max_files: int,
    label: str | None = None, max_pixels: int = MAX_PIXELS,
) -> list[Inspected]:
    """Check every file handed in for ``material``, in order; the first bad one refuses them all
    (so nothing of the batch is stored)."""
    if len(uploads) > max_files:
        say = _Messages(label or material, material)
        raise say.bad("too_many", f"{len(uploads)} files given, at most {max_files} accepted",
                      f"共 {len(uploads)} 个文件，最多接受 {max_files} 个")
    return [inspect_upload(upload, material=material, allowed=allowed, max_bytes=max_bytes, label=label,
                           max_pixels=max_pixels) for upload in uploads]


# --- messages ------------------------------------------------------------------------------


class _Messages:
    """Builds the bilingual messages of one upload: the material and (once known) the file."""

    def __init__(self, label: str, material: str) -> None:
        self.label = label
        self.material = material
        self.file: str | None = None

    @property
    def material_en(self) -> str:
        return f"material {self.label!r}"

    def bad(self, problem: str, en: str, zh: str, *, shown: str | None = None) -> BadFile:
        file = shown if shown is not None else self.file
        if file is None:
            message = f"{self.material_en}: {en} / 材料「{self.label}」：{zh}"
        else:
            message = f"{self.material_en}, file {file!r}: {en} / 材料「{self.label}」的文件「{file}」{zh}"
        return BadFile(problem, message, material=self.material, filename=self.file)


def _mb(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB" if size >= 104_858 else f"{size} bytes"


# --- the name ------------------------------------------------------------------------------

_DRIVE = re.compile(r"^[A-Za-z]:")
# Bidirectional overrides make "gpj.exe" read as "exe.jpg"; they have no place in a file name.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _shown(name: str) -> str:
    """A refused name fit for a message: control characters as ``?``, at most 60 characters."""
    cleaned = "".join("?" if unicodedata.category(c) == "Cc" or c in _BIDI else c for c in name)
    return cleaned if len(cleaned) <= 60 else cleaned[:57] + "…"


def _checked_name(raw: str, say: _Messages) -> str:
    """The file name, NFC-normalised and without surrounding spaces; a name that carries a path
    or a character that could hide one is refused rather than trimmed (the sender must see it)."""
    name = unicodedata.normalize("NFC", raw).strip()
    shown = _shown(name)

    def refuse(en: str, zh: str) -> BadFile:
        return say.bad("name", en, zh, shown=shown)

    if not name:
        raise refuse("has no name", "没有文件名")
    if len(name) > MAX_NAME_CHARS:
        raise refuse(f"has a name longer than {MAX_NAME_CHARS} characters",
                     f"文件名超过 {MAX_NAME_CHARS} 个字符")
    if any(unicodedata.category(c) == "Cc" or c in _BIDI for c in name):
        raise refuse("has a control character in its name", "文件名含控制字符")
    if "/" in name or "\\" in name or _DRIVE.match(name) or name in (".", "..") or name.startswith(".."):
        raise refuse("has a path in its name; give the file's name only",
                     "文件名含路径，请只提供文件名")
    return name


# --- the type ------------------------------------------------------------------------------


def _kind_of(data: bytes, say: _Messages) -> FileKind:
    guess = filetype.guess(data)
    mime = guess.mime if guess is not None else None
    if mime in _BY_MIME:
        return _BY_MIME[mime]
    if mime == "application/zip":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                # GB/T 33190 §7.1: an OFD package has OFD.xml at its root (the central directory says).
                if "OFD.xml" in archive.namelist():
                    return FileKind.OFD
        except (zipfile.BadZipFile, ValueError, OSError):
            # A damaged archive: most likely an OFD cut short; either way it cannot be read.
            raise say.bad("corrupt", "is a damaged archive, not a readable OFD document",
                          "是已损坏的压缩文件，不是可读取的 OFD 文件") from None
    seen = f".{guess.extension} ({guess.mime})" if guess is not None else "of an unknown type"
    raise say.bad("type", f"is not a PDF, JPEG, PNG or OFD file (it is {seen}, whatever its name says)",
                  f"不是 PDF、JPEG、PNG 或 OFD 文件（按内容判断为 {seen}，与文件名无关）")


# --- PDF -----------------------------------------------------------------------------------


def _pdf_pages(data: bytes, say: _Messages) -> int:
    # pypdf is imported on first use: the settings import this module for FileKind alone.
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = bool(reader.decrypt(""))
            except (DependencyError, NotImplementedError, FileNotDecryptedError):
                opened = False
            if not opened:
                raise say.bad("encrypted", "is password-protected; hand in a copy that opens without a password",
                              "已加密（需要密码才能打开），请提交无需密码即可打开的文件")
        pages = len(reader.pages)
    except BadFile:
        raise
    except Exception as exc:  # pypdf raises many kinds besides PdfReadError on malformed input
        raise say.bad("corrupt", f"is not a readable PDF ({type(exc).__name__})", "不是可读取的 PDF 文件（文件已损坏）") \
            from None
    if pages < 1:
        raise say.bad("corrupt", "is a PDF without pages", "是没有页面的 PDF 文件")
    return pages


# --- JPEG and PNG --------------------------------------------------------------------------


def _image_pages(data: bytes, kind: FileKind, say: _Messages, *, max_pixels: int) -> int:
    from PIL import Image

    corrupt = say.bad("corrupt", f"is not a readable {kind.label} image", f"不是可读取的 {kind.label} 图片（文件已损坏）")
    formats = [_PIL_FORMAT[kind], *(["MPO"] if kind is FileKind.JPEG else [])]  # MPO: a camera's JPEG
    try:
        # Opening reads the header only; nothing is decoded before the size check below.
        # (Pillow itself refuses past twice its MAX_IMAGE_PIXELS, 179 MP, at this point.)
        with Image.open(io.BytesIO(data), formats=formats) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise _bomb(say, width, height, max_pixels)
            image.verify()
        if kind is FileKind.JPEG:
            _decode_jpeg(data)
    except BadFile:
        raise
    except Image.DecompressionBombError as exc:
        # "Image size (900000000 pixels) exceeds limit …": the header's count, the only figure given
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        raise _bomb(say, int(declared.group(1)) if declared else 0, 0, max_pixels) from None
    except Exception:  # a broken image fails in many ways besides UnidentifiedImageError
        raise corrupt from None
    return 1


_PIL_FORMAT = {FileKind.JPEG: "JPEG", FileKind.PNG: "PNG"}


def _decode_jpeg(data: bytes) -> None:
    """Decode a JPEG at 1/8 scale (the codec's own draft mode: cheap), which finds truncated or
    damaged image data that :meth:`~PIL.Image.Image.verify` does not look at for JPEG."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
        image.load()


def _bomb(say: _Messages, width: int, height: int, max_pixels: int) -> BadFile:
    size = f"{width}×{height} pixels" if width and height else f"{width} pixels" if width else "too many pixels"
    return say.bad("bomb", f"declares {size}, over the limit of {max_pixels // 1_000_000} megapixels",
                   f"图片尺寸（{size}）超过 {max_pixels // 1_000_000} 百万像素的限制")


# --- OFD -----------------------------------------------------------------------------------


def _ofd_pages(data: bytes, say: _Messages) -> int:
    corrupt = say.bad("corrupt", "is not a readable OFD document", "不是可读取的 OFD 文件（文件已损坏）")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise corrupt from None
    with archive:
        entries = archive.infolist()  # the central directory: nothing is extracted yet
        unpacked = sum(entry.file_size for entry in entries)
        if (len(entries) > OFD_MAX_ENTRIES or unpacked > OFD_MAX_UNPACKED
                or (unpacked > 1_048_576 and unpacked > OFD_MAX_RATIO * len(data))):
            raise say.bad("bomb", f"would unpack to {_mb(unpacked)} in {len(entries)} parts, far more than an "
                                  "OFD document needs", f"解压后达 {_mb(unpacked)}，不是正常的 OFD 文件")
        try:
            root = _xml(archive, "OFD.xml")
            pages = 0
            for doc_root in _children(root, "DocBody", "DocRoot"):
                document = _xml(archive, _part_name(doc_root.text or ""))
                pages += sum(1 for _ in _children(document, "Pages", "Page"))
        except Exception:  # malformed XML, a missing part, a path out of the package, DTDs
            raise corrupt from None
    if pages < 1:
        raise say.bad("corrupt", "is an OFD document without pages", "是没有页面的 OFD 文件")
    return pages


def _xml(archive: zipfile.ZipFile, name: str) -> Any:
    from defusedxml.ElementTree import fromstring

    info = archive.getinfo(name)
    if info.file_size > _OFD_MAX_XML:
        raise ValueError(f"{name} is too large")
    with archive.open(info) as part:
        text = part.read(_OFD_MAX_XML + 1)  # bounded even if the directory lied about the size
    if len(text) > _OFD_MAX_XML:
        raise ValueError(f"{name} is too large")
    return fromstring(text, forbid_dtd=True)


def _part_name(location: str) -> str:
    """A DocRoot location as a name in the archive: absolute from the package root or relative
    to it (GB/T 33190 §7.4); a location outside the package is refused."""
    name = posixpath.normpath(location.strip().lstrip("/"))
    if not name or name.startswith("..") or name == ".":
        raise ValueError("document outside the package")
    return name


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: Any, *path: str) -> list[Any]:
    """The elements at ``path`` below ``element``, by local name (OFD's namespace is not always
    declared the same way)."""
    found = [element]
    for step in path:
        found = [child for parent in found for child in parent if _local(child.tag) == step]
    return found
