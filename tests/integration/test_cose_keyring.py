"""Signed health codes over the Redis key ring: format, interop, rotation, failures."""
import base64
import hashlib
import threading
import xml.etree.ElementTree as ET

import base45
import cbor2
import pytest
from pycose.algorithms import Es256
from pycose.headers import KID, Algorithm
from pycose.keys import EC2Key
from pycose.messages import Sign1Message

from adapters.signing.cose import MAX_QR_CHARS, CoseCodec
from adapters.signing.keyring import RedisKeyRing, WrapKeyError
from adapters.signing.qr_image import qr_version, render_png, render_svg
from core.codes import CodeClaims, InvalidCode
from core.model import Color

WRAP_KEY = bytes(range(32))
NOW = 1_700_000_000


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


def make_ring(redis_server, clock=None, wrap_key=WRAP_KEY, key_prefix="hc"):
    return RedisKeyRing(redis_server, wrap_key, "HC-GD", key_prefix=key_prefix, clock=clock or Clock())


def claims(**changes) -> CodeClaims:
    values = dict(
        issuer="HC-GD",
        code_id=bytes(range(16)),
        color=Color.YELLOW,
        issued_at=NOW,
        expires_at=NOW + 60,
        name_masked="张*三",
    )
    return CodeClaims(**{**values, **changes})


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cose_bytes(qr: str) -> bytes:
    assert qr.startswith("HC1:")
    return base45.b45decode(qr[4:])


def qr_of(message: bytes) -> str:
    return "HC1:" + base45.b45encode(message).decode()


def pycose_decode(message: bytes) -> Sign1Message:
    """Sign1Message.decode, less its tag unwrapping: pycose 1.1 expects a list and a dict
    inside the tag, and cbor2 >= 6 decodes tagged items as a tuple and a frozendict."""
    tagged = cbor2.loads(message)
    assert tagged.tag == 18
    protected, unprotected, payload, signature = tagged.value
    cose_obj = [protected, dict(unprotected), payload, signature]
    return Sign1Message.from_cose_obj(cose_obj, allow_unknown_attributes=True)


def reason_of(codec: CoseCodec, qr: str) -> tuple[str, str]:
    with pytest.raises(InvalidCode) as caught:
        codec.verify(qr)
    return caught.value.reason, caught.value.detail


def signed_by_pycose(ring: RedisKeyRing, payload: bytes) -> str:
    """A code signed by another COSE implementation with the ring's active key."""
    kid, private = ring.signing_key()
    numbers = private.public_key().public_numbers()
    key = EC2Key(
        crv="P_256",
        x=numbers.x.to_bytes(32, "big"),
        y=numbers.y.to_bytes(32, "big"),
        d=private.private_numbers().private_value.to_bytes(32, "big"),
    )
    message = Sign1Message(phdr={Algorithm: Es256, KID: kid}, payload=payload, key=key)
    return qr_of(low_s(message.encode()))


P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def low_s(message: bytes) -> bytes:
    """The same COSE_Sign1 with its signature's low-S twin (s → n − s when s > n/2): pycose does
    not normalise, and only the low-S text of a code verifies (one code, one text)."""
    tagged = cbor2.loads(message)
    protected, unprotected, payload, signature = tagged.value
    r, s = signature[:32], int.from_bytes(signature[32:], "big")
    if s > P256_N // 2:
        signature = r + (P256_N - s).to_bytes(32, "big")
    return cbor2.dumps(cbor2.CBORTag(18, [protected, dict(unprotected), payload, signature]))


@pytest.fixture
def ring(redis_server):
    ring = make_ring(redis_server)
    ring.ensure_active_key()
    return ring


@pytest.fixture
def codec(ring):
    return CoseCodec(ring)


def test_signed_code_verifies_to_the_same_claims_with_its_kid(codec, ring):
    qr = codec.sign(claims())
    kid, _ = ring.signing_key()
    assert codec.verify(qr) == claims(kid=base64.urlsafe_b64encode(kid).rstrip(b"=").decode())


def test_code_is_cose_sign1_es256_with_cwt_claims(codec, ring):
    message = cbor2.loads(cose_bytes(codec.sign(claims())))
    assert message.tag == 18
    protected, unprotected, payload, signature = message.value
    assert cbor2.loads(protected) == {1: -7, 4: ring.signing_key()[0]}
    assert unprotected == {}
    assert len(signature) == 64
    assert cbor2.loads(payload) == {
        1: "HC-GD", 4: NOW + 60, 6: NOW, 7: bytes(range(16)), -1: 1, -2: "张*三"
    }


def test_any_cose_implementation_verifies_with_the_published_keys(codec, ring):
    qr = codec.sign(claims())
    message = pycose_decode(cose_bytes(qr))
    [jwk] = ring.jwks()["keys"]
    assert b64url_decode(jwk["kid"]) == message.phdr[KID]
    message.key = EC2Key(crv="P_256", x=b64url_decode(jwk["x"]), y=b64url_decode(jwk["y"]))
    assert message.verify_signature()


def test_codes_signed_by_another_cose_implementation_verify(codec, ring):
    payload = cbor2.dumps({1: "HC-GD", 4: NOW + 60, 6: NOW, 7: b"\x01" * 16, -1: 2, -2: "李*"})
    verified = codec.verify(signed_by_pycose(ring, payload))
    assert (verified.color, verified.name_masked, verified.code_id) == (Color.RED, "李*", b"\x01" * 16)


def test_kid_is_recomputable_from_the_published_point(ring):
    [jwk] = ring.jwks()["keys"]
    point = b"\x04" + b64url_decode(jwk["x"]) + b64url_decode(jwk["y"])
    assert hashlib.sha256(point).digest()[:8] == b64url_decode(jwk["kid"])


def test_jwks_has_exactly_the_published_fields(ring):
    [jwk] = ring.jwks()["keys"]
    assert set(jwk) == {"kid", "kty", "crv", "x", "y", "alg", "iss", "not_after"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["iss"], jwk["not_after"]) == (
        "EC", "P-256", "ES256", "HC-GD", None
    )


def test_changed_colour_fails_the_signature(codec):
    message = cbor2.loads(cose_bytes(codec.sign(claims(color=Color.RED))))
    protected, unprotected, payload, signature = message.value
    forged = cbor2.dumps({**cbor2.loads(payload), -1: 0})
    tampered = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, forged, signature]))
    assert reason_of(codec, qr_of(tampered))[0] == "bad_signature"


def test_other_algorithm_in_header_fails_the_signature(codec, ring):
    message = cbor2.loads(cose_bytes(codec.sign(claims())))
    _, unprotected, payload, signature = message.value
    es384 = cbor2.dumps({1: -35, 4: ring.signing_key()[0]})
    forged = cbor2.dumps(cbor2.CBORTag(18, [es384, unprotected, payload, signature]))
    assert reason_of(codec, qr_of(forged))[0] == "bad_signature"


def test_code_signed_by_a_foreign_key_is_unknown_key(redis_server, codec):
    stranger = make_ring(redis_server, key_prefix="elsewhere")
    stranger.ensure_active_key()
    assert reason_of(codec, CoseCodec(stranger).sign(claims())) == ("unknown_key", "")


def test_retired_key_codes_fail_with_key_retired(codec, ring):
    old = codec.sign(claims())
    old_kid = ring.signing_key()[0]
    ring.rotate()
    ring.retire(old_kid)
    assert reason_of(codec, old) == ("unknown_key", "key_retired")
    assert [k["kid"] for k in ring.jwks()["keys"]] == [codec.verify(codec.sign(claims())).kid]


def test_active_key_cannot_be_retired(ring):
    with pytest.raises(ValueError):
        ring.retire(ring.signing_key()[0])
    assert ring.keys()[0]["status"] == "active"


def test_retiring_an_unknown_key_is_a_key_error(ring):
    with pytest.raises(KeyError):
        ring.retire("AAAAAAAAAAA")


def test_previous_key_stops_verifying_after_its_not_after(redis_server):
    clock = Clock()
    ring = make_ring(redis_server, clock)
    codec = CoseCodec(ring)
    ring.ensure_active_key()
    old = codec.sign(claims())
    ring.rotate(keep_previous_for=3600)
    assert ring.jwks()["keys"][1]["not_after"] == "2023-11-14T23:13:20Z"
    codec.verify(old)
    clock.now += 3600
    assert reason_of(codec, old) == ("unknown_key", "key_retired")
    assert len(ring.jwks()["keys"]) == 1


@pytest.mark.parametrize(
    "qr",
    [
        "",
        "HC2:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEAU59:4/.B",
        "HC1:!!!!",
        "HC1:" + "A" * 1000,
        qr_of(b"\xff\xfe"),  # not CBOR
        qr_of(cbor2.dumps([1, 2, 3, 4])),  # CBOR, not COSE_Sign1
        qr_of(cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b""]))),
        qr_of(cbor2.dumps(cbor2.CBORTag(17, [b"\xa0", {}, b"", b"\x00" * 64]))),
        qr_of(cbor2.dumps(cbor2.CBORTag(18, ["text", {}, b"", b"\x00" * 64]))),
        qr_of(cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -7}), {}, b"", b"\x00" * 64]))),  # no kid
        qr_of(cbor2.dumps(cbor2.CBORTag(18, [b"\x82\x01", {}, b"", b"\x00" * 64]))),  # truncated header
    ],
)
def test_malformed_codes_are_malformed(codec, qr):
    assert reason_of(codec, qr)[0] == "malformed"


def test_non_string_is_malformed(codec):
    assert reason_of(codec, None)[0] == "malformed"


def test_trailing_bytes_after_a_good_code_are_malformed(codec):
    good = cose_bytes(codec.sign(claims()))
    assert reason_of(codec, qr_of(good + b"\x00"))[0] == "malformed"


GOOD_CLAIMS = {1: "HC-GD", 4: NOW + 60, 6: NOW, 7: b"\x01" * 16, -1: 0, -2: "李*"}


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff",
        cbor2.dumps([1, 2]),
        cbor2.dumps({**GOOD_CLAIMS, -1: 3}),  # no such colour
        cbor2.dumps({**GOOD_CLAIMS, -1: -1}),
        cbor2.dumps({**GOOD_CLAIMS, 4: True}),
        cbor2.dumps({**GOOD_CLAIMS, 6: "now"}),
        cbor2.dumps({**GOOD_CLAIMS, 7: "not bytes"}),
        cbor2.dumps({k: v for k, v in GOOD_CLAIMS.items() if k != -2}),
        cbor2.dumps(GOOD_CLAIMS) + b"\x00",
    ],
)
def test_validly_signed_claims_of_the_wrong_shape_are_malformed(codec, ring, payload):
    assert reason_of(codec, signed_by_pycose(ring, payload))[0] == "malformed"


def test_rotation_keeps_old_codes_valid_and_signs_new_ones_with_the_new_key(codec, ring):
    old = codec.sign(claims())
    old_kid = codec.verify(old).kid
    new_kid = ring.rotate()
    new = codec.sign(claims())
    assert codec.verify(old).kid == old_kid
    assert codec.verify(new).kid == new_kid != old_kid
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new_kid, old_kid]
    assert {k["kid"]: k["status"] for k in ring.keys()} == {old_kid: "verify", new_kid: "active"}


def test_another_process_sees_a_rotation_after_the_refresh_interval(redis_server):
    clock = Clock()
    web, cli = make_ring(redis_server, clock), make_ring(redis_server, Clock())
    first = web.ensure_active_key()
    web_codec = CoseCodec(web)
    second = cli.rotate()
    assert web_codec.verify(web_codec.sign(claims())).kid == first
    clock.now += 1.0
    assert web_codec.verify(web_codec.sign(claims())).kid == second
    assert [k["kid"] for k in web.jwks()["keys"]] == [second, first]


def test_codes_from_a_key_made_elsewhere_verify_before_the_refresh_interval(redis_server):
    web, cli = make_ring(redis_server), make_ring(redis_server)
    web.ensure_active_key()
    cli.rotate()
    web.signing_key()  # web has loaded the ring and will not check again for a second
    assert CoseCodec(web).verify(CoseCodec(cli).sign(claims())).kid == cli.keys()[-1]["kid"]


def test_concurrent_first_start_creates_exactly_one_key(redis_server):
    rings = [make_ring(redis_server) for _ in range(8)]
    barrier = threading.Barrier(len(rings))
    kids = []

    def start(ring):
        barrier.wait()
        kids.append(ring.ensure_active_key())

    threads = [threading.Thread(target=start, args=(r,)) for r in rings]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(kids)) == 1
    assert redis_server.hlen("hc:{keys}") == 1


def test_ensure_active_key_is_idempotent(ring):
    assert ring.ensure_active_key() == ring.ensure_active_key()
    assert len(ring.keys()) == 1


def test_longest_code_fits_qr_version_8_at_m(codec):
    longest = claims(
        issuer="ABCDEFGH", name_masked="欧*娜", color=Color.RED,
        issued_at=2**32 - 61, expires_at=2**32 - 1,
    )
    qr = codec.sign(longest)
    assert len(qr) <= MAX_QR_CHARS
    assert qr_version(qr) <= 8


def test_codes_too_long_for_version_8_are_refused(codec):
    with pytest.raises(ValueError):
        codec.sign(claims(name_masked="张" * 30))


def test_png_and_svg_images(codec):
    qr = codec.sign(claims())
    assert render_png(qr).startswith(b"\x89PNG\r\n\x1a\n")
    assert ET.fromstring(render_svg(qr)).tag.endswith("svg")


def test_images_refuse_texts_above_version_8():
    with pytest.raises(ValueError):
        render_png("HC1:" + "A" * 218)
    with pytest.raises(ValueError):
        render_svg("HC1:" + "A" * 218)


def test_wrong_wrap_key_fails_loudly_and_never_signs(redis_server, ring):
    wrong = make_ring(redis_server, wrap_key=b"\x07" * 32)
    with pytest.raises(WrapKeyError):
        wrong.ensure_active_key()
    with pytest.raises(WrapKeyError):
        CoseCodec(wrong).sign(claims())
    assert len(ring.keys()) == 1


def test_wrap_key_must_be_32_bytes(redis_server):
    with pytest.raises(ValueError):
        make_ring(redis_server, wrap_key=b"short")


def test_no_private_material_in_metadata_or_in_clear_in_redis(redis_server, ring):
    scalar = ring.signing_key()[1].private_numbers().private_value.to_bytes(32, "big")
    stored = b"".join(redis_server.hvals("hc:{keys}"))
    assert scalar not in stored
    assert base64.urlsafe_b64encode(scalar).rstrip(b"=") not in stored
    assert all(set(k) == {"kid", "x", "y", "status", "created_at", "not_after"} for k in ring.keys())


def test_a_ring_lost_from_the_store_is_recreated_instead_of_failing_reads(redis_server):
    from adapters.signing.keyring import RedisKeyRing

    ring = RedisKeyRing(redis_server, b"k" * 32, "HC-T", refresh_seconds=0)
    first = ring.ensure_active_key()
    redis_server.flushdb()
    kid, _ = ring.signing_key()
    assert kid and ring.keys()[0]["kid"] != first


# -- one code, one text ------------------------------------------------------------------------


def _parts(qr: str) -> tuple[bytes, dict, bytes, bytes]:
    protected, unprotected, payload, signature = cbor2.loads(cose_bytes(qr)).value
    return protected, dict(unprotected), payload, signature


def _rebuilt(protected: bytes, unprotected: dict, payload: bytes, signature: bytes) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, signature]))


def test_every_signature_is_low_s(codec):
    for _ in range(40):  # a high S would turn up about every other signature without the rule
        signature = _parts(codec.sign(claims()))[3]
        assert int.from_bytes(signature[32:], "big") <= P256_N // 2


def test_the_high_s_twin_of_a_genuine_code_is_refused(codec):
    qr = codec.sign(claims())
    protected, unprotected, payload, signature = _parts(qr)
    twin = signature[:32] + (P256_N - int.from_bytes(signature[32:], "big")).to_bytes(32, "big")
    assert codec.verify(qr)  # the genuine text
    assert reason_of(codec, qr_of(_rebuilt(protected, unprotected, payload, twin)))[0] == "bad_signature"


@pytest.mark.parametrize("suffix", ["\n", "\n\n", " ", "%"])
def test_a_genuine_code_with_anything_after_it_is_malformed(codec, suffix):
    assert reason_of(codec, codec.sign(claims()) + suffix)[0] == "malformed"


def test_a_genuine_code_with_anything_before_it_is_malformed(codec):
    assert reason_of(codec, " " + codec.sign(claims()))[0] == "malformed"


def _indefinite_bytes(data: bytes) -> bytes:
    """The same byte string as an indefinite-length CBOR item (two chunks, then break)."""
    half = len(data) // 2
    return b"\x5f" + cbor2.dumps(data[:half]) + cbor2.dumps(data[half:]) + b"\xff"


def test_an_indefinite_length_protected_header_is_malformed(codec):
    protected, _, payload, signature = _parts(codec.sign(claims()))
    # tag 18, array(4), <protected as indefinite bytes>, {}, payload, signature
    message = (b"\xd2\x84" + _indefinite_bytes(protected) + b"\xa0" + cbor2.dumps(payload)
               + cbor2.dumps(signature))
    assert cbor2.loads(message).value[0] == protected  # cbor2 alone would read it as the same code
    assert reason_of(codec, qr_of(message))[0] == "malformed"


@pytest.mark.parametrize("encoding", ["long tag", "long array header", "unprotected header"])
def test_other_encodings_of_the_same_code_are_malformed(codec, encoding):
    protected, unprotected, payload, signature = _parts(codec.sign(claims()))
    genuine = _rebuilt(protected, unprotected, payload, signature)
    if encoding == "long tag":
        message = b"\xd8\x12" + genuine[1:]  # tag 18 in two bytes instead of one
    elif encoding == "long array header":
        message = genuine[:1] + b"\x98\x04" + genuine[2:]  # array(4) with a one-byte length
    else:
        message = _rebuilt(protected, {4: b"x"}, payload, signature)  # unsigned, so refused
    assert reason_of(codec, qr_of(message))[0] == "malformed"
