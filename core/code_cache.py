"""Reusing a signed answer (HEALTHCODE_CODE_CACHE): a person reading their code again within its
lifetime — pages refreshing, people retrying under load, what collapsed 粤康码 on 2022-01-10 —
gets the code already signed, never a stale colour.

The answer is reused only when everything it was built from is unchanged, as checked in the
read's own round trip: the store keeps with the answer the person's generation it was built at
(on Redis a counter that every write to the person's facts moves in the same script:
adapters/store/lua/generation.lua) and compares it with the current one; the salt below adds
what lives outside the person (the policy in force, the risk-area table, the signing key),
whose current versions the same round trip reads. So a marker, a lab result, a stay, a
risk-area change or a policy change makes the next read sign a new code with the new colour.
Time alone can change a colour too (a marker ends, a rule lapses, the visits expire): an answer
is reused only before its evaluation's `stable_until` and the store's `facts_until`, and never
for more than half the code's lifetime, so a code served again always has at least half its
life left.

An answer is kept from its person's second read on (in this process, within the reuse time),
not the first: most reads are one-offs (a code shown at a gate once), and storing each answer
costs Redis a script and the worker a write to the socket, about a sixth of a cold read
(docs/BENCHMARKS.md); a page refreshing or a person retrying reads again within seconds, and
from the third read on gets the kept answer. Cache-on-second-hit, as CDNs keep one-hit wonders
out. For the same reason a process looks for a kept answer only from its second read of the
slot on (read_before): a first read sends the versions of the policy and the risk table in its
round trip, as every read does, but not the answer's lookup, and makes no digest.
"""
from __future__ import annotations

from collections.abc import Callable

from core.color import Evaluation
from core.model import Globals
from core.ports import PolicyStore
from core.risk import RiskTable


class Until:
    """A bounded map (person, slot) -> until when: what this process saw of the answers, kept
    only as a hint (AnswerCache.admit, adapters/store/reads.py). When full it is forgotten at
    once: each key forgotten costs at most one more signature or round trip."""

    def __init__(self, size: int = 65_536) -> None:
        self._size = size
        self._until: dict[tuple[str, str], int] = {}

    def live(self, key: tuple[str, str], now: int) -> bool:
        return self._until.get(key, 0) > now

    def set(self, key: tuple[str, str], until: int) -> None:
        if len(self._until) >= self._size:
            self._until.clear()
        self._until[key] = until

    def drop(self, key: tuple[str, str]) -> None:
        self._until.pop(key, None)


class AnswerCache:
    """The reuse rules; the store holds the answers and compares the digests."""

    def __init__(self, enabled: bool, policies: PolicyStore, risk: RiskTable, key_id: Callable[[], str],
                 ttl: int) -> None:
        self.enabled = enabled
        self._policies = policies
        self._risk = risk
        self._key_id = key_id
        self._ttl = ttl
        # (person, slot) -> until when an answer built for it then would have been reusable: read
        # once here.
        self._seen = Until()
        self._refresh_salt: tuple[int, str, str, int] = (-1, "", "", 0)

    def salt(self) -> str:
        """What an answer built now is salted with: the policy and the risk table this process
        holds, and the signing key's id."""
        return salt_of(self._policies.current().version, self._risk.version, self._key_id())

    def refresh_salt(self, now: int) -> tuple[str, str, int]:
        """The salt a refresh's lean read looks for, with the policy and risk versions it is
        made of: made once a second at most (a refresh finds its answer in ~100 us; salt() is a
        tenth of that), and again after any read that saw other versions (forget_refresh_salt).

        Exact all the same: the read serves the kept answer only if the versions of its own
        round trip are the ones this salt was made of (HealthCodeService.show_for_token); only
        the signing key's id may be a second older than salt()'s, itself up to a second behind
        the key ring's (RedisKeyRing's refresh), and a code signed with the key before is still
        valid (keys are retired, not dropped, when the next one takes over)."""
        made = self._refresh_salt
        if made[0] != now:
            policy, risk = self._policies.current().version, self._risk.version
            made = self._refresh_salt = (now, salt_of(policy, risk, self._key_id()), policy, risk)
        return made[1], made[2], made[3]

    def forget_refresh_salt(self) -> None:
        self._refresh_salt = (-1, "", "", 0)

    def observe(self, seen: Globals | None) -> bool:
        """Bring this process's policy and risk table up to the versions the read saw; True if
        either was behind (the read's salt was stale)."""
        return seen is not None and self.observe_versions(seen.policy_version, seen.risk_version)

    def observe_versions(self, policy_version: str | None, risk_version: int) -> bool:
        """As observe(), from the two versions themselves."""
        behind = self._policies.observe(policy_version)
        behind = self._risk.observe(risk_version) or behind
        if behind:
            self.forget_refresh_salt()
        return behind

    def read_before(self, person_id: str, slot: str, now: int) -> bool:
        """Whether this process read (person, slot) before, within the longest reuse time: only
        then does a read look for a kept answer (and make the digest to keep one under)."""
        return self._seen.live((person_id, slot), now)

    def note_read(self, person_id: str, slot: str, now: int) -> None:
        """A first read of (person, slot) here, which looked for nothing: the next one looks,
        within the longest reuse time (half the code's life)."""
        self._seen.set((person_id, slot), now + self._ttl // 2)

    def admit(self, person_id: str, slot: str, now: int, until: int) -> bool:
        """Whether to keep the answer built now for (person, slot), reusable until `until`: only
        if this process built one for it before, whose reuse time has not ended."""
        key = (person_id, slot)
        if self._seen.live(key, now):
            return True
        self._seen.set(key, until)
        return False

    def reuse_until(self, evaluation: Evaluation, issued_at: int, expires_at: int,
                    facts_until: int | None = None) -> int:
        """Until when the answer may be served again: half the code's life, and not past the
        first moment time alone could change the colour, nor past `facts_until` (the store's
        word on when the facts as read may change without a write: a key that expires)."""
        until = min(issued_at + (expires_at - issued_at) // 2, expires_at)
        for bound in (evaluation.stable_until, facts_until):
            if bound is not None:
                until = min(until, bound)
        return until


def salt_of(policy_version: str, risk_version: int, key_id: str) -> str:
    """What lives outside the person and goes into every answer: the policy, the risk-area
    table and the signing key."""
    return f"{policy_version}|{risk_version}|{key_id}"
