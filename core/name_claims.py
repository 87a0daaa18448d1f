"""Whose name stands for an ID number: the rules, as pure functions (no store, no crypto).

Until a face check has passed against the name on record, that name is only the first
applicant's word (mistyped or made up, maybe). A different name is then *claimed* on the
applying link, and replaces the record's when the face check passes against it, so applying
first locks nobody out, for self or for family. Once a face check has passed against a name it
is final: another name is refused, at application and at the face check of an older claim.
"""
from __future__ import annotations

from enum import StrEnum

from core.errors import InvalidInput, Msg
from core.model import NameSource


class Settle(StrEnum):
    """What an application's name does to the record."""

    SAME = "same"  # it is the name on record: nothing to write or claim
    RECORD = "record"  # the record has no name yet: this one becomes it
    CLAIM = "claim"  # it differs from an unverified name: claimed on the link


class AfterCheck(StrEnum):
    """What a passed face check does to the record's name."""

    ERASED = "erased"  # the person was erased meanwhile: the link is stale
    FINAL = "final"  # the record already holds this name, face-checked: nothing to write
    WRITE = "write"  # the checked name becomes the record's, and final


def refuse_if_final(on_record: str | None, source: NameSource | None, name: str) -> None:
    """A name other than a face-checked one on record is refused (422)."""
    if source == NameSource.VERIFIED and on_record != name:
        raise InvalidInput(Msg.NAME_MISMATCH, {"name": [Msg.NAME_NOT_RECORD]})


def settle(on_record: str | None, source: NameSource | None, name: str) -> Settle:
    """An application's name against the record's (decrypted) name and its source."""
    if on_record == name:
        return Settle.SAME
    if on_record is None:
        return Settle.RECORD
    refuse_if_final(on_record, source, name)
    return Settle.CLAIM


def after_face_check(on_record: str | None, source: NameSource | None, erased: bool, name: str) -> AfterCheck:
    """The record's name after a face check passed against `name`.

    `erased`: the person was erased after the link was made, or has no name any more.
    """
    if erased or on_record is None:
        return AfterCheck.ERASED
    refuse_if_final(on_record, source, name)
    return AfterCheck.FINAL if source == NameSource.VERIFIED else AfterCheck.WRITE


def shown_name(on_record: str | None, claimed: str | None, verified: bool) -> str | None:
    """The name a link shows: the record's once its face check passed, else its own claim."""
    if verified:
        return on_record
    return claimed or on_record


def shown_phone(on_record: str | None, claimed: str | None, verified: bool) -> str | None:
    """Before its face check a link shows only the phone its own application gave, never the
    phone on record."""
    return on_record if verified else claimed
