"""A simulator of api.weixin.qq.com for the WeChat adapter's tests, served by tests/sims/server.py.

It speaks the wire format of the endpoints the adapter calls (PLATFORMS.md A1–A6) and behaves the
way the adapter has to cope with:
- `cgi-bin/token` issues access tokens with an expiry; `expire_tokens()` / `invalidate_tokens()`
  make the issued ones answer 42001 / 40001, `reject_all_tokens` makes every token fail (40001).
- every other call checks its `access_token` first, like WeChat (wechatpy sends one everywhere).
- `sns/jscode2session`: codes are single-use (second use 40163), unknown codes 40029, and a code
  can be told to answer 40226, 45011 or -1.
- `wxa/business/getuserphonenumber`: single-use phone codes.
- `cityservice/face/identify/getverifyid` / `queryverifyinfo`: the simulator decides the verify_ret
  of each verify_id and checks out_seq_no, openid and cert_hash against what getverifyid saw.
- `cgi-bin/message/subscribe/send`: records messages; 43101 for users who did not subscribe.
- `delays` (path -> seconds) and `http_status` (path -> status) for timeouts and 5xx.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

TOKEN_TTL = 7200
OUT_SEQ_NO = re.compile(r"[0-9A-Za-z_-]{5,32}")
# Subscribe-message value limits (subscribeMessage.send, 订阅消息参数值内容限制).
VALUE_LIMITS = {"thing": 20, "phrase": 5, "time": 64, "name": 10}


def cert_hash(cert_type: str, cert_name: str, cert_no: str) -> str:
    """sha256-hex of cert_type=<b64>&cert_name=<b64>&cert_no=<b64> (queryVerifyInfo doc)."""
    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    text = f"cert_type={b64(cert_type)}&cert_name={b64(cert_name)}&cert_no={b64(cert_no)}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Grant:
    """What jscode2session answers for one login code."""

    openid: str
    session_key: str
    unionid: str | None = None
    errcode: int = 0


@dataclass
class FaceSession:
    app_id: str
    openid: str
    out_seq_no: str
    cert_hash: str
    verify_ret: int


@dataclass
class WeChatSimulator:
    """The simulated WeChat servers; tests set the fields, then read what was called."""

    apps: dict[str, str] = field(default_factory=dict)  # app id -> secret
    grants: dict[str, Grant] = field(default_factory=dict)  # login code -> grant
    used_codes: set[str] = field(default_factory=set)
    phone_codes: dict[str, str] = field(default_factory=dict)  # phone code -> pure number
    subscribed: set[tuple[str, str]] = field(default_factory=set)  # (openid, template id)
    face_verify_ret: int = 10000  # the verify_ret of the next face sessions
    face: dict[str, FaceSession] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    delays: dict[str, float] = field(default_factory=dict)
    http_status: dict[str, int] = field(default_factory=dict)
    reject_all_tokens: bool = False
    token_fetches: int = 0
    calls: list[str] = field(default_factory=list)  # paths, in order
    _tokens: dict[str, tuple[str, float, int]] = field(default_factory=dict)  # token -> app, expiry, code
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what tests tell it ------------------------------------------------------------------

    def grant(self, code: str, openid: str, session_key: str | None = None, unionid: str | None = None,
              errcode: int = 0) -> None:
        """Make `code` a login code for `openid` (or one that answers `errcode`)."""
        key = session_key or base64.b64encode(secrets.token_bytes(16)).decode()
        self.grants[code] = Grant(openid, key, unionid, errcode)

    def expire_tokens(self) -> None:
        """Every token issued so far answers 42001 (access_token expired) from now on."""
        self._spoil_tokens(42001)

    def invalidate_tokens(self) -> None:
        """Every token issued so far answers 40001 (invalid credential) from now on."""
        self._spoil_tokens(40001)

    def _spoil_tokens(self, errcode: int) -> None:
        with self._lock:
            for token, (app_id, expiry, _) in self._tokens.items():
                self._tokens[token] = (app_id, expiry, errcode)

    # -- the wire ----------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        path = request.path.lstrip("/")
        self.calls.append(path)
        if path in self.delays:
            time.sleep(self.delays[path])
        if path in self.http_status:
            return Response("upstream failure", status=self.http_status[path])
        route = ROUTES.get(path)
        if route is None:
            return _json({"errcode": 404, "errmsg": "no such api"}, status=404)
        if path != "cgi-bin/token":
            failure = self._check_token(request.args.get("access_token", ""))
            if failure:
                return _json(failure)
        return _json(route(self, request))

    def _check_token(self, token: str) -> dict[str, Any] | None:
        entry = self._tokens.get(token)
        if self.reject_all_tokens or entry is None:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        _, expiry, spoiled = entry
        if spoiled == 42001 or expiry < time.time():
            return {"errcode": 42001, "errmsg": "access_token expired"}
        if spoiled:
            return {"errcode": spoiled, "errmsg": "invalid credential"}
        return None

    def app_of(self, request: Request) -> str:
        return self._tokens[request.args["access_token"]][0]

    def token(self, request: Request) -> dict[str, Any]:
        app_id, secret = request.args.get("appid", ""), request.args.get("secret", "")
        if app_id not in self.apps:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if self.apps[app_id] != secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        with self._lock:
            self.token_fetches += 1
            token = "tok-" + secrets.token_urlsafe(24)
            self._tokens[token] = (app_id, time.time() + TOKEN_TTL, 0)
        return {"access_token": token, "expires_in": TOKEN_TTL}

    def jscode2session(self, request: Request) -> dict[str, Any]:
        args = request.args
        if self.apps.get(args.get("appid", "")) != args.get("secret"):
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        code = args.get("js_code", "")
        with self._lock:
            grant = self.grants.get(code)
            if grant is None:
                return {"errcode": 40029, "errmsg": "invalid code"}
            if code in self.used_codes:
                return {"errcode": 40163, "errmsg": "code been used"}
            self.used_codes.add(code)
        if grant.errcode:
            return {"errcode": grant.errcode, "errmsg": "refused"}
        body = {"openid": grant.openid, "session_key": grant.session_key}
        if grant.unionid:
            body["unionid"] = grant.unionid
        return body

    def getuserphonenumber(self, request: Request) -> dict[str, Any]:
        code = _body(request).get("code", "")
        with self._lock:
            phone = self.phone_codes.pop(code, None)
        if phone is None:
            return {"errcode": 40029, "errmsg": "invalid code"}
        # countryCode is a string in practice, although the doc example shows a number (A2).
        return {"errcode": 0, "errmsg": "ok", "phone_info": {
            "phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86",
            "watermark": {"timestamp": int(time.time()), "appid": self.app_of(request)}}}

    def getverifyid(self, request: Request) -> dict[str, Any]:
        body = _body(request)
        info = body.get("cert_info") or {}
        if (not OUT_SEQ_NO.fullmatch(str(body.get("out_seq_no", ""))) or not body.get("openid")
                or info.get("cert_type") != "IDENTITY_CARD" or not info.get("cert_name") or not info.get("cert_no")):
            return {"errcode": 40097, "errmsg": "invalid args"}
        verify_id = "vid-" + secrets.token_urlsafe(32)
        self.face[verify_id] = FaceSession(
            self.app_of(request), body["openid"], body["out_seq_no"],
            cert_hash(info["cert_type"], info["cert_name"], info["cert_no"]), self.face_verify_ret)
        return {"errcode": 0, "errmsg": "ok", "verify_id": verify_id, "expires_in": 3600}

    def queryverifyinfo(self, request: Request) -> dict[str, Any]:
        body = _body(request)
        session = self.face.get(str(body.get("verify_id", "")))
        if (session is None or session.app_id != self.app_of(request) or session.openid != body.get("openid")
                or session.out_seq_no != body.get("out_seq_no") or session.cert_hash != body.get("cert_hash")):
            return {"errcode": 40097, "errmsg": "invalid args"}
        return {"errcode": 0, "errmsg": "ok", "verify_ret": session.verify_ret}

    def subscribe_send(self, request: Request) -> dict[str, Any]:
        body = _body(request)
        if not isinstance(body.get("data"), dict) or not _values_fit(body["data"]):
            return {"errcode": 47003, "errmsg": "argument invalid! data.thing1.value invalid"}
        if (body.get("touser"), body.get("template_id")) not in self.subscribed:
            return {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
        self.sent.append(body)
        return {"errcode": 0, "errmsg": "ok", "msgid": len(self.sent)}


def _values_fit(data: dict[str, Any]) -> bool:
    for key, entry in data.items():
        kind = key.rstrip("0123456789")
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str) or not entry["value"]:
            return False
        if len(entry["value"]) > VALUE_LIMITS.get(kind, 20):
            return False
    return True


def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")


ROUTES = {
    "cgi-bin/token": WeChatSimulator.token,
    "sns/jscode2session": WeChatSimulator.jscode2session,
    "wxa/business/getuserphonenumber": WeChatSimulator.getuserphonenumber,
    "cityservice/face/identify/getverifyid": WeChatSimulator.getverifyid,
    "cityservice/face/identify/queryverifyinfo": WeChatSimulator.queryverifyinfo,
    "cgi-bin/message/subscribe/send": WeChatSimulator.subscribe_send,
}
