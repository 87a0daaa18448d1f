"""How the core's entities are written into Redis values, and read back."""
from __future__ import annotations

import base64
import json
from typing import Any

from adapters.store.layout import hex_ids
from core.model import (
    ColorChange,
    Facts,
    LabOutcome,
    LabResult,
    Link,
    Marker,
    MarkerStatus,
    NameSource,
    PersonRecord,
    Relation,
    ScanRecord,
    Session,
)


def _compact(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def text(value: bytes | str) -> str:
    """A reply as text (the client does not decode replies)."""
    return value.decode() if isinstance(value, bytes) else value


def pairs(flat: list[Any] | dict[Any, Any]) -> dict[Any, Any]:
    """A hash as Lua returns it (a flat list of fields and values) as a dict."""
    if isinstance(flat, dict):
        return flat
    it = iter(flat)
    return dict(zip(it, it, strict=True))


# -- persons -------------------------------------------------------------------------------

def parse_record(person_id: str, raw: dict[bytes, bytes]) -> PersonRecord | None:
    if not raw or b"i" not in raw:
        return None
    # Hashes and ids raw (adapters/store/layout.py), the rest text.
    text = {k: raw[k].decode() for k in (b"c", b"r", b"t", b"ns") if k in raw}
    source = NAME_SOURCES.get(text.get(b"ns", ""), text.get(b"ns"))  # a code; a word in layout 1
    owner, accounts = raw.get(b"o"), raw.get(b"a")
    return PersonRecord(
        id=person_id,
        id_number_ct=raw[b"i"],
        name_ct=raw.get(b"n"),
        phone_ct=raw.get(b"p"),
        self_account=owner.hex() if owner else None,
        last_color=text.get(b"c"),
        revoked_before=int(text.get(b"r", 0)),
        created_at=int(text.get(b"t", 0)),
        name_source=NameSource(source) if source else None,
        accounts=tuple(hex_ids(accounts)) if accounts else (),
    )


# -- links ---------------------------------------------------------------------------------

# The relation by its initial: a verified link's value stays within 25 bytes, so an account's
# hash fits a 48-byte allocation (adapters/store/layout.py).
RELATION_CODES = {Relation.SELF: "s", Relation.FAMILY: "f"}
RELATIONS = {code: relation for relation, code in RELATION_CODES.items()}
# A name's source by its initial too (the person hash stays within 224 bytes).
NAME_SOURCE_CODES = {NameSource.SELF: "s", NameSource.FAMILY: "f", NameSource.VERIFIED: "v"}
NAME_SOURCES = {code: source for source, code in NAME_SOURCE_CODES.items()}


def link_value(link: Link) -> str:
    """relation|verified|linked_at|notice, then |name|phone while claims ride along."""
    value = f"{RELATION_CODES[link.relation]}|{int(link.verified)}|{link.linked_at}|{link.consent_notice or ''}"
    claims = (link.claimed_name_ct, link.claimed_phone_ct)
    if any(claim is not None for claim in claims):  # "|name|phone", base64, either may be empty
        value += "".join("|" + (base64.b64encode(c).decode() if c is not None else "") for c in claims)
    return value


def parse_link(person_id: str, raw: bytes) -> Link:
    relation, verified, linked_at, notice, *claims = raw.decode().split("|")
    name, phone = (base64.b64decode(c) if c else None for c in (claims + ["", ""])[:2])
    return Link(person_id, RELATIONS[relation], verified == "1", int(linked_at), name, phone, notice or None)


# -- sessions ------------------------------------------------------------------------------

def session_value(session: Session) -> str:
    return f"{session.account_id}|{session.platform}"


def parse_session(raw: bytes | None) -> Session | None:
    if raw is None:
        return None
    account_id, platform = raw.decode().split("|")
    return Session(account_id=account_id, platform=platform)


def session_account(raw: bytes | None) -> str | None:
    """The account of a stored session (as parse_session(raw).account_id), without the Session."""
    return None if raw is None else raw.partition(b"|")[0].decode()


# -- facts ---------------------------------------------------------------------------------

def marker_value(marker: Marker) -> str:
    doc: dict[str, Any] = {
        "kind": marker.kind,
        "reason": marker.reason,
        "since": marker.since,
        "until": marker.until,
        "by": marker.created_by,
        "status": marker.status,
        "at": marker.created_at,
    }
    for name, value in (("note", marker.note), ("ok", marker.approved_by)):
        if value:
            doc[name] = value
    return _compact(doc)


def parse_marker(person_id: str, marker_id: str, raw: bytes) -> Marker:
    doc = json.loads(raw)
    return Marker(marker_id, person_id, doc["kind"], doc["reason"], doc["since"], doc["until"], doc["by"],
                  MarkerStatus(doc["status"]), doc.get("note"), doc.get("at", 0), doc.get("ok"))


def lab_member(result: LabResult) -> str:
    # No nonce: the same result delivered again (a lab re-sending a batch) is the same member.
    return _compact({"at": result.sampled_at, "r": result.result, "lab": result.lab})


def parse_lab(raw: bytes) -> LabResult:
    doc = json.loads(raw)
    return LabResult(sampled_at=doc["at"], result=LabOutcome(doc["r"]), lab=doc["lab"])


def parse_facts(person_id: str, reply: list[Any]) -> tuple[PersonRecord | None, Facts]:
    """The facts as read (adapters/store/reads.py): the person hash, the markers hash, the lab
    results, the visits."""
    raw_person, raw_markers, raw_labs = pairs(reply[0]), pairs(reply[1]), reply[2]
    markers = tuple(parse_marker(person_id, mid.decode(), v) for mid, v in raw_markers.items())
    labs = tuple(parse_lab(v) for v in raw_labs)
    visits = tuple((city.decode(), int(float(at))) for city, at in pairs(reply[3]).items()) if len(reply) > 3 else ()
    return parse_record(person_id, raw_person), Facts(markers=markers, lab_results=labs, visits=visits)


# -- history -------------------------------------------------------------------------------
# History members are "<sequence>|<json>": same-second entries keep their order.

def change_json(change: ColorChange) -> str:
    return _compact({"at": change.at, "from": change.from_color, "to": change.to_color,
                     "why": list(change.reason_codes)})


def scan_json(scan: ScanRecord, issued_at: int | None = None) -> str:
    """The scan's entry; with the scanned code's issue time (`iat`), so that a code is recorded
    once per place."""
    doc: dict[str, Any] = {"at": scan.at, "place": scan.place, "result": scan.result}
    if issued_at is not None:
        doc["iat"] = issued_at
    return _compact(doc)


def _history_doc(raw: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(raw.split(b"|", 1)[1])
    return doc


def parse_change(raw: bytes) -> ColorChange:
    doc = _history_doc(raw)
    return ColorChange(doc["at"], doc["from"], doc["to"], tuple(doc["why"]))


def parse_scan(raw: bytes) -> ScanRecord:
    doc = _history_doc(raw)
    return ScanRecord(doc["at"], doc["place"], doc["result"])
