"""The hot paths' JSON (blueprints/hot.json_encoder): orjson where it writes what jsonify would,
byte for byte, and the stdlib encoder for the rest."""
import dataclasses
import datetime
import enum
import random
import uuid

import pytest
from flask import Flask

from blueprints.hot import json_encoder

ALPHABET = ["a", "Z", "0", " ", '"', "\\", "/", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "张", "：", "\u2028",
            "\u2029", "\ufeff", "😀", "\U0010ffff", "<", ">", "&", "'"]


class Kind(enum.StrEnum):
    RESIDENT = "resident_id"


@dataclasses.dataclass
class Point:
    x: int


def app(sort_keys=True, ensure_ascii=False) -> Flask:
    flask = Flask(__name__)
    flask.json.sort_keys = sort_keys  # type: ignore[attr-defined]
    flask.json.ensure_ascii = ensure_ascii  # type: ignore[attr-defined]
    return flask


def jsonify(flask: Flask, body) -> bytes:
    with flask.app_context():
        return flask.json.response(body).get_data()


def text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12)))


def value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return text(rng)
    if kind == 1:
        return rng.choice([0, -1, 1, 2**31, -(2**53), 2**63 - 1, -(2**63), rng.randrange(-10**6, 10**6)])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return Kind.RESIDENT
    if kind == 4:
        return rng.choice([2**64, -(2**64) - 1])  # beyond orjson's 64 bits: the stdlib's
    if kind == 5:
        return ""
    if kind == 6:
        return [value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {text(rng): value(rng, depth + 1) for _ in range(rng.randrange(5))}


@pytest.mark.parametrize("sort_keys", [True, False])
def test_the_same_bytes_as_jsonify_for_random_bodies(sort_keys):
    flask, rng = app(sort_keys), random.Random(7)
    dumps = json_encoder(flask)
    for _ in range(3000):
        body = {text(rng): value(rng) for _ in range(rng.randrange(6))}
        assert dumps(body) == jsonify(flask, body), body


def test_a_health_code_answer_is_the_same():
    flask = app()
    body = {"color": "yellow", "meaning": "黄码：居家隔离或健康监测", "qr": "HC1:6BF+70790T9WJWG.FKY*4GO0.O1CV2",
            "reasons": [{"code": "secondary_contact", "text": "次密接", "until": "2026-12-10T00:00:00+08:00",
                         "until_day": "2026-12-10", "how_to_clear": "居家健康监测期满", "note": None}],
            "person": {"id": "2bc780c80b1abc9ad09d2cfa", "name_masked": "张*", "verified": True,
                       "document": Kind.RESIDENT},
            "help": {"hotline": "12345", "office": "所在社区（村）居委会"}}
    assert json_encoder(flask)(body) == jsonify(flask, body)


@pytest.mark.parametrize("odd", [datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC), datetime.date(2026, 12, 3),
                                 Point(3), uuid.UUID(int=5), {1: "a"}])
def test_what_orjson_would_write_its_own_way_goes_to_the_stdlib_encoder(odd):
    flask = app()
    body = {"odd": odd} if not isinstance(odd, dict) else odd
    try:
        expected = jsonify(flask, body)
    except TypeError:
        with pytest.raises(TypeError):
            json_encoder(flask)(body)
        return
    assert json_encoder(flask)(body) == expected


def test_an_ascii_only_provider_gets_the_stdlib_encoder():
    flask = app(ensure_ascii=True)
    body = {"meaning": "绿码", "q": "😀\u2028"}
    expected = b'{"meaning":"\\u7eff\\u7801","q":"\\ud83d\\ude00\\u2028"}\n'
    assert json_encoder(flask)(body) == jsonify(flask, body) == expected
