"""Redis repository of persons, account links, facts and history.

Keys (DESIGN §7, cluster-ready): every key of one person shares the hash tag {person-id};
an account's links live in one hash; the ID-number index is one key per person.
  hc:id:{<id-hash>}        -> person id                 (string, global single-key lookup)
  hc:p:{<pid>}             -> person hash (ciphertexts, verified owner account, last colour)
  hc:p:{<pid>}:m           -> markers (hash id -> JSON)
  hc:p:{<pid>}:lab         -> lab results (sorted set by sampled_at)
  hc:p:{<pid>}:chg / :scan -> history (sorted sets by time, trimmed and expiring)
  hc:a:{<account-id>}      -> links (hash person id -> "relation|verified|linked_at[|name|phone claimed]")
"""
from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable

import redis

from adapters.store.tokens import parse_session, session_key
from core.facts import Facts, LabResult, Marker
from core.ports import ColorChange, Link, PersonRecord, ScanRecord, Session

MAX_LAB_RESULTS = 50
MAX_SCANS = 500  # per person, newest kept: bounds what a replayed screenshot can cost

_CLAIM_INDEX = """
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""
_CREATE = """
if redis.call('HEXISTS', KEYS[1], 'i') == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""
# KEYS: person, markers, labs, changes, scans; ARGV: now. Decides and erases in one step, so a
# marker written meanwhile is either seen (and kept) or arrives after (on a fresh record).
# The person's own data goes: name, phone, self owner, history. The authority's facts stay.
# Without any, the ID-number ciphertext goes too. Only the time of erasure is kept, so codes
# issued before it scan as revoked. The ID-number index keeps pointing here: an application
# or marking later simply creates the record again under the same id. Returns 1 if facts stayed.
_ERASE = """
redis.call('DEL', KEYS[4], KEYS[5])
local keep = redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1
if keep then
  redis.call('HDEL', KEYS[1], 'n', 'p', 'o', 'c', 'ns')
else
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'r', ARGV[1])
if keep then return 1 end
return 0
"""
# KEYS: person; ARGV: expected name ciphertext ('' for none), new ciphertext ('' deletes), source.
_SET_NAME = """
if (redis.call('HGET', KEYS[1], 'n') or '') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'n', 'ns')
else redis.call('HSET', KEYS[1], 'n', ARGV[2], 'ns', ARGV[3]) end
return 1
"""
# ARGV: account, the link's linked_at. '' when the person was erased since (a stale link).
_CLAIM_SELF = """
if redis.call('HEXISTS', KEYS[1], 'n') == 0 then return '' end
if tonumber(ARGV[2]) < tonumber(redis.call('HGET', KEYS[1], 'r') or '0') then return '' end
local o = redis.call('HGET', KEYS[1], 'o')
if o then return o end
redis.call('HSET', KEYS[1], 'o', ARGV[1])
return ARGV[1]
"""
# ARGV: person id, relation, encoded link, max family
_LINK = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'exists' end
local family = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  local rel = string.match(v, '^(%a+)|')
  if rel == ARGV[2] and rel == 'self' then return 'self_taken' end
  if rel == 'family' then family = family + 1 end
end
if ARGV[2] == 'family' and family >= tonumber(ARGV[4]) then return 'family_full' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 'ok'
"""
# The claims are settled by now: the link shrinks to "relation|1|linked_at". A value with claims
# is longer than hash-max-listpack-value (64), which turned the hash into a hashtable, and Redis
# never turns it back: rebuild the hash, so a verified account's links stay a compact listpack.
_SET_VERIFIED = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local rel, _, ts = string.match(v, '^(%a+)|(%d)|(%d+)')
local link = rel .. '|1|' .. ts
if #v == #link then
  redis.call('HSET', KEYS[1], ARGV[1], link)
  return 1
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] == ARGV[1] then all[i + 1] = link end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(all))
return 1
"""
_REMOVE_MARKER = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
"""
# KEYS: person, changes; ARGV: expected last colour ('' for none), new colour, at, member, retention
_RECORD_CHANGE = """
local last = redis.call('HGET', KEYS[1], 'c') or ''
if last ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[2])
local seq = redis.call('HINCRBY', KEYS[1], 'q', 1)
redis.call('ZADD', KEYS[2], ARGV[3], string.format('%012d|', seq) .. ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[5]))
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""
# Record a scan: only for a person who has applied and whose data was not erased after the
# code was issued. Returns the stored member (to amend it), or false.
_RECORD_SCAN_FN = """
local MAX_SCANS = @MAX_SCANS@
local function record_scan(person, scans, at, member_json, retention, issued_at)
  local p = redis.call('HMGET', person, 'n', 'r')
  if not p[1] then return false end
  if p[2] and tonumber(issued_at) < tonumber(p[2]) then return false end
  local seq = redis.call('HINCRBY', person, 'q', 1)
  local member = string.format('%012d|', seq) .. member_json
  redis.call('ZADD', scans, at, member)
  redis.call('ZREMRANGEBYSCORE', scans, '-inf', tonumber(at) - tonumber(retention))
  redis.call('ZREMRANGEBYRANK', scans, 0, -(MAX_SCANS + 1))
  redis.call('EXPIRE', scans, retention)
  return member
end
""".replace("@MAX_SCANS@", str(MAX_SCANS))
# KEYS: person, markers, labs. Everything a colour needs, as one command (one hash tag).
_FACTS = """
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('ZRANGE', KEYS[3], 0, -1)}
"""
# KEYS: person, markers, labs, scans; ARGV: at, member, retention, issued_at of the scanned code.
# The facts, and the scan recorded.
_FACTS_AND_SCAN = _RECORD_SCAN_FN + """
local facts = {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('ZRANGE', KEYS[3], 0, -1)}
facts[4] = record_scan(KEYS[1], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return facts
"""
# KEYS: scans; ARGV: old member, new member, at. Replaces an entry only if it is still there.
_REPLACE_SCAN = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2]) end
return 1
"""
# History members are "<sequence>|<json>": same-second entries keep their order.


def _history_doc(raw: bytes) -> dict:
    return json.loads(raw.split(b"|", 1)[1])


def person_key(person_id: str) -> str:
    return f"hc:p:{{{person_id}}}"


def account_key(account_id: str) -> str:
    return f"hc:a:{{{account_id}}}"


def index_key(id_hash: str) -> str:
    return f"hc:id:{{{id_hash}}}"


def _link_value(link: Link) -> str:
    value = f"{link.relation}|{int(link.verified)}|{link.linked_at}"
    claims = (link.claimed_name_ct, link.claimed_phone_ct)
    if any(claim is not None for claim in claims):  # "|name|phone", base64, either may be empty
        value += "".join("|" + (base64.b64encode(c).decode() if c is not None else "") for c in claims)
    return value


def _parse_link(person_id: str, raw: bytes) -> Link:
    relation, verified, linked_at, *claims = raw.decode().split("|")
    name, phone = (base64.b64decode(c) if c else None for c in (claims + ["", ""])[:2])
    return Link(person_id, relation, verified == "1", int(linked_at), name, phone)


def _parse_record(person_id: str, raw: dict[bytes, bytes]) -> PersonRecord | None:
    if not raw or b"i" not in raw:
        return None
    text = {k: raw[k].decode() for k in (b"h", b"o", b"c", b"r", b"t", b"ns") if k in raw}
    return PersonRecord(
        id=person_id,
        id_hash=text.get(b"h", ""),
        id_number_ct=raw[b"i"],
        name_ct=raw.get(b"n"),
        phone_ct=raw.get(b"p"),
        self_account=text.get(b"o"),
        last_color=text.get(b"c"),
        revoked_before=int(text.get(b"r", 0)),
        created_at=int(text.get(b"t", 0)),
        name_source=text.get(b"ns"),
    )


def _marker_json(marker: Marker) -> str:
    return json.dumps(
        {
            "kind": marker.kind,
            "reason": marker.reason,
            "since": marker.since,
            "until": marker.until,
            "by": marker.created_by,
            "status": marker.status,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _parse_marker(person_id: str, marker_id: str, raw: bytes) -> Marker:
    doc = json.loads(raw)
    return Marker(
        marker_id, person_id, doc["kind"], doc["reason"], doc["since"], doc["until"], doc["by"], doc["status"]
    )


class RedisPersonStore:
    """PersonStore on Redis; one round trip for everything a colour needs."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._claim_index = client.register_script(_CLAIM_INDEX)
        self._create = client.register_script(_CREATE)
        self._claim_self = client.register_script(_CLAIM_SELF)
        self._erase = client.register_script(_ERASE)
        self._set_name = client.register_script(_SET_NAME)
        self._link = client.register_script(_LINK)
        self._set_verified = client.register_script(_SET_VERIFIED)
        self._remove_marker = client.register_script(_REMOVE_MARKER)
        self._record_change = client.register_script(_RECORD_CHANGE)
        self._facts = client.register_script(_FACTS)
        self._facts_and_scan = client.register_script(_FACTS_AND_SCAN)
        self._replace_scan = client.register_script(_REPLACE_SCAN)

    # -- persons ---------------------------------------------------------------------------

    def claim_index(self, id_hash: str, person_id: str) -> str:
        return self._claim_index(keys=[index_key(id_hash)], args=[person_id]).decode()

    def create(self, record: PersonRecord) -> None:
        fields: list[str | bytes | int] = ["h", record.id_hash, "i", record.id_number_ct, "t", record.created_at]
        self._create(keys=[person_key(record.id)], args=fields)

    def get(self, person_id: str) -> PersonRecord | None:
        return _parse_record(person_id, self._r.hgetall(person_key(person_id)))

    def set_pii(self, person_id: str, name_ct: bytes | None = None, phone_ct: bytes | None = None) -> None:
        fields = {k: v for k, v in (("n", name_ct), ("p", phone_ct)) if v is not None}
        if fields:
            self._r.hset(person_key(person_id), mapping=fields)

    def set_name(self, person_id: str, name_ct: bytes | None, source: str | None, expected: bytes | None) -> bool:
        args = [expected or b"", name_ct or b"", source or ""]
        return bool(self._set_name(keys=[person_key(person_id)], args=args))

    def claim_self(self, person_id: str, account_id: str, linked_at: int) -> str | None:
        owner = self._claim_self(keys=[person_key(person_id)], args=[account_id, linked_at]).decode()
        return owner or None

    def erase(self, person_id: str, now: int) -> bool:
        key = person_key(person_id)
        keys = [key, f"{key}:m", f"{key}:lab", f"{key}:chg", f"{key}:scan"]
        return bool(self._erase(keys=keys, args=[now]))

    # -- account links ---------------------------------------------------------------------

    def links(self, account_id: str) -> dict[str, Link]:
        raw = self._r.hgetall(account_key(account_id))
        return {pid.decode(): _parse_link(pid.decode(), value) for pid, value in raw.items()}

    def link(self, account_id: str, link: Link, max_family: int) -> str:
        args = [link.person_id, link.relation, _link_value(link), max_family]
        return self._link(keys=[account_key(account_id)], args=args).decode()

    def unlink(self, account_id: str, person_id: str) -> None:
        self._r.hdel(account_key(account_id), person_id)

    def set_verified(self, account_id: str, person_id: str) -> bool:
        return bool(self._set_verified(keys=[account_key(account_id)], args=[person_id]))

    # -- facts -----------------------------------------------------------------------------

    def load(self, person_id: str, account_id: str | None = None) -> tuple[Link | None, PersonRecord | None, Facts]:
        def build(pipe: redis.client.Pipeline) -> None:
            if account_id is not None:
                pipe.hget(account_key(account_id), person_id)
            self._queue_facts(pipe, person_id)

        replies = self._execute(build)
        raw_link = replies[0] if account_id is not None else None
        link = _parse_link(person_id, raw_link) if raw_link else None
        return (link, *self._parse_facts(person_id, replies[-1]))

    def load_for_session(
        self, token_hash: str, account_id: str, person_id: str
    ) -> tuple[Session | None, Link | None, PersonRecord | None, Facts]:
        """The session, the account's link and the person's facts, in one round trip."""

        def build(pipe: redis.client.Pipeline) -> None:
            pipe.get(session_key(token_hash))
            pipe.hget(account_key(account_id), person_id)
            self._queue_facts(pipe, person_id)

        raw_session, raw_link, raw_facts = self._execute(build)
        link = _parse_link(person_id, raw_link) if raw_link else None
        return (parse_session(raw_session), link, *self._parse_facts(person_id, raw_facts))

    def load_and_record_scan(
        self, person_id: str, scan: ScanRecord, issued_at: int, retention: int
    ) -> tuple[PersonRecord | None, Facts, str | None]:
        """The person's facts, and the scan written to their history, in one command."""
        key = person_key(person_id)
        keys = (key, f"{key}:m", f"{key}:lab", f"{key}:scan")
        args = (scan.at, _scan_json(scan), retention, issued_at)
        (reply,) = self._execute(lambda pipe: pipe.evalsha(self._facts_and_scan.sha, 4, *keys, *args))
        record, facts = self._parse_facts(person_id, reply[:3])
        ref = reply[3] if len(reply) > 3 else None
        return record, facts, ref.decode() if ref else None

    def _execute(self, build: Callable[[redis.client.Pipeline], object]) -> list:
        """Run a pipeline of EVALSHAs and plain commands; load the scripts if Redis lost them.

        EVALSHA directly: Script objects in a pipeline make redis-py send SCRIPT EXISTS first,
        a second round trip on every read.
        """
        for attempt in (1, 2):
            pipe = self._r.pipeline(transaction=False)
            build(pipe)
            try:
                return pipe.execute()
            except redis.exceptions.NoScriptError:
                if attempt == 2:
                    raise
                # Redis restarted or flushed its scripts: nothing ran; load them and go again.
                for script in (self._facts, self._facts_and_scan):
                    self._r.script_load(script.script)
        raise AssertionError("unreachable")

    def replace_scan(self, person_id: str, ref: str, scan: ScanRecord) -> None:
        seq = ref.split("|", 1)[0]
        self._replace_scan(keys=[f"{person_key(person_id)}:scan"], args=[ref, f"{seq}|{_scan_json(scan)}", scan.at])

    def _queue_facts(self, pipe: redis.client.Pipeline, person_id: str) -> None:
        key = person_key(person_id)
        pipe.evalsha(self._facts.sha, 3, key, f"{key}:m", f"{key}:lab")

    @staticmethod
    def _parse_facts(person_id: str, reply: list) -> tuple[PersonRecord | None, Facts]:
        raw_person, raw_markers, raw_labs = (_pairs(reply[0]), _pairs(reply[1]), reply[2])
        markers = tuple(_parse_marker(person_id, mid.decode(), v) for mid, v in raw_markers.items())
        labs = tuple(_parse_lab(v) for v in raw_labs)
        return _parse_record(person_id, raw_person), Facts(markers=markers, lab_results=labs)

    def add_marker(self, marker: Marker) -> None:
        self._r.hset(f"{person_key(marker.person_id)}:m", marker.id, _marker_json(marker))

    def remove_marker(self, person_id: str, marker_id: str) -> Marker | None:
        raw = self._remove_marker(keys=[f"{person_key(person_id)}:m"], args=[marker_id])
        return _parse_marker(person_id, marker_id, raw) if raw else None

    def add_lab_result(self, person_id: str, result: LabResult) -> None:
        key = f"{person_key(person_id)}:lab"
        member = json.dumps(
            {"at": result.sampled_at, "r": result.result, "lab": result.lab, "n": secrets.token_hex(3)},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        pipe = self._r.pipeline(transaction=True)
        pipe.zadd(key, {member: result.sampled_at})
        pipe.zremrangebyrank(key, 0, -MAX_LAB_RESULTS - 1)
        pipe.execute()

    # -- history ---------------------------------------------------------------------------

    def record_change(self, person_id: str, expected_last: str | None, change: ColorChange, retention: int) -> bool:
        key = person_key(person_id)
        member = json.dumps(
            {"at": change.at, "from": change.from_color, "to": change.to_color, "why": list(change.reason_codes)},
            separators=(",", ":"),
        )
        args = [expected_last or "", change.to_color, change.at, member, retention]
        return bool(self._record_change(keys=[key, f"{key}:chg"], args=args))

    def history(self, person_id: str, since: int) -> tuple[list[ColorChange], list[ScanRecord]]:
        key = person_key(person_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.zrevrangebyscore(f"{key}:chg", "+inf", since)
        pipe.zrevrangebyscore(f"{key}:scan", "+inf", since)
        raw_changes, raw_scans = pipe.execute()
        changes = []
        for raw in raw_changes:
            doc = _history_doc(raw)
            changes.append(ColorChange(doc["at"], doc["from"], doc["to"], tuple(doc["why"])))
        scans = []
        for raw in raw_scans:
            doc = _history_doc(raw)
            scans.append(ScanRecord(doc["at"], doc["place"], doc["result"]))
        return changes, scans


def _pairs(flat: list | dict) -> dict:
    """A hash as Lua returns it (a flat list of fields and values) as a dict."""
    if isinstance(flat, dict):
        return flat
    it = iter(flat)
    return dict(zip(it, it, strict=True))


def _scan_json(scan: ScanRecord) -> str:
    return json.dumps({"at": scan.at, "place": scan.place, "result": scan.result},
                      ensure_ascii=False, separators=(",", ":"))


def _parse_lab(raw: bytes) -> LabResult:
    doc = json.loads(raw)
    return LabResult(sampled_at=doc["at"], result=doc["r"], lab=doc["lab"])
