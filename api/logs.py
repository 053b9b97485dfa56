"""Logging of the long-running commands (``onevisit serve``, ``onevisit worker``).

One handler on the root logger, on stderr: plain text, or one JSON object per event
(``ONEVISIT_LOG_FORMAT=json``: ``time``, ``level``, ``logger``, ``message``, and any ``extra``
fields; a traceback stays inside its event's ``exc_info``). Prefect's and uvicorn's loggers
send their events to the same handler instead of to handlers of their own.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that libraries give handlers of their own (Prefect configures uvicorn's too).
FOREIGN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi")


def log_handler(log_format: Literal["text", "json"]) -> logging.Handler:
    """A stderr handler writing ``log_format``."""
    handler = logging.StreamHandler(sys.stderr)
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
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # request latencies are in /metrics
