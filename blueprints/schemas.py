"""Marshmallow schemas of the HTTP contract (API.md): they validate requests and describe responses.

Unknown fields are rejected (marshmallow's default RAISE), which API.md requires.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from enum import StrEnum
from functools import lru_cache
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from core.errors import Msg
from core.model import Color, IdDocument, Relation, ScanFailure

CN_TZ = dt.timezone(dt.timedelta(hours=8))


def iso(ts: int | None) -> str | None:
    """Stored UTC epoch seconds, shown in Asia/Shanghai (DESIGN §9)."""
    return None if ts is None else _iso(ts)


@lru_cache(maxsize=4096)  # every code read formats this second and its expiry: the same few values
def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, CN_TZ).isoformat()


@lru_cache(maxsize=4096)
def day(until: int | None) -> str | None:
    """The last day a span ending at `until` covers, in Asia/Shanghai: a span ending at midnight
    ended the day before (14 days from the 1st, 08:00, run to the 15th, 08:00: through the 15th)."""
    if until is None:
        return None
    return (dt.datetime.fromtimestamp(until, CN_TZ) - dt.timedelta(microseconds=1)).date().isoformat()


def choices(values: type[StrEnum]) -> list[str]:
    """The values of a core enum, for OneOf: the schemas never repeat them."""
    return [value.value for value in values]


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE
        ordered = True


class FlatLoader:
    """schema.load for a flat schema (no nesting, hooks, data keys or defaults), on a dict it
    plainly takes: each value through its own field (marshmallow's Field.deserialize, its
    validators included), without the Schema's machinery around them (error stores, hooks,
    unknown-field passes: ~250 bytecodes of a ~600-bytecode load). Anything else (a key it does
    not know, a required one missing, a value a field refuses, a schema it cannot take) goes to
    schema.load, so every error is marshmallow's own, as it was."""

    def __init__(self, schema: ma.Schema) -> None:
        self._schema = schema
        fields_ = schema.fields
        plain = (not schema._hooks or not any(schema._hooks.values())) and all(
            f.data_key is None and f.attribute is None and f.load_default is ma.missing
            and not isinstance(f, fields.Nested | fields.List | fields.Dict | fields.Pluck) for f in fields_.values())
        self._fields = dict(fields_) if plain and schema.unknown == ma.RAISE else None
        self._required = frozenset(name for name, f in fields_.items() if f.required)

    def load(self, data: Any) -> dict[str, Any]:
        known = self._fields
        if (known is None or data.__class__ is not dict or not self._required <= data.keys()
                or not data.keys() <= known.keys()):
            return self._schema.load(data)
        try:
            return {name: known[name].deserialize(value) for name, value in data.items()}
        except ma.ValidationError:
            return self._schema.load(data)  # raises it as the schema says it


class ErrorDetailSchema(Strict):
    code = fields.String(required=True, metadata={"example": "validation_error"})
    message = fields.String(required=True)
    fields_ = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), data_key="fields",
                          metadata={"description": "per-field messages, for validation errors only"})


class ErrorSchema(Strict):
    """The one error body under /api and /webhooks (API.md)."""

    error = fields.Nested(ErrorDetailSchema, required=True)


def error_doc(description: str) -> dict[str, Any]:
    """Keywords for `blp.alt_response(status, **error_doc(...))`: an error this route can answer."""
    return {"schema": ErrorSchema, "description": description}


# -- mini-program ---------------------------------------------------------------------------

class LoginSchema(Strict):
    platform = fields.String(required=True, validate=validate.Length(1, 16))
    code = fields.String(required=True, validate=validate.Length(1, 256))
    app_id = fields.String(validate=validate.Length(1, 64), metadata={
        "description": "which of the platform's mini-program apps the code is from; default: the first configured"})


class PersonViewSchema(Strict):
    id = fields.String(required=True)
    name_masked = fields.String(required=True)
    id_number_masked = fields.String(required=True)
    phone_masked = fields.String(required=True)
    relation = fields.String(required=True, validate=validate.OneOf(choices(Relation)))
    verified = fields.Boolean(required=True)
    document = fields.String(required=True, validate=validate.OneOf(choices(IdDocument)), metadata={
        "description": "the document the ID number is on: 居民身份证, 港澳台居民居住证 or 外国人永久居留身份证"})


class AccountSchema(Strict):
    platform = fields.String(required=True)
    persons = fields.List(fields.Nested(PersonViewSchema), required=True)


class LoginResultSchema(Strict):
    token = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    account = fields.Nested(AccountSchema, required=True)


class ApplicationSchema(Strict):
    # Longest as typed, before normalising (spaces, dashes, full-width digits); the core checks
    # the content (GB 11643 check digit, a mainland mobile number, the characters of a name)
    # and says "required" of an empty one.
    name = fields.String(required=True, validate=validate.Length(max=64), metadata={"example": "张三"})
    id_number = fields.String(required=True, validate=validate.Length(max=32),
                              metadata={"example": "11010519491231002X"})
    phone = fields.String(validate=validate.Length(max=32), metadata={"example": "13800138000"})
    phone_proof = fields.Dict(keys=fields.String(validate=validate.Length(1, 32)),
                              values=fields.String(validate=validate.Length(1, 4096)),
                              validate=validate.Length(1, 4), metadata={
        "description": "instead of phone: the platform's phone authorization, e.g. WeChat {code} or "
                       "{encrypted_data, iv}, Alipay {response}"})
    relation = fields.String(required=True, validate=validate.OneOf(choices(Relation)))
    consent_notice = fields.String(required=True, validate=validate.Length(max=32),
                                   error_messages={"required": Msg.CONSENT_CURRENT}, metadata={
        "description": "the version of GET /api/v1/notice the applicant read and agreed to (the box ticked)",
        "example": "2026-12-01"})


    @ma.validates_schema
    def one_phone(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("phone" in data) == ("phone_proof" in data):
            raise ma.ValidationError(Msg.PHONE_OR_PROOF, "phone")


class PhoneUpdateSchema(Strict):
    phone = fields.String(required=True, validate=validate.Length(max=32))


class PersonListSchema(Strict):
    persons = fields.List(fields.Nested(PersonViewSchema), required=True)


class VerificationSchema(Strict):
    ticket = fields.String(required=True, validate=validate.Length(1, 512))


class IdentityCheckSchema(Strict):
    ticket = fields.String(required=True, metadata={
        "description": "for the platform's face-check UI (WeChat wx.requestFacialVerify's verifyId, "
                       "Alipay's certify_id), then POST …/verification {ticket}"})
    expires_in = fields.Integer(required=True)
    url = fields.String(allow_none=True, metadata={"description": "the page to open, where the platform has one"})


class LangQuerySchema(Strict):
    lang = fields.String(load_default="zh", validate=validate.OneOf(["zh", "en"]))


class HealthCodeQuerySchema(LangQuerySchema):
    image = fields.String(validate=validate.OneOf(["svg"]),
                          metadata={"description": "also return the QR image as a data: URI in qr_image"})


class ReasonSchema(Strict):
    code = fields.String(required=True)
    text = fields.String(required=True)
    until = fields.String(allow_none=True, metadata={"description": "ISO 8601, or null when it needs an action"})
    until_day = fields.String(allow_none=True, metadata={
        "description": "the last day it applies (Asia/Shanghai, YYYY-MM-DD), for spans of days"})
    how_to_clear = fields.String(required=True)
    note = fields.String(allow_none=True, metadata={"description": "the authority's public note, if it gave one"})


class HelpSchema(Strict):
    hotline = fields.String(required=True)
    office = fields.String(required=True)


class StatusSchema(Strict):
    color = fields.String(required=True, validate=validate.OneOf(choices(Color)))
    policy_version = fields.String(required=True)


class NoticeSchema(Strict):
    version = fields.String(required=True)
    title = fields.String(required=True)
    items = fields.List(fields.String(), required=True)


class HealthCodeSchema(Strict):
    color = fields.String(required=True, validate=validate.OneOf(choices(Color)))
    meaning = fields.String(required=True)
    reasons = fields.List(fields.Nested(ReasonSchema), required=True)
    qr = fields.String(required=True, metadata={"description": "COSE_Sign1 (ES256) over CBOR claims, base45"})
    issued_at = fields.String(required=True)
    expires_at = fields.String(required=True)
    person = fields.Nested(PersonViewSchema, required=True)
    policy_version = fields.String(required=True)
    help = fields.Nested(HelpSchema, metadata={"description": "for yellow and red: whom to call, where to go"})
    qr_image = fields.String(metadata={"description": "data: URI of the QR image in the code's colour, when image=svg"})


class ChangeSchema(Strict):
    at = fields.String(required=True)
    from_ = fields.String(data_key="from", allow_none=True)
    to = fields.String(required=True)
    reason_codes = fields.List(fields.String(), required=True)
    reasons = fields.List(fields.String(), metadata={"description": "the reason codes' texts (?lang=)"})


class ScanEntrySchema(Strict):
    at = fields.String(required=True)
    place = fields.String(required=True)
    result = fields.String(required=True)


class HistorySchema(Strict):
    retention_days = fields.Integer(required=True)
    changes = fields.List(fields.Nested(ChangeSchema), required=True)
    scans = fields.List(fields.Nested(ScanEntrySchema), required=True)


# -- checkpoint -----------------------------------------------------------------------------

# Bidirectional embeddings, overrides and isolates, and the implicit marks (Unicode TR #9).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# Hangul fillers are letters (Lo) that show as nothing: a place named by them looks blank.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_PLACE_PUNCTUATION = frozenset(" .:·()（）#/-_\u0f0b")  # U+0F0B: the Tibetan syllable mark


def _visible_letter_or_digit(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN" and char not in _INVISIBLE_LETTERS


class PlaceName(fields.String):
    """A gate's name as people read it (东门, 3号楼大堂) or an id, NFKC-normalised (３号楼 is
    3号楼): letters, marks and digits of any script, single spaces and a little punctuation;
    no control, format or markup characters."""

    MESSAGE = Msg.PLACE_NAME

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        # A gate's id is mostly ASCII ("gate 3", "B2-east"): the same rule by one regex (NFKC
        # leaves ASCII as it is), where the general one looks up each character's category.
        if not (_ascii_place_ok(text) if text.isascii() else _place_ok(text := unicodedata.normalize("NFKC", text))):
            raise ma.ValidationError(self.MESSAGE)
        return text


def _place_ok(text: str) -> bool:
    """PlaceName's rule, on an NFKC-normalised text."""
    allowed = all(
        _visible_letter_or_digit(c) or unicodedata.category(c).startswith("M") or c in _PLACE_PUNCTUATION
        for c in text
    )
    return (allowed and 1 <= len(text) <= 64 and text == text.strip() and "  " not in text
            and any(_visible_letter_or_digit(c) for c in text))


# _place_ok on ASCII: its letters and digits are [A-Za-z0-9] (no ASCII mark, no invisible
# letter), its punctuation " .:()#/-_"; single spaces between words; a letter or digit somewhere
# (tests/unit/test_place_names.py checks the two agree on ASCII).
_ASCII_WORD = r"[A-Za-z0-9.:()#/_-]+"
_ASCII_PLACE = re.compile(rf"(?=.{{0,63}}[A-Za-z0-9])(?!.{{65}}){_ASCII_WORD}(?: {_ASCII_WORD})*", re.DOTALL)


def _ascii_place_ok(text: str) -> bool:
    return _ASCII_PLACE.fullmatch(text) is not None


class FreeText(fields.String):
    """A person's words (a reason, a note): any script, punctuation and line breaks, but no
    control characters and no bidirectional overrides or isolates, which can make a text read
    differently from what it is (Unicode TR #9; CVE-2021-42574, "Trojan Source")."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        for char in text:
            category = unicodedata.category(char)
            if (category == "Cc" and char not in "\n\t") or char in _BIDI_CONTROLS or category in ("Cs", "Co"):
                raise ma.ValidationError(Msg.FREE_TEXT_CHARS)
        return text


class ScanRequestSchema(Strict):
    qr = fields.String(required=True, validate=validate.Length(1, 2048))
    place_id = PlaceName(metadata={"minLength": 1, "maxLength": 64, "pattern": r"^\S(?:.*\S)?$",
                                   "description": "a gate or place name: letters and digits of any script, "
                                                  "single spaces, . : · ( ) # / - _"})


class ScanPersonSchema(Strict):
    name_masked = fields.String(required=True)


class ScanResultSchema(Strict):
    valid = fields.Boolean(required=True)
    reason = fields.String(validate=validate.OneOf(choices(ScanFailure)))
    detail = fields.String()
    color = fields.String()
    changed = fields.Boolean()
    person = fields.Nested(ScanPersonSchema)
    issued_at = fields.String()
    checked_at = fields.String()


class JwkSchema(Strict):
    kid = fields.String(required=True)
    kty = fields.String(required=True)
    crv = fields.String(required=True)
    x = fields.String(required=True)
    y = fields.String(required=True)
    alg = fields.String(required=True)
    iss = fields.String(required=True)
    not_after = fields.String(allow_none=True)


class JwksSchema(Strict):
    keys = fields.List(fields.Nested(JwkSchema), required=True)


# -- feeds ----------------------------------------------------------------------------------

class RejectedRowSchema(Strict):
    line = fields.Integer(required=True)
    error = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields")


class FeedResultSchema(Strict):
    accepted = fields.Integer(required=True)
    rejected = fields.List(fields.Nested(RejectedRowSchema), required=True)


# -- travel card ----------------------------------------------------------------------------

class SmsRequestSchema(Strict):
    phone = fields.String(required=True, validate=validate.Length(1, 32), metadata={"example": "13800138000"})


class SmsSentSchema(Strict):
    sent = fields.Boolean(required=True)
    expires_in = fields.Integer(required=True)
    resend_after = fields.Integer(required=True)


class TravelSessionRequestSchema(Strict):
    phone = fields.String(validate=validate.Length(1, 32))
    sms_code = fields.String(validate=validate.Regexp(r"^\d{6}$"))
    platform = fields.String(validate=validate.Length(1, 16))
    phone_code = fields.Dict(keys=fields.String(validate=validate.Length(1, 32)),
                             values=fields.String(validate=validate.Length(1, 4096)), validate=validate.Length(1, 4),
                             metadata={"description": "the platform's phone authorization: WeChat {code} or "
                                                      "{encrypted_data, iv}, Alipay {response}"})

    @ma.validates_schema
    def one_proof(self, data: dict[str, Any], **kwargs: Any) -> None:
        by_sms = "phone" in data and "sms_code" in data
        by_platform = "platform" in data and "phone_code" in data
        if by_sms == by_platform or len(data) != 2:
            raise ma.ValidationError(Msg.TRAVEL_PROOF, "phone")


class TravelSessionSchema(Strict):
    token = fields.String(required=True)
    expires_in = fields.Integer(required=True)


class TravelCitySchema(Strict):
    code = fields.String(required=True, metadata={"description": "GB/T 2260 city code, or ISO 3166 country abroad"})
    name = fields.String(required=True)
    starred = fields.Boolean(required=True, metadata={"description": "the city now holds a medium/high-risk area"})
    last_seen = fields.String(required=True)
    overseas = fields.Boolean(required=True)


class TravelCardSchema(Strict):
    phone_masked = fields.String(required=True)
    color = fields.String(required=True, validate=validate.OneOf(["green", "yellow", "orange", "red"]))
    reason = fields.String(required=True)
    window_days = fields.Integer(required=True)
    updated_at = fields.String(required=True)
    cities = fields.List(fields.Nested(TravelCitySchema), required=True)
    note = fields.String(required=True)
    empty_reason = fields.String(allow_none=True, validate=validate.OneOf(["no_data", "none_in_window"]))
    policy_version = fields.String(required=True)
