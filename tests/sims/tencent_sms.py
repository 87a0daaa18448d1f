"""A simulator of sms.tencentcloudapi.com (SendSms, API 2021-01-11), served by tests/sims/server.py.

It checks what Tencent Cloud checks before sending:
- POST / with X-TC-Action: SendSms, X-TC-Version: 2021-01-11 and a region SMS serves;
- the TC3-HMAC-SHA256 Authorization (signature v3 doc): X-TC-Timestamp within 5 minutes of its
  clock, the credential scope's date that of the timestamp, its service "sms" (the SDK signs with
  SmsClient._service, not with the endpoint's first label, so a 127.0.0.1 endpoint still signs
  "sms"), and the signature recomputed over the canonical request with the secret key;
- the SdkAppId (a request-level error), then per number: its format, the sign name, the template
  and its parameter count, and the 30-second limit of one number.

A request-level failure answers {"Response": {"Error": {"Code", "Message"}, "RequestId"}}, a sent
or refused number one entry of {"Response": {"SendStatusSet": [...], "RequestId"}}, as the API does.
Tests tell it to `refuse` a number, to answer a `limit` code for one, `fail_auth`, be slow
(`delay`), answer an HTTP error (`http_status`), a request-level `error` or another `content_type`; `sent` has the
messages, rendered with the template.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

ACTION, VERSION, SERVICE = "SendSms", "2021-01-11", "sms"
REGIONS = {"ap-guangzhou", "ap-beijing", "ap-nanjing"}
MAX_SKEW = 300
TEMPLATE = "您的验证码为{1}，{2}分钟内有效。"
AUTHORIZATION = re.compile(r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})"
                           r"/(?P<service>[^/]+)/tc3_request, SignedHeaders=(?P<headers>[a-z0-9;-]+),"
                           r" Signature=(?P<signature>[0-9a-f]{64})")
# Domestic numbers come as +86, 0086, 86 or the bare 11 digits (SendSmsRequest.PhoneNumberSet).
DOMESTIC = re.compile(r"(?:\+86|0086|86)?(?P<national>1[3-9]\d{9})")
INTERNATIONAL = re.compile(r"\+(?!86)[1-9]\d{6,14}")
MESSAGES = {
    "Ok": "send success",
    "InvalidParameterValue.IncorrectPhoneNumber": "incorrect phone number",
    "FailedOperation.SignatureIncorrectOrUnapproved": "signature format is incorrect or signature is not approved",
    "FailedOperation.TemplateIncorrectOrUnapproved": "template format is incorrect or template is not approved",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": "the template params do not match the template",
    "LimitExceeded.PhoneNumberThirtySecondLimit": "the number has reached its 30-second limit",
    "LimitExceeded.PhoneNumberOneHourLimit": "the number has reached its one-hour limit",
    "LimitExceeded.PhoneNumberDailyLimit": "the number has reached its daily limit",
}


def tc3_signature(secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    """HMAC-SHA256 under the key derived from "TC3" + key, the date, the service, "tc3_request"."""
    key = ("TC3" + secret_key).encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def canonical_request(request: Request, signed_headers: list[str]) -> str:
    """Method, URI, query, the signed headers (lower-cased, trimmed), their names, the body's SHA-256."""
    headers = "".join(f"{name}:{request.headers.get(name, '').strip().lower()}\n" for name in signed_headers)
    body_hash = hashlib.sha256(request.get_data()).hexdigest()
    return "\n".join([request.method, request.path, request.query_string.decode(), headers,
                      ";".join(signed_headers), body_hash])


class Refused(Exception):
    """A request-level error: the whole call answers Error{Code, Message}."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code, self.message = code, message


@dataclass(frozen=True)
class SentSms:
    phone: str  # as Tencent answers it: +86…
    sign_name: str
    template_id: str
    params: list[str]
    text: str  # 【sign】 and the template with its params


@dataclass
class TencentSmsSimulator:
    """The simulated SMS service of one account: its key, its SMS app, one sign and one template."""

    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_name: str
    template_id: str
    template: str = TEMPLATE
    thirty_second_limit: bool = True  # Tencent's default: one message a number per 30 s
    refused: set[str] = field(default_factory=set)  # numbers answering IncorrectPhoneNumber
    limits: dict[str, str] = field(default_factory=dict)  # number -> the LimitExceeded.* (or other) code it answers
    fail_auth: bool = False  # every signature fails, as with a disabled or rotated key
    error: tuple[str, str] | None = None  # a request-level (code, message) for every call
    delay: float = 0.0
    http_status: int | None = None
    # The API answers exactly "application/json"; the SDK reads an Error only under that type (or
    # text/plain): with another it returns a response without SendStatusSet.
    content_type: str = "application/json"
    clock: Callable[[], float] = time.time
    sent: list[SentSms] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)  # the credential scope of each signed call
    _last_sent: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse(self, phone: str) -> None:
        self.refused.add(phone)

    def limit(self, phone: str, code: str = "LimitExceeded.PhoneNumberDailyLimit") -> None:
        self.limits[phone] = code

    # -- the wire ----------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        if self.delay:
            time.sleep(self.delay)
        if self.http_status:
            return Response("upstream failure", status=self.http_status)
        request_id = str(uuid.uuid4())
        try:
            self._check_call(request)
            self._check_signature(request)
            if self.error:
                raise Refused(*self.error)
            body = self._body(request)
            statuses = [self._send(phone, body) for phone in body["PhoneNumberSet"]]
        except Refused as e:
            return self._json({"Error": {"Code": e.code, "Message": e.message}, "RequestId": request_id})
        return self._json({"SendStatusSet": statuses, "RequestId": request_id})

    def _json(self, response: dict[str, Any]) -> Response:
        return Response(json.dumps({"Response": response}, ensure_ascii=False), content_type=self.content_type)

    def _check_call(self, request: Request) -> None:
        if request.method != "POST" or request.path != "/":
            raise Refused("UnsupportedProtocol", "SendSms is POST /")
        if request.headers.get("X-TC-Action") != ACTION:
            raise Refused("InvalidAction", "the action does not exist")
        if request.headers.get("X-TC-Version") != VERSION:
            raise Refused("NoSuchVersion", "the API version does not exist")
        if request.headers.get("X-TC-Region") not in REGIONS:
            raise Refused("UnsupportedRegion", "SMS is not served in this region")

    def _check_signature(self, request: Request) -> None:
        found = AUTHORIZATION.fullmatch(request.headers.get("Authorization", ""))
        if not found:
            raise Refused("AuthFailure.InvalidAuthorization", "the Authorization header is not TC3-HMAC-SHA256")
        try:
            timestamp = int(request.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            raise Refused("AuthFailure.InvalidAuthorization", "X-TC-Timestamp is missing") from None
        self.scopes.append(f"{found['date']}/{found['service']}/tc3_request")
        if abs(self.clock() - timestamp) > MAX_SKEW:
            raise Refused("AuthFailure.SignatureExpire", "the signature has expired")
        if found["id"] != self.secret_id:
            raise Refused("AuthFailure.SecretIdNotFound", "the SecretId does not exist")
        signed_headers = found["headers"].split(";")
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        if found["date"] != date or found["service"] != SERVICE or not {"content-type", "host"} <= set(signed_headers):
            raise Refused("AuthFailure.SignatureFailure", "the credential scope or signed headers are wrong")
        digest = hashlib.sha256(canonical_request(request, signed_headers).encode()).hexdigest()
        string_to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{SERVICE}/tc3_request\n{digest}"
        expected = tc3_signature(self.secret_key, date, SERVICE, string_to_sign)
        if self.fail_auth or not hmac.compare_digest(expected, found["signature"]):
            raise Refused("AuthFailure.SignatureFailure", "the signature does not match")

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_data())
        except ValueError:
            raise Refused("FailedOperation.JsonParseFail", "the body is not JSON") from None
        phones = body.get("PhoneNumberSet")
        if not isinstance(phones, list) or not phones:
            raise Refused("MissingParameter.EmptyPhoneNumberSet", "PhoneNumberSet is empty")
        if len(phones) > 200:
            raise Refused("LimitExceeded.PhoneNumberCountLimit", "more than 200 numbers")
        if body.get("SmsSdkAppId") != self.sdk_app_id:
            raise Refused("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "the SmsSdkAppId is not this account's")
        return body

    def _send(self, phone: str, body: dict[str, Any]) -> dict[str, Any]:
        number = _e164(phone)
        params = [str(param) for param in body.get("TemplateParamSet") or []]
        if number is None or phone in self.refused:
            code = "InvalidParameterValue.IncorrectPhoneNumber"
        elif body.get("SignName") != self.sign_name:
            code = "FailedOperation.SignatureIncorrectOrUnapproved"
        elif body.get("TemplateId") != self.template_id:
            code = "FailedOperation.TemplateIncorrectOrUnapproved"
        elif len(params) != len(re.findall(r"\{\d+\}", self.template)):
            code = "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
        else:
            code = self.limits.get(phone) or self._record(number, params)
        status = {"SerialNo": "", "PhoneNumber": number or phone, "Fee": 0, "SessionContext": "",
                  "Code": code, "Message": MESSAGES.get(code, code), "IsoCode": "CN" if number else ""}
        if code == "Ok":
            status.update(SerialNo=f"2433:{uuid.uuid4().int % 10**20}", Fee=1)
        return status

    def _record(self, number: str, params: list[str]) -> str:
        with self._lock:
            now = self.clock()
            if self.thirty_second_limit and now - self._last_sent.get(number, -30.0) < 30:
                return "LimitExceeded.PhoneNumberThirtySecondLimit"
            self._last_sent[number] = now
            text = self.template
            for index, param in enumerate(params, start=1):
                text = text.replace(f"{{{index}}}", param)
            self.sent.append(SentSms(number, self.sign_name, self.template_id, params, f"【{self.sign_name}】{text}"))
        return "Ok"


def _e164(phone: str) -> str | None:
    domestic = DOMESTIC.fullmatch(phone)
    if domestic:
        return "+86" + domestic["national"]
    return phone if INTERNATIONAL.fullmatch(phone) else None
