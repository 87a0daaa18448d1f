"""Domain errors. The HTTP edge maps each to one status and error code (API.md)."""
from __future__ import annotations


class DomainError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
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
