"""Upload inspection: real PDF, JPEG, PNG and OFD bytes made here (pypdf, Pillow, zipfile), and
every kind of bad file refused with its code, the material's field and a message naming it."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image
from pypdf import PdfWriter

from engine.documents.inspection import BadFile, FileKind, Inspected, Upload, inspect_upload, inspect_uploads

ALL = frozenset(FileKind)
MB = 1024 * 1024


def pdf(pages: int = 1, *, password: str | None = None, owner_only: bool = False) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if password is not None:
        writer.encrypt(user_password="" if owner_only else password, owner_password=password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image(kind: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=kind)
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width``×``height`` pixels (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
            + chunk(b"IEND", b""))


OFD_NS = 'xmlns:ofd="http://www.ofdspec.org/2016"'


def ofd(pages: int = 2, *, extra: dict[str, bytes] | None = None, doc_root: str = "Doc_0/Document.xml",
        with_root: bool = True) -> bytes:
    """An OFD package (GB/T 33190): OFD.xml at the root naming Doc_0/Document.xml, whose Pages list
    ``pages`` Page entries."""
    page_list = "".join(f'<ofd:Page ID="{i + 10}" BaseLoc="Pages/Page_{i}/Content.xml"/>' for i in range(pages))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        if with_root:
            archive.writestr("OFD.xml", f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD {OFD_NS} Version="1.0" '
                                        f'DocType="OFD"><ofd:DocBody><ofd:DocInfo><ofd:DocID>abc</ofd:DocID>'
                                        f'</ofd:DocInfo><ofd:DocRoot>{doc_root}</ofd:DocRoot></ofd:DocBody></ofd:OFD>')
        archive.writestr("Doc_0/Document.xml", f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document {OFD_NS}>'
                                               f'<ofd:CommonData><ofd:MaxUnitID>99</ofd:MaxUnitID></ofd:CommonData>'
                                               f'<ofd:Pages>{page_list}</ofd:Pages></ofd:Document>')
        for i in range(pages):
            archive.writestr(f"Doc_0/Pages/Page_{i}/Content.xml", f"<ofd:Page {OFD_NS}><ofd:Content/></ofd:Page>")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def check(filename: str, data: bytes, *, allowed: frozenset[FileKind] = ALL, max_bytes: int = 10 * MB,
          material: str = "marriage_photo") -> Inspected:
    return inspect_upload(Upload(filename, data), material=material, allowed=allowed, max_bytes=max_bytes)


def refused(filename: str, data: bytes, **kwargs: object) -> BadFile:
    with pytest.raises(BadFile) as bad:
        check(filename, data, **kwargs)  # type: ignore[arg-type]
    error = bad.value
    material = str(kwargs.get("material", "marriage_photo"))
    assert error.field == f"materials.{material}"
    english, chinese = error.message.split(" / ")
    assert f"material {material!r}" in english and f"材料「{material}」" in chinese  # names the material
    return error


# --- good files ----------------------------------------------------------------------------


def test_a_three_page_pdf_is_a_pdf_of_three_pages() -> None:
    data = pdf(3)
    found = check("户口簿.pdf", data)
    assert found == Inspected(filename="户口簿.pdf", kind=FileKind.PDF, media_type="application/pdf",
                              size=len(data), pages=3, sha256=hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize(("kind", "fmt", "media_type"), [(FileKind.JPEG, "JPEG", "image/jpeg"),
                                                          (FileKind.PNG, "PNG", "image/png")])
def test_a_photo_is_one_page_of_its_kind(kind: FileKind, fmt: str, media_type: str) -> None:
    found = check("  photo.img ", image(fmt))
    assert (found.kind, found.media_type, found.pages, found.filename) == (kind, media_type, 1, "photo.img")


def test_an_ofd_counts_the_pages_of_its_document() -> None:
    found = check("证明.ofd", ofd(4))
    assert (found.kind, found.media_type, found.pages) == (FileKind.OFD, "application/ofd", 4)
    assert check("a.ofd", ofd(1, doc_root="/Doc_0/Document.xml")).pages == 1  # absolute from the package root


def test_a_pdf_locked_only_against_printing_is_accepted_one_needing_a_password_is_not() -> None:
    assert check("owner.pdf", pdf(2, password="s3cret", owner_only=True)).pages == 2
    error = refused("locked.pdf", pdf(2, password="s3cret"))
    assert error.code == "file.encrypted" and "password" in error.message


def test_the_type_comes_from_the_content_not_the_name() -> None:
    assert check("scan.pdf", image("PNG")).kind is FileKind.PNG  # a PNG named .pdf is a PNG
    assert check("photo.jpg", pdf()).kind is FileKind.PDF


# --- bad files -----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200,  # a Windows executable
    b"\x7fELF\x02\x01\x01" + b"\x00" * 200,
    b"just some text, not a document",
])
def test_a_file_of_another_type_named_pdf_is_refused(data: bytes) -> None:
    error = refused("x.pdf", data)
    assert error.code == "file.type" and "'x.pdf'" in error.message and "not a PDF, JPEG, PNG or OFD" in error.message


def test_a_png_where_only_pdf_is_allowed_is_refused_naming_what_is_allowed() -> None:
    error = refused("scan.pdf", image("PNG"), allowed=frozenset({FileKind.PDF}), material="id_card")
    assert error.code == "file.type"
    assert "is a PNG file; material 'id_card' accepts PDF" in error.message
    assert error.filename == "scan.pdf"


def test_a_zip_that_is_not_an_ofd_is_refused_as_a_type() -> None:
    error = refused("a.ofd", ofd(with_root=False))
    assert error.code == "file.type"


def test_too_large_is_refused_before_anything_is_parsed() -> None:
    error = refused("big.pdf", b"not even a pdf" * 100, max_bytes=1000)
    assert error.code == "file.too_large" and "over the limit of 1000 bytes" in error.message
    assert refused("big.pdf", pdf(1), max_bytes=100).code == "file.too_large"
    assert check("fits.pdf", pdf(1), max_bytes=len(pdf(1))).pages == 1  # the limit itself is allowed


def test_an_empty_file_is_refused() -> None:
    error = refused("empty.pdf", b"")
    assert error.code == "file.empty" and "'empty.pdf'" in error.message


@pytest.mark.parametrize("name", [
    "../../etc/passwd", "dir/scan.pdf", "/abs/scan.pdf", "C:\\Users\\scan.pdf", "..\\scan.pdf", "C:scan.pdf",
    "..", ".", "scan\x00.pdf", "scan\n.pdf", "scan\x1b.pdf", "photo\u202egpj.exe", "", "   ", "a" * 197 + ".pdf",
])
def test_a_name_carrying_a_path_or_a_control_character_is_refused_not_trimmed(name: str) -> None:
    error = refused(name, pdf())
    assert error.code == "file.name"
    assert "\x00" not in error.message and "\n" not in error.message and "\u202e" not in error.message


def test_a_name_of_two_hundred_characters_is_kept() -> None:
    name = "材" * 196 + ".pdf"
    assert check(name, pdf()).filename == name


def test_a_png_declaring_a_huge_image_is_a_bomb_refused_before_decoding() -> None:
    data = png_declaring(30000, 30000)
    assert len(data) < 200  # tiny on the wire
    error = refused("bomb.png", data)
    assert error.code == "file.bomb" and "900000000 pixels" in error.message  # Pillow refuses at the header
    assert "8000×8000 pixels" in refused("big.png", png_declaring(8000, 8000)).message  # 64 MP, over our 50
    assert refused("bomb.png", png_declaring(100_000, 100_000)).code == "file.bomb"  # past Pillow's own limit too
    with pytest.raises(BadFile) as small_limit:
        inspect_upload(Upload("big.png", image("PNG", (200, 200))), material="photo", allowed=ALL,
                       max_bytes=MB, max_pixels=10_000)
    assert small_limit.value.code == "file.bomb"


def test_an_ofd_that_would_unpack_to_far_more_than_its_size_is_a_zip_bomb() -> None:
    data = ofd(1, extra={"Doc_0/Res/padding.bin": b"\0" * (50 * MB)})
    assert len(data) < 200_000
    error = refused("bomb.ofd", data)
    assert error.code == "file.bomb" and "would unpack to" in error.message


@pytest.mark.parametrize(("name", "data"), [
    ("cut.pdf", pdf(3)[:400]),
    ("junk.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50),
    ("cut.png", image("PNG", (300, 300))[:200]),
    ("cut.jpg", image("JPEG", (300, 300))[:300]),
    ("broken.ofd", ofd(1)[:-40]),
    ("nodoc.ofd", ofd(1, doc_root="Doc_9/Document.xml")),
    ("escape.ofd", ofd(1, doc_root="../../Document.xml")),
    ("nopages.ofd", ofd(0)),
    ("dtd.ofd", ofd(1, doc_root="Doc_0/Evil.xml", extra={
        "Doc_0/Evil.xml": b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                          b"<ofd:Document><ofd:Pages><ofd:Page>&b;</ofd:Page></ofd:Pages></ofd:Document>"})),
])
def test_a_file_that_does_not_parse_as_its_type_is_corrupt(name: str, data: bytes) -> None:
    assert refused(name, data).code == "file.corrupt"


# --- a material's batch --------------------------------------------------------------------


def test_a_batch_is_checked_whole_and_one_bad_file_refuses_it() -> None:
    good = [Upload("p1.pdf", pdf(2)), Upload("p2.png", image("PNG"))]
    found = inspect_uploads(good, material="household", allowed=ALL, max_bytes=MB, max_files=2)
    assert [(f.filename, f.pages) for f in found] == [("p1.pdf", 2), ("p2.png", 1)]
    with pytest.raises(BadFile) as bad:
        inspect_uploads([*good, Upload("p3.pdf", b"")], material="household", allowed=ALL, max_bytes=MB, max_files=5)
    assert bad.value.code == "file.empty" and bad.value.field == "materials.household" and "p3.pdf" in bad.value.message


def test_more_files_than_allowed_are_refused() -> None:
    uploads = [Upload(f"p{i}.pdf", pdf()) for i in range(4)]
    with pytest.raises(BadFile) as bad:
        inspect_uploads(uploads, material="household", allowed=ALL, max_bytes=MB, max_files=3, label="户口簿")
    assert bad.value.code == "file.too_many" and bad.value.field == "materials.household"
    assert bad.value.message == ("material '户口簿': 4 files given, at most 3 accepted / "
                                 "材料「户口簿」：共 4 个文件，最多接受 3 个")
