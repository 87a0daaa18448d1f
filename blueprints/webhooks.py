"""Platform callbacks (API.md: /webhooks/wechat, /webhooks/alipay): signatures first, then events.

The adapter checks the signature (and freshness, and replays) before anything is read; a bad,
missing or replayed one is `401 bad_signature` and changes nothing. A verified callback's
events are applied here: a revoked authorization unlinks that account.
"""
from __future__ import annotations

from flask import Blueprint, Response, request

from blueprints.auth import services
from core.errors import Msg, NotFound
from core.platforms import AccountRevoked, WebhookRequest

blp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@blp.route("/<string(maxlength=16):platform>", methods=["GET", "POST"])
def callback(platform: str) -> Response:
    """One platform's callback: URL verification (GET) or a pushed message (POST)."""
    if platform == "dev" or not services().sessions.enabled(platform):
        raise NotFound(Msg.NO_SUCH_WEBHOOK)
    adapter = services().sessions.platform(platform)
    reply = adapter.handle_webhook(WebhookRequest(
        method=request.method,
        args=request.args.to_dict(),
        headers={name: value for name, value in request.headers.items()},
        body=request.get_data(cache=False),
    ))
    for event in reply.events:
        if isinstance(event, AccountRevoked):
            services().persons.forget_account(event.account_id)
    return Response(reply.body, status=reply.status, content_type=reply.content_type)
