"""Feeds from labs and operators (API.md): HMAC-signed batches, each bad row reported by line."""
from __future__ import annotations

from typing import Any

from flask import request

from blueprints.auth import services
from blueprints.errors import ApiBlueprint
from blueprints.messages import localize
from blueprints.schemas import FeedResultSchema, error_doc
from core.feeds import BatchResult, FeedKind

blp = ApiBlueprint("feeds", __name__, url_prefix="/api/v1/feeds", description="Signed feeds of labs and operators")
MAX_BATCH_BYTES = 16 << 20  # a day's stays of a city arrive in batches; 16 MiB each at most
SIGNED = {"parameters": [{"in": "header", "name": name, "required": True, "schema": {"type": "string"}}
                         for name in ("X-Feed-Id", "X-Timestamp", "X-Signature")]}


@blp.before_request
def larger_bodies() -> None:
    request.max_content_length = MAX_BATCH_BYTES


def batch_body(result: BatchResult) -> dict[str, Any]:
    return {"accepted": result.accepted,
            "rejected": [{"line": r.line, "error": localize(r.error.message),
                          **({"fields": {k: [localize(m) for m in v] for k, v in r.error.fields.items()}}
                             if r.error.fields else {})}
                         for r in result.rejected]}


def signed_feed(kind: FeedKind):  # type: ignore[no-untyped-def]
    """The feed that signed this request's body (BadSignature before anything is parsed)."""
    return services().feeds.authenticate(request.headers.get("X-Feed-Id"), request.headers.get("X-Timestamp"),
                                         request.headers.get("X-Signature"), request.get_data(cache=True), kind)


@blp.route("/stays", methods=["POST"])
@blp.doc(**SIGNED, requestBody={"content": {"application/x-ndjson": {}, "application/json": {}}})
@blp.response(200, FeedResultSchema)
@blp.alt_response(401, **error_doc("bad_signature: missing, wrong, stale or replayed signature; nothing stored"))
def stays() -> dict[str, Any]:
    """An operator's stays, rows {phone, city_code, from, to}; kept only as long as the window."""
    feed = signed_feed(FeedKind.OPERATOR)
    return batch_body(services().travel.ingest(feed, request.get_data(cache=True)))


@blp.route("/lab-results", methods=["POST"])
@blp.doc(**SIGNED, requestBody={"content": {"application/x-ndjson": {}, "application/json": {}}})
@blp.response(200, FeedResultSchema)
@blp.alt_response(401, **error_doc("bad_signature: missing, wrong, stale or replayed signature; nothing stored"))
def lab_results() -> dict[str, Any]:
    """Lab results, rows {id_number, sampled_at, result: negative|positive, lab}."""
    feed = signed_feed(FeedKind.LAB)
    return batch_body(services().feeds.lab_results(feed, request.get_data(cache=True)))
