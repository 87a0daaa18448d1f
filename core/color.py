"""derive_color: the one evaluation that both chooses a colour and explains it (DESIGN §4),
and ColorRecorder, its one owner in the services, which also records each change in the history."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.model import Color, ColorChange, ColorChanged, Facts, LabOutcome, LabResult, MarkerStatus
from core.policy import NegativeTests, Policy, Rule
from core.ports import Counters, HistoryLog, Outbox, PolicyStore

DAY = 86400
HOUR = 3600


@dataclass(frozen=True)
class Reason:
    """One active cause of a yellow or red code."""

    code: str
    color: Color
    since: int
    until: int | None
    rule: Rule
    marker_id: str | None = None
    note: str | None = None  # the authority's public note on the marker


@dataclass(frozen=True)
class Evaluation:
    color: Color
    reasons: tuple[Reason, ...]
    policy_version: str
    # The first moment after the evaluation at which time alone could change it (a marker or
    # rule ending, a fact dated later starting); None: only new facts can.
    stable_until: int | None = None

    @property
    def reason_codes(self) -> list[str]:
        return [reason.code for reason in self.reasons]


def cleared_by_tests(rule: NegativeTests, since: int, results: Iterable[LabResult]) -> int | None:
    """When negatives sampled after `since` met the rule, or None.

    Greedy: the earliest negative counts first, each further one only if sampled at least
    `min_gap_hours` after the last counted (e.g. "two negatives ≥ 24 h apart"). A positive
    sampled after `since` restarts the count.
    """
    counted: list[int] = []
    for result in sorted(results, key=lambda r: r.sampled_at):
        if result.sampled_at <= since:
            continue
        if result.result == LabOutcome.POSITIVE:
            counted = []
            continue
        if not counted or result.sampled_at - counted[-1] >= rule.min_gap_hours * HOUR:
            counted.append(result.sampled_at)
            if len(counted) >= rule.count:
                return counted[-1]
    return None


def _active(rule: Rule, since: int, until: int | None, facts: Facts, now: int) -> tuple[bool, int | None]:
    """Whether a fact under `rule` still colours the code at `now`, and until when at most."""
    if until is None and rule.duration_days is not None:
        until = since + rule.duration_days * DAY
    if since > now or (until is not None and now >= until):
        return False, until
    if rule.negative_tests is not None:
        cleared_at = cleared_by_tests(rule.negative_tests, since, facts.lab_results)
        if cleared_at is not None and cleared_at <= now:
            return False, until
    return True, until


FROM_RISK_AREA = "from_risk_area"


def _exposure(facts: Facts, policy: Policy, now: int, elevated: Callable[[str], bool]) -> Reason | None:
    """来自中高风险地区: the latest stay in a city that holds a medium/high-risk area *now* (the
    table is read at evaluation, so a risk-area change needs no write per person), under the
    policy's from_risk_area rule (its days from that stay, its tests clearing it)."""
    rule = policy.markers.get(FROM_RISK_AREA)
    seen = [at for city, at in facts.visits if at <= now and elevated(city)]
    if rule is None or not seen:
        return None
    since = max(seen)
    active, until = _active(rule, since, None, facts, now)
    return Reason(rule.code, rule.color, since, until, rule) if active else None


def _nowhere(city: str) -> bool:
    return False


def derive_color(facts: Facts, policy: Policy, now: int, elevated: Callable[[str], bool] = _nowhere) -> Evaluation:
    """The colour at `now`, with every active reason, most severe first; `elevated(city)` says
    whether a city holds a medium- or high-risk area now."""
    reasons: list[Reason] = []
    for marker in facts.markers:
        rule = policy.markers.get(marker.kind)
        if rule is None or marker.status != MarkerStatus.ACTIVE:
            continue
        active, until = _active(rule, marker.since, marker.until, facts, now)
        if active:
            reasons.append(Reason(rule.code, rule.color, marker.since, until, rule, marker.id, marker.note))
    positives = [r for r in facts.lab_results if r.result == LabOutcome.POSITIVE and r.sampled_at <= now]
    if positives:
        latest = max(positives, key=lambda r: r.sampled_at)
        rule = policy.positive_test
        active, until = _active(rule, latest.sampled_at, None, facts, now)
        if active:
            reasons.append(Reason(rule.code, rule.color, latest.sampled_at, until, rule))
    exposure = _exposure(facts, policy, now, elevated)
    if exposure is not None and not any(r.code == exposure.code for r in reasons):
        reasons.append(exposure)
    reasons.sort(key=lambda r: (-r.color.severity, r.since))
    color = reasons[0].color if reasons else Color.GREEN
    return Evaluation(color=color, reasons=tuple(reasons), policy_version=policy.version,
                      stable_until=_horizon(facts, policy, now))


def _horizon(facts: Facts, policy: Policy, now: int) -> int | None:
    """The earliest time after `now` at which a fact starts, ends or lapses under its rule: no
    evaluation between now and then can differ (some of these instants change nothing; none
    that could is missed)."""
    moments: list[int] = []

    def lapse(rule: Rule | None, since: int) -> None:
        moments.append(since)
        if rule is not None and rule.duration_days is not None:
            moments.append(since + rule.duration_days * DAY)

    for marker in facts.markers:
        lapse(policy.markers.get(marker.kind), marker.since)
        if marker.until is not None:
            moments.append(marker.until)
    for result in facts.lab_results:  # a test also clears: its sampling time is a moment
        lapse(policy.positive_test, result.sampled_at)
    exposure = policy.markers.get(FROM_RISK_AREA)
    for _, at in facts.visits:
        lapse(exposure, at)
    later = [moment for moment in moments if moment > now]
    return min(later) if later else None


class ColorRecorder:
    """Derives a person's colour and records it in their history when it moved.

    The one owner of colour evaluation: codes, scans, marking, lab results and appeals all ask
    it, so a change is written once, whoever notices it first."""

    def __init__(self, policies: PolicyStore, history: HistoryLog, retention_days: int,
                 outbox: Outbox | None = None, counters: Counters | None = None,
                 elevated: Callable[[str], bool] = _nowhere) -> None:
        self._policies = policies
        self._elevated = elevated
        self._history = history
        self.retention_days = retention_days
        self._outbox = outbox
        self._counters = counters

    @property
    def policy(self) -> Policy:
        """The policy in force now (published versions reach every process within a second)."""
        return self._policies.current()

    @property
    def retention(self) -> int:
        """The history's retention period, in seconds."""
        return self.retention_days * DAY

    def derive(self, facts: Facts, now: int) -> Evaluation:
        """The colour at `now`, recording nothing."""
        return derive_color(facts, self._policies.current(), now, self._elevated)

    def evaluate_and_record(self, person_id: str, facts: Facts, last_color: str | None, now: int) -> Evaluation:
        """The colour at `now`; a change from `last_color` goes into the person's history."""
        evaluation = derive_color(facts, self._policies.current(), now, self._elevated)
        if evaluation.color.value != last_color:
            change = ColorChange(now, last_color, evaluation.color.value, tuple(evaluation.reason_codes))
            if last_color is not None and self._outbox is not None:
                # Queued before it is recorded: a crash in between leaves a notice whose change is
                # not in the history, which the sender drops; never a change nobody is told of.
                self._outbox.enqueue(ColorChanged(person_id, last_color, change.to_color, now, change.reason_codes))
            recorded = self._history.record_change(person_id, last_color, change, self.retention)
            if recorded and self._counters is not None:
                self._counters.count_change(last_color, change.to_color, change.reason_codes, now)
        return evaluation
