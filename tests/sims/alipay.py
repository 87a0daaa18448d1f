"""A local Alipay open-platform gateway (`/gateway.do`), speaking its wire format over real HTTP.

Like Alipay it checks each request's RSA2 signature with the app's public key (sign removed,
the other parameters sorted and joined k=v with &, sign_type included), and signs each reply
with its own key over the exact text of the response block:
`{"<method_with_underscores>_response": {...}, "sign": "..."}`, or `{"error_response": ...}`.

Answers: alipay.system.oauth.token (single-use codes: a second use is error_response 40002
isv.code-invalid), alipay.user.certify.open.initialize / .certify (the page: opening its signed
URL completes the face check) / .query, alipay.open.app.mini.templatemessage.send. It also
makes what Alipay sends to the app: signed MsgAPI messages and my.getPhoneNumber proofs.

It signs with `cryptography`, not with the SDK, so the adapter is checked against a second
implementation of the same rules. `misbehave` makes the next replies fail in one way.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from werkzeug.wrappers import Request, Response

BEIJING = dt.timezone(dt.timedelta(hours=8))
OK = {"code": "10000", "msg": "Success"}


@dataclass(frozen=True)
class KeyPair:
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @property
    def private_pem(self) -> str:
        return self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode()

    @property
    def public_pem(self) -> str:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, content: str) -> str:
        """RSA2: SHA256withRSA, PKCS#1 v1.5, base64."""
        return base64.b64encode(self.private.sign(content.encode(), PKCS1v15(), hashes.SHA256())).decode()

    def verifies(self, content: str, sign: str) -> bool:
        try:
            self.private.public_key().verify(base64.b64decode(sign), content.encode(), PKCS1v15(), hashes.SHA256())
        except Exception:
            return False
        return True


def sign_content(params: dict[str, Any]) -> str:
    """The text Alipay signs: parameters sorted by name, k=v joined with &."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()))


def encrypt(plaintext: bytes, key: bytes) -> str:
    """Alipay's content encryption: AES-CBC, zero IV, PKCS#7, base64."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


@dataclass
class Certification:
    app_id: str
    cert_name: str
    cert_no: str
    return_url: str
    passed: str = "F"


@dataclass
class AlipaySimulator:
    """The gateway's state: what it issued, what it was asked, and how it should misbehave."""

    alipay_key: KeyPair
    app_keys: dict[str, KeyPair]  # app id → the app's key pair (the gateway knows the public half)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    certifications: dict[str, Certification] = field(default_factory=dict)
    face_mismatch: set[str] = field(default_factory=set)  # cert_no whose face check fails
    cert_refused: set[str] = field(default_factory=set)  # cert_no Alipay cannot check (40004)
    order_numbers: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    unreachable: set[str] = field(default_factory=set)  # users a message cannot reach
    requests: list[dict[str, str]] = field(default_factory=list)
    misbehave: str | None = None  # "timeout", "500", "forged", "unsigned", "garbage"
    delay: float = 2.0

    # -- what the test sets up ------------------------------------------------------------------

    def issue_code(self, user_id: str | None = None, open_id: str | None = None) -> str:
        """A my.getAuthCode code for this user, good once."""
        code = secrets.token_hex(16)
        self.codes[code] = {k: v for k, v in (("user_id", user_id), ("open_id", open_id)) if v}
        return code

    def notification(self, msg_method: str, biz: dict[str, Any], app_id: str, *, notify_id: str | None = None,
                     sent_at: float | None = None, key: KeyPair | None = None) -> dict[str, str]:
        """A MsgAPI v1.1 message, signed over everything but sign and sign_type."""
        fields = {
            "notify_id": notify_id or secrets.token_hex(16),
            "utc_timestamp": str(int((time.time() if sent_at is None else sent_at) * 1000)),
            "msg_method": msg_method,
            "app_id": app_id,
            "version": "1.1",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
            "charset": "UTF-8",
        }
        fields["sign"] = (key or self.alipay_key).sign(sign_content(fields))
        fields["sign_type"] = "RSA2"
        return fields

    def phone_proof(self, aes_key: bytes, content: dict[str, str], *, key: KeyPair | None = None,
                    quoted: bool = True) -> str:
        """my.getPhoneNumber's `res.response`: ciphertext signed *in double quotes*."""
        ciphertext = encrypt(json.dumps(content).encode(), aes_key)
        signed = f'"{ciphertext}"' if quoted else ciphertext
        return json.dumps({"response": ciphertext, "sign": (key or self.alipay_key).sign(signed),
                           "sign_type": "RSA2", "encrypt_type": "AES", "charset": "UTF-8"})

    # -- the gateway ----------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        if request.path != "/gateway.do":
            return Response("not found", status=404)
        if self.misbehave == "timeout":
            time.sleep(self.delay)
        if self.misbehave == "500":
            return Response("<html>502 Bad Gateway</html>", status=500, content_type="text/html")
        params = request.args.to_dict()
        self.requests.append(dict(params))
        method = params.get("method", "")
        refusal = self._check_request(params)
        if refusal:
            return self._reply("error_response", refusal)
        if method == "alipay.user.certify.open.certify":
            return self._certify_page(json.loads(params.get("biz_content") or "{}"))
        handler = {
            "alipay.system.oauth.token": self._oauth_token,
            "alipay.user.certify.open.initialize": self._certify_initialize,
            "alipay.user.certify.open.query": self._certify_query,
            "alipay.open.app.mini.templatemessage.send": self._template_message,
        }.get(method)
        if handler is None:
            return self._reply("error_response", _error("40002", "isv.invalid-method", "不存在的方法名"))
        block = handler(params, json.loads(params.get("biz_content") or "{}"))
        if "error_response" in block:
            return self._reply("error_response", block["error_response"])
        return self._reply(method.replace(".", "_") + "_response", block)

    def _check_request(self, params: dict[str, str]) -> dict[str, str] | None:
        app = self.app_keys.get(params.get("app_id", ""))
        if app is None:
            return _error("40002", "isv.invalid-app-id", "无效的AppID参数")
        sign = params.pop("sign", "")
        if params.get("sign_type") != "RSA2" or not app.verifies(sign_content(params), sign):
            return _error("40002", "isv.invalid-signature", "验签出错")
        try:
            stamped = dt.datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        except ValueError:
            return _error("40002", "isv.invalid-timestamp", "非法的时间戳参数")
        # Beijing time, as Alipay's Java SDK sends it; the ±10 min window is this simulator's guess.
        if abs(stamped.timestamp() - time.time()) > 600:
            return _error("40002", "isv.invalid-timestamp", "非法的时间戳参数")
        return None

    def _reply(self, block_name: str, block: dict[str, Any]) -> Response:
        content = json.dumps(block, ensure_ascii=False, separators=(",", ":"))
        if self.misbehave == "garbage":
            return Response("<html>系统繁忙</html>", content_type="text/html")
        if self.misbehave == "unsigned":
            return Response(f'{{"{block_name}":{content}}}', content_type="application/json")
        key = KeyPair.generate() if self.misbehave == "forged" else self.alipay_key
        body = f'{{"{block_name}":{content},"sign":"{key.sign(content)}"}}'
        return Response(body, content_type="application/json;charset=utf-8")

    # -- the APIs -------------------------------------------------------------------------------

    def _oauth_token(self, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
        if params.get("grant_type") != "authorization_code":  # top-level, not in biz_content
            return {"error_response": _error("40002", "isv.grant-type-invalid", "grant_type参数不正确")}
        user = self.codes.pop(params.get("code", ""), None)
        if user is None:
            return {"error_response": _error("40002", "isv.code-invalid", "授权码code无效")}
        return {"access_token": "authusrB" + secrets.token_hex(16), "expires_in": 1296000,
                "re_expires_in": 2592000, "refresh_token": "authusrB" + secrets.token_hex(16),
                "auth_start": dt.datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S"), **user}

    def _certify_initialize(self, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
        identity = biz.get("identity_param") or {}
        order = str(biz.get("outer_order_no", ""))
        if not re.fullmatch(r"[0-9A-Za-z]{32}", order) or biz.get("biz_code") != "FACE" \
                or identity.get("identity_type") != "CERT_INFO" or identity.get("cert_type") != "IDENTITY_CARD" \
                or not identity.get("cert_name") or not identity.get("cert_no") \
                or not (biz.get("merchant_config") or {}).get("return_url"):
            return {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-parameter"}
        if identity["cert_no"] in self.cert_refused:
            return {"code": "40004", "msg": "Business Failed", "sub_code": "CERT_NO_INVALID"}
        if order in self.order_numbers:
            return {"code": "40004", "msg": "Business Failed", "sub_code": "OUTER_ORDER_NO_DUPLICATE"}
        self.order_numbers.add(order)
        certify_id = secrets.token_hex(16)
        self.certifications[certify_id] = Certification(params["app_id"], identity["cert_name"],
                                                        identity["cert_no"], biz["merchant_config"]["return_url"])
        return {**OK, "certify_id": certify_id}

    def _certify_page(self, biz: dict[str, Any]) -> Response:
        """The user opened the certify page and showed their face."""
        certification = self.certifications.get(str(biz.get("certify_id")))
        if certification is None:
            return Response("认证单据不存在", status=400)
        certification.passed = "F" if certification.cert_no in self.face_mismatch else "T"
        return Response("<html>认证完成</html>", content_type="text/html")

    def _certify_query(self, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
        certification = self.certifications.get(str(biz.get("certify_id")))
        if certification is None or certification.app_id != params["app_id"]:
            return {"code": "40004", "msg": "Business Failed", "sub_code": "CERTIFY_ID_INVALID"}
        return {**OK, "passed": certification.passed, "identity_info": "{}", "material_info": "{}"}

    def _template_message(self, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
        user = biz.get("to_user_id") or biz.get("to_open_id")
        if not user or not biz.get("user_template_id"):
            return {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.missing-parameter"}
        if user in self.unreachable:
            return {"code": "40004", "msg": "Business Failed", "sub_code": "USER_NOT_SUBSCRIBE"}
        self.messages.append({"app_id": params["app_id"], **biz})
        return dict(OK)


def _error(code: str, sub_code: str, sub_msg: str) -> dict[str, str]:
    return {"code": code, "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}
