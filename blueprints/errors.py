"""One JSON error format for everything under /api, /webhooks and /.well-known (API.md, DESIGN §8)."""
from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from flask_limiter import RateLimitExceeded
from flask_smorest import Api, Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from blueprints.limits import note_oracle_answer, retry_after_for
from blueprints.messages import for_status, localize, localize_fields
from blueprints.metrics import STORE_UNAVAILABLE
from blueprints.pages import error_page
from blueprints.schemas import ErrorSchema
from core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    LimitReached,
    Msg,
    NotFound,
    PlatformUnavailable,
    Retired,
    Unauthorized,
)
from core.wiring import Services

log = logging.getLogger("healthcode")

# By class: a subclass (VerificationRequired is a Forbidden) answers as its nearest listed base.
STATUS: dict[type[DomainError], int] = {
    InvalidInput: 422,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PlatformUnavailable: 503,
    Retired: 410,
    LimitReached: 429,  # the scan view answers it itself, with Retry-After (ScanLimit)
}
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
RETRY_AFTER = {"Retry-After": "5"}


def status_of(exc: DomainError) -> int:
    """The status of the nearest class in the error's hierarchy that has one; 400 if none."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_response(status: int, code: str, message: str, fields: dict[str, list[str]] | None = None,
                   headers: Any = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": localize(message)}
    if fields:
        body["fields"] = localize_fields(fields)
    response = jsonify({"error": body})
    response.status_code = status
    for name, value in dict(headers or {}).items():
        response.headers[name] = value
    return response


def _flatten(messages: dict[str, Any]) -> dict[str, list[str]]:
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


def api_http_error(error: HTTPException) -> Response:
    """An HTTP error under /api, /webhooks or /.well-known, in the JSON error format."""
    data = getattr(error, "data", None) or {}
    status = error.code or 500
    if status == 422 and "messages" in data:
        return error_response(422, "validation_error", Msg.REQUEST_INVALID, _flatten(data["messages"]))
    if status == 400 and "messages" in data:  # webargs: the body is not valid JSON
        fields = _flatten(data["messages"])
        message = next((m for messages in fields.values() for m in messages), Msg.BAD_REQUEST)
        return error_response(400, "bad_request", message, fields)
    code = HTTP_CODES.get(status, "error" if status < 500 else "internal_error")
    headers = dict(data.get("headers") or {})
    if status == 405:
        headers.update((name, value) for name, value in error.get_headers() if name == "Allow")
    if isinstance(error, RateLimitExceeded):
        headers["Retry-After"] = str(retry_after_for(error))
    return error_response(status, code, data.get("message") or for_status(status), headers=headers)


def page_http_error(error: HTTPException) -> Response | HTTPException:
    """An HTTP error outside the API as a Chinese page of the H5 shell."""
    if not error.code or error.code < 400:
        return error
    body, status = error_page(error.code)
    response = current_app.make_response((body, status))
    for name, value in error.get_headers():
        if name != "Content-Type":
            response.headers[name] = value  # e.g. Allow on a 405
    if isinstance(error, RateLimitExceeded):
        response.headers["Retry-After"] = str(retry_after_for(error))
    return response


class HealthCodeApi(Api):  # type: ignore[misc]
    """flask-smorest's Api with our error body instead of its own."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Response | HTTPException:
        return api_http_error(error) if is_api_path() else page_http_error(error)


class JsonBodyParser(FlaskParser):
    """webargs' parser, with every unparseable JSON body a 400, not only syntax errors.

    The stdlib decoder raises RecursionError on deep nesting and ValueError on integers of more
    than 4,300 digits; webargs catches neither, so such a body was a 500 and a logged traceback.
    """

    def _raw_load_json(self, req: Any) -> Any:
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise
        except (RecursionError, ValueError) as exc:
            return self._handle_invalid_json_error(json.JSONDecodeError(type(exc).__name__, "", 0), req)


class ApiBlueprint(Blueprint):  # type: ignore[misc]
    """flask-smorest's Blueprint, parsing request bodies with JsonBodyParser."""

    ARGUMENTS_PARSER = JsonBodyParser()


def is_api_path() -> bool:
    return request.path.startswith(("/api/", "/webhooks/", "/.well-known/"))


def register_error_handlers(app: Flask, services: Services) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> Response:
        note_oracle_answer(exc.message)
        headers = RETRY_AFTER if isinstance(exc, PlatformUnavailable) else None
        return error_response(status_of(exc), exc.code, exc.message, exc.fields, headers=headers)

    def store_unavailable(exc: Exception) -> Response | tuple[str, int]:
        log.warning("store unavailable: %s", type(exc).__name__)
        STORE_UNAVAILABLE.inc()
        services.store.recover()
        if not is_api_path() and request.path != "/readyz":
            return "服务暂时不可用，请稍后再试 / Service temporarily unavailable", 503
        return error_response(503, "store_unavailable", Msg.STORE_UNAVAILABLE, headers=RETRY_AFTER)

    for store_error in services.store.errors:
        app.register_error_handler(store_error, store_unavailable)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response | HTTPException | tuple[str, int]:
        if isinstance(exc, HTTPException):
            return exc
        # Type and traceback only: request bodies (personal data) are never logged.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url_rule, exc_info=exc)
        if is_api_path():
            return error_response(500, "internal_error", Msg.INTERNAL)
        return "服务器内部错误 / Internal error", 500
