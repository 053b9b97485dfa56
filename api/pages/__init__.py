"""Server-rendered web pages under ``/ui`` (Jinja2, autoescaped, phone-friendly, Chinese first).

Like the JSON routes, pages are thin adapters over the engine: they read through
:mod:`engine.records.queries` and act through the engine's service functions. They are left out of the
OpenAPI schema (they are HTML, not API); ``tests/api/test_pages.py`` holds their role matrix.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.pages import (
    auth,
    cases,
    explanations,
    followups,
    inbox,
    intake,
    licence_qr,
    materials,
    missing,
    steps,
    supervision,
    track,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
for _module in (auth, intake, cases, inbox, steps, materials, supervision, explanations, followups, track, licence_qr,
                missing):  # missing: the catch-all, last
    router.include_router(_module.router)

__all__ = ["router"]
