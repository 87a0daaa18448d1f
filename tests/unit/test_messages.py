"""Every message key has its Chinese and English text; errors answer by class, texts by key."""
import re
import string

import pytest
from flask import Flask

from blueprints.errors import status_of
from blueprints.messages import TEXTS, localize
from core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    Message,
    Msg,
    NotFound,
    PlatformUnavailable,
    Unauthorized,
    VerificationRequired,
)

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("key", list(Msg))
def test_every_key_has_a_chinese_and_an_english_text(key):
    assert key in TEXTS, f"blueprints/messages.py has no text for {key!r}"
    zh, en = TEXTS[key]
    assert zh.strip() and en.strip()
    assert CJK.search(zh), zh
    assert not CJK.search(en), en


@pytest.mark.parametrize("key", list(Msg))
def test_both_texts_of_a_key_take_the_same_values(key):
    names = [{name for _, name, _, _ in string.Formatter().parse(text) if name} for text in TEXTS[key]]
    assert names[0] == names[1], key


def test_no_text_without_a_key():
    assert set(TEXTS) == set(Msg)


def _in(lang: str, message: str) -> str:
    app = Flask(__name__)
    with app.test_request_context(f"/api/v1/x?lang={lang}"):
        return localize(message)


def test_a_message_with_values_fills_them_in_either_language():
    message = Message(Msg.FAMILY_FULL, max=5)
    assert _in("zh", message) == "每个账号最多为 5 位家人代领"
    assert _in("en", message) == "at most 5 family members per account"


def test_marshmallow_s_own_messages_get_their_keys_texts():
    assert _in("zh", "Unknown field.") == "不允许的字段"
    assert _in("zh", "Must be one of: self, family.") == "应为以下之一：self, family"
    assert _in("zh", "Length must be between 1 and 64.") == "长度应在 1 到 64 之间"
    assert _in("en", "Unknown field.") == "Unknown field."


def test_a_text_without_a_key_passes_unchanged():
    assert _in("zh", "gate 3") == "gate 3"


class SomeConflict(Conflict):
    code = "some_conflict"


class NoStatus(DomainError):
    pass


@pytest.mark.parametrize("error, status", [
    (InvalidInput(Msg.INVALID_NAME), 422),
    (Unauthorized(Msg.LOGIN_REQUIRED), 401),
    (Forbidden(Msg.IDENTITY_FAILED), 403),
    (VerificationRequired(Msg.VERIFICATION_REQUIRED), 403),
    (NotFound(Msg.NOT_FOUND), 404),
    (Conflict(Msg.SELF_TAKEN), 409),
    (SomeConflict(Msg.SELF_TAKEN), 409),  # a new subclass inherits its base's status
    (PlatformUnavailable(Msg.PLATFORM_UNAVAILABLE), 503),
    (NoStatus(Msg.INTERNAL), 400),
])
def test_an_error_answers_with_the_status_of_its_nearest_class(error, status):
    assert status_of(error) == status
