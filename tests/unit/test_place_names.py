"""PlaceName's ASCII fast path (one regex) says what the general rule (each character's Unicode
category) says, on every ASCII text tried."""
from __future__ import annotations

import random
import string
import unicodedata

import marshmallow as ma
import pytest

from blueprints.schemas import PlaceName, _ascii_place_ok, _place_ok

ASCII = "".join(chr(c) for c in range(128))


def test_every_ascii_character_alone_and_in_pairs():
    for a in ASCII:
        assert _ascii_place_ok(a) == _place_ok(a), repr(a)
        for b in ASCII:
            assert _ascii_place_ok(a + b) == _place_ok(a + b), repr(a + b)


def test_random_ascii_texts_of_every_length_around_the_limit():
    rng = random.Random(7)
    alphabets = [ASCII, string.ascii_letters + string.digits + " .:()#/-_", " -_.a1", " \t\n\r\x0b\x0cA"]
    for _ in range(20_000):
        size = rng.choice([0, 1, 2, 3, 5, 8, 63, 64, 65, 66])
        text = "".join(rng.choice(rng.choice(alphabets)) for _ in range(size))
        assert _ascii_place_ok(text) == _place_ok(text), repr(text)


@pytest.mark.parametrize("text, ok", [("gate 1", True), ("B2-east", True), ("东门", True), ("３号楼", True),
                                      ("gate  1", False), (" gate", False), ("--", False), ("a" * 65, False),
                                      ("门\u3164", False), ("\u3164", False), ("a\tb", False)])
def test_the_field_takes_and_refuses_as_before(text, ok):
    field = PlaceName()
    if ok:
        assert field.deserialize(text) == unicodedata.normalize("NFKC", text)
    else:
        with pytest.raises(ma.ValidationError):
            field.deserialize(text)
