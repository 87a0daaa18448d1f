"""Mini-program API, the person's own say: declarations (自主申报) and appeals (申诉)."""
from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify
from flask.views import MethodView

from blueprints.auth import BEARER, UNAUTHORIZED, require, services
from blueprints.authority import appeal_body
from blueprints.authority_schemas import AppealListSchema, AppealRequestSchema, AppealSchema, DeclarationSchema
from blueprints.citizen import NOT_LINKED, NOT_VERIFIED, PERSON, health_code_body
from blueprints.errors import ApiBlueprint
from blueprints.messages import wants_english
from blueprints.schemas import HealthCodeSchema, error_doc
from core.appeals import Declaration

blp = ApiBlueprint("appeals", __name__, url_prefix="/api/v1", description="Mini-program: declarations, appeals")


@blp.route(PERSON + "/declarations", methods=["POST"])
@blp.doc(security=BEARER)
@require("citizen")
@blp.arguments(DeclarationSchema())
@blp.response(200, HealthCodeSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **NOT_VERIFIED)
@blp.alt_response(404, **NOT_LINKED)
def declare(data: dict[str, Any], person_id: str) -> Response:
    """Declare symptoms or a contact with a case; the new health code (yellow, as the policy says)."""
    declaration = Declaration(tuple(data["symptoms"]), data["contact_with_case"], data["note"])
    services().appeals.declare(g.session, person_id, declaration)
    lang = "en" if wants_english() else "zh"
    return jsonify(health_code_body(services().codes.show(g.session, person_id, lang), lang))


@blp.route(PERSON + "/appeals")
class PersonAppeals(MethodView):
    @blp.doc(security=BEARER)
    @require("citizen")
    @blp.arguments(AppealRequestSchema())
    @blp.response(201, AppealSchema)
    @blp.alt_response(401, **UNAUTHORIZED)
    @blp.alt_response(403, **NOT_VERIFIED)
    @blp.alt_response(404, **NOT_LINKED)
    @blp.alt_response(409, **error_doc("conflict: an appeal of this is open already"))
    def post(self, data: dict[str, Any], person_id: str) -> dict[str, Any]:
        """Appeal the colour, or one marker of it; an authority decides, with a reason."""
        appeal = services().appeals.appeal(g.session, person_id, data["reason"], data.get("marker_id"))
        return appeal_body(appeal)

    @blp.doc(security=BEARER)
    @require("citizen")
    @blp.response(200, AppealListSchema)
    @blp.alt_response(401, **UNAUTHORIZED)
    @blp.alt_response(403, **NOT_VERIFIED)
    @blp.alt_response(404, **NOT_LINKED)
    def get(self, person_id: str) -> dict[str, Any]:
        """The person's appeals and their decisions, newest first."""
        return {"appeals": [appeal_body(a) for a in services().appeals.appeals_of(g.session, person_id)]}
