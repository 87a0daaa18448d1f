"""The colour policy in force, on Redis, shared by every process (a change is an audited action).

  hc:{policy}           versions (hash version -> the policy document, JSON)
  hc:{policy}:current   the version in force

Each process keeps the parsed policy and looks at `current` at most once per refresh interval,
so a published policy reaches every worker within a second.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from adapters.store.encoding import text
from core.errors import Conflict, InvalidInput, Msg
from core.policy import Policy, PolicyError, load_policy

VERSIONS, CURRENT = "hc:{policy}", "hc:{policy}:current"


class RedisPolicyStore:
    def __init__(self, client: redis.Redis, fallback: Policy, fallback_doc: Mapping[str, Any],
                 refresh_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._r = client
        self._fallback, self._fallback_doc = fallback, dict(fallback_doc)
        self._refresh = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._policy = fallback
        self._next_check = float("-inf")

    def ensure_published(self) -> str:
        """At start-up: the policy file's document is the first one in force, if none is yet.
        The version in force afterwards."""
        version = self._fallback.version
        self._r.hsetnx(VERSIONS, version, json.dumps(self._fallback_doc, ensure_ascii=False))
        self._r.setnx(CURRENT, version)
        current = self._r.get(CURRENT)
        return text(current) if isinstance(current, bytes | str) else version

    def current(self) -> Policy:
        now = self._clock()
        if now >= self._next_check:
            with self._lock:
                if now >= self._next_check:
                    self._reload()
                    self._next_check = now + self._refresh
        return self._policy

    def observe(self, version: str | None) -> bool:
        if version is None or version == self._policy.version:
            return False
        with self._lock:
            self._reload()
            self._next_check = self._clock() + self._refresh
        return True

    def _reload(self) -> None:
        version = self._r.get(CURRENT)
        if not isinstance(version, bytes | str) or text(version) == self._policy.version:
            return
        doc = self._r.hget(VERSIONS, text(version))
        if isinstance(doc, bytes | str):
            self._policy = load_policy(json.loads(doc))

    def publish(self, doc: Mapping[str, Any]) -> Policy:
        try:
            policy = load_policy(dict(doc))
        except PolicyError as exc:
            raise InvalidInput(Msg.POLICY_INVALID, {"policy": [str(exc)]}) from None
        if not self._r.hsetnx(VERSIONS, policy.version, json.dumps(dict(doc), ensure_ascii=False)):
            raise Conflict(Msg.POLICY_VERSION_TAKEN)  # a version is published once, never rewritten
        self._r.set(CURRENT, policy.version)
        self._next_check = float("-inf")
        return policy
