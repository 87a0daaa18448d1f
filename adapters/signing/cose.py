"""Health codes as COSE_Sign1 / CWT, base45, prefixed: the QR text (DESIGN §5).

The same shape as the EU Digital COVID Certificate, without zlib (the payload
is ~60 bytes): any standard COSE implementation verifies it with the public
keys of `/.well-known/health-code-keys`.

    QR text  = prefix || base45(COSE_Sign1)
    COSE_Sign1 = tag 18 [protected: bstr {1: -7 (ES256), 4: kid}, unprotected: {},
                         payload: bstr CWT claims, signature: r || s (64 bytes)]
    claims   = {1: iss, 4: exp, 6: iat, 7: cti (code id), -1: colour 0|1|2, -2: masked name}

RFC 9052 §4.4 (Sig_structure), RFC 9053 §2.1 (ES256 signature as r || s),
RFC 8392 (CWT claim keys). Expiry and status are checked by core, not here.

One code, one text (DESIGN §5): offline scanners de-duplicate by text, so exactly one text of
each code verifies. The signature is low-S (s ≤ n/2, as Bitcoin's BIP 62 and libsecp256k1
require: ECDSA's (r, n − s) verifies too), every CBOR item is in its one definite, shortest
encoding (RFC 8949 §4.2.1: re-encoding the decoded item gives the same bytes), the unprotected
header is empty (it is not signed), and the base45 text is exactly the encoding of the bytes,
with nothing before or after (RFC 9285). Anything else is `malformed` or `bad_signature`.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Protocol

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256

from adapters.signing.base45 import b45decode, b45encode
from adapters.signing.keyring import RetiredKey, kid_text
from core.codes import CodeClaims, InvalidCode
from core.model import Color

# QR version 8 at error correction M holds 221 alphanumeric characters (ISO/IEC 18004 Table 7).
MAX_QR_CHARS = 220

_ES256 = -7
_HDR_ALG, _HDR_KID = 1, 4
_ISS, _EXP, _IAT, _CTI, _COLOUR, _NAME = 1, 4, 6, 7, -1, -2
_COSE_SIGN1_TAG = 18
_COLOURS = sorted(Color, key=lambda c: c.severity)  # index = the colour's integer in the code
_ECDSA = ec.ECDSA(SHA256())
# The order of the P-256 group (SEC 2, §2.4.2); a signature's s above half of it is refused.
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_N = _P256_N // 2


class KeyRing(Protocol):
    def signing_key(self) -> tuple[bytes, ec.EllipticCurvePrivateKey]: ...

    def public_key(self, kid: bytes) -> ec.EllipticCurvePublicKey: ...


class CoseCodec:
    """CodeSigner and CodeVerifier over a key ring."""

    def __init__(self, keyring: KeyRing, prefix: str = "HC1:") -> None:
        self._keyring = keyring
        self._prefix = prefix
        self._protected: dict[bytes, bytes] = {}
        self._kid_texts: dict[bytes, str] = {}

    def key_id(self) -> str:
        kid = self._keyring.signing_key()[0]
        text = self._kid_texts.get(kid)
        if text is None:
            text = self._kid_texts[kid] = kid_text(kid)
        return text

    def sign(self, claims: CodeClaims) -> str:
        """The QR text for claims, signed with the ring's active key."""
        kid, private_key = self._keyring.signing_key()
        protected = self._protected.get(kid)
        if protected is None:
            protected = self._protected[kid] = cbor2.dumps({_HDR_ALG: _ES256, _HDR_KID: kid})
        payload = cbor2.dumps(
            {
                _ISS: claims.issuer,
                _EXP: claims.expires_at,
                _IAT: claims.issued_at,
                _CTI: claims.code_id,
                _COLOUR: claims.color.severity,
                _NAME: claims.name_masked,
            }
        )
        r, s = decode_dss_signature(private_key.sign(_sig_structure(protected, payload), _ECDSA))
        if s > _HALF_N:
            s = _P256_N - s  # the low-S twin: the one signature of this code that verifies
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        message = cbor2.dumps(cbor2.CBORTag(_COSE_SIGN1_TAG, [protected, {}, payload, signature]))
        qr = self._prefix + b45encode(message)
        if len(qr) > MAX_QR_CHARS:
            raise ValueError(f"code is {len(qr)} characters, over {MAX_QR_CHARS} (QR version 8-M)")
        return qr

    def verify(self, qr: str) -> CodeClaims:
        """The claims of a QR text whose format, key and signature are good; else InvalidCode."""
        if not isinstance(qr, str) or not qr.startswith(self._prefix) or len(qr) > 2 * MAX_QR_CHARS:
            raise InvalidCode("malformed", "not a health code")
        text = qr[len(self._prefix) :]
        try:
            raw = b45decode(text)
        except ValueError:
            raise InvalidCode("malformed", "not base45") from None
        if b45encode(raw) != text:  # exact already (one text per bytes); kept as a guard
            raise InvalidCode("malformed", "not exact base45")
        protected, payload, signature, header = _cose_sign1(_cbor_exact(raw, "not CBOR"))

        kid = header.get(_HDR_KID)
        if type(kid) is not bytes or not kid:
            raise InvalidCode("malformed", "no key id")
        try:
            public_key = self._keyring.public_key(kid)
        except RetiredKey:
            raise InvalidCode("unknown_key", "key_retired") from None
        except KeyError:
            raise InvalidCode("unknown_key") from None
        if header.get(_HDR_ALG) != _ES256 or len(signature) != 64:
            raise InvalidCode("bad_signature", "not ES256")
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if s > _HALF_N:
            raise InvalidCode("bad_signature", "high S")
        try:
            public_key.verify(encode_dss_signature(r, s), _sig_structure(protected, payload), _ECDSA)
        except InvalidSignature:
            raise InvalidCode("bad_signature") from None
        return _claims(payload, kid_text(kid))


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def _cbor_exact(data: bytes, what: str) -> object:
    """One CBOR item in its one encoding, and nothing after it (cbor2.loads ignores trailing
    bytes, and reads indefinite lengths and longer integer forms too); else malformed."""
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(stream, allow_duplicate_keys=False).decode()
        canonical = stream.tell() == len(data) and cbor2.dumps(item) == data
    except Exception:  # untrusted input: whatever the decoder raises, the code is malformed
        raise InvalidCode("malformed", what) from None
    if not canonical:
        raise InvalidCode("malformed", what)
    return item


def _cose_sign1(message: object) -> tuple[bytes, bytes, bytes, Mapping]:
    """(protected bytes, payload, signature, protected header) of a tagged COSE_Sign1."""
    if not isinstance(message, cbor2.CBORTag) or message.tag != _COSE_SIGN1_TAG:
        raise InvalidCode("malformed", "not COSE_Sign1")
    parts = message.value
    if not isinstance(parts, list | tuple) or len(parts) != 4:
        raise InvalidCode("malformed", "not COSE_Sign1")
    protected, unprotected, payload, signature = parts
    if not (
        type(protected) is bytes
        and isinstance(unprotected, Mapping)
        and not unprotected  # nothing unsigned rides along
        and type(payload) is bytes
        and type(signature) is bytes
    ):
        raise InvalidCode("malformed", "not COSE_Sign1")
    header = _cbor_exact(protected, "bad protected header")
    if not isinstance(header, Mapping):
        raise InvalidCode("malformed", "bad protected header")
    return protected, payload, signature, header


def _claims(payload: bytes, kid: str) -> CodeClaims:
    claims = _cbor_exact(payload, "bad claims")
    if not isinstance(claims, Mapping):
        raise InvalidCode("malformed", "bad claims")
    iss, exp, iat = claims.get(_ISS), claims.get(_EXP), claims.get(_IAT)
    cti, colour, name = claims.get(_CTI), claims.get(_COLOUR), claims.get(_NAME)
    # type() rather than isinstance(): a CBOR true must not pass as the integer 1.
    if not (
        type(iss) is str
        and type(exp) is int
        and type(iat) is int
        and type(cti) is bytes
        and type(colour) is int
        and 0 <= colour < len(_COLOURS)
        and type(name) is str
    ):
        raise InvalidCode("malformed", "bad claims")
    return CodeClaims(
        issuer=iss,
        code_id=cti,
        color=_COLOURS[colour],
        issued_at=iat,
        expires_at=exp,
        name_masked=name,
        kid=kid,
    )
