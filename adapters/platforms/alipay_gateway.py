"""One Alipay app's client for the open-platform gateway (python-alipay-sdk ≥ 3.4, RSA2), with
the gateway's failures in core terms.

Checked against python-alipay-sdk 3.4.0 (alipay/__init__.py; PLATFORMS.md §B):
- `server_api(method, biz_content, **params)` signs the common parameters plus `params` and does
  an HTTP GET of gateway?query (urlopen); extra `params` are top-level public parameters, which
  is where alipay.system.oauth.token wants grant_type and code (not in biz_content).
- A reply carrying `error_response`, or no `sign`, raises AliPayException(code, message=<the
  raw reply>), only keyword arguments, so `exc.args` is empty; a reply whose sign does not
  verify raises AliPayValidationError; a reply with neither a sign nor the response block dies
  in the SDK on `None.get` (AttributeError).
- The gateway URL has no constructor parameter: `_gateway` is what it reads.
- Requests are stamped with the server's local time (`datetime.now()`), while Alipay expects
  Beijing time, as its Java SDK sends (alipay/alipay-easysdk#61): we pass `timestamp` ourselves.
"""
from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import textwrap
from collections.abc import Mapping
from typing import Any

from alipay import AliPay, AliPayConfig, AliPayException, AliPayValidationError

from core.clock import Clock
from core.errors import Msg, PlatformUnavailable

log = logging.getLogger("healthcode.platforms.alipay")

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
SUCCESS = "10000"
"""`code` of a successful response block (alipay.system.oauth.token's has no code at all)."""
BUSINESS_FAILED = "40004"
"""`code` of a request the gateway understood and refused for the user's reasons (业务处理失败)."""


class AlipayRefused(Exception):
    """The gateway answered, and said no: the `code` and `sub_code` of its refusal.

    Either an `error_response` (never verified: the SDK raises before checking its sign, so
    at worst a forged one refuses a request) or a verified response block whose code is not 10000.
    """

    def __init__(self, api: str, code: str, sub_code: str) -> None:
        super().__init__(api, code, sub_code)
        self.api = api
        self.code = code
        self.sub_code = sub_code


def pem(key: str, kind: str) -> str:
    """A key as PEM; the Alipay console shows keys as bare base64, which the SDK cannot load."""
    if "-----BEGIN" in key:
        return key
    body = "\n".join(textwrap.wrap("".join(key.split()), 64))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"


def _refusal(api: str, raw: str) -> Exception:
    """What a reply the SDK raised AliPayException for says: a refusal, or an unsigned reply."""
    try:
        error = json.loads(raw).get("error_response")
    except (ValueError, AttributeError):
        error = None
    if not isinstance(error, dict):
        return AliPayValidationError()  # no sign: as good as a wrong one
    return AlipayRefused(api, str(error.get("code", "")), str(error.get("sub_code", "")))


class AlipayClient(AliPay):  # type: ignore[misc]  # the SDK ships no types
    """The SDK's AliPay for one app, pointed at `gateway`; `call` answers in core terms."""

    def __init__(self, app_id: str, app_private_key_pem: str, alipay_public_key_pem: str,
                 gateway: str, timeout: float, clock: Clock) -> None:
        super().__init__(
            appid=app_id,
            app_private_key_string=pem(app_private_key_pem, "PRIVATE KEY"),
            alipay_public_key_string=pem(alipay_public_key_pem, "PUBLIC KEY"),
            sign_type="RSA2",
            config=AliPayConfig(timeout=timeout),
        )
        self._gateway = gateway
        self._clock = clock

    def _timestamp(self) -> str:
        return dt.datetime.fromtimestamp(self._clock.now(), BEIJING).strftime("%Y-%m-%d %H:%M:%S")

    def _verify_and_return_sync_response(self, raw_string: str, response_type: str) -> Any:
        # The SDK keeps the reply only as the private message of AliPayException: read the
        # refusal's code and sub_code from the reply here, where we still have it.
        try:
            return super()._verify_and_return_sync_response(raw_string, response_type)
        except AliPayException:
            raise _refusal(response_type, raw_string) from None

    def call(self, api: str, biz_content: Mapping[str, Any] | None = None, **params: str) -> dict[str, Any]:
        """The verified response block of `api`; AlipayRefused when the gateway said no,
        PlatformUnavailable when it failed, timed out, or its reply does not verify."""
        try:
            reply = self.server_api(api, dict(biz_content or {}), timestamp=self._timestamp(), **params)
        except AlipayRefused as refused:
            refused.api = api
            raise
        except AliPayValidationError as exc:
            raise self._unavailable(api, exc) from None
        except (OSError, http.client.HTTPException, ValueError, AttributeError) as exc:
            # OSError: timeouts, refused connections, HTTP 5xx (urllib's HTTPError); ValueError:
            # a reply that is not JSON; AttributeError: the SDK on a reply without sign or block.
            raise self._unavailable(api, exc) from None
        if not isinstance(reply, dict):
            raise self._unavailable(api, TypeError())
        code = reply.get("code")
        if code is not None and str(code) != SUCCESS:
            raise AlipayRefused(api, str(code), str(reply.get("sub_code", "")))
        return reply

    def page_url(self, api: str, biz_content: Mapping[str, Any]) -> str:
        """A signed gateway URL for a page-type API, opened by the user rather than called."""
        return f"{self._gateway}?{self.client_api(api, dict(biz_content), timestamp=self._timestamp())}"

    def verify_content(self, content: str, sign: str) -> bool:
        """Whether `sign` is Alipay's RSA2 signature of `content` (the SDK's own check; it has no
        public method for a bare string, e.g. my.getPhoneNumber's quoted ciphertext)."""
        try:
            return bool(self._verify(content, sign))
        except (ValueError, TypeError):  # not base64
            return False

    def verify_params(self, params: Mapping[str, Any], sign: str) -> bool:
        """Whether `sign` is Alipay's RSA2 signature of notification parameters (`sign` removed).

        The SDK's verify() drops sign_type (and refuses a different one), JSON-dumps dict values,
        sorts and joins k=v with &; it changes the dict it is given, so it gets a copy.
        """
        try:
            return bool(self.verify(dict(params), sign))
        except (AliPayException, ValueError, TypeError):
            return False

    @staticmethod
    def _unavailable(api: str, exc: BaseException) -> PlatformUnavailable:
        # The type only: urllib's messages carry the request URL, signed code and all.
        log.warning("alipay %s failed: %s", api, type(exc).__name__)
        return PlatformUnavailable(Msg.PLATFORM_UNAVAILABLE)
