"""Any other /ui address: the friendly 404 page (included last, after every real page)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.pages.common import PageRoute, error_page

router = APIRouter(route_class=PageRoute)


@router.get("/{rest:path}")
def not_found(request: Request, rest: str) -> Response:
    return error_page(request, 404, "未找到该页面", "No such page.")
