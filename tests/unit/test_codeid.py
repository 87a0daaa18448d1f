"""Pseudonymous code ids: reversible with the key, unlinkable without it."""
import pytest

from adapters.signing.codeid import AesCodeIdCipher
from core.codes import InvalidCode

KEY = bytes(range(32))
PERSON = "0123456789abcdef01234567"


def test_open_returns_the_sealed_person_and_time():
    cipher = AesCodeIdCipher(KEY)
    code_id = cipher.seal(PERSON, 1_700_000_000)
    assert len(code_id) == 16
    assert cipher.open(code_id) == (PERSON, 1_700_000_000)


def test_ids_of_one_person_share_nothing_visible():
    cipher = AesCodeIdCipher(KEY)
    first, second = cipher.seal(PERSON, 1_700_000_000), cipher.seal(PERSON, 1_700_000_001)
    assert first != second
    assert bytes.fromhex(PERSON) not in first
    assert sum(a == b for a, b in zip(first, second, strict=True)) < 8


def test_another_key_cannot_map_the_id_back():
    code_id = AesCodeIdCipher(KEY).seal(PERSON, 1_700_000_000)
    assert AesCodeIdCipher(bytes(32)).open(code_id) != (PERSON, 1_700_000_000)


def test_same_person_and_second_give_the_same_id():
    assert AesCodeIdCipher(KEY).seal(PERSON, 5) == AesCodeIdCipher(KEY).seal(PERSON, 5)


@pytest.mark.parametrize("code_id", [b"", b"x" * 15, b"x" * 17, "x" * 16])
def test_open_rejects_ids_that_are_not_16_bytes(code_id):
    with pytest.raises(InvalidCode) as caught:
        AesCodeIdCipher(KEY).open(code_id)
    assert caught.value.reason == "malformed"


@pytest.mark.parametrize("person_id", ["", PERSON.upper(), PERSON[:-1], PERSON + "0", "g" * 24])
def test_seal_rejects_person_ids_that_are_not_24_lowercase_hex(person_id):
    with pytest.raises(ValueError):
        AesCodeIdCipher(KEY).seal(person_id, 0)


@pytest.mark.parametrize("issued_at", [-1, 2**32])
def test_seal_rejects_times_outside_four_bytes(issued_at):
    with pytest.raises(ValueError):
        AesCodeIdCipher(KEY).seal(PERSON, issued_at)


def test_key_must_be_aes_256():
    with pytest.raises(ValueError):
        AesCodeIdCipher(bytes(16))
