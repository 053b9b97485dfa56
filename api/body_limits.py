"""How an operation that takes files declares its own body limit (read by :mod:`api.limits`).

Kept apart from :mod:`api.limits`, which reads the pages' login cookie, so that the pages and
routes declaring an upload limit import nothing that imports them back.
"""

from __future__ import annotations

UPLOAD_LIMIT = "x-max-body-bytes"
"""The OpenAPI extension in which an operation that takes files declares its body limit."""


def upload_limit(max_bytes: int) -> dict[str, int]:
    """``openapi_extra`` of an upload operation whose whole body may reach ``max_bytes``."""
    return {UPLOAD_LIMIT: max_bytes}
