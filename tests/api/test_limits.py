"""Request-size limits and authentication before the body (issue 7, item 5).

Large bodies are refused with 413 before they are read (from Content-Length, or by counting a
chunked stream and stopping); a request to an endpoint that needs a token is a 401 without its
body ever being read; authentication is decided once per request; list fields are capped.
The ASGI calls below drive the app directly so the test sees exactly how much body it read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import anyio
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from api.app import create_app
from api.body_limits import upload_limit
from api.limits import RequestLimits
from engine.people.application import validate_answers
from engine.db.models import Case
from engine.errors import InvalidApplication
from engine.spec.models import DEFAULT_MAX_ITEMS, FieldSpec
from engine.people.validators import make_id_number
from tests.api.conftest import Api, case_body, problem
from tests.engine.sample_people import post_death_answers

LIMIT = 4096


@dataclass
class Sent:
    """What an ASGI call answered, and how many body chunks the app pulled."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks_read: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


def asgi_post(app: Any, path: str, chunks: list[bytes], headers: dict[str, str]) -> Sent:
    """POST ``chunks`` (one http.request message each) straight into the ASGI app."""
    sent = Sent()
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        sent.chunks_read += 1
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.status = message["status"]
            sent.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            sent.body += message.get("body", b"")

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234), "server": ("testserver", 80),
    }
    anyio.run(app, scope, receive, send)
    return sent


@pytest.fixture
def small(api: Api) -> Any:
    """The API with a 4 KiB body limit, over the same database and tokens."""
    return create_app(sessions=api.db.sessions, runtime=api.runtime, max_body_bytes=LIMIT)


def _auth(api: Api, who: str | None) -> dict[str, str]:
    return {"content-type": "application/json", **api.auth(who)}


def test_oversized_body_is_413_from_content_length_without_reading_it(api: Api, small: Any) -> None:
    big = b"[" + b"1," * (LIMIT) + b"1]"
    for who in (None, "clerk"):
        sent = asgi_post(small, "/cases", [big], {**_auth(api, who), "content-length": str(len(big))})
        assert sent.status == 413 and sent.chunks_read == 0, (who, sent)
        assert sent.headers["content-type"].startswith("application/problem+json")
        assert sent.json()["field"] == "body" and sent.json()["type"] == "/problems/body_too_large"


def test_chunked_body_is_counted_while_streaming_and_abandoned(api: Api, small: Any) -> None:
    chunks = [b" " * 1024] * 64  # 64 KiB announced by nobody
    sent = asgi_post(small, "/cases", chunks, _auth(api, "clerk"))
    assert sent.status == 413 and sent.json()["field"] == "body"
    assert sent.chunks_read <= LIMIT // 1024 + 1  # it stopped at the limit, not at the end


def test_missing_or_invalid_token_is_401_before_the_body_is_read(api: Api, small: Any) -> None:
    body = json.dumps(case_body()).encode()
    for headers in ({}, {"authorization": "Bearer not-a-token"}, {"authorization": "Basic eA=="}):
        sent = asgi_post(small, "/cases", [body], {"content-type": "application/json", **headers,
                                                  "content-length": str(len(body))})
        assert sent.status == 401 and sent.chunks_read == 0, (headers, sent)
        assert sent.headers["www-authenticate"].startswith("Bearer")
        assert sent.json()["field"] == "Authorization"
    ok = asgi_post(small, "/cases", [body], {**_auth(api, "clerk"), "content-length": str(len(body))})
    assert ok.status == 201, ok.body


def test_the_default_limit_is_the_setting_and_a_1mb_array_is_refused(api: Api) -> None:
    huge = b"[" + b"0," * 600_000 + b"0]"
    for who in (None, "clerk"):
        response = api.client.post("/cases", content=huge, headers=_auth(api, who))
        assert problem(response, 413)["field"] == "body"
    assert api.post("/cases", "clerk", case_body()).status_code == 201


def test_pages_have_the_size_limit_too(api: Api, small: Any) -> None:
    form = b"token=" + b"x" * (2 * LIMIT)
    sent = asgi_post(small, "/ui/login", [form], {"content-type": "application/x-www-form-urlencoded",
                                                  "content-length": str(len(form))})
    assert sent.status == 413 and sent.chunks_read == 0


def test_authentication_is_decided_once_per_request(api: Api) -> None:
    looked_up: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_tokens" in statement:
            looked_up.append(statement)

    engine = api.db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        case = api.case()
        assert api.get(f"/cases/{case.id}", "clerk").status_code == 200
        assert len(looked_up) == 1
        looked_up.clear()
        assert api.get("/supervision/stats", "supervisor").status_code == 200
        assert len(looked_up) == 1
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_operations_authenticated_early_are_those_the_document_marks_secured(api: Api) -> None:
    """The early token check reads the routes (no document build on a process's first request);
    it must agree with the OpenAPI document's ``security`` entries, operation for operation."""
    document: dict[str, Any] = api.get("/openapi.json", None).json()
    secured = {(method.upper(), path) for path, item in document["paths"].items()
               for method, operation in item.items() if operation.get("security")}
    early = api.client.app.state.protected_operations  # type: ignore[attr-defined]
    assert secured and len(early) == len(secured)
    for method, path in secured:
        concrete = path.replace("{", "x").replace("}", "")
        assert any(wanted == method and regex.match(concrete) for wanted, regex in early), (method, path)
    assert not any(regex.match("/healthz") for _method, regex in early)


# --- list caps ---------------------------------------------------------------------------


def _heirs(n: int) -> list[dict[str, str]]:
    return [{"heir_name": f"继承人{i}", "heir_id_number": make_id_number("430103", date(1960 + i, 1, 1), 100 + i),
             "heir_bank": "示例银行"} for i in range(n)]


def test_list_fields_are_capped_before_their_entries_are_checked(api: Api) -> None:
    fields = api.runtime.registry.fields
    assert fields["heirs"].max_items == 20 and fields["new_employees"].max_items == 500
    spec = api.runtime.current_spec("post_death")
    answers = post_death_answers(heirs=[{"heir_name": "\x00", "heir_id_number": "bad"}] * 21)
    with pytest.raises(InvalidApplication) as raised:
        validate_answers(spec, fields, answers)
    assert [(p.field, p.code) for p in raised.value.problems] == [("heirs", "list.too_long")]
    assert "20" in raised.value.problems[0].message_en and "20" in raised.value.problems[0].message_zh
    assert validate_answers(spec, fields, post_death_answers(heirs=_heirs(20)))["heirs"]
    body = {"bundle_id": "post_death", "applicant": {"id": post_death_answers()["heirs"][0]["heir_id_number"],
                                                     "kind": "person", "name": "测试丙"},
            "answers": post_death_answers(heirs=_heirs(21)), "region": "430102"}
    refused = problem(api.post("/cases", "clerk", body), 422)
    assert refused["fields"] == ["heirs"] and refused["errors"][0]["code"] == "list.too_long"
    with api.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_a_list_without_a_declared_cap_gets_the_default() -> None:
    spec = FieldSpec.model_validate({"id": "things", "label": {"zh": "清单", "en": "Things"}, "type": "list",
                                     "item_fields": ["heir_name"]})
    assert spec.max_items is None and spec.item_limit == DEFAULT_MAX_ITEMS
    with pytest.raises(ValueError, match="max_items"):
        FieldSpec.model_validate({"id": "x", "label": {"zh": "甲", "en": "X"}, "type": "text", "max_items": 3})


def test_list_caps_are_in_the_bundle_form(api: Api) -> None:
    form = api.get("/bundles/post_death", None).json()
    heirs = next(f for f in form["fields"] if f["id"] == "heirs")
    assert heirs["max_items"] == 20


def test_a_fresh_client_still_works(api: Api) -> None:
    # the limit middleware passes ordinary traffic through untouched (streaming responses included)
    with TestClient(create_app(sessions=api.db.sessions, runtime=api.runtime)) as client:
        assert client.get("/bundles").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_an_upload_operation_declares_its_own_larger_limit_checked_before_reading() -> None:
    app = FastAPI()

    @app.post("/files/{material}", openapi_extra=upload_limit(2 * LIMIT))
    async def upload(material: str, request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.post("/json")
    async def plain(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    app.add_middleware(RequestLimits, max_body_bytes=LIMIT)
    app.state.protected_operations = []
    app.state.body_limits = RequestLimits.body_limits(app.router.routes)
    assert [(m, limit) for m, _, limit in app.state.body_limits] == [("POST", 2 * LIMIT)]

    def post(path: str, size: int) -> Sent:
        return asgi_post(app, path, [b"x" * size], {"content-length": str(size)})

    assert post("/files/户口簿", LIMIT + 100).json() == {"received": LIMIT + 100}
    refused = post("/files/户口簿", 2 * LIMIT + 1)
    assert refused.status == 413 and refused.chunks_read == 0
    assert post("/json", LIMIT + 100).status == 413  # everything else keeps the general limit
