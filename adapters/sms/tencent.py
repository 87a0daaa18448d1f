"""The Tencent Cloud SMS sender (腾讯云短信): SmsClient.SendSms of API 2021-01-11, through the official SDK.

The verification-code template approved in the SMS console is assumed to read
"您的验证码为{1}，{2}分钟内有效。": {1} is the code, {2} the minutes it is valid.

What the SDK does on its own and this module undoes (tencentcloud-sdk-python-common 3.1.x):
- its debug records ("SendRequest: …", "GetResponse: …") dump the request and response bodies,
  that is the phone number and the code: they are dropped before any handler sees them;
- it takes HTTP(S)_PROXY from the environment (common/http/request.py, and requests' own
  trust_env): our calls go straight to the endpoint.
"""
from __future__ import annotations

import logging

from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111.models import SendSmsRequest
from tencentcloud.sms.v20210111.sms_client import SmsClient

from core.errors import InvalidInput, Msg, PlatformUnavailable
from core.identity import mask_phone

log = logging.getLogger(__name__)

CODE_MINUTES = 5  # the {2} of the template; the console sender says the same
SENT = "Ok"
# Codes that say the number itself is wrong (sms/v20210111/errorcodes.py): "手机号格式错误",
# "号码解析失败，请检查号码是否符合 E.164 标准". Every other code (LimitExceeded.*,
# FailedOperation.*, AuthFailure.*, …) is the provider's own refusal or failure.
NUMBER_REFUSED = frozenset({"InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberParseFail"})
SDK_LOGGER = "tencentcloud_sdk_common"


class _DropWireDumps(logging.Filter):
    """The SDK logs whole requests and responses at DEBUG; nothing it logs below INFO passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_WIRE_DUMPS = _DropWireDumps()


class TencentSms:
    """An SmsSender that sends each code as one SendSms to one number (E.164, +86…)."""

    def __init__(self, secret_id: str, secret_key: str, sdk_app_id: str, sign_name: str, template_id: str,
                 region: str = "ap-guangzhou", endpoint: str = "sms.tencentcloudapi.com", protocol: str = "https",
                 timeout: int = 5) -> None:
        if protocol not in ("https", "http"):
            raise ValueError(f"protocol must be https or http, not {protocol!r}")
        self.sdk_app_id, self.sign_name, self.template_id = sdk_app_id, sign_name, template_id
        # No retryer (a retried SendSms can send twice) and no region breaker (its failover endpoint
        # is another tencentcloudapi.com host).
        profile = ClientProfile(httpProfile=HttpProfile(protocol=protocol, endpoint=endpoint, reqTimeout=timeout),
                                disable_region_breaker=True)
        self._client = SmsClient(Credential(secret_id, secret_key), region, profile)
        _ignore_environment_proxies(self._client)
        sdk_logger = logging.getLogger(SDK_LOGGER)
        if _WIRE_DUMPS not in sdk_logger.filters:
            sdk_logger.addFilter(_WIRE_DUMPS)

    def send_code(self, phone: str, code: str) -> None:
        request = SendSmsRequest()
        request.PhoneNumberSet = [phone]
        request.SmsSdkAppId = self.sdk_app_id
        request.SignName = self.sign_name
        request.TemplateId = self.template_id
        request.TemplateParamSet = [code, str(CODE_MINUTES)]
        masked = mask_phone(phone)
        try:
            response = self._client.SendSms(request)
        except TencentCloudSDKException as e:
            # Request-level errors (auth, parameters, quota) and the SDK's ClientNetworkError for
            # timeouts and refused connections. Its message may quote the provider: not logged.
            log.warning("tencent sms to %s failed: %s (request %s)", masked, e.code, e.requestId)
            raise _refusal(e.code) from None
        statuses = response.SendStatusSet or []
        if not statuses:
            log.warning("tencent sms to %s: no send status (request %s)", masked, response.RequestId)
            raise PlatformUnavailable(Msg.SMS_UNAVAILABLE)
        status = statuses[0]
        if status.Code != SENT:
            log.warning("tencent sms to %s refused: %s (request %s)", masked, status.Code, response.RequestId)
            raise _refusal(status.Code)
        log.info("tencent sms sent to %s (serial %s, request %s)", masked, status.SerialNo, response.RequestId)


def _refusal(code: str | None) -> InvalidInput | PlatformUnavailable:
    if code in NUMBER_REFUSED:
        return InvalidInput(Msg.INVALID_PHONE, {"phone": [Msg.PHONE_SMS_REFUSED]})
    return PlatformUnavailable(Msg.SMS_UNAVAILABLE)


def _ignore_environment_proxies(client: SmsClient) -> None:
    """HttpProfile has no "no proxy" setting: without its `proxy` the SDK takes HTTP_PROXY or
    HTTPS_PROXY from the environment (ProxyConnection), and requests' Session adds them again."""
    connection = client.request.conn
    connection.proxy = None
    connection._session.trust_env = False
