"""Log lines of the long-running commands: one JSON object per event with ONEVISIT_LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from api.logs import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("onevisit").level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.getLogger("onevisit").setLevel(saved[2])


def test_json_logs_are_one_object_per_event_tracebacks_included(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", with_prefect=False)
    log = logging.getLogger("onevisit.test")
    log.info("flows: dispatch pass %s", {"completed": 2}, extra={"part": "flows"})
    log.debug("not shown")
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        log.exception("pass failed")
    logging.getLogger("uvicorn.error").warning("address already in use")
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines]
    assert len(lines) == 3
    first = events[0]
    assert first["level"] == "INFO" and first["logger"] == "onevisit.test" and first["part"] == "flows"
    assert first["message"] == "flows: dispatch pass {'completed': 2}" and first["time"]
    assert events[1]["level"] == "ERROR" and "RuntimeError: boom" in events[1]["exc_info"]
    assert events[2]["logger"] == "uvicorn.error"  # libraries' events come out the same way


def test_text_logs(restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("text", with_prefect=False)
    logging.getLogger("onevisit.background").error("background: prefect down: %s", "exited with code 3")
    line = capsys.readouterr().err.strip()
    assert line.endswith("ERROR onevisit.background: background: prefect down: exited with code 3")
