"""Domain errors, each with a stable message key. The HTTP edge maps each error class to one
status and error code (API.md), and each key to its Chinese and English text
(blueprints/messages.py)."""
from __future__ import annotations

from enum import StrEnum


class Msg(StrEnum):
    """Every message the core (and the HTTP edge) can say; texts live in blueprints/messages.py."""

    # applying, persons
    INVALID_APPLICATION = "invalid_application"
    INVALID_NAME = "invalid_name"
    INVALID_ID_NUMBER = "invalid_id_number"
    INVALID_PHONE = "invalid_phone"
    INVALID_RELATION = "invalid_relation"
    NAME_MISMATCH = "name_mismatch"
    SELF_TAKEN = "self_taken"
    ID_IS_OTHERS_SELF = "id_is_others_self"
    ALREADY_LINKED = "already_linked"
    FAMILY_FULL = "family_full"  # {max}
    CONCURRENT_CHANGE = "concurrent_change"
    OWNER_ONLY_PHONE = "owner_only_phone"
    NOT_ON_ACCOUNT = "not_on_account"
    IDENTITY_FAILED = "identity_failed"
    VERIFICATION_REQUIRED = "verification_required"
    # logins and credentials
    UNKNOWN_PLATFORM = "unknown_platform"
    INVALID_LOGIN_CODE = "invalid_login_code"
    LOGIN_REQUIRED = "login_required"
    BEARER_MISSING = "bearer_missing"
    CREDENTIAL_REQUIRED = "credential_required"
    ROLE_REQUIRED = "role_required"  # {role}
    UNKNOWN_ROLE = "unknown_role"
    PLATFORM_UNAVAILABLE = "platform_unavailable"
    SMS_UNAVAILABLE = "sms_unavailable"
    LOGIN_REFUSED = "login_refused"
    BAD_SIGNATURE = "bad_signature"
    NO_SUCH_WEBHOOK = "no_such_webhook"
    RATE_LIMITED = "rate_limited"
    POLICY_INVALID = "policy_invalid"
    POLICY_VERSION_TAKEN = "policy_version_taken"
    NOT_PENDING = "not_pending"
    SAME_CREDENTIAL = "same_credential"
    NO_SUCH_APPEAL = "no_such_appeal"
    APPEAL_DECIDED = "appeal_decided"
    ALREADY_APPEALED = "already_appealed"
    NO_SUCH_REGION = "no_such_region"
    RISK_LEVEL = "risk_level"
    NOT_DECLARABLE = "not_declarable"
    NOTHING_DECLARED = "nothing_declared"
    AUDIT_BUSY = "audit_busy"
    FEED_NOT_JSON = "feed_not_json"
    FEED_ROW_NOT_JSON = "feed_row_not_json"
    FEED_ROW_SHAPE = "feed_row_shape"
    FEED_TIME = "feed_time"
    TRAVEL_RETIRED = "travel_retired"
    SMS_NOT_CONFIGURED = "sms_not_configured"
    TRAVEL_PROOF = "travel_proof"
    TRAVEL_LOGIN_REQUIRED = "travel_login_required"
    SMS_CODE_WRONG = "sms_code_wrong"
    SMS_CODE_EXHAUSTED = "sms_code_exhausted"
    SMS_CODE_NONE = "sms_code_none"
    STAY_TIMES = "stay_times"
    STAY_TOO_OLD = "stay_too_old"
    PHONE_PROOF_INVALID = "phone_proof_invalid"
    # the authority console
    CONSOLE_LOGIN_FAILED = "console_login_failed"
    INVALID_USERNAME = "invalid_username"
    USERNAME_TAKEN = "username_taken"
    PASSWORD_LENGTH = "password_length"
    # marking and lab results
    ONE_PERSON_REFERENCE = "one_person_reference"
    NO_SUCH_PERSON = "no_such_person"
    NO_SUCH_MARKER = "no_such_marker"
    UNKNOWN_MARKER_KIND = "unknown_marker_kind"
    UNTIL_NOT_ALLOWED = "until_not_allowed"
    SINCE_OUT_OF_RANGE = "since_out_of_range"
    UNTIL_BEFORE_SINCE = "until_before_since"
    UNTIL_OUT_OF_RANGE = "until_out_of_range"
    UNKNOWN_RESULT = "unknown_result"
    SAMPLED_IN_FUTURE = "sampled_in_future"
    # field messages
    REQUIRED = "required"
    CHOOSE_ONE = "choose_one"
    ONE_OF = "one_of"  # {choices}
    LENGTH_1_64 = "length_1_64"
    NAME_CHARS = "name_chars"
    NAME_NOT_RECORD = "name_not_record"
    ID_LENGTH = "id_length"  # not 18 characters of digits and a final digit or X
    ID_NOT_RIGHT = "id_not_right"  # the check digit, the birth date or the region does not fit
    PHONE_CN_MOBILE = "phone_cn_mobile"
    PHONE_SMS_REFUSED = "phone_sms_refused"
    SELF_OR_FAMILY = "self_or_family"
    OR_PERSON_ID = "or_person_id"
    USERNAME_CHARS = "username_chars"
    PLATFORM_NOT_ENABLED = "platform_not_enabled"  # {name}
    POLICY_DECIDES_UNTIL = "policy_decides_until"
    SINCE_RANGE = "since_range"
    UNTIL_RANGE = "until_range"
    AFTER_SINCE = "after_since"
    IN_FUTURE = "in_future"
    NEGATIVE_OR_POSITIVE = "negative_or_positive"
    PLACE_NAME = "place_name"
    FREE_TEXT_CHARS = "free_text_chars"
    CONSENT_REQUIRED = "consent_required"
    PHONE_OR_PROOF = "phone_or_proof"
    CONSENT_CURRENT = "consent_current"
    # the HTTP edge
    REQUEST_INVALID = "request_invalid"
    STORE_UNAVAILABLE = "store_unavailable"
    INTERNAL = "internal"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    HTTP_ERROR = "http_error"
    # marshmallow's and webargs' own messages, by the key the edge gives them
    FIELD_UNKNOWN = "field_unknown"
    FIELD_MISSING = "field_missing"
    FIELD_NULL = "field_null"
    NOT_A_STRING = "not_a_string"
    NOT_A_BOOLEAN = "not_a_boolean"
    NOT_AN_INTEGER = "not_an_integer"
    NOT_A_DATETIME = "not_a_datetime"
    NOT_AWARE_DATETIME = "not_aware_datetime"
    PATTERN_MISMATCH = "pattern_mismatch"
    INVALID_INPUT_TYPE = "invalid_input_type"
    INVALID_JSON = "invalid_json"
    LENGTH_BETWEEN = "length_between"  # {min} {max}


class Message(str):
    """A message key with the values its text needs (`at most {max} family members`).

    It is the key as a string, so it compares equal to its `Msg`."""

    params: dict[str, str]

    def __new__(cls, key: Msg, **params: object) -> Message:
        message = super().__new__(cls, key.value)
        message.params = {name: str(value) for name, value in params.items()}
        return message


Fields = dict[str, list[str]]
"""Per-field messages: each a `Msg` or a `Message`."""


class DomainError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"

    def __init__(self, message: Msg | Message, fields: Fields | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.fields = fields


class InvalidInput(DomainError):
    code = "validation_error"


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class VerificationRequired(Forbidden):
    """The account's link to the person has not passed the platform's identity (face) check."""

    code = "verification_required"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class PlatformUnavailable(DomainError):
    """A superapp's server timed out, failed, or answered with an error that is not the user's:
    the request may be retried later (502/503, never a refused identity)."""

    code = "platform_unavailable"


class InvalidLoginCode(Unauthorized):
    """The platform refused the login code: unknown, expired or already used."""

    code = "invalid_login_code"


class LoginRefused(Forbidden):
    """The platform refused this user's login (e.g. WeChat's high-risk users, 40226)."""

    code = "login_refused"


class Retired(DomainError):
    """A service that was taken offline (the travel card, 2022-12-13): 410, with the notice."""

    code = "retired"


class LimitReached(DomainError):
    """A write an Admission refused (a counter's window is full): nothing was written. `admitted`
    says which windows admitted it (each counted it)."""

    code = "rate_limited"

    def __init__(self, admitted: tuple[bool, ...]) -> None:
        super().__init__(Msg.RATE_LIMITED)
        self.admitted = admitted


class BadSignature(Unauthorized):
    """A webhook or feed whose signature is missing, wrong, stale or replayed."""

    code = "bad_signature"
