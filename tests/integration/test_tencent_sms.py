"""The Tencent Cloud SMS sender against the simulator of sms.tencentcloudapi.com over real HTTP, through
the official SDK: codes sent with the template's params, signatures, the provider's refusals and
limits, timeouts, environment proxies, and what reaches logs."""
import logging
import socket
import time

import pytest

from adapters.sms.tencent import TencentSms
from core.errors import InvalidInput, Msg, PlatformUnavailable
from tests.sims.server import serve
from tests.sims.tencent_sms import TencentSmsSimulator

SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLEKEY"
APP_ID, SIGN, TEMPLATE_ID = "1400006666", "健康码", "1234567"
PHONE, CODE = "+8613800138000", "482913"


@pytest.fixture(scope="module")
def sms_server():
    """One HTTP server for the module, a new simulator per test."""
    current = {}
    with serve(lambda request: current["sim"](request)) as url:
        yield url.removeprefix("http://"), current


@pytest.fixture
def sim(sms_server):
    endpoint, current = sms_server
    current["sim"] = TencentSmsSimulator(SECRET_ID, SECRET_KEY, APP_ID, SIGN, TEMPLATE_ID)
    current["sim"].endpoint = endpoint
    return current["sim"]


def sender(sim, **overrides) -> TencentSms:
    settings = {"secret_id": SECRET_ID, "secret_key": SECRET_KEY, "sdk_app_id": APP_ID, "sign_name": SIGN,
                "template_id": TEMPLATE_ID, "endpoint": sim.endpoint, "protocol": "http", "timeout": 2}
    return TencentSms(**{**settings, **overrides})


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- sending ---------------------------------------------------------------------------------


def test_a_code_is_sent_with_the_code_and_its_minutes(sim):
    sender(sim).send_code(PHONE, CODE)

    [message] = sim.sent
    assert (message.phone, message.sign_name, message.template_id) == (PHONE, SIGN, TEMPLATE_ID)
    assert message.params == [CODE, "5"]
    assert message.text == "【健康码】您的验证码为482913，5分钟内有效。"


def test_the_request_is_signed_for_the_sms_service_whatever_the_endpoint(sim):
    sender(sim).send_code(PHONE, CODE)

    [scope] = sim.scopes
    assert scope.endswith("/sms/tc3_request")  # not "127", the endpoint's first label


def test_codes_to_different_numbers_each_go_out(sim):
    sms = sender(sim)
    sms.send_code(PHONE, CODE)
    sms.send_code("+8613900139000", "111222")

    assert [(m.phone, m.params[0]) for m in sim.sent] == [(PHONE, CODE), ("+8613900139000", "111222")]


# -- the provider's refusals -----------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{"secret_key": "not-the-secret-key"}, {"secret_id": "AKIDunknown"}],
                         ids=["wrong secret key", "unknown secret id"])
def test_a_signature_the_provider_cannot_verify_is_platform_unavailable(sim, overrides):
    with pytest.raises(PlatformUnavailable) as raised:
        sender(sim, **overrides).send_code(PHONE, CODE)

    assert raised.value.message == Msg.SMS_UNAVAILABLE
    assert sim.sent == []


def test_a_revoked_key_is_platform_unavailable(sim):
    sim.fail_auth = True

    with pytest.raises(PlatformUnavailable):
        sender(sim).send_code(PHONE, CODE)


def test_a_clock_off_by_more_than_five_minutes_is_platform_unavailable(sim):
    sim.clock = lambda: time.time() + 600  # AuthFailure.SignatureExpire

    with pytest.raises(PlatformUnavailable):
        sender(sim).send_code(PHONE, CODE)
    assert sim.sent == []


@pytest.mark.parametrize("code", ["LimitExceeded.PhoneNumberThirtySecondLimit", "LimitExceeded.PhoneNumberOneHourLimit",
                                  "LimitExceeded.PhoneNumberDailyLimit",
                                  "FailedOperation.InsufficientBalanceInSmsPackage"])
def test_the_providers_limits_are_platform_unavailable(sim, code):
    sim.limit(PHONE, code)

    with pytest.raises(PlatformUnavailable) as raised:
        sender(sim).send_code(PHONE, CODE)

    assert raised.value.message == Msg.SMS_UNAVAILABLE
    assert sim.sent == []


def test_a_second_code_within_thirty_seconds_meets_the_providers_limit(sim):
    sms = sender(sim)
    sms.send_code(PHONE, CODE)

    with pytest.raises(PlatformUnavailable):
        sms.send_code(PHONE, "999000")
    assert [m.params[0] for m in sim.sent] == [CODE]


@pytest.mark.parametrize("overrides", [{"sign_name": "未审核的签名"}, {"template_id": "7654321"}],
                         ids=["unapproved sign", "unknown template"])
def test_a_sign_or_template_the_provider_does_not_know_is_platform_unavailable(sim, overrides):
    with pytest.raises(PlatformUnavailable):
        sender(sim, **overrides).send_code(PHONE, CODE)


def test_an_sdk_app_id_of_another_account_is_platform_unavailable(sim):
    with pytest.raises(PlatformUnavailable):
        sender(sim, sdk_app_id="1400009999").send_code(PHONE, CODE)


@pytest.mark.parametrize("phone", ["+8612345", "+86138001380001"])
def test_a_number_the_provider_calls_incorrect_is_invalid_input(sim, phone):
    with pytest.raises(InvalidInput) as raised:
        sender(sim).send_code(phone, CODE)

    assert raised.value.message == Msg.INVALID_PHONE
    assert raised.value.fields == {"phone": [Msg.PHONE_SMS_REFUSED]}


def test_a_number_the_provider_refuses_is_invalid_input(sim):
    sim.refuse(PHONE)

    with pytest.raises(InvalidInput):
        sender(sim).send_code(PHONE, CODE)
    assert sim.sent == []


# -- the wire failing ------------------------------------------------------------------------


def test_a_slow_provider_is_platform_unavailable_within_the_timeout(sim):
    sim.delay = 3

    started = time.monotonic()
    with pytest.raises(PlatformUnavailable):
        sender(sim, timeout=1).send_code(PHONE, CODE)

    assert time.monotonic() - started < 2


def test_a_provider_that_is_not_listening_is_platform_unavailable(sim):
    with pytest.raises(PlatformUnavailable):
        sender(sim, endpoint=f"127.0.0.1:{closed_port()}").send_code(PHONE, CODE)


def test_an_http_error_from_the_gateway_is_platform_unavailable(sim):
    sim.http_status = 502

    with pytest.raises(PlatformUnavailable):
        sender(sim).send_code(PHONE, CODE)


def test_a_request_level_error_is_platform_unavailable(sim):
    sim.error = ("InternalError", "an internal error occurred")

    with pytest.raises(PlatformUnavailable):
        sender(sim).send_code(PHONE, CODE)


def test_an_error_the_sdk_does_not_raise_is_still_platform_unavailable(sim):
    sim.content_type = "application/json; charset=utf-8"  # the SDK then returns Error as a response
    sim.fail_auth = True

    with pytest.raises(PlatformUnavailable):
        sender(sim).send_code(PHONE, CODE)


def test_proxies_in_the_environment_are_not_used(sim, monkeypatch):
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)

    sender(sim).send_code(PHONE, CODE)

    assert len(sim.sent) == 1


# -- logs ------------------------------------------------------------------------------------


def test_neither_the_code_nor_the_secret_key_nor_the_full_number_reaches_the_logs(sim, caplog):
    caplog.set_level(logging.DEBUG)
    sms = sender(sim)

    sms.send_code(PHONE, CODE)
    failures = []
    for arrange in (lambda: sim.limit(PHONE, "LimitExceeded.PhoneNumberDailyLimit"), lambda: sim.refuse(PHONE),
                    lambda: setattr(sim, "fail_auth", True)):
        arrange()
        with pytest.raises((PlatformUnavailable, InvalidInput)) as raised:
            sms.send_code(PHONE, CODE)
        failures.append(raised.value)

    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert "138****8000" in logged  # the sender does log, masked
    for secret in (CODE, SECRET_KEY, PHONE.removeprefix("+86")):
        assert secret not in logged
        assert not any(secret in str(failure) for failure in failures)


# -- in the app ------------------------------------------------------------------------------


def test_the_app_sends_travel_card_codes_through_tencent_when_configured(sim, redis_server):
    from app import create_app
    from tests.conftest import SERVER_URL

    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": "s" * 40, "TESTING": True,
                      "HEALTHCODE_SMS_PROVIDER": "tencent", "HEALTHCODE_TENCENT_SMS_SECRET_ID": SECRET_ID,
                      "HEALTHCODE_TENCENT_SMS_SECRET_KEY": SECRET_KEY, "HEALTHCODE_TENCENT_SMS_SDK_APP_ID": APP_ID,
                      "HEALTHCODE_TENCENT_SMS_SIGN_NAME": SIGN, "HEALTHCODE_TENCENT_SMS_TEMPLATE_ID": TEMPLATE_ID,
                      "HEALTHCODE_TENCENT_SMS_ENDPOINT": sim.endpoint, "HEALTHCODE_TENCENT_SMS_PROTOCOL": "http"})
    client = app.test_client()
    assert client.post("/api/v1/travel/sms", json={"phone": "13800138000"}).status_code == 202
    [message] = sim.sent
    code = message.params[0]
    session = client.post("/api/v1/travel/sessions", json={"phone": "13800138000", "sms_code": code})
    assert session.status_code == 201, session.json


def test_tencent_without_its_keys_stops_the_app_with_one_line():
    from config import SettingsError, load_settings

    with pytest.raises(SettingsError, match="HEALTHCODE_TENCENT_SMS_SECRET_ID"):
        load_settings({"HEALTHCODE_SMS_PROVIDER": "tencent"}, environ={})
