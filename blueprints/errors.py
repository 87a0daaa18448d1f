"""One JSON error format for everything under /api, /webhooks and /.well-known (API.md, DESIGN §8)."""
from __future__ import annotations

import json
import logging

import redis
from flask import Flask, current_app, jsonify, request
from flask_smorest import Api, Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from adapters.store.durability import NonDurableStore
from blueprints.messages import localize, localize_fields
from blueprints.metrics import STORE_UNAVAILABLE
from blueprints.pages import error_page
from blueprints.schemas import ErrorSchema
from core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unauthorized, VerificationRequired

log = logging.getLogger("healthcode")

STATUS = {InvalidInput: 422, Unauthorized: 401, Forbidden: 403, VerificationRequired: 403, NotFound: 404, Conflict: 409}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "store_unavailable",
}
STORE_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, redis.ReadOnlyError,
                NonDurableStore)


def error_response(status: int, code: str, message: str, fields: dict | None = None, headers=None):
    body: dict = {"code": code, "message": localize(message, code)}
    if fields:
        body["fields"] = localize_fields(fields)
    response = jsonify({"error": body})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _flatten(messages: dict) -> dict[str, list[str]]:
    """webargs groups messages by location ({"json": {...}}); clients want fields."""
    fields: dict[str, list[str]] = {}
    for location, errors in messages.items():
        if not isinstance(errors, dict):
            fields[location] = errors if isinstance(errors, list) else [str(errors)]
            continue
        for field, problems in errors.items():
            if isinstance(problems, dict):  # nested schema or list index
                problems = [f"{k}: {v}" for k, v in problems.items()]
            fields[str(field)] = [str(p) for p in problems] if isinstance(problems, list) else [str(problems)]
    return fields


class HealthCodeApi(Api):
    """flask-smorest's Api with our error body instead of its own."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        if not _is_api_path():
            if request.path.startswith("/m/") and error.code:
                body, status = error_page(error.code)
                response = current_app.make_response((body, status))
                for name, value in error.get_headers():
                    if name != "Content-Type":
                        response.headers[name] = value  # e.g. Allow on a 405
                return response
            return error
        data = getattr(error, "data", None) or {}
        status = error.code or 500
        if status == 422 and "messages" in data:
            return error_response(422, "validation_error", "the request is not valid", _flatten(data["messages"]))
        if status == 400 and "messages" in data:  # webargs: the body is not valid JSON
            fields = _flatten(data["messages"])
            message = next((m for messages in fields.values() for m in messages), error.description or error.name)
            return error_response(400, "bad_request", message, fields)
        code = HTTP_CODES.get(status, "error" if status < 500 else "internal_error")
        message = data.get("message") or error.description or error.name
        return error_response(status, code, message, headers=data.get("headers"))


class JsonBodyParser(FlaskParser):
    """webargs' parser, with every unparseable JSON body a 400, not only syntax errors.

    The stdlib decoder raises RecursionError on deep nesting and ValueError on integers of more
    than 4,300 digits; webargs catches neither, so such a body was a 500 and a logged traceback.
    """

    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise
        except (RecursionError, ValueError) as exc:
            return self._handle_invalid_json_error(json.JSONDecodeError(type(exc).__name__, "", 0), req)


class ApiBlueprint(Blueprint):
    """flask-smorest's Blueprint, parsing request bodies with JsonBodyParser."""

    ARGUMENTS_PARSER = JsonBodyParser()


def _is_api_path() -> bool:
    return request.path.startswith(("/api/", "/webhooks/", "/.well-known/"))


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        return error_response(STATUS.get(type(exc), 400), exc.code, exc.message, exc.fields)

    def store_unavailable(exc: Exception):
        log.warning("store unavailable: %s", type(exc).__name__)
        STORE_UNAVAILABLE.inc()
        embedded = current_app.extensions["healthcode"].embedded
        if embedded is not None:
            embedded.ensure_running()
        if not _is_api_path() and request.path != "/readyz":
            return "服务暂时不可用，请稍后再试 / Service temporarily unavailable", 503
        return error_response(503, "store_unavailable", "the data store is unavailable; try again shortly",
                              headers={"Retry-After": "5"})

    for store_error in STORE_ERRORS:
        app.register_error_handler(store_error, store_unavailable)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return exc
        # Type and traceback only: request bodies (personal data) are never logged.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url_rule, exc_info=exc)
        if _is_api_path():
            return error_response(500, "internal_error", "an unexpected error occurred")
        return "服务器内部错误 / Internal error", 500
