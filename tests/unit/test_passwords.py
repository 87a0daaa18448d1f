"""Console passwords with argon2-cffi: salted argon2id hashes that verify, refuse, and tell when
they were made with other parameters."""
from argon2 import PasswordHasher

from adapters.passwords import Argon2Passwords

PASSWORD = "correct horse battery"
FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)  # old parameters, quick to test


def test_the_library_defaults_make_salted_argon2id_hashes_that_verify():
    passwords = Argon2Passwords()
    first, second = passwords.hash(PASSWORD), passwords.hash(PASSWORD)
    assert first.startswith("$argon2id$") and first != second  # a new salt each time
    assert passwords.verify(first, PASSWORD) and passwords.verify(second, PASSWORD)
    assert not passwords.needs_rehash(first)


def test_a_wrong_password_or_a_hash_that_is_not_argon2_does_not_verify():
    passwords = Argon2Passwords(FAST)
    hashed = passwords.hash(PASSWORD)
    assert not passwords.verify(hashed, PASSWORD + " ")
    assert not passwords.verify(hashed, "")
    assert not passwords.verify("not a hash", PASSWORD)
    assert not passwords.verify(hashed.replace("$argon2id$", "$argon2i$"), PASSWORD)


def test_a_hash_of_other_parameters_needs_a_rehash_and_still_verifies():
    old = Argon2Passwords(FAST).hash(PASSWORD)
    current = Argon2Passwords()
    assert current.needs_rehash(old)
    assert current.verify(old, PASSWORD)  # the parameters are read from the hash itself
    assert current.needs_rehash("not a hash")
