"""Marshmallow schemas of the authority, appeal and feed parts of the contract (API.md)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from blueprints.schemas import FreeText, Strict, choices
from core.errors import Msg
from core.model import AppealStatus, MarkerStatus
from core.risk import RiskLevel


class MarkerRequestSchema(Strict):
    id_number = fields.String(validate=validate.Length(max=32))
    person_id = fields.String(validate=validate.Regexp(r"^[0-9a-f]{24}$"))
    kind = fields.String(required=True, validate=validate.Length(1, 64))
    reason = FreeText(required=True, validate=validate.Length(1, 500))
    public_note = FreeText(validate=validate.Length(1, 200), metadata={
        "description": "what the person is told on their code (the reason stays the authority's)"})
    since = fields.AwareDateTime(metadata={"description": "ISO 8601 with offset; default now"})
    until = fields.AwareDateTime(metadata={
        "description": "ISO 8601 with offset; only for kinds whose policy rule has until_allowed, "
                       "otherwise 422 (the policy decides when the kind ends)"})

    @ma.validates_schema
    def one_person(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("id_number" in data) == ("person_id" in data):
            raise ma.ValidationError(Msg.ONE_PERSON_REFERENCE, "id_number")


class MarkerRemovalSchema(Strict):
    reason = FreeText(required=True, validate=validate.Length(1, 500))


class MarkerSchema(Strict):
    id = fields.String(required=True)
    person_id = fields.String(required=True)
    kind = fields.String(required=True)
    reason = fields.String(required=True)
    since = fields.String(required=True)
    until = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(choices(MarkerStatus)))
    removed_at = fields.String(allow_none=True, metadata={"description": "when it was removed; null while active"})
    lapses_at = fields.String(allow_none=True, metadata={
        "description": "a pending (manual red) marker: when it lapses unless another credential approves it"})
    approved_by = fields.String(allow_none=True)
    public_note = fields.String(allow_none=True)
    created_by = fields.String(required=True, metadata={
        "description": "the credential (or console user, console:<username>) that made it"})
    created_at = fields.String(required=True)
    color_before = fields.String(required=True)
    color_after = fields.String(required=True)


class MarkerApprovalSchema(Strict):
    """Nothing to say: the approving credential is the bearer."""


class BulkMarkersSchema(Strict):
    kind = fields.String(required=True, validate=validate.Length(1, 64))
    reason = FreeText(required=True, validate=validate.Length(1, 500))
    public_note = FreeText(validate=validate.Length(1, 200))
    id_numbers = fields.List(fields.String(validate=validate.Length(max=32)), required=True,
                             validate=validate.Length(1, 1000), metadata={"description": "at most 1,000 per request"})


class BulkRowSchema(Strict):
    line = fields.Integer(required=True, metadata={"description": "1-based, in id_numbers"})
    status = fields.String(required=True, metadata={"description": "the marker's status, or refused"})
    marker_id = fields.String()
    error = fields.Dict()


class BulkResultSchema(Strict):
    accepted = fields.Integer(required=True)
    rows = fields.List(fields.Nested(BulkRowSchema), required=True)


class PendingListSchema(Strict):
    markers = fields.List(fields.Nested(MarkerSchema), required=True)


class RiskAreaRequestSchema(Strict):
    level = fields.String(required=True, validate=validate.OneOf(choices(RiskLevel)))
    note = FreeText(load_default="", validate=validate.Length(max=200))


class RiskAreaSchema(Strict):
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String(required=True, validate=validate.OneOf(choices(RiskLevel)))
    note = fields.String(required=True)
    at = fields.String(required=True)
    by = fields.String(required=True)


class RiskAreaListSchema(Strict):
    areas = fields.List(fields.Nested(RiskAreaSchema), required=True)


class AppealRequestSchema(Strict):
    reason = FreeText(required=True, validate=validate.Length(1, 500))
    marker_id = fields.String(validate=validate.Length(1, 64),
                              metadata={"description": "the marker contested; default: the colour as a whole"})


class AppealSchema(Strict):
    id = fields.String(required=True)
    person_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(choices(AppealStatus)))
    reason = fields.String(required=True)
    marker_id = fields.String(allow_none=True)
    created_at = fields.String(required=True)
    decided_at = fields.String(allow_none=True)
    decision_reason = fields.String(allow_none=True)


class AppealListSchema(Strict):
    appeals = fields.List(fields.Nested(AppealSchema), required=True)


class AppealQuerySchema(Strict):
    status = fields.String(load_default="open", validate=validate.OneOf(["open"]))


class DecisionSchema(Strict):
    decision = fields.String(required=True, validate=validate.OneOf(["upheld", "rejected"]))
    reason = FreeText(required=True, validate=validate.Length(1, 500))


class DeclarationSchema(Strict):
    symptoms = fields.List(FreeText(validate=validate.Length(1, 32)), load_default=list,
                           validate=validate.Length(max=10), metadata={"example": ["发热", "咳嗽"]})
    contact_with_case = fields.Boolean(load_default=False)
    note = FreeText(load_default="", validate=validate.Length(max=200))


class AuditQuerySchema(Strict):
    since = fields.Integer(load_default=0, validate=validate.Range(min=0),
                           metadata={"description": "entries after this sequence number"})
    limit = fields.Integer(load_default=200, validate=validate.Range(1, 1000))


class AuditEntrySchema(Strict):
    seq = fields.Integer(required=True)
    at = fields.String(required=True)
    actor = fields.String(required=True)
    role = fields.String(required=True)
    action = fields.String(required=True)
    target = fields.String(required=True)
    reason = fields.String(required=True)
    before = fields.String(allow_none=True)
    after = fields.String(allow_none=True)
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True)


class AuditListSchema(Strict):
    entries = fields.List(fields.Nested(AuditEntrySchema), required=True)


class AuditVerificationSchema(Strict):
    ok = fields.Boolean(required=True)
    entries = fields.Integer(required=True)
    broken_at = fields.Integer(allow_none=True, metadata={"description": "the first entry that does not fit"})
    problem = fields.String(allow_none=True)



class WaitingSchema(Strict):
    count = fields.Integer(required=True)
    oldest_seconds = fields.Integer(allow_none=True)
    ages = fields.List(fields.Integer(), required=True)


class DashboardSchema(Strict):
    colors = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    reasons_by_day = fields.Dict(keys=fields.String(), values=fields.Dict(), required=True)
    scans_by_hour = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    open_appeals = fields.Nested(WaitingSchema, required=True)
    pending_approvals = fields.Nested(WaitingSchema, required=True)
