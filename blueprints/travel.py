"""Travel card API (通信行程卡, API.md): prove a phone by SMS or the platform, read the card."""
from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from blueprints.auth import bearer_token, services
from blueprints.errors import ApiBlueprint
from blueprints.messages import wants_english
from blueprints.schemas import (
    SmsRequestSchema,
    SmsSentSchema,
    TravelCardSchema,
    TravelSessionRequestSchema,
    TravelSessionSchema,
    error_doc,
    iso,
)
from core.errors import InvalidInput, Msg
from core.travel import TravelCard

blp = ApiBlueprint("travel", __name__, url_prefix="/api/v1/travel", description="Travel card (通信行程卡)")
RETIRED = error_doc("retired: the travel card was taken offline (2022-12-13), all trip data deleted")
EMPTY_TEXTS = {
    "no_data": ("暂无该号码的行程数据：新入网号码或数据尚未更新（约有1天延迟），请稍后再查",
                "No trip data for this number yet: a new number, or data not in yet (it lags about a day)"),
    "none_in_window": ("最近{days}天内没有停留{hours}小时以上的城市",
                       "No city with {hours} hours or more in the last {days} days"),
}


@blp.route("/sms", methods=["POST"])
@blp.arguments(SmsRequestSchema())
@blp.response(202, SmsSentSchema)
@blp.alt_response(410, **RETIRED)
@blp.alt_response(429, **error_doc("rate_limited: one code per 60 s, 5 an hour and 10 a day per phone"))
def send_sms(data: dict[str, Any]) -> dict[str, Any]:
    """Send a 6-digit code to the phone (valid 5 minutes, 5 tries)."""
    services().travel.send_code(data["phone"])
    return {"sent": True, "expires_in": 300, "resend_after": 60}


@blp.route("/sessions", methods=["POST"])
@blp.arguments(TravelSessionRequestSchema())
@blp.response(201, TravelSessionSchema)
@blp.alt_response(410, **RETIRED)
@blp.alt_response(422, **error_doc("validation_error: wrong, expired or used-up code"))
def start_session(data: dict[str, Any]) -> dict[str, Any]:
    """A travel token for a proven phone: phone + sms_code, or a platform's phone authorization
    (platform + phone_code, with the mini-program's bearer token)."""
    travel = services().travel
    if "sms_code" in data:
        session = travel.session_by_code(data["phone"], data["sms_code"])
    else:
        g.session = services().sessions.authenticate(bearer_token())
        if data["platform"] != g.session.platform:
            raise InvalidInput(Msg.PHONE_PROOF_INVALID, {"platform": [Msg.PHONE_PROOF_INVALID]})
        platform = services().sessions.platform(data["platform"])
        session = travel.session_by_platform(platform, g.session.account_id, data["phone_code"])
    return {"token": session.token, "expires_in": session.expires_in}


@blp.route("/card", methods=["GET"])
@blp.response(200, TravelCardSchema)
@blp.alt_response(401, **error_doc("unauthorized: prove the phone first (travel token)"))
@blp.alt_response(410, **RETIRED)
def card() -> Response:
    """The card: the cities where the phone stayed 4 h or more in the window, newest first."""
    # A hot read: the body is plain JSON types already (TravelCardSchema documents it), so it is
    # returned as it is, not dumped through the schema again.
    lang = "en" if wants_english() else "zh"
    found = services().travel.card(request.headers.get("Authorization", "").partition(" ")[2].strip() or None, lang)
    return jsonify(card_body(found, lang))


def card_body(found: TravelCard, lang: str) -> dict[str, Any]:
    """The card's answer (blueprints/hot.py sends the same)."""
    cities = [{"code": c.code, "name": c.name, "starred": c.starred, "last_seen": iso(c.last_seen),
               "overseas": c.overseas} for c in found.cities]
    note = found.note
    if found.empty_reason is not None:
        why = EMPTY_TEXTS[found.empty_reason][lang == "en"].format(days=found.window_days, hours=found.min_hours)
        note = why + ("。" if lang == "zh" else ". ") + note
    return {"phone_masked": found.phone_masked, "color": found.color, "reason": found.reason,
            "window_days": found.window_days, "updated_at": iso(found.updated_at), "cities": cities,
            "note": note, "empty_reason": found.empty_reason, "policy_version": found.policy_version}
