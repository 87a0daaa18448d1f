"""Whose name stands for an ID number: the pure rules of core/name_claims.py, no fakes."""
import pytest

from core import name_claims
from core.errors import InvalidInput, Msg
from core.model import NameSource
from core.name_claims import AfterCheck, Settle

SOURCES = [NameSource.SELF, NameSource.FAMILY, NameSource.VERIFIED]


@pytest.mark.parametrize("source", SOURCES)
def test_the_name_on_record_settles_as_the_same(source):
    assert name_claims.settle("张三", source, "张三") is Settle.SAME


def test_a_record_without_a_name_takes_the_application_s():
    assert name_claims.settle(None, None, "张三") is Settle.RECORD


@pytest.mark.parametrize("source", [NameSource.SELF, NameSource.FAMILY])
def test_another_name_than_an_unverified_one_is_claimed_not_refused(source):
    assert name_claims.settle("张山", source, "张三") is Settle.CLAIM


def test_another_name_than_a_face_checked_one_is_refused():
    with pytest.raises(InvalidInput) as caught:
        name_claims.settle("张三", NameSource.VERIFIED, "张山")
    assert caught.value.message == Msg.NAME_MISMATCH and caught.value.fields == {"name": [Msg.NAME_NOT_RECORD]}


@pytest.mark.parametrize("source", [NameSource.SELF, NameSource.FAMILY])
def test_a_passed_face_check_writes_its_name_over_an_unverified_one(source):
    assert name_claims.after_face_check("张山", source, False, "张三") is AfterCheck.WRITE
    assert name_claims.after_face_check("张三", source, False, "张三") is AfterCheck.WRITE


def test_a_passed_face_check_of_the_face_checked_name_writes_nothing():
    assert name_claims.after_face_check("张三", NameSource.VERIFIED, False, "张三") is AfterCheck.FINAL


def test_a_face_check_of_a_claim_overtaken_by_a_verified_name_is_refused():
    with pytest.raises(InvalidInput):
        name_claims.after_face_check("张三", NameSource.VERIFIED, False, "张山")


@pytest.mark.parametrize("on_record, erased", [("张三", True), (None, False), (None, True)])
def test_an_erasure_during_the_face_check_wins(on_record, erased):
    assert name_claims.after_face_check(on_record, NameSource.VERIFIED, erased, "张山") is AfterCheck.ERASED


def test_refuse_if_final_lets_unverified_names_through():
    for source in (None, NameSource.SELF, NameSource.FAMILY):
        name_claims.refuse_if_final("张三", source, "李四")
    name_claims.refuse_if_final("张三", NameSource.VERIFIED, "张三")


def test_an_unverified_link_shows_its_own_claim_and_phone_only():
    assert name_claims.shown_name("张三", "张山", verified=False) == "张山"
    assert name_claims.shown_name("张三", None, verified=False) == "张三"
    assert name_claims.shown_name("张三", "张山", verified=True) == "张三"
    assert name_claims.shown_phone("+8613800138000", None, verified=False) is None
    assert name_claims.shown_phone("+8613800138000", "+8613900139000", verified=False) == "+8613900139000"
    assert name_claims.shown_phone("+8613800138000", "+8613900139000", verified=True) == "+8613800138000"
