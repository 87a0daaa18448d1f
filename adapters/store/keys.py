"""The store's key layout (DESIGN §7, cluster-ready): every key of one person shares the hash
tag {person-id}; an account's links live in one hash; the two global indexes are bucket hashes
(adapters/store/layout.py: 2**HEALTHCODE_INDEX_BITS buckets, raw bytes).

  hc:{layout}              -> the indexes' layout (version, bits): every process checks it
  hc:id:<bits>:{<bucket>}  -> ID-number index (hash: rest of the ID-number hash -> raw person id)
  hc:p:{<pid>}             -> person hash (ciphertexts, verified owner account, last colour, generation; ids raw)
  hc:p:{<pid>}:m           -> markers (hash id -> JSON)
  hc:p:{<pid>}:lab         -> lab results (sorted set by sampled_at)
  hc:p:{<pid>}:chg / :scan -> history (sorted sets by time, trimmed and expiring)
  hc:p:{<pid>}:trip        -> cities the person's phone stayed in (sorted set city -> last end), a window
  hc:ph:<bits>:{<bucket>}  -> the persons by phone (hash: rest of the phone hash -> raw ids, concatenated)
  hc:p:{<pid>}:cc          -> answers kept for reuse (hash account|variant -> entry), a cache; deleted with
                              every move of the generation (lua/generation.lua)
  hc:a:{<account-id>}      -> links (hash person id -> "relation|verified|linked_at[|name|phone claimed]")
  hc:s:<token-hash>        -> session (string with a TTL)
"""
from __future__ import annotations


def person_key(person_id: str) -> str:
    return f"hc:p:{{{person_id}}}"


def markers_key(person_id: str) -> str:
    return person_key(person_id) + ":m"


def labs_key(person_id: str) -> str:
    return person_key(person_id) + ":lab"


def changes_key(person_id: str) -> str:
    return person_key(person_id) + ":chg"


def scans_key(person_id: str) -> str:
    return person_key(person_id) + ":scan"


def visits_key(person_id: str) -> str:
    return person_key(person_id) + ":trip"


def all_visits_pattern() -> str:
    """A SCAN pattern of every person's visits key."""
    return person_key("*").replace("{*}", "*") + ":trip"


def person_key_of(key: str) -> str:
    """The person hash of a key of the person's (hc:p:{<pid>}:... -> hc:p:{<pid>})."""
    return key[:key.index("}") + 1]


def answers_key(person_id: str) -> str:
    """Signed answers kept for reuse (core/code_cache.py): not in the AOF, expiring."""
    return person_key(person_id) + ":cc"


def facts_keys(person_id: str) -> list[str]:
    """The keys a colour is derived from: person, markers, labs, visits (adapters/store/reads.py)."""
    return [person_key(person_id), markers_key(person_id), labs_key(person_id), visits_key(person_id)]


def account_key(account_id: str) -> str:
    return f"hc:a:{{{account_id}}}"


def session_key(token_hash: str) -> str:
    return f"hc:s:{token_hash}"
