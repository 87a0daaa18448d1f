"""The store's key layout (DESIGN §7, cluster-ready): every key of one person shares the hash
tag {person-id}; an account's links live in one hash; the ID-number index is one key per person.

  hc:id:{<id-hash>}        -> person id                 (string, global single-key lookup)
  hc:p:{<pid>}             -> person hash (ciphertexts, verified owner account, last colour)
  hc:p:{<pid>}:m           -> markers (hash id -> JSON)
  hc:p:{<pid>}:lab         -> lab results (sorted set by sampled_at)
  hc:p:{<pid>}:chg / :scan -> history (sorted sets by time, trimmed and expiring)
  hc:p:{<pid>}:trip        -> cities the person's phone stayed in (sorted set city -> last end), a window
  hc:ph:{<phone-hash[:4]>} -> the persons by phone (hash rest of phone hash -> ids, comma-joined)
  hc:p:{<pid>}:cc          -> answers kept for reuse (hash account|variant -> entry), a cache
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


def answers_key(person_id: str) -> str:
    """Signed answers kept for reuse (core/code_cache.py): not in the AOF, expiring."""
    return person_key(person_id) + ":cc"


def facts_keys(person_id: str) -> list[str]:
    """The keys facts.lua reads: person, markers, labs, visits."""
    return [person_key(person_id), markers_key(person_id), labs_key(person_id), visits_key(person_id)]


def phone_index_key(phone_hash: str) -> tuple[str, str]:
    """Where the persons whose phone this is are listed (for their exposure from the operators'
    stays): a bucket hash of 1/65,536 of the phones, and the phone's field in it."""
    return f"hc:ph:{{{phone_hash[:4]}}}", phone_hash[4:]


def account_key(account_id: str) -> str:
    return f"hc:a:{{{account_id}}}"


def index_key(id_hash: str) -> str:
    return f"hc:id:{{{id_hash}}}"


def session_key(token_hash: str) -> str:
    return f"hc:s:{token_hash}"
