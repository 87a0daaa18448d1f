"""Applying for self (申领) and family (代领), one person per ID number, and leaving again."""

import datetime as dt

import pytest

from core.clock import FixedClock
from core.errors import Conflict, Forbidden, InvalidInput, Msg, NotFound, VerificationRequired
from core.marking import MarkerRequest
from core.model import IdDocument
from core.persons import Application, PersonView
from tests.unit.fakes import FakePersonStore, World, id_number

ZHANG = "11010519491231002X"


def application(relation: str = "self", **overrides: str) -> Application:
    fields = {"name": "张三", "id_number": ZHANG, "phone": "13800138000", "relation": relation}
    fields.update(overrides)
    return Application(**fields)


def family_member(n: int) -> Application:
    return application("family", name="李四", id_number=id_number(born="20100101", sequence=f"{n:03d}"))


def apply(world: World, session, relation: str = "self", **overrides: str) -> PersonView:
    """Apply and pass the face check, as a user who goes on to show the code does."""
    return world.apply_verified(session, application(relation, **overrides))


def apply_only(world: World, session, relation: str = "self", **overrides: str) -> PersonView:
    """Apply without the face check."""
    return world.persons.apply(session, application(relation, **overrides))


# -- applying -------------------------------------------------------------------------------------


def test_applying_for_self_shows_only_masked_details(world):
    view = apply_only(world, world.login("alice"), phone="+86 138-0013-8000")
    assert (view.name_masked, view.id_number_masked, view.phone_masked) == (
        "张*",
        "1101**********002X",
        "138****8000",
    )
    assert (view.relation, view.verified) == ("self", False)
    assert view.document == IdDocument.RESIDENT_ID
    assert len(view.id) == 24


@pytest.mark.parametrize(
    ("number", "masked", "document"),
    [
        (id_number(region="440304", born="19500101", sequence="003"), "4403**********003X", IdDocument.RESIDENT_ID),
        (id_number(region="830000", born="19920130", sequence="002"), "8300**********0022",
         IdDocument.HMT_RESIDENCE_PERMIT),
        (id_number(region="932682", born="19850101", sequence="001"), "9326**********0017",
         IdDocument.FOREIGN_PERMANENT_RESIDENCE),
    ],
)
def test_the_view_says_which_document_the_number_is_on_and_masks_it_alike(world, number, masked, document):
    view = apply_only(world, world.login("alice"), name="René Müller", id_number=number)
    assert (view.id_number_masked, view.document) == (masked, document)
    assert world.persons.list(world.login("alice")) == [view]


def test_applied_person_is_listed_on_the_account(world):
    alice = world.login("alice")
    view = apply(world, alice)
    assert world.persons.list(alice) == [view]
    assert world.persons.list(world.login("bob")) == []


def test_personal_data_is_stored_only_sealed_and_looked_up_by_hash(world):
    view = apply(world, world.login("alice"), name="张小三")
    record = world.store.get(view.id)
    stored = repr(world.store.__dict__).encode() + record.id_number_ct + record.name_ct + record.phone_ct
    for plain in (ZHANG, "张小三", "13800138000"):
        assert plain.encode() not in stored
    assert world.store.index == {world.vault.lookup_hash(ZHANG): view.id}
    assert world.vault.open(record.name_ct, f"{view.id}:name") == "张小三"
    assert world.vault.open(record.phone_ct, f"{view.id}:phone") == "+8613800138000"


def test_second_self_on_the_same_account_is_a_conflict(world):
    alice = world.login("alice")
    apply(world, alice)
    with pytest.raises(Conflict, match=Msg.SELF_TAKEN):
        apply(world, alice, name="李四", id_number=id_number(sequence="001"))
    assert len(world.persons.list(alice)) == 1


def test_refused_second_self_leaves_that_id_free_for_its_owner(world):
    alice = world.login("alice")
    apply(world, alice)
    with pytest.raises(Conflict):
        apply(world, alice, name="李四", id_number=id_number(sequence="001"))
    view = apply(world, world.login("bob"), name="李四", id_number=id_number(sequence="001"))
    assert view.relation == "self"


def test_id_number_that_is_another_accounts_self_is_a_conflict(world):
    apply(world, world.login("alice"))
    bob = world.login("bob")
    with pytest.raises(Conflict, match=Msg.ID_IS_OTHERS_SELF):
        apply(world, bob)
    assert world.persons.list(bob) == []


def test_same_person_twice_on_one_account_is_a_conflict(world):
    alice = world.login("alice")
    apply(world, alice, "family")
    with pytest.raises(Conflict, match=Msg.ALREADY_LINKED):
        apply(world, alice, "family")
    with pytest.raises(Conflict, match=Msg.ALREADY_LINKED):
        apply(world, alice, "self")


def test_same_id_from_two_accounts_as_family_is_one_person(world):
    from_son = apply(world, world.login("son"), "family")
    from_daughter = apply(world, world.login("daughter"), "family")
    assert from_son.id == from_daughter.id
    assert len(world.store.persons) == 1


def test_family_member_can_later_apply_as_self_and_stays_one_person(world):
    from_son = apply(world, world.login("son"), "family")
    own = apply(world, world.login("grandpa"), "self")
    assert own.id == from_son.id


def test_own_code_can_also_be_held_as_family_by_another_account(world):
    own = apply(world, world.login("alice"), "self")
    assert apply(world, world.login("mother"), "family").id == own.id


def test_five_family_members_are_allowed_and_a_sixth_is_a_conflict(world):
    alice = world.login("alice")
    apply(world, alice)
    for n in range(1, 6):
        world.persons.apply(alice, family_member(n))
    with pytest.raises(Conflict, match=Msg.FAMILY_FULL) as caught:
        world.persons.apply(alice, family_member(6))
    assert caught.value.message.params == {"max": "5"}
    assert [view.relation for view in world.persons.list(alice)] == ["self"] + ["family"] * 5


def test_name_not_matching_an_existing_id_number_is_invalid(world):
    apply(world, world.login("alice"), name="张三")
    with pytest.raises(InvalidInput) as caught:
        apply(world, world.login("bob"), "family", name="张四")
    assert list(caught.value.fields) == ["name"]


def test_name_matches_whichever_dot_was_typed(world):
    uyghur = id_number(sequence="004")
    own = apply(world, world.login("aygul"), name="阿依古丽·买买提", id_number=uyghur)
    assert apply(world, world.login("son"), "family", name="阿依古丽・买买提", id_number=uyghur).id == own.id


def test_all_field_errors_are_reported_together(world):
    with pytest.raises(InvalidInput) as caught:
        apply(world, world.login("alice"), name="张3", id_number="110105194912310020", phone="010-12345678")
    assert set(caught.value.fields) == {"name", "id_number", "phone"}
    assert caught.value.fields["id_number"] == [Msg.ID_NOT_RIGHT]


def test_invalid_application_changes_nothing(world):
    alice = world.login("alice")
    with pytest.raises(InvalidInput):
        apply(world, alice, phone="12345")
    assert world.store.persons == {} and world.store.index == {}
    assert world.persons.list(alice) == []


@pytest.mark.parametrize("relation", ["", "spouse", "SELF"])
def test_unknown_relation_is_invalid(world, relation):
    with pytest.raises(InvalidInput) as caught:
        apply(world, world.login("alice"), relation)
    assert list(caught.value.fields) == ["relation"]


def test_birth_date_is_judged_by_the_date_in_beijing(policy):
    # 2026-11-30 16:30 UTC is already 2026-12-01 in Beijing: a baby born that day can be added.
    world = World(
        policy=policy, clock=FixedClock(int(dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC).timestamp()))
    )
    newborn = id_number(born="20261201", sequence="003")
    view = apply(world, world.login("mother"), "family", name="王小宝", id_number=newborn)
    assert view.name_masked == "王*宝"


# -- changing details -----------------------------------------------------------------------------


def test_phone_can_be_updated(world):
    alice = world.login("alice")
    view = apply(world, alice)
    updated = world.persons.update_phone(alice, view.id, "+86 139 1234 5678")
    assert updated.phone_masked == "139****5678"
    assert world.persons.list(alice)[0].phone_masked == "139****5678"


def test_invalid_new_phone_is_refused_and_the_old_one_kept(world):
    alice = world.login("alice")
    view = apply(world, alice)
    with pytest.raises(InvalidInput):
        world.persons.update_phone(alice, view.id, "010-12345678")
    assert world.persons.list(alice)[0].phone_masked == "138****8000"


def test_someone_elses_person_is_not_found(world):
    view = apply(world, world.login("alice"))
    bob = world.login("bob")
    with pytest.raises(NotFound):
        world.persons.update_phone(bob, view.id, "13912345678")
    with pytest.raises(NotFound):
        world.persons.unlink(bob, view.id)
    with pytest.raises(NotFound):
        world.persons.linked(bob, "f" * 24)


def test_passing_the_face_check_marks_the_link_verified(world):
    alice = world.login("alice")
    view = apply(world, alice)
    assert world.persons.verify(alice, view.id, world.platform, "ok").verified is True
    assert world.persons.list(alice)[0].verified is True


def test_failing_the_face_check_is_forbidden_and_changes_nothing(world):
    alice = world.login("alice")
    view = apply_only(world, alice)
    with pytest.raises(Forbidden):
        world.persons.verify(alice, view.id, world.platform, "nope")
    assert world.persons.list(alice)[0].verified is False


def test_verification_belongs_to_the_account_not_the_person(world):
    alice, mother = world.login("alice"), world.login("mother")
    view = apply_only(world, alice)
    apply_only(world, mother, "family")
    world.persons.verify(alice, view.id, world.platform, "ok")
    assert world.persons.list(mother)[0].verified is False


# -- leaving -------------------------------------------------------------------------------------


def test_unlinking_self_without_facts_erases_the_person(world):
    alice = world.login("alice")
    view = apply(world, alice)
    world.persons.unlink(alice, view.id)
    assert world.persons.list(alice) == []
    assert world.store.persons == {}  # name, phone and ID-number ciphertext are gone
    assert world.store.index == {}  # and the keyed-hash index entry: nothing is left
    again = apply(world, alice)  # a new person, whose old codes scan as revoked
    assert again.id != view.id and world.persons.list(alice) == [again]


def test_unlinking_self_erases_pii_but_keeps_authority_markers(world):
    alice = world.login("alice")
    view = apply(world, alice)
    world.mark(
        MarkerRequest(kind="close_contact", reason="case 12", id_number=ZHANG), world.staff()
    )
    world.persons.unlink(alice, view.id)

    record = world.store.get(view.id)
    assert (record.name_ct, record.phone_ct, record.self_account) == (None, None, None)
    assert world.store.markers[view.id]
    assert world.persons.list(alice) == []


def test_reapplying_after_erasure_gives_the_same_colour(world):
    alice = world.login("alice")
    view = apply(world, alice)
    world.mark(
        MarkerRequest(kind="close_contact", reason="case 12", id_number=ZHANG), world.staff()
    )
    world.persons.unlink(alice, view.id)

    again = apply(world, world.login("alice-new-phone"), name="张三")
    assert again.id == view.id
    assert world.codes.show(world.login("alice-new-phone"), again.id).evaluation.color.value == "red"


def test_unlinking_family_keeps_the_person_for_others(world):
    alice, mother = world.login("alice"), world.login("mother")
    own = apply(world, alice)
    apply(world, mother, "family")
    world.persons.unlink(mother, own.id)
    assert world.persons.list(mother) == []
    assert world.persons.list(alice) == [own]


def test_family_link_to_an_erased_person_disappears_from_the_list(world):
    alice, mother = world.login("alice"), world.login("mother")
    own = apply(world, alice)
    apply(world, mother, "family")
    world.persons.unlink(alice, own.id)
    assert world.persons.list(mother) == []
    with pytest.raises(NotFound):
        world.codes.show(mother, own.id)


def test_family_link_to_an_erased_person_with_markers_disappears_from_the_list(world):
    alice, mother = world.login("alice"), world.login("mother")
    own = apply(world, alice)
    apply(world, mother, "family")
    world.mark(MarkerRequest(kind="symptoms", reason="fever", id_number=ZHANG), world.staff())
    world.persons.unlink(alice, own.id)
    assert world.persons.list(mother) == []
    with pytest.raises(NotFound):
        world.codes.show(mother, own.id)


def test_family_member_who_erased_their_data_can_be_added_again(world):
    alice, mother = world.login("alice"), world.login("mother")
    own = apply(world, alice)
    apply(world, mother, "family")
    world.mark(MarkerRequest(kind="symptoms", reason="fever", id_number=ZHANG), world.staff())
    world.persons.unlink(alice, own.id)
    assert world.persons.list(mother) == []
    assert apply(world, mother, "family").id == own.id


def test_erased_family_members_do_not_count_toward_the_family_limit(world):
    mother = world.login("mother")
    for n in range(1, 6):
        world.persons.apply(mother, family_member(n))
    first = world.persons.list(mother)[0]
    child = world.login("child-1")
    world.apply_verified(child, application(name="李四", id_number=id_number(born="20100101", sequence="001")))
    world.persons.unlink(child, first.id)
    assert len(world.persons.list(mother)) == 4
    world.persons.apply(mother, family_member(6))


class _RacingStore(FakePersonStore):
    """The second of two identical requests read the account's links before the first linked."""

    stale_links_once = False

    def links(self, account_id):
        if self.stale_links_once:
            self.stale_links_once = False
            return {}
        return super().links(account_id)


def test_double_submitted_self_application_keeps_the_self_claim(policy):
    world = World(policy=policy, store=_RacingStore())
    alice = world.login("alice")
    apply(world, alice)
    world.store.stale_links_once = True
    with pytest.raises(Conflict):
        apply(world, alice)
    with pytest.raises(Conflict, match=Msg.ID_IS_OTHERS_SELF):
        apply(world, world.login("mallory"))


def test_the_face_check_is_of_the_person_not_the_account_holder(world):
    grandson = world.login("grandson")
    grandma = world.persons.apply(grandson, application(relation="family"))
    world.persons.verify(grandson, grandma.id, world.platform, "ok")
    assert world.platform.checked == ("张三", ZHANG)


# -- the face check: what it unlocks, and who owns a person -------------------------------------


def test_an_unverified_link_shows_no_code_history_or_phone_change(world):
    alice = world.login("alice")
    view = apply_only(world, alice)
    for attempt in (
        lambda: world.codes.show(alice, view.id),
        lambda: world.codes.history(alice, view.id),
        lambda: world.persons.update_phone(alice, view.id, "13900139000"),
    ):
        with pytest.raises(VerificationRequired):
            attempt()
    world.persons.verify(alice, view.id, world.platform, "ok")
    assert world.codes.show(alice, view.id).evaluation.color.value == "green"


def test_a_stranger_claiming_self_cannot_rename_read_or_erase_the_person(world):
    carer, stranger = world.login("carer"), world.login("stranger")
    grandma = apply(world, carer, "family", name="王秀英")  # her face check passed on this name
    world.codes.scan(world.codes.show(carer, grandma.id).qr, "fever clinic")
    with pytest.raises(InvalidInput):  # a made-up name no longer matches a verified one
        apply_only(world, stranger, name="某某")
    claimed = apply_only(world, stranger, name="王秀英", phone="13900139000")  # knows name and ID
    assert (claimed.name_masked, claimed.phone_masked) == ("王*英", "139****9000")  # what they typed
    for attempt in (
        lambda: world.codes.show(stranger, claimed.id),
        lambda: world.codes.history(stranger, claimed.id),
        lambda: world.persons.update_phone(stranger, claimed.id, "13900139000"),
    ):
        with pytest.raises(VerificationRequired):
            attempt()
    with pytest.raises(Forbidden):
        world.persons.verify(stranger, claimed.id, world.platform, "not-her-face")
    world.persons.unlink(stranger, claimed.id)  # removes the stranger's link, erases nothing
    assert [(p.name_masked, p.phone_masked) for p in world.persons.list(carer)] == [("王*英", "138****8000")]
    assert world.codes.history(carer, grandma.id).scans


def test_a_squatters_made_up_name_and_phone_block_no_relative_and_last_no_face_check(world):
    squatter, daughter, grandma = world.login("squatter"), world.login("daughter"), world.login("grandma")
    squat = apply_only(world, squatter, name="某某", phone="13900000001")  # first, knowing only the ID
    mine = apply_only(world, daughter, "family", name="王秀英", phone="13800138000")
    assert (mine.name_masked, mine.phone_masked) == ("王*英", "")  # not the squatter's name or phone
    world.persons.verify(daughter, mine.id, world.platform, "ok")  # grandma's face, on the daughter's phone
    assert world.platform.checked == ("王秀英", ZHANG)
    # The squatter wrote the name, so it claims none: it sees the masked name, as a QR shows it.
    assert world.persons.list(squatter)[0].phone_masked == "139****0001"  # its own, as typed
    own = apply_only(world, grandma, name="王秀英", phone="13700137000")
    world.persons.verify(grandma, own.id, world.platform, "ok")
    assert world.persons.list(grandma)[0].phone_masked == "137****7000"  # the owner's phone replaces the squatter's
    assert world.persons.list(squatter) == []
    assert squat.id == own.id


def test_the_verified_owner_displaces_unverified_self_claims(world):
    squatter, owner = world.login("squatter"), world.login("owner")
    apply_only(world, squatter, name="某某")
    view = apply_only(world, owner)  # not a conflict: nobody has proven to be this person yet
    world.persons.verify(owner, view.id, world.platform, "ok")
    assert world.persons.list(squatter) == []
    with pytest.raises(NotFound):
        world.persons.verify(squatter, view.id, world.platform, "ok")
    with pytest.raises(Conflict):
        apply_only(world, world.login("third"))


def test_a_claimed_name_becomes_the_persons_name_when_the_face_check_passes(world):
    mother, zhang = world.login("mother"), world.login("zhang")
    apply_only(world, mother, "family", name="张山")  # mistyped by a relative, no face check yet
    claimed = apply_only(world, zhang, name="张三")
    assert claimed.name_masked == "张*"  # masked: 张山 and 张三 look alike; the record is unchanged
    assert world.vault.open(world.store.get(claimed.id).name_ct, f"{claimed.id}:name") == "张山"
    world.persons.verify(zhang, claimed.id, world.platform, "ok")
    assert world.platform.checked == ("张三", ZHANG)
    assert world.vault.open(world.store.get(claimed.id).name_ct, f"{claimed.id}:name") == "张三"
    assert world.store.links(zhang.account_id)[claimed.id].claimed_name_ct is None


def test_an_application_claims_the_phone_and_only_the_owners_face_check_sets_it(world):
    mother, zhang = world.login("mother"), world.login("zhang")
    apply(world, mother, "family", phone="13900139000")
    view = apply_only(world, zhang, phone="13800138000")
    assert view.phone_masked == "138****8000"  # what zhang typed, not the phone on record
    assert world.persons.list(mother)[0].phone_masked == "139****9000"
    world.persons.verify(zhang, view.id, world.platform, "ok")
    assert world.persons.list(mother)[0].phone_masked == "138****8000"


def test_a_name_that_passed_a_face_check_is_final(world):
    apply(world, world.login("mother"), "family", name="张三")
    with pytest.raises(InvalidInput):
        apply_only(world, world.login("zhang"), name="张山")


def test_unlinking_an_unverified_self_erases_nothing_another_account_holds(world):
    alice, son = world.login("alice"), world.login("son")
    view = apply_only(world, alice)
    held = apply(world, son, "family")
    world.persons.unlink(alice, view.id)
    assert world.store.get(view.id).name_ct is not None
    assert world.persons.list(son) == [held]


def test_a_person_nobody_links_to_any_more_is_removed(world):
    alice = world.login("alice")
    view = apply_only(world, alice)
    world.persons.unlink(alice, view.id)
    assert world.store.persons == {} and world.store.index == {}


def test_the_last_relative_leaving_removes_the_person_but_not_authority_facts(world):
    son = world.login("son")
    view = apply(world, son, "family")
    world.mark(MarkerRequest(kind="close_contact", reason="x", id_number=ZHANG), world.staff())
    world.persons.unlink(son, view.id)
    record = world.store.get(view.id)
    assert (record.name_ct, record.phone_ct, record.accounts) == (None, None, ())
    assert world.store.markers[view.id] and world.store.index  # the authority's facts stay


def test_an_erasure_while_the_platform_checks_a_face_wins(world):
    owner, other = world.login("owner"), world.login("other")
    mine = apply(world, owner)
    world.persons.unlink(owner, mine.id)
    claim = apply_only(world, other)  # a new self claim on the same person, then...
    original = world.platform.verify_identity

    def erase_meanwhile(*args):  # ...the person re-applies and erases again mid-check
        world.platform.verify_identity = original
        again = apply(world, owner)
        world.persons.unlink(owner, again.id)
        return original(*args)

    world.platform.verify_identity = erase_meanwhile
    with pytest.raises(NotFound):
        world.persons.verify(other, claim.id, world.platform, "ok")
    assert world.store.get(claim.id) is None or world.store.get(claim.id).self_account is None


def test_links_made_in_the_second_of_an_erasure_lapse_but_a_reapplication_stands(world):
    owner, carer = world.login("owner"), world.login("carer")
    mine = apply(world, owner)
    family = apply(world, carer, "family")  # the same second as the erasure below
    world.persons.unlink(owner, mine.id)
    assert world.persons.list(carer) == []
    again = apply(world, owner)  # still the same second
    assert world.persons.list(owner) == [again]
    shown = world.codes.show(owner, again.id)
    assert shown.evaluation.color.value == "green"
    assert world.codes.scan(shown.qr, "gate").valid  # not `revoked` for its whole life
    assert family.id != again.id  # the erased person left nothing, not even the index entry


def test_an_erasure_during_a_relatives_face_check_does_not_bring_the_name_back(world):
    owner, relative = world.login("owner"), world.login("relative")
    mine = apply(world, owner, name="张三")
    world.mark(MarkerRequest(kind="close_contact", reason="x", id_number=ZHANG), world.staff())
    world.persons.apply(relative, application("family", name="张三"))
    original = world.platform.verify_identity

    def erase_meanwhile(*args):
        world.platform.verify_identity = original
        world.persons.unlink(owner, mine.id)  # keeps the record: it has a marker
        return original(*args)

    world.platform.verify_identity = erase_meanwhile
    with pytest.raises(NotFound):
        world.persons.verify(relative, mine.id, world.platform, "ok")
    assert world.store.get(mine.id).name_ct is None


def test_a_claim_overtaken_by_a_verified_name_is_refused_not_applied(world):
    squatter, relative, owner = world.login("squatter"), world.login("relative"), world.login("owner")
    apply_only(world, squatter, name="某某")
    claim = apply_only(world, relative, "family", name="李四")  # wrong, pending
    apply(world, owner, name="张三")  # the owner's face check makes 张三 final
    with pytest.raises(InvalidInput):
        world.persons.verify(relative, claim.id, world.platform, "ok")
    assert world.vault.open(world.store.get(claim.id).name_ct, f"{claim.id}:name") == "张三"
    assert not world.persons.list(relative)[0].verified
