"""Mini-program API: login, persons (申领 / 代领), the health code (亮码) and its history."""
from __future__ import annotations

import base64
import time
from typing import Any

from flask import Response, current_app, g, jsonify
from flask.views import MethodView

from blueprints.auth import BEARER, UNAUTHORIZED, bearer_token, require, services
from blueprints.errors import ApiBlueprint
from blueprints.messages import wants_english
from blueprints.schemas import (
    ApplicationSchema,
    HealthCodeQuerySchema,
    HealthCodeSchema,
    HistorySchema,
    IdentityCheckSchema,
    LangQuerySchema,
    LoginResultSchema,
    LoginSchema,
    NoticeSchema,
    PersonListSchema,
    PersonViewSchema,
    PhoneUpdateSchema,
    StatusSchema,
    VerificationSchema,
    day,
    error_doc,
    iso,
)
from core.directory import PersonView
from core.errors import Msg, NotFound
from core.health_codes import HealthCodeView
from core.model import CachedAnswer
from core.persons import Application
from core.wiring import Contact

blp = ApiBlueprint("citizen", __name__, url_prefix="/api/v1", description="Mini-program: login, persons, health code")
PERSON = "/persons/<string(length=24):person_id>"
NOT_LINKED = error_doc("not_found: no such person on this account")
NOT_VERIFIED = error_doc("verification_required: the face check has not passed on this link")


@blp.route("/sessions", methods=["POST"])
@blp.arguments(LoginSchema())
@blp.response(201, LoginResultSchema)
def login(data: dict[str, Any]) -> dict[str, Any]:
    """Log in with a platform's login code; returns a bearer token."""
    result = services().sessions.login(data["platform"], data["code"], data.get("app_id"))
    persons = services().persons.list(result.session)
    return {
        "token": result.token,
        "expires_in": result.expires_in,
        "account": {"platform": result.identity.platform, "persons": persons},
    }


@blp.route("/sessions/current", methods=["DELETE"])
@blp.doc(security=BEARER)
@require("citizen")
@blp.response(204)
@blp.alt_response(401, **UNAUTHORIZED)
def logout() -> None:
    """Log out: the token stops working at once, on every server."""
    services().sessions.logout(bearer_token() or "")


@blp.route("/persons")
class Persons(MethodView):
    @blp.doc(security=BEARER)
    @require("citizen")
    @blp.response(200, PersonListSchema)
    @blp.alt_response(401, **UNAUTHORIZED)
    def get(self) -> dict[str, Any]:
        """The persons on this account: self and family."""
        return {"persons": services().persons.list(g.session)}

    @blp.doc(security=BEARER)
    @require("citizen")
    @blp.arguments(ApplicationSchema())
    @blp.response(201, PersonViewSchema)
    @blp.alt_response(401, **UNAUTHORIZED)
    @blp.alt_response(409, **error_doc(
        "conflict: the account already has a self, the ID number is another account's self, "
        "the person is already on the account, or the family limit is reached"))
    def post(self, data: dict[str, Any]) -> PersonView:
        """Apply for a health code, for self or a family member."""
        platform = services().sessions.platform(g.session.platform) if "phone_proof" in data else None
        return services().persons.apply(g.session, Application(**{"phone": "", **data}), platform)


@blp.route(PERSON)
class Person(MethodView):
    @blp.doc(security=BEARER)
    @require("citizen")
    @blp.arguments(PhoneUpdateSchema())
    @blp.response(200, PersonViewSchema)
    @blp.alt_response(401, **UNAUTHORIZED)
    @blp.alt_response(403, **error_doc("forbidden: only the person's own account can change their phone"))
    @blp.alt_response(404, **NOT_LINKED)
    def patch(self, data: dict[str, Any], person_id: str) -> PersonView:
        """Change the phone number."""
        return services().persons.update_phone(g.session, person_id, data["phone"])

    @blp.doc(security=BEARER)
    @require("citizen")
    @blp.response(204)
    @blp.alt_response(401, **UNAUTHORIZED)
    @blp.alt_response(404, **NOT_LINKED)
    def delete(self, person_id: str) -> None:
        """Unlink a person; for the face-checked `self` (the owner) this also erases the person's own data."""
        services().persons.unlink(g.session, person_id)


@blp.route(PERSON + "/verification", methods=["POST"])
@blp.doc(security=BEARER)
@require("citizen")
@blp.arguments(VerificationSchema())
@blp.response(200, PersonViewSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **error_doc("forbidden: the identity (face) check failed"))
@blp.alt_response(404, **NOT_LINKED)
@blp.alt_response(409, **error_doc("conflict: the ID number is another account's self"))
def verify(data: dict[str, Any], person_id: str) -> PersonView:
    """Identity check (face verification) through the account's platform."""
    platform = services().sessions.platform(g.session.platform)
    return services().persons.verify(g.session, person_id, platform, data["ticket"])


@blp.route(PERSON + "/verification/start", methods=["POST"])
@blp.doc(security=BEARER)
@require("citizen")
@blp.response(201, IdentityCheckSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(404, **NOT_LINKED)
@blp.alt_response(503, **error_doc("platform_unavailable: the platform did not answer; try again"))
def start_verification(person_id: str) -> dict[str, Any]:
    """Prepare the platform's face check of this person; the mini-program runs it with the ticket."""
    platform = services().sessions.platform(g.session.platform)
    check = services().persons.begin_verification(g.session, person_id, platform)
    return {"ticket": check.ticket, "expires_in": check.expires_in, "url": check.url}


def health_code_body(view: HealthCodeView, lang: str, contact: Contact | None = None) -> dict[str, Any]:
    ev = view.evaluation
    body = {
        "color": ev.color.value,
        "meaning": view.meaning,
        "reasons": [
            {"code": r.code, "text": r.rule.text.get(lang), "until": iso(r.until), "until_day": day(r.until),
             "how_to_clear": r.rule.how_to_clear.get(lang), "note": r.note}
            for r in ev.reasons
        ],
        "qr": view.qr,
        "issued_at": iso(view.issued_at),
        "expires_at": iso(view.expires_at),
        "person": view.person._asdict(),
        "policy_version": ev.policy_version,
    }
    if ev.reasons:  # yellow or red: what to do now
        contact = contact or services().contact
        body["help"] = {"hotline": contact.hotline, "office": contact.office}
    return body


@blp.route(PERSON + "/health-code", methods=["GET"])
@blp.doc(security=BEARER)
@require("bearer")
@blp.arguments(HealthCodeQuerySchema(), location="query")
@blp.response(200, HealthCodeSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **NOT_VERIFIED)
@blp.alt_response(404, **NOT_LINKED)
def health_code(query: dict[str, Any], person_id: str) -> Response:
    """Show the health code: colour, why, how to clear, and a fresh signed QR text."""
    # The hottest read: the session is checked in the same Redis round trip as the data,
    # and the body is already plain JSON types (HealthCodeSchema documents it). An answer
    # still exact comes back as it was sent (core/code_cache.py), with its Age.
    lang, image = query["lang"], query.get("image") or ""
    codes = services().codes
    shown = codes.show_for_token(bearer_token(), person_id, lang, image)
    if isinstance(shown, CachedAnswer):
        return code_answer(current_app.response_class(shown.body, mimetype="application/json"), shown.issued_at)
    body = health_code_body(shown, lang)
    if image == "svg":
        svg = services().qr.svg(shown.qr, shown.evaluation.color.value)
        body["qr_image"] = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    response = jsonify(body)
    codes.remember(shown, response.get_data())
    return code_answer(response, shown.issued_at)


def code_answer(response: Response, issued_at: int) -> Response:
    """A code's answer says how old it is (RFC 9111 Age): a page times the code's refresh from
    the seconds it has left, not from its whole lifetime."""
    response.headers["Age"] = str(max(0, int(time.time()) - issued_at))
    return response


@blp.route(PERSON + "/health-code.<any(png, svg):fmt>", methods=["GET"])
@blp.doc(security=BEARER, responses={200: {"description": "QR image of a fresh code",
                                            "content": {"image/png": {}, "image/svg+xml": {}}}})
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **NOT_VERIFIED)
@blp.alt_response(404, **NOT_LINKED)
@require("bearer")
def health_code_image(person_id: str, fmt: str) -> Response:
    """The QR image (PNG or SVG) of a freshly issued code."""
    view = services().codes.show_for_token(bearer_token(), person_id)  # no variant: never reused
    assert isinstance(view, HealthCodeView)
    qr, color = services().qr, view.evaluation.color.value
    if fmt == "png":
        body, mimetype = qr.png(view.qr, color), "image/png"
    else:
        body, mimetype = qr.svg(view.qr, color), "image/svg+xml"
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Code-Expires-At"] = iso(view.expires_at)
    return response


@blp.route(PERSON + "/health-code/status", methods=["GET"])
@blp.doc(security=BEARER)
@require("bearer")
@blp.response(200, StatusSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **NOT_VERIFIED)
@blp.alt_response(404, **NOT_LINKED)
def health_code_status(person_id: str) -> Response:
    """The colour now, without a new code: an open code page asks every few seconds, so that a
    change shows within seconds rather than at the next refresh."""
    evaluation = services().codes.status_for_token(bearer_token(), person_id)
    return jsonify({"color": evaluation.color.value, "policy_version": evaluation.policy_version})


@blp.route("/notice", methods=["GET"])
@blp.arguments(LangQuerySchema(), location="query")
@blp.response(200, NoticeSchema)
def notice(query: dict[str, Any]) -> dict[str, Any]:
    """The notice (申领须知) to read and agree to before applying; its version goes with the application."""
    current = services().notice
    if current is None:
        raise NotFound(Msg.NOT_FOUND)
    lang = query["lang"]
    return {"version": current.version, "title": current.title.get(lang),
            "items": [item.get(lang) for item in current.items]}


@blp.route(PERSON + "/history", methods=["GET"])
@blp.doc(security=BEARER)
@require("citizen")
@blp.response(200, HistorySchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **NOT_VERIFIED)
@blp.alt_response(404, **NOT_LINKED)
def history(person_id: str) -> dict[str, Any]:
    """Colour changes and scans within the retention period, newest first."""
    codes = services().codes
    found, lang = codes.history(g.session, person_id), "en" if wants_english() else "zh"
    return {
        "retention_days": found.retention_days,
        "changes": [
            {"at": iso(c.at), "from_": c.from_color, "to": c.to_color, "reason_codes": list(c.reason_codes),
             "reasons": [codes.reason_text(code, lang) for code in c.reason_codes]}
            for c in found.changes
        ],
        "scans": [{"at": iso(s.at), "place": s.place, "result": s.result} for s in found.scans],
    }
