"""Logging of the long-running commands (``onevisit serve``, ``onevisit worker``).

One handler on the root logger, on stderr: plain text, or one JSON object per event
(``ONEVISIT_LOG_FORMAT=json``: ``time``, ``level``, ``logger``, ``message``, and any ``extra``
fields; a traceback stays inside its event's ``exc_info``). Prefect's and uvicorn's loggers
send their events to the same handler instead of to handlers of their own.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that libraries give handlers of their own (Prefect configures uvicorn's too).
FOREIGN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi")


# Defence in depth: the code logs no personal data (SQL parameters are hidden, messages name
# ids, not people), but a library's message or an exception text might still quote one.
PERSONAL = re.compile(
    r"(?<![0-9A-Za-z])(?:[1-9][0-9]{5}(?:19|20)[0-9]{9}[0-9Xx]"  # GB 11643 resident ID
    r"|[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10})(?![0-9A-Za-z])"  # GB 32100 credit code
)
BEARER = re.compile(r"(?i)(bearer\s+|token[=:]\s*)[A-Za-z0-9_\-.~+/]{16,}")


def mask_personal(text: str) -> str:
    """``text`` with ID numbers and credit codes cut to their region prefix and bearer tokens removed."""
    text = PERSONAL.sub(lambda m: m.group(0)[:6] + "*" * (len(m.group(0)) - 6), text)
    return BEARER.sub(lambda m: m.group(1) + "[token]", text)


class PersonalDataFilter(logging.Filter):
    """Masks identifiers and tokens in every event a handler writes (message and traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_personal(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters (stdlib and JSON) fall back to exc_text when exc_info is gone.
            record.exc_text, record.exc_info = mask_personal(record.exc_text), None
        return True


def log_handler(log_format: Literal["text", "json"]) -> logging.Handler:
    """A stderr handler writing ``log_format``, with personal data masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(PersonalDataFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter(
            "{asctime}{levelname}{name}{message}", style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z", json_ensure_ascii=False,
        ))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(log_format: Literal["text", "json"], *, level: int = logging.INFO,
                      with_prefect: bool = True) -> None:
    """Send every log event of this process through one handler in ``log_format``.

    With ``with_prefect``, Prefect is imported first: it configures logging when imported, and
    what is configured here must come after it to win.
    """
    if with_prefect:
        import prefect  # noqa: F401

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(log_handler(log_format))
    root.setLevel(logging.WARNING)  # libraries: warnings and errors
    logging.getLogger("onevisit").setLevel(level)
    for name in FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        for old in list(foreign.handlers):
            foreign.removeHandler(old)
        foreign.propagate = True
        foreign.setLevel(logging.NOTSET)  # a library may have set its own (uvicorn.Config does): the root decides
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # request latencies are in /metrics
