"""One mini-program's calls to WeChat's server API through wechatpy, with the SDK's traps closed.

wechatpy 1.8.18, as read and run (PLATFORMS.md A1, A3):
- every call carries an access_token, code2Session included, so a call may first fetch one, and
  `fetch_access_token` hard-codes https://api.weixin.qq.com/cgi-bin/token: `_Client` sends it
  to `api_base` like everything else, and gives it the timeout the SDK leaves off;
- with `auto_retry` the SDK refreshes the token on 40001/40014/42001 and retries without limit
  (a RecursionError against a server that keeps refusing): it is off, and `WeChatApi.call`
  refreshes once and retries once, and only where the call may be repeated;
- tokens live in wechatpy's `RedisStorage` under `hc:wechatpy:<appid>_access_token` with the TTL
  WeChat gave, so every worker shares one token (a worker that did not fetch it has no local
  expiry and relies on that TTL and on the one refresh);
- urllib3 logs request URLs at DEBUG, and the app secret, login codes and access tokens travel
  in the query string: `redact_query_strings` blanks them in those records.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from typing import Any, Protocol

import redis
import requests
from wechatpy import WeChatClient  # type: ignore[import-untyped]
from wechatpy.exceptions import WeChatClientException  # type: ignore[import-untyped]
from wechatpy.session.redisstorage import RedisStorage  # type: ignore[import-untyped]

from core.errors import Msg, PlatformUnavailable

log = logging.getLogger(__name__)

TOKEN_PREFIX = "hc:wechatpy"
# 40001 invalid credential, 40014 invalid access_token, 42001 access_token expired
# (https://developers.weixin.qq.com/doc/oplatform/Return_codes/Return_code_descriptions_new.html).
TOKEN_REFUSED = frozenset({40001, 40014, 42001})
_SECRET_PARAMS = re.compile(r"((?:secret|js_code|access_token|code)=)[^&\s\"']+")


class ApiApp(Protocol):
    @property
    def app_id(self) -> str: ...

    @property
    def secret(self) -> str: ...


class Refused(Exception):
    """WeChat answered one of the error codes the caller said it handles."""

    def __init__(self, errcode: int) -> None:
        super().__init__(f"wechat errcode {errcode}")
        self.errcode = errcode


class WeChatApi:
    """wechatpy's client for one app, with bounded token refresh and errors in core terms."""

    def __init__(self, app: ApiApp, client: redis.Redis, api_base: str, timeout: float) -> None:
        self.app_id = app.app_id
        self.api_base = api_base.rstrip("/") + "/"
        storage = RedisStorage(client, prefix=TOKEN_PREFIX)
        self.client = _Client(app.app_id, app.secret, storage, self.api_base, timeout)

    def post(self, path: str, body: dict[str, Any], *, expected: Collection[int] = ()) -> dict[str, Any]:
        """POST a JSON body to `path` under api_base (for the APIs wechatpy 1.8.18 lacks)."""
        return self.call(lambda client: client.post(path, data=body, api_base_url=self.api_base),
                         expected=expected)

    def call(self, send: Callable[[Any], Any], *, expected: Collection[int] = (),
             repeatable: bool = True) -> dict[str, Any]:
        """`send(client)`'s JSON reply.

        Raises `Refused` for an errcode in `expected` and PlatformUnavailable for any other failure:
        timeouts, connection errors, 5xx, replies that are not JSON, other errcodes. A refused access
        token is refreshed once and the call repeated once, if it is `repeatable`; otherwise (a
        single-use login code that reached WeChat) the cached token is dropped for the next call.
        """
        for attempt in (1, 2):
            try:
                reply = send(self.client)
            except WeChatClientException as exc:
                if exc.errcode not in TOKEN_REFUSED:
                    raise self._refusal(exc.errcode, expected) from None
                log.info("wechat %s: access token refused (%s)", self.app_id, exc.errcode)
                if attempt == 2 or not repeatable:
                    self._drop_token()
                    raise unavailable() from None
                self._refresh_token()
                continue
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                # str(exc) of a requests error holds the URL and so the secret: log the type only.
                log.warning("wechat %s: no usable reply (%s)", self.app_id, type(exc).__name__)
                raise unavailable() from None
            if not isinstance(reply, dict):
                log.warning("wechat %s: reply is not JSON", self.app_id)
                raise unavailable()
            return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def _refusal(self, errcode: int | None, expected: Collection[int]) -> Exception:
        if errcode is not None and errcode in expected:
            return Refused(errcode)
        log.warning("wechat %s: call failed (errcode %s)", self.app_id, errcode)  # None: HTTP error
        return unavailable()

    def _refresh_token(self) -> None:
        try:
            self.client.fetch_access_token()
        except (WeChatClientException, requests.RequestException, ValueError, KeyError, TypeError) as exc:
            log.warning("wechat %s: access token refresh failed (%s)", self.app_id,
                        getattr(exc, "errcode", None) or type(exc).__name__)
            raise unavailable() from None

    def _drop_token(self) -> None:
        self.client.session.delete(self.client.access_token_key)


def unavailable() -> PlatformUnavailable:
    return PlatformUnavailable(Msg.PLATFORM_UNAVAILABLE)


class _Client(WeChatClient):  # type: ignore[misc]
    """WeChatClient with every URL under `api_base` (the token fetch too) and a timeout on each."""

    def __init__(self, app_id: str, secret: str, storage: Any, api_base: str, timeout: float) -> None:
        super().__init__(app_id, secret, session=storage, timeout=timeout, auto_retry=False)
        self._http = _TimeoutSession(timeout)  # _fetch_access_token passes no timeout of its own
        self._api_base = api_base
        self.API_BASE_URL = api_base + "cgi-bin/"
        self.wxa.API_BASE_URL = api_base  # the endpoint's instance attribute wins (PLATFORMS.md A3)

    def fetch_access_token(self) -> Any:
        """As WeChatClient's, but from `api_base` rather than the hard-coded api.weixin.qq.com."""
        return self._fetch_access_token(
            url=self._api_base + "cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class _TimeoutSession(requests.Session):
    """A session whose requests time out after `timeout` seconds unless told otherwise."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(*args, **kwargs)


class _RedactQueryStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_PARAMS.sub(r"\1***", arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        return True


_REDACT = _RedactQueryStrings()


def redact_query_strings() -> None:
    """Blank secrets in the request lines urllib3 logs at DEBUG (idempotent)."""
    logging.getLogger("urllib3.connectionpool").addFilter(_REDACT)
