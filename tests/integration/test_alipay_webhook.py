"""Alipay's messages at /webhooks/alipay: the signature is checked before anything is read."""
from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from adapters.platforms.alipay import USER_FIELD, AlipayApp
from adapters.platforms.alipay_messages import MAX_AGE, MAX_SKEW
from core.errors import BadSignature
from core.platforms import AccountRevoked, WebhookRequest
from tests.integration.platforms import (
    APP_ID,
    OPEN_APP_ID,
    OPEN_ID,
    USER_ID,
    alipay_apps,
    alipay_world,
    key,
    keys,
)

CANCELLED = "alipay.open.auth.userauth.cancelled"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


@pytest.fixture
def alipay(redis_server):
    with alipay_world(redis_server) as world:
        world.account = world.login(USER_ID)
        yield world


def cancellation(sim, user_id: str = USER_ID, app_id: str = APP_ID, **options) -> dict[str, str]:
    biz = {"cancel_time": int(time.time() * 1000), "user_id": user_id, "app_id": app_id}
    return sim.notification(CANCELLED, biz, app_id, **options)


def form(fields: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(method="POST", args={}, headers=FORM, body=urlencode(fields).encode())


def test_a_cancelled_authorization_revokes_the_account_and_forgets_it(alipay):
    reply = alipay.platform.handle_webhook(form(cancellation(alipay.sim)))
    assert (reply.status, reply.body) == (200, "success")
    assert reply.events == (AccountRevoked(alipay.account),)
    assert alipay.state.get(alipay.account, USER_FIELD) is None


def test_a_json_message_is_verified_the_same_way(alipay):
    body = json.dumps(cancellation(alipay.sim)).encode()
    reply = alipay.platform.handle_webhook(WebhookRequest("POST", {}, {"content-type": "application/json"}, body))
    assert reply.events == (AccountRevoked(alipay.account),)


def test_a_cancellation_of_an_open_id_app_names_its_account(alipay):
    account = alipay.platform.login(alipay.sim.issue_code(open_id=OPEN_ID), app_id=OPEN_APP_ID).account_id
    biz = {"cancel_time": int(time.time() * 1000), "open_id": OPEN_ID, "app_id": OPEN_APP_ID}
    reply = alipay.platform.handle_webhook(form(alipay.sim.notification(CANCELLED, biz, OPEN_APP_ID)))
    assert reply.events == (AccountRevoked(account),)


def test_other_messages_are_acknowledged_without_events(alipay):
    fields = alipay.sim.notification("alipay.open.mini.version.audit.passed", {"mini_app_id": APP_ID}, APP_ID)
    reply = alipay.platform.handle_webhook(form(fields))
    assert (reply.body, reply.events) == ("success", ())


def tampered(fields: dict[str, str]) -> dict[str, str]:
    biz = json.loads(fields["biz_content"])
    return {**fields, "biz_content": json.dumps({**biz, "user_id": "2088102000000009"})}


@pytest.mark.parametrize("make", [
    lambda sim: {k: v for k, v in cancellation(sim).items() if k != "sign"},  # missing
    lambda sim: {**cancellation(sim), "sign": ""},  # empty
    lambda sim: {**cancellation(sim), "sign": "!!not base64!!"},
    lambda sim: cancellation(sim, key=key("stranger")),  # not Alipay's key
    lambda sim: tampered(cancellation(sim)),  # signed, then changed
    lambda sim: {**cancellation(sim), "sign_type": "RSA"},  # not the type we verify
    lambda sim: cancellation(sim, sent_at=time.time() - MAX_AGE - 60),  # too old for the replay window
    lambda sim: cancellation(sim, sent_at=time.time() + MAX_SKEW + 60),  # from the future
    lambda sim: {k: v for k, v in cancellation(sim).items() if k != "utc_timestamp"},
    lambda sim: {k: v for k, v in cancellation(sim).items() if k != "notify_id"},
], ids=["missing", "empty", "garbled", "other-key", "tampered", "sign-type", "stale", "future", "no-timestamp",
        "no-notify-id"])
def test_a_message_that_does_not_verify_is_a_bad_signature_and_changes_nothing(alipay, make, redis_server):
    fields = make(alipay.sim)
    before = keys(redis_server)
    with pytest.raises(BadSignature):
        alipay.platform.handle_webhook(form(fields))
    assert keys(redis_server) == before  # not even its notify_id
    assert alipay.state.get(alipay.account, USER_FIELD) is not None


@pytest.mark.parametrize("sent_at", [lambda now: now - MAX_AGE + 60, lambda now: now + MAX_SKEW - 60],
                         ids=["almost-too-old", "almost-too-early"])
def test_a_message_just_inside_the_window_is_taken(alipay, sent_at):
    reply = alipay.platform.handle_webhook(form(cancellation(alipay.sim, sent_at=sent_at(time.time()))))
    assert reply.events == (AccountRevoked(alipay.account),)


@pytest.mark.parametrize("body", [b"", b"\xff\xfe", b"sign=a&sign=b", b"%%%"])
def test_a_body_that_does_not_parse_is_a_bad_signature(alipay, body):
    with pytest.raises(BadSignature):
        alipay.platform.handle_webhook(WebhookRequest("POST", {}, FORM, body))


def test_a_json_body_that_is_not_an_object_is_a_bad_signature(alipay):
    with pytest.raises(BadSignature):
        alipay.platform.handle_webhook(WebhookRequest("POST", {}, {"Content-Type": "application/json"}, b"[1]"))


def test_a_replayed_notify_id_is_a_bad_signature(alipay):
    fields = cancellation(alipay.sim)
    alipay.platform.handle_webhook(form(fields))
    alipay.login(USER_ID)  # logs in again after revoking
    with pytest.raises(BadSignature):
        alipay.platform.handle_webhook(form(fields))
    assert alipay.state.get(alipay.account, USER_FIELD) is not None


def test_a_message_claiming_an_app_whose_key_did_not_sign_it_is_a_bad_signature(redis_server):
    apps = alipay_apps()
    apps[1] = AlipayApp(OPEN_APP_ID, key("open-app").private_pem, key("stranger").public_pem)
    with alipay_world(redis_server, apps) as world:
        # Signed with the first app's Alipay key, but naming the second app.
        fields = world.sim.notification(CANCELLED, {"user_id": USER_ID, "app_id": OPEN_APP_ID}, OPEN_APP_ID)
        with pytest.raises(BadSignature):
            world.platform.handle_webhook(form(fields))
