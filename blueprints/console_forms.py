"""The console's forms: a posted form read with the API's own marshmallow schema (the same
rules as the JSON body), and the messages (schema's, core's) placed next to their fields.

A form keeps what was typed, to show it again with the errors. Texts come from
blueprints/messages.py, as the API's do.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from flask import request

from blueprints.messages import localize
from blueprints.schemas import CN_TZ
from core.errors import DomainError, Msg

GENERAL = "_form"  # messages about the form as a whole (shown above it)
_MISSING = ma.fields.Field.default_error_messages["required"]  # marshmallow's "Missing data for required field."
_DATETIME_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


@dataclass
class Form:
    """What was posted, the messages by field, and the schema's data once it is valid."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    data: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.data is not None and not self.errors

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def refuse(self, exc: DomainError, fallback: str = GENERAL) -> Form:
        """The core's refusal: its field messages next to their fields, else its message at
        `fallback` (a field, or the form as a whole)."""
        self.data = None
        if exc.fields:
            for name, messages in exc.fields.items():
                for message in messages:
                    self.add(name if name in self.values else GENERAL, localize(message))
        else:
            self.add(fallback, localize(exc.message))
        return self


def posted(*names: str) -> dict[str, str]:
    """The form's fields as typed, trimmed; a textarea's CRLF line breaks as LF (browsers send
    CRLF, and the API's free text refuses control characters such as CR)."""
    return {name: request.form.get(name, "").replace("\r\n", "\n").strip() for name in names}


def load(schema: ma.Schema, values: dict[str, str], extra: dict[str, Any] | None = None,
         choices: tuple[str, ...] = ("kind", "level", "decision")) -> Form:
    """Read the form with the API's schema (the fields it has; the others are the view's). An
    empty field counts as not given, so a required one is told "请填写此项" and an optional one
    is left out."""
    form = Form(values=values)
    payload: dict[str, Any] = {name: value for name, value in values.items() if value != "" and name in schema.fields}
    payload.update(extra or {})
    try:
        form.data = schema.load(payload)
    except ma.ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {GENERAL: exc.messages}
        for name, problems in messages.items():
            target = name if name in values else GENERAL
            for problem in problems if isinstance(problems, list) else [problems]:
                if isinstance(problem, dict):  # a list's items: {index: [messages]}
                    for item in problem.values():
                        for text in item:
                            form.add(target, localize(text))
                    continue
                if str(problem) == _MISSING:
                    problem = Msg.CHOOSE_ONE if name in choices else Msg.REQUIRED
                form.add(target, localize(problem))
    return form


def aware(local: str) -> str:
    """A datetime-local input (Asia/Shanghai, as the office reads its clock) as ISO 8601 with
    its offset, the form the API's schemas take; anything else unchanged (the schema refuses it)."""
    if not _DATETIME_LOCAL.fullmatch(local):
        return local
    try:
        return dt.datetime.fromisoformat(local).replace(tzinfo=CN_TZ).isoformat()
    except ValueError:
        return local


def id_numbers_from_upload(text: str) -> list[tuple[int, str]]:
    """(line, ID number) from a pasted list or a CSV/TXT file: the first cell of each non-empty
    line; a first line without any digit is a header (身份证号) and is skipped."""
    rows = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        cell = re.split(r"[,\t;，]", line, maxsplit=1)[0].strip().strip('"').strip()
        if not cell:
            continue
        if line_no == 1 and not any(char.isdigit() for char in cell):
            continue
        rows.append((line_no, cell))
    return rows


def decode_upload(raw: bytes) -> str:
    """A file's text: UTF-8 (with or without BOM), else GB 18030, which Excel on a Chinese
    Windows writes CSV files in."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


def local_target(target: str | None, default: str) -> str:
    """Where to go after the login: a path of the console itself, never another site."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/") or "\\" in target:
        return default
    return target
