"""Alipay's phone authorization: the my.getPhoneNumber proof is verified, then decrypted."""
from __future__ import annotations

import base64
import json

import pytest

from adapters.platforms import alipay_phone
from core.errors import InvalidInput
from tests.integration.platforms import MOBILE, USER_ID, aes_key, alipay_apps, alipay_world, key, keys

OK = {"code": "10000", "msg": "Success", "mobile": MOBILE}

# A locally generated vector: Alipay publishes no official one (key + ciphertext + plaintext)
# for my.getPhoneNumber (PLATFORMS.md §B2). Made with OpenSSL, independently of our code:
#   printf '%s' "$PLAINTEXT" | openssl enc -aes-128-cbc -K 30313233343536373839616263646566 \
#       -iv 00000000000000000000000000000000 -base64 -A
VECTOR_KEY_B64 = "MDEyMzQ1Njc4OWFiY2RlZg=="  # "0123456789abcdef"
VECTOR_CIPHERTEXT = "sb44umJUD7auqhU6RDzOGa1sxXOWIxth2OsK89GQTNPRxZi2dPdOL4ira86T2iPggMr+qCFgt5esijRcw3SGIA=="
VECTOR_PLAINTEXT = b'{"code":"10000","msg":"Success","mobile":"13800138000"}'


@pytest.fixture
def alipay(redis_server):
    with alipay_world(redis_server) as world:
        world.account = world.login(USER_ID)
        yield world


def prove(alipay, proof: str) -> str:
    return alipay.platform.phone_number(alipay.account, {"response": proof})


def test_the_openssl_vector_decrypts_with_a_zero_iv():
    assert alipay_phone.decrypt(VECTOR_CIPHERTEXT, alipay_phone.aes_key(VECTOR_KEY_B64)) == VECTOR_PLAINTEXT


def test_the_openssl_vector_signed_by_alipay_gives_the_mobile(redis_server):
    with alipay_world(redis_server, alipay_apps(aes_key_b64=VECTOR_KEY_B64)) as world:
        account = world.login(USER_ID)
        proof = json.dumps({"response": VECTOR_CIPHERTEXT, "sign": key("alipay").sign(f'"{VECTOR_CIPHERTEXT}"'),
                            "sign_type": "RSA2", "encrypt_type": "AES", "charset": "UTF-8"})
        assert world.platform.phone_number(account, {"response": proof}) == MOBILE


def test_a_proof_signed_by_alipay_gives_the_mobile(alipay):
    assert prove(alipay, alipay.sim.phone_proof(aes_key(), OK)) == MOBILE


@pytest.mark.parametrize("tamper", [
    lambda sim: sim.phone_proof(aes_key(), OK, key=key("stranger")),  # not Alipay's key
    lambda sim: sim.phone_proof(aes_key(), OK, quoted=False),  # signed without the quotes
    lambda sim: json.dumps({**json.loads(sim.phone_proof(aes_key(), OK)),
                            "response": json.loads(sim.phone_proof(aes_key(), {**OK, "mobile": "13900139000"}))
                            ["response"]}),  # another ciphertext under this sign
    lambda sim: json.dumps({k: v for k, v in json.loads(sim.phone_proof(aes_key(), OK)).items() if k != "sign"}),
    lambda sim: json.dumps({**json.loads(sim.phone_proof(aes_key(), OK)), "sign": "not base64!"}),
    lambda sim: json.dumps({**json.loads(sim.phone_proof(aes_key(), OK)), "sign_type": "RSA"}),
], ids=["other-key", "unquoted", "swapped-ciphertext", "no-sign", "garbled-sign", "rsa1"])
def test_a_proof_whose_sign_does_not_verify_is_refused(alipay, tamper, redis_server):
    proof = tamper(alipay.sim)
    before = keys(redis_server)
    with pytest.raises(InvalidInput) as refused:
        prove(alipay, proof)
    assert refused.value.message == "phone_proof_invalid"
    assert keys(redis_server) == before


@pytest.mark.parametrize("proof", ["", "not json", "[]", '{"response": 1, "sign": "x"}', json.dumps({"sign": "x"})])
def test_a_proof_that_is_not_the_expected_json_is_refused(alipay, proof):
    with pytest.raises(InvalidInput):
        prove(alipay, proof)


def test_a_missing_proof_is_refused(alipay):
    with pytest.raises(InvalidInput):
        alipay.platform.phone_number(alipay.account, {})


def test_an_authorization_alipay_refused_is_refused(alipay):
    refused = {"code": "40003", "msg": "Insufficient Conditions", "subCode": "isv.invalid-auth-relations",
               "subMsg": "无效的授权关系"}
    with pytest.raises(InvalidInput):
        prove(alipay, alipay.sim.phone_proof(aes_key(), refused))


def test_a_proof_for_another_apps_aes_key_is_refused(alipay):
    with pytest.raises(InvalidInput):
        prove(alipay, alipay.sim.phone_proof(b"another-aes-key!", OK))


def test_an_app_without_an_aes_key_cannot_take_phone_proofs(redis_server):
    with alipay_world(redis_server, alipay_apps(aes_key_b64=None)) as world:
        account = world.login(USER_ID)
        with pytest.raises(InvalidInput):
            world.platform.phone_number(account, {"response": world.sim.phone_proof(aes_key(), OK)})


def test_a_broken_aes_key_is_refused_at_start_up():
    with pytest.raises(ValueError):
        alipay_apps(aes_key_b64=base64.b64encode(b"short").decode())
