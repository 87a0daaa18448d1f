"""The HTTP edge: one blueprint per audience, registered on the app with one error format."""
from __future__ import annotations

from flask import Flask, send_from_directory

from blueprints import appeals, authority, checkpoint, citizen, console, feeds, metrics, ops, pages, travel, webhooks
from blueprints.errors import HealthCodeApi, register_error_handlers
from blueprints.headers import secure_headers
from core.wiring import Services

API_CONFIG = {
    "MAX_CONTENT_LENGTH": 1 << 20,
    "API_TITLE": "HealthCode",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/docs/assets/",
}


def register_blueprints(app: Flask, services: Services) -> None:
    """The API (with /openapi.json and /docs), operations, metrics, pages and the console."""
    for name, value in API_CONFIG.items():
        app.config.setdefault(name, value)
    api = HealthCodeApi(app, spec_kwargs={"info": {"description": "健康码 / 通信行程卡 backend. See API.md."}})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for blueprint in (citizen.blp, appeals.blp, travel.blp, checkpoint.blp, authority.blp, feeds.blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(webhooks.blp)
    app.register_blueprint(ops.blp)
    app.register_blueprint(metrics.blp)
    metrics.instrument(app)
    secure_headers(app)
    app.register_blueprint(pages.blp)
    console.install(app)
    pages.register_root(app)
    register_error_handlers(app, services)
    _register_docs_assets(app)


def _register_docs_assets(app: Flask) -> None:
    """Serve Swagger UI from the swagger-ui-bundle package, so /docs works offline."""
    from swagger_ui_bundle import swagger_ui_path

    @app.get("/docs/assets/<path:filename>")
    def docs_assets(filename: str):  # type: ignore[no-untyped-def]
        return send_from_directory(swagger_ui_path, filename)
