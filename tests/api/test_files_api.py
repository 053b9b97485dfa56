"""Files over HTTP (issue 12) on SQLite and PostgreSQL, with the local file store and an
S3-compatible one (moto's server, a bucket per test): uploads at the window and online (a phone
is just a client of the API), intake with files, every bad file refused naming the material with
nothing stored, the window's check, the receipt, a case's materials, downloads authorised per
caller and recorded in the access log, 补正 with files and the officer's confirmation, 容缺.

The newborn bundle, as in tests/engine/documents/test_files.py: its 出生医学证明 step (卫健, 23)
needs the record, the marriage certificate and the 知情告知书 (deferrable, 5 working days); its
社会保障卡 step (人社, 14) an optional photo. The clock's day is Monday 2 March 2026.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from api.routes.files import UPLOAD_BODY_LIMIT
from engine.db.models import AccessRecord, ApiToken, AuditEvent, CaseFile, Step
from engine.documents.storage import FileStore, LocalFileStore, S3FileStore
from engine.people.tokens import issue_token
from engine.runtime import Runtime
from engine.settings import get_settings
from engine.spec.loader import BundleRegistry
from engine.time.calendar import WorkingCalendar
from engine.time.clock import FixedClock
from tests.api.conftest import Api, problem
from tests.engine.documents.test_files import CERTIFICATE, NOTICE, PHOTO, RECORD
from tests.engine.documents.test_inspection import image, ofd, pdf, png_declaring
from tests.engine.documents.test_storage import s3_store
from tests.engine.records.test_documents import section
from tests.engine.machine.test_eligibility import FATHER, MOTHER, newborn_answers
from tests.s3_server import S3Server

FORM = "新生儿出生一件事申请表"

# Callers of this module besides the shared ones: name → (role, subject, department, region).
FILE_CALLERS: dict[str, tuple[str, str | None, str | None, str | None]] = {
    "mother": ("applicant", MOTHER, None, None),
    "father": ("applicant", FATHER, None, None),  # another applicant: the case is the mother's
    "health": ("officer", None, "23", "430102"),  # 卫健: the 出生医学证明 step
    "social": ("officer", None, "14", "430102"),  # 人社: only the photo is theirs
    "health_far": ("officer", None, "23", "430200"),
}


@dataclass
class Store:
    files: FileStore
    listing: Any

    def contents(self) -> set[str]:
        """The hashes of every stored file."""
        return set(self.listing())


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        local = LocalFileStore(tmp_path / "files")
        return Store(local, lambda: {p.name for p in local.root.rglob("*") if p.is_file()})
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = server.new_bucket()
    remote: S3FileStore = s3_store(server, bucket)

    def listing() -> set[str]:
        found = server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
        return {str(item["Key"]).rsplit("/", 1)[-1] for item in found}

    return Store(remote, listing)


@pytest.fixture
def runtime(registry: BundleRegistry, calendar: WorkingCalendar, clock: FixedClock, store: Store) -> Runtime:
    """The engine runtime over this test's file store (local folder or bucket)."""
    return Runtime(registry=registry, calendar=calendar, clock=clock, files=store.files)


@pytest.fixture
def files_api(api: Api) -> Iterator[Api]:
    with api.session() as session:
        for label, (role, subject, department, region) in FILE_CALLERS.items():
            api.tokens[label] = issue_token(session, role=role, subject=subject, department=department, region=region,
                                            label=label, now=api.clock.now())
        api.actor_ids.update({label: token_id for token_id, label in session.execute(select(ApiToken.id,
                                                                                             ApiToken.label))})
    yield api


Part = tuple[str, bytes]


def upload(api: Api, who: str | None, material: str, *parts: Part, bundle: str = "newborn") -> Any:
    """POST /uploads with ``parts`` (name, bytes) for ``material``."""
    return api.client.post("/uploads", headers=api.auth(who), data={"bundle_id": bundle, "material": material},
                           files=[("files", (name, data, "application/octet-stream")) for name, data in parts])


def staged(api: Api, who: str, material: str, *parts: Part) -> list[str]:
    answer = upload(api, who, material, *(parts or (("scan.pdf", pdf(2)),)))
    assert answer.status_code == 201, answer.text
    return [f["id"] for f in answer.json()]


def newborn_body(materials: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"bundle_id": "newborn", "applicant": {"id": MOTHER, "kind": "person", "name": "测试乙"},
                            "answers": newborn_answers(), "region": "430102"}
    if materials is not None:
        body["materials"] = materials
    return body


def online_case(api: Api) -> str:
    """The mother's online application: the record (a PDF of 2 pages and a JPEG), the certificate,
    the photo, and the notice deferred to Friday 6 March."""
    materials = {
        RECORD: {"files": staged(api, "mother", RECORD, ("a.pdf", pdf(2)), ("b.jpg", image("JPEG")))},
        CERTIFICATE: {"files": staged(api, "mother", CERTIFICATE, ("结婚证.ofd", ofd(2)))},
        PHOTO: {"files": staged(api, "mother", PHOTO, ("photo.png", image("PNG")))},
        NOTICE: {"deferred_until": "2026-03-06"},
    }
    created = api.post("/cases", "mother", newborn_body(materials))
    assert created.status_code == 201, created.text
    return str(created.json()["case_id"])


def by_name(api: Api, case_id: str, who: str) -> dict[str, Any]:
    answer = api.get(f"/cases/{case_id}/materials", who)
    assert answer.status_code == 200, answer.text
    return {m["name"]: m for m in answer.json()}


def rows(api: Api) -> int:
    with api.session() as session:
        return int(session.scalar(select(func.count()).select_from(CaseFile)) or 0)


# --- uploads and intake -------------------------------------------------------------------------


def test_the_window_scans_and_accepts_with_files_a_paper_original_and_a_deferred_notice(
        files_api: Api, store: Store) -> None:
    api = files_api
    answer = upload(api, "clerk", RECORD, ("出生记录.pdf", pdf(3)), ("第二页.png", image("PNG")))
    assert answer.status_code == 201, answer.text
    scanned = answer.json()
    assert [(f["filename"], f["media_type"], f["pages"], f["channel"], f["check_state"]) for f in scanned] == [
        ("出生记录.pdf", "application/pdf", 3, "window", "pending"), ("第二页.png", "image/png", 1, "window", "pending")]
    assert {f["sha256_full"] for f in scanned} <= store.contents()
    materials = {RECORD: {"files": [f["id"] for f in scanned], "check": "accepted"},
                 CERTIFICATE: {"paper": True, "check": "accepted"}, NOTICE: {"deferred_until": "2026-03-09"}}
    created = api.post("/cases", "clerk", newborn_body(materials))
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    seen = by_name(api, case_id, "clerk")
    assert sorted((f["id"], f["check_state"]) for f in seen[RECORD]["files"]) == sorted(
        (f["id"], "accepted") for f in scanned)
    assert seen[CERTIFICATE]["paper"] and seen[CERTIFICATE]["files"] == []
    assert seen[NOTICE]["deferred_until"] == "2026-03-09" and seen[NOTICE]["supplied_at"] is None
    assert seen[FORM]["waived"] and seen[FORM]["reason"]
    with api.session() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id, AuditEvent.seq == 1)).one()
    assert sorted(f["sha256"] for f in event.payload["files"]) == sorted(f["sha256_full"] for f in scanned)

    receipt = api.get(f"/ui/cases/{case_id}/receipt", "clerk")
    assert receipt.status_code == 200, receipt.text
    listed = section(receipt.text, "收件清单", "免提交理由")
    assert f"{RECORD} 电子文件 2 个文件，共 4 页" in listed
    assert f"{CERTIFICATE} 纸质原件（窗口核验）" in listed
    assert f"{NOTICE} 容缺受理：承诺于 2026年3月9日 前补交" in listed
    assert FORM in section(receipt.text, "免提交理由", "五、温馨提示")


def test_the_applicant_uploads_online_and_the_files_wait_for_the_check(files_api: Api) -> None:
    api = files_api
    case_id = online_case(api)
    seen = by_name(api, case_id, "mother")
    assert sorted((f["filename"], f["pages"], f["channel"], f["check_state"]) for f in seen[RECORD]["files"]) == [
        ("a.pdf", 2, "online", "pending"), ("b.jpg", 1, "online", "pending")]
    assert seen[CERTIFICATE]["files"][0]["media_type"] == "application/ofd"
    # the window checks: the certificate accepted, the record returned with the reason
    accepted = api.post(f"/cases/{case_id}/materials/{CERTIFICATE}/check", "clerk", {"state": "accepted"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["name"] == CERTIFICATE and accepted.json()["files"][0]["check_state"] == "accepted"
    returned = api.post(f"/cases/{quote(case_id)}/materials/{quote(RECORD)}/check", "health",
                        {"state": "returned", "reason": "第二页不清晰"})
    assert returned.status_code == 200, returned.text
    assert {(f["check_state"], f["check_reason"]) for f in returned.json()["files"]} == {("returned", "第二页不清晰")}
    assert problem(api.post(f"/cases/{case_id}/materials/{RECORD}/check", "clerk", {"state": "returned"}),
                   422)["field"] == "reason"
    assert problem(api.post(f"/cases/{case_id}/materials/{RECORD}/check", "clerk", {"state": "maybe"}),
                   422)["field"] == "state"
    assert problem(api.post(f"/cases/{case_id}/materials/{RECORD}/check", "social", {"state": "accepted"}), 403)
    assert problem(api.post(f"/cases/{case_id}/materials/{RECORD}/check", "mother", {"state": "accepted"}), 403)
    assert problem(api.post(f"/cases/{case_id}/materials/{RECORD}/check", "father", {"state": "accepted"}), 404)
    # officers see their step's materials only; another applicant nothing
    assert {RECORD, CERTIFICATE, NOTICE} <= set(by_name(api, case_id, "health"))
    assert PHOTO not in by_name(api, case_id, "health")
    assert set(by_name(api, case_id, "social")) >= {PHOTO} and RECORD not in by_name(api, case_id, "social")
    assert problem(api.get(f"/cases/{case_id}/materials", "father"), 404)["field"] == "case_id"
    assert problem(api.get(f"/cases/{'0' * 32}/materials", "clerk"), 404)["field"] == "case_id"
    assert problem(api.get(f"/cases/{case_id}/materials", None), 401)


def test_intake_names_every_material_problem(files_api: Api) -> None:
    api = files_api
    theirs = staged(api, "father", RECORD)
    answer = api.post("/cases", "mother", newborn_body({RECORD: {"files": theirs}, CERTIFICATE: {"paper": True},
                                                        "营业执照": {"paper": True}}))
    fields = {e["field"]: e["code"] for e in problem(answer, 422)["errors"]}
    assert fields == {f"materials.{RECORD}.files": "file.not_staged", f"materials.{CERTIFICATE}.paper":
                      "material.paper_online", "materials.营业执照": "material.unknown",
                      f"materials.{NOTICE}": "material.missing"}
    bad = api.post("/cases", "clerk", newborn_body({RECORD: {"files": ["not-an-id"], "check": "maybe"}}))
    assert {e["field"] for e in problem(bad, 422)["errors"]} >= {
        f"materials.{RECORD}.files[0]", f"materials.{RECORD}.check"}
    # without materials, intake is as before
    assert api.post("/cases", "clerk", newborn_body(None)).status_code == 201


# --- bad files: 4xx naming the material, nothing stored ----------------------------------------------

MB = 1024 * 1024


BAD = [
    pytest.param([("scan.pdf", b"MZ\x90\x00" + b"\x00" * 300)], "file.type", id="an executable named .pdf"),
    pytest.param([("scan.pdf", pdf(1)), ("notes.pdf", b"plain text, not a document")], "file.type",
                 id="one bad file in a batch"),
    pytest.param([("big.pdf", b"%PDF-1.7\n" + b"0" * (10 * MB))], "file.too_large", id="larger than the material takes"),
    pytest.param([("empty.pdf", b"")], "file.empty", id="empty"),
    pytest.param([("../../etc/passwd.pdf", pdf(1))], "file.name", id="a path in the name"),
    pytest.param([("..\\scans\\a.pdf", pdf(1))], "file.name", id="a windows path in the name"),
    pytest.param([("bomb.png", png_declaring(60_000, 60_000))], "file.bomb", id="a decompression bomb"),
    pytest.param([("bomb.ofd", ofd(1, extra={"Doc_0/Res/padding.bin": b"\0" * (50 * MB)}))], "file.bomb", id="a zip bomb"),
    pytest.param([(f"p{i}.pdf", pdf(1)) for i in range(11)], "file.too_many", id="too many files"),
]


@pytest.mark.parametrize(("parts", "code"), BAD)
def test_a_bad_file_is_refused_naming_the_material_and_nothing_is_stored(
        files_api: Api, store: Store, parts: list[Part], code: str) -> None:
    api = files_api
    before = store.contents()
    for who in ("clerk", "mother"):
        body = problem(upload(api, who, RECORD, *parts), 422)
        assert (body["field"], body["errors"][0]["code"]) == (f"materials.{RECORD}", code), body
        english, chinese = body["errors"][0]["message_en"], body["errors"][0]["message_zh"]  # the two halves
        assert repr(RECORD) in english and f"材料「{RECORD}」" in chinese
    assert store.contents() == before and rows(api) == 0


def test_unknown_materials_bundles_and_callers_are_refused_and_nothing_is_stored(files_api: Api, store: Store) -> None:
    api = files_api
    before = store.contents()
    unknown = problem(upload(api, "clerk", "营业执照", ("a.pdf", pdf(1))), 422)
    assert (unknown["field"], unknown["errors"][0]["code"]) == ("materials.营业执照", "material.unknown")
    assert problem(upload(api, "clerk", RECORD, ("a.pdf", pdf(1)), bundle="no_such_bundle"), 404)["field"] == \
        "bundle_id"
    assert problem(upload(api, "health", RECORD, ("a.pdf", pdf(1))), 403)
    assert problem(upload(api, None, RECORD, ("a.pdf", pdf(1))), 401)
    assert problem(upload(api, "clerk", RECORD), 422)["field"] == "files"  # no file at all
    assert store.contents() == before and rows(api) == 0


def test_a_body_larger_than_the_upload_limit_is_413_before_it_is_read(files_api: Api, store: Store) -> None:
    api = files_api
    assert UPLOAD_BODY_LIMIT == get_settings().upload_max_bytes * get_settings().upload_max_files + 65_536
    sent: list[int] = []

    def body() -> Iterator[bytes]:  # never sent: the answer comes from Content-Length alone
        sent.append(1)
        yield b"--x\r\n"

    answer = api.client.post("/uploads", content=body(), headers={
        **api.auth("clerk"), "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(UPLOAD_BODY_LIMIT + 1)})
    assert problem(answer, 413)["field"] == "body" and sent == []
    spec = api.client.get("/openapi.json").json()["paths"]["/uploads"]["post"]
    assert spec["x-max-body-bytes"] == UPLOAD_BODY_LIMIT and "413" in spec["responses"]
    assert store.contents() == set() and rows(api) == 0


# --- downloads ------------------------------------------------------------------------------------

# Who may download the mother's record (a 卫健 material): everyone who reads the whole case, and the
# officer of its step; another applicant, another department and another region's officer get the
# answer an unknown id gets.
DOWNLOADERS = [("mother", 200), ("father", 404), ("clerk", 200), ("clerk_other", 404), ("health", 200),
               ("social", 404), ("health_far", 404), ("supervisor", 200), ("supervisor_other", 404), ("admin", 200),
               (None, 401)]


def test_downloads_are_authorised_per_caller_and_recorded(files_api: Api) -> None:
    api = files_api
    case_id = online_case(api)
    [record] = [f for f in by_name(api, case_id, "mother")[RECORD]["files"] if f["filename"] == "a.pdf"]
    missing = api.get(f"/files/{'0' * 32}", "clerk")
    for who, status in DOWNLOADERS:
        answer = api.get(f"/files/{record['id']}", who)
        assert answer.status_code == status, (who, answer.text)
        if status != 200:
            problem(answer, status)
            if status == 404:
                assert answer.text.replace(record["id"], "X") == missing.text.replace("0" * 32, "X"), who
            continue
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["content-security-policy"] == "sandbox"
        assert answer.headers["cache-control"] == "private, no-store"
        assert answer.headers["content-disposition"] == "inline; filename=\"a.pdf\"; filename*=UTF-8''a.pdf"
        assert len(answer.content) == record["size"]
    with api.session() as session:
        logged = session.execute(select(AccessRecord.actor_id, AccessRecord.case_id, AccessRecord.what)).all()
    what = f"file {record['id']} ({RECORD})"
    for who, status in DOWNLOADERS:
        if who is not None:
            assert ((api.actor_ids[who], case_id, what) in logged) is (status == 200), who


def raw_upload(api: Api, who: str, material: str, filename: bytes, data: bytes) -> Any:
    """An upload whose part names the file exactly as given (``\\"`` for a quote), as no client
    library would send it."""
    body = (b'--b0undary\r\nContent-Disposition: form-data; name="bundle_id"\r\n\r\nnewborn\r\n'
            b'--b0undary\r\nContent-Disposition: form-data; name="material"\r\n\r\n' + material.encode() + b"\r\n"
            b'--b0undary\r\nContent-Disposition: form-data; name="files"; filename="' + filename + b'"\r\n'
            b"Content-Type: application/pdf\r\n\r\n" + data + b"\r\n--b0undary--\r\n")
    return api.client.post("/uploads", content=body, headers={
        **api.auth(who), "Content-Type": "multipart/form-data; boundary=b0undary"})


def test_a_download_names_the_file_safely_and_a_purged_one_is_file_missing(files_api: Api, store: Store) -> None:
    api = files_api
    refused = problem(raw_upload(api, "mother", RECORD, "报告\x01终稿.pdf".encode(), pdf(1)), 422)
    assert refused["errors"][0]["code"] == "file.name"  # a control character: refused, not cleaned
    answer = raw_upload(api, "mother", RECORD, '出生 \\"记录\\";v2.pdf'.encode(), pdf(1))
    assert answer.status_code == 201, answer.text
    [stored] = answer.json()
    assert stored["filename"] == '出生 "记录";v2.pdf'
    download = api.get(f"/files/{stored['id']}", "mother")
    assert download.status_code == 200 and download.content == pdf(1)
    assert download.headers["content-disposition"] == (
        "inline; filename=\"__ _____v2.pdf\"; filename*=UTF-8''%E5%87%BA%E7%94%9F%20%22%E8%AE%B0%E5%BD%95%22%3Bv2.pdf")
    assert problem(api.get(f"/files/{stored['id']}", "clerk"), 404)  # staged: the uploader's alone
    store.files.delete(stored["sha256_full"])
    gone = problem(api.get(f"/files/{stored['id']}", "mother"), 404)
    assert (gone["type"], gone["errors"][0]["code"], gone["field"]) == ("/problems/file.missing", "file.missing", "file")


# --- 补正 with files and the officer's confirmation; 容缺 -----------------------------------------------


def _supplement_requested(api: Api, case_id: str, materials: list[str]) -> dict[str, Any]:
    with api.session() as session:
        step = session.scalars(select(Step).where(Step.case_id == case_id,
                                                  Step.step_key == "birth_certificate")).one()
        step_id, version = step.id, step.version
    for action, body in (("claim", {}), ("start", {}), ("request-supplement", {"materials": materials})):
        answer = api.post(f"/steps/{step_id}/{action}", "health", {"version": version, **body})
        assert answer.status_code == 200, answer.text
        version = answer.json()["version"]
    return dict(answer.json())


def supplement_files(api: Api, who: str | None, step_id: str, material: str, *parts: Part, **fields: Any) -> Any:
    return api.client.post(f"/steps/{step_id}/supplement-files", headers=api.auth(who),
                           data={"material": material, **{k: str(v).lower() for k, v in fields.items()}},
                           files=[("files", (name, data, "application/octet-stream")) for name, data in parts]
                           or None)


def test_a_supplement_is_handed_in_in_parts_and_only_the_officer_s_confirmation_restarts_the_clock(
        files_api: Api, store: Store) -> None:
    api = files_api
    case_id = online_case(api)
    step = _supplement_requested(api, case_id, [RECORD, CERTIFICATE])
    assert step["state"] == "supplement_requested"
    before = store.contents()
    bad = problem(supplement_files(api, "mother", step["id"], RECORD, ("x.pdf", b"not a pdf")), 422)
    assert (bad["field"], bad["errors"][0]["code"]) == (f"materials.{RECORD}", "file.type")
    assert store.contents() == before
    assert problem(supplement_files(api, "mother", step["id"], PHOTO, ("p.png", image("PNG"))), 422)["field"] == \
        "material"
    assert problem(supplement_files(api, "father", step["id"], RECORD, ("r.pdf", pdf(1))), 404)
    assert problem(supplement_files(api, "mother", step["id"], CERTIFICATE, paper=True), 403)["field"] == "paper"

    handed = supplement_files(api, "mother", step["id"], RECORD, ("补正记录.pdf", pdf(4)))
    assert handed.status_code == 201, handed.text
    assert handed.json()["state"] == "supplement_requested"  # partial stays partial
    confirm = api.post(f"/steps/{step['id']}/receive-supplement", "health", {"version": handed.json()["version"]})
    refused = problem(confirm, 409)
    assert refused["field"] == "materials" and CERTIFICATE in refused["detail"] and RECORD not in refused["detail"]
    paper = supplement_files(api, "clerk", step["id"], CERTIFICATE, paper=True, version=handed.json()["version"])
    assert paper.status_code == 201, paper.text
    assert problem(api.post(f"/steps/{step['id']}/receive-supplement", "mother", {"version": paper.json()["version"]}),
                   403)
    received = api.post(f"/steps/{step['id']}/receive-supplement", "health", {"version": paper.json()["version"]})
    assert received.status_code == 200, received.text
    assert received.json()["state"] == "in_progress"
    files = by_name(api, case_id, "health")[RECORD]["files"]
    assert ("补正记录.pdf", "supplement", 1) in [(f["filename"], f["channel"], f["notice"]) for f in files]


def test_a_deferred_material_is_handed_in_later(files_api: Api, store: Store) -> None:
    api = files_api
    case_id = online_case(api)
    url = f"/cases/{case_id}/deferred/{NOTICE}"
    files = [("files", ("告知书.pdf", pdf(1), "application/pdf"))]
    assert problem(api.client.post(url, headers=api.auth("father"), files=files), 404)
    assert problem(api.client.post(f"/cases/{case_id}/deferred/{RECORD}", headers=api.auth("mother"), files=files),
                   404)["field"] == "material"  # not deferred
    assert problem(api.client.post(url, headers=api.auth("mother")), 422)["field"] == f"materials.{NOTICE}"
    supplied = api.client.post(url, headers=api.auth("mother"), files=files)
    assert supplied.status_code == 201, supplied.text
    body = supplied.json()
    assert body["name"] == NOTICE and body["supplied_at"] and [f["channel"] for f in body["files"]] == ["online"]
    assert body["files"][0]["sha256_full"] in store.contents()
    assert problem(api.client.post(url, headers=api.auth("clerk"), data={"paper": "true"}), 409)["field"] == "material"


def test_the_document_describes_uploads_and_the_intake_s_materials(files_api: Api) -> None:
    spec = files_api.client.get("/openapi.json").json()
    upload_op = spec["paths"]["/uploads"]["post"]
    form = upload_op["requestBody"]["content"]["multipart/form-data"]["schema"]
    body = spec["components"]["schemas"][form["$ref"].rsplit("/", 1)[-1]] if "$ref" in form else form
    assert set(body["required"]) == {"bundle_id", "material", "files"}
    assert body["properties"]["files"]["type"] == "array"
    for path in ("/steps/{step_id}/supplement-files", "/cases/{case_id}/deferred/{material}"):
        assert spec["paths"][path]["post"]["x-max-body-bytes"] == UPLOAD_BODY_LIMIT
    download = spec["paths"]["/files/{file_id}"]["get"]["responses"]["200"]
    assert "application/pdf" in download["content"] and "Content-Security-Policy" in download["headers"]
    materials = spec["components"]["schemas"]["CaseCreate"]["properties"]["materials"]
    hand_in = spec["components"]["schemas"]["MaterialHandInIn"]
    by_name = materials["anyOf"][0]
    assert [v["$ref"] for v in by_name["patternProperties"].values()] == ["#/components/schemas/MaterialHandInIn"]
    assert hand_in["examples"] and set(hand_in["properties"]) == {"files", "paper", "deferred_until", "check",
                                                                 "check_reason"}
    assert spec["components"]["schemas"]["FileOut"]["properties"]["sha256_full"]["description"]
