"""The API's interactive documentation at /docs: Swagger UI served from this server
(static/vendor/swagger-ui) instead of FastAPI's default page, which loads it from a CDN and starts it
with an inline script. Served from here it works on an office network without internet access, and
its page runs under the same Content-Security-Policy as every other page (app.web.headers). ReDoc,
FastAPI's second page, is CDN-only and is not offered."""
from __future__ import annotations

from html import escape

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

DOCS_PATH = "/docs"
VENDOR = "/static/vendor/swagger-ui"
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} API</title>
<link rel="stylesheet" href="{vendor}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{vendor}/swagger-ui-bundle.js"></script>
<script src="/static/js/api-docs.js"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Expects an app made with docs_url=None and redoc_url=None (FastAPI's own pages off)."""
    page = PAGE.format(title=escape(app.title), vendor=VENDOR, openapi=escape(app.openapi_url or "/openapi.json"))

    @app.get(DOCS_PATH, include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return HTMLResponse(page)
