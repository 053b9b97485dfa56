"""``/docs`` works on an intranet without internet: Swagger UI comes from this server (issue 15),
and the server's bare address leads to the pages."""

from __future__ import annotations

import re

from tests.api.conftest import Api


def test_the_api_docs_load_every_asset_from_this_server(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    assert "cdn" not in page.text and "https://" not in page.text.replace("https://fastapi.tiangolo.com", "")
    for asset in assets:
        fetched = api.client.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 100, asset
    script = api.client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert "javascript" in script.headers["content-type"]
    assert api.client.get("/openapi.json").status_code == 200


def test_redoc_is_not_offered_since_it_would_load_from_a_cdn(api: Api) -> None:
    assert api.client.get("/redoc").status_code == 404


def test_the_bare_address_leads_to_the_pages(api: Api) -> None:
    home = api.client.get("/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] == "/ui/"
