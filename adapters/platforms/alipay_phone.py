"""Alipay's phone authorization (my.getPhoneNumber): verify, then decrypt, the mini-program's proof.

The mini-program hands us `res.response`, a JSON string
`{"response": "<base64 ciphertext>", "sign": "...", "sign_type": "RSA2", "encrypt_type": "AES",
"charset": "UTF-8"}` (PLATFORMS.md §B2):
- the sign is Alipay's RSA2 (SHA256withRSA) signature of the ciphertext *wrapped in double
  quotes*, checked with the Alipay public key;
- the ciphertext is AES-CBC under the app's content-encryption (AES) key with a zero IV and
  PKCS#5/7 padding (Alipay's EncryptUtils.aes_decrypt_content, alipay-sdk-python-all);
- the plaintext is `{"code": "10000", "msg": "Success", "mobile": "..."}`, or an error such as
  code 40003 isv.invalid-auth-relations.
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from adapters.platforms.alipay_gateway import SUCCESS, AlipayClient, log
from core.errors import InvalidInput, Msg

ZERO_IV = bytes(16)


class PhoneProofInvalid(ValueError):
    """Why a proof was refused, for the log (never its content)."""


def aes_key(aes_key_b64: str) -> bytes:
    """The app's AES key from its base64 form (the console shows 128 bits, 24 characters)."""
    key = base64.b64decode(aes_key_b64, validate=True)
    if len(key) not in (16, 24, 32):
        raise ValueError("the Alipay AES key must decode to 16, 24 or 32 bytes")
    return key


def decrypt(ciphertext_b64: str, key: bytes) -> bytes:
    """AES-CBC with a zero IV, PKCS#7 unpadded; ValueError when it does not decrypt."""
    ciphertext = base64.b64decode(ciphertext_b64, validate=True)
    if not ciphertext or len(ciphertext) % 16:
        raise PhoneProofInvalid("ciphertext length")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(ZERO_IV)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def _envelope(proof: Mapping[str, str]) -> dict[str, Any]:
    raw = proof.get("response")
    envelope = json.loads(raw) if isinstance(raw, str) else None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("response"), str) \
            or not isinstance(envelope.get("sign"), str):
        raise PhoneProofInvalid("shape")
    if envelope.get("sign_type", "RSA2") != "RSA2" or envelope.get("encrypt_type", "AES") != "AES":
        raise PhoneProofInvalid("sign or encrypt type")
    return envelope


def mobile_of(proof: Mapping[str, str], client: AlipayClient, key: bytes) -> str:
    """The mobile number Alipay vouches for in `proof`; InvalidInput(PHONE_PROOF_INVALID) otherwise."""
    try:
        envelope = _envelope(proof)
        if not client.verify_content(f'"{envelope["response"]}"', envelope["sign"]):
            raise PhoneProofInvalid("sign")
        content = json.loads(decrypt(envelope["response"], key))
        if not isinstance(content, dict) or content.get("code") != SUCCESS:
            raise PhoneProofInvalid("code")  # e.g. 40003 isv.invalid-auth-relations
        mobile = content.get("mobile")
        if not isinstance(mobile, str) or not mobile.strip().isdigit():
            raise PhoneProofInvalid("mobile")
    except (ValueError, binascii.Error) as exc:
        # The reason, never the proof: the mobile number is in it.
        log.info("alipay phone proof refused: %s", exc if isinstance(exc, PhoneProofInvalid) else type(exc).__name__)
        raise InvalidInput(Msg.PHONE_PROOF_INVALID) from None
    return mobile.strip()
