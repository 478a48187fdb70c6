"""/docs without the internet: Swagger UI's files are served by the app itself.

FastAPI's default page loads Swagger UI from a CDN and starts it with an inline script; here the
assets come from the `swagger-ui-bundle` package (mounted at /docs/assets) and the start-up code is
a small script of our own (/docs/init.js), so the page works offline and under a
Content-Security-Policy without 'unsafe-inline' scripts (intmax_api.security_headers).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"

_INIT_SCRIPT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "%(openapi_url)s",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
  });
});
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>%(title)s - API docs</title>
  <link rel="stylesheet" href="%(assets)s/swagger-ui.css">
  <link rel="icon" type="image/png" href="%(assets)s/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="%(assets)s/swagger-ui-bundle.js"></script>
  <script src="%(assets)s/swagger-ui-standalone-preset.js"></script>
  <script src="%(docs)s/init.js"></script>
</body>
</html>
"""


def install_offline_docs(app: FastAPI) -> None:
    """Serve /docs from local files; the app must be created with docs_url=None and redoc_url=None."""
    openapi_url = app.openapi_url or "/openapi.json"
    page = _PAGE % {"title": app.title, "assets": ASSETS_PATH, "docs": DOCS_PATH}
    init_script = _INIT_SCRIPT % {"openapi_url": openapi_url}
    app.mount(ASSETS_PATH, StaticFiles(directory=swagger_ui_path), name="swagger-ui-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(f"{DOCS_PATH}/init.js", include_in_schema=False)
    async def docs_init() -> Response:
        return Response(init_script, media_type="application/javascript")
