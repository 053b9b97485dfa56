"""The API's interactive documentation (``/docs``, Swagger UI) served from this package.

FastAPI's own page loads Swagger UI from a CDN, so on a government intranet without internet it
is blank. The files of ``swagger-ui-dist`` (see ``api/static/swagger-ui/VERSION``) are vendored
here and served under ``/static/swagger-ui``; no page of onevisit loads anything from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).with_name("static") / "swagger-ui"
PREFIX = "/static/swagger-ui"


def install(app: FastAPI) -> None:
    """``/docs`` (and its OAuth2 redirect) on the vendored assets, and ``/`` sending people to the pages.

    The app must be made with ``docs_url=None`` and ``redoc_url=None`` (ReDoc loads from a CDN too,
    and there is no vendored copy: one reference page is enough)."""
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="swagger-ui")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} — API",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js", swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon-32x32.png", oauth2_redirect_url="/docs/oauth2-redirect",
        )
        # Swagger UI speaks English: say so (screen readers pick the voice by it)
        return HTMLResponse(bytes(page.body).replace(b"<html>", b'<html lang="en">', 1))

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        """People who open the server's address land on the pages (the login page when signed out)."""
        return RedirectResponse("/ui/", status_code=307)
