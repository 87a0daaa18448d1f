"""The colour policy: data, versioned, loaded from a file, never hard-coded (DESIGN §4)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.model import Color

LANGS = ("zh", "en")


class PolicyError(ValueError):
    """A policy document that cannot be used."""


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True)
class NegativeTests:
    """Clearing by tests: `count` negatives sampled after the fact, each `min_gap_hours` apart."""

    count: int
    min_gap_hours: int


@dataclass(frozen=True)
class Rule:
    """How one kind of fact colours a code and how it clears.

    `until_allowed`: whether an authority may end a marker of this kind at an explicit time.
    Off unless the policy says so, because the policy, not the request, decides when a kind
    ends (a `confirmed` case by release, `symptoms` by a negative test).
    """

    code: str
    color: Color
    duration_days: int | None
    negative_tests: NegativeTests | None
    text: Text
    how_to_clear: Text
    until_allowed: bool = False
    self_declared: bool = False  # a person may declare it of themselves (症状, 接触史)


@dataclass(frozen=True)
class Policy:
    version: str
    meanings: dict[Color, Text]
    markers: dict[str, Rule]
    positive_test: Rule
    # How long a manual red marker waits for a second credential's approval before it lapses.
    approval_hours: int = 24

    def rule(self, code: str) -> Rule | None:
        """The rule of a reason code (a marker kind, or the positive test); None if retired."""
        return self.markers.get(code) or (self.positive_test if code == self.positive_test.code else None)

    def reason_text(self, code: str, lang: str) -> str:
        """The user text of a reason code, for history entries; the code itself if retired."""
        rule = self.rule(code)
        return rule.text.get(lang) if rule else code


def text_of(doc: Any, where: str) -> Text:
    if not isinstance(doc, dict) or not all(isinstance(doc.get(lang), str) and doc[lang] for lang in LANGS):
        raise PolicyError(f"{where}: needs non-empty 'zh' and 'en' texts")
    return Text(zh=doc["zh"], en=doc["en"])


_RULE_KEYS = {"color", "duration_days", "negative_tests", "text", "how_to_clear", "until_allowed", "self_declared"}


def _rule(code: str, doc: Any) -> Rule:
    if not isinstance(doc, dict):
        raise PolicyError(f"{code}: must be an object")
    unknown = set(doc) - _RULE_KEYS
    if unknown:
        # A misspelt "duration_day" must not silently turn a 14-day rule into "until removed".
        raise PolicyError(f"{code}: unknown keys {', '.join(sorted(unknown))}")
    try:
        color = Color(doc["color"])
    except (KeyError, ValueError):
        raise PolicyError(f"{code}: color must be one of green, yellow, red") from None
    if color is Color.GREEN:
        raise PolicyError(f"{code}: a rule must colour yellow or red")
    duration = doc.get("duration_days")
    if duration is not None and (type(duration) is not int or duration <= 0):
        raise PolicyError(f"{code}: duration_days must be a positive integer")
    tests = doc.get("negative_tests")
    negative_tests = None
    if tests is not None:
        if not isinstance(tests, dict):
            raise PolicyError(f"{code}: negative_tests must be an object")
        count, gap = tests.get("count"), tests.get("min_gap_hours", 0)
        if type(count) is not int or count < 1 or type(gap) is not int or gap < 0:
            raise PolicyError(f"{code}: negative_tests needs count ≥ 1 and min_gap_hours ≥ 0")
        negative_tests = NegativeTests(count=count, min_gap_hours=gap)
    until_allowed, self_declared = doc.get("until_allowed", False), doc.get("self_declared", False)
    for name, flag in (("until_allowed", until_allowed), ("self_declared", self_declared)):
        if type(flag) is not bool:
            raise PolicyError(f"{code}: {name} must be true or false")
    return Rule(
        code=code,
        color=color,
        duration_days=duration,
        negative_tests=negative_tests,
        text=text_of(doc.get("text"), f"{code}.text"),
        how_to_clear=text_of(doc.get("how_to_clear"), f"{code}.how_to_clear"),
        until_allowed=until_allowed,
        self_declared=self_declared,
    )


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    section = doc.get(name, {})
    if not isinstance(section, dict):
        raise PolicyError(f"policy needs '{name}' as an object")
    return section


def load_policy(doc: Any) -> Policy:
    """Build a Policy from its JSON document; PolicyError says what is wrong."""
    if not isinstance(doc, dict) or not isinstance(doc.get("version"), str):
        raise PolicyError("policy needs a string 'version'")
    meanings_doc = _section(doc, "meanings")
    meanings = {color: text_of(meanings_doc.get(color.value), f"meanings.{color.value}") for color in Color}
    markers_doc = doc.get("markers")
    if not isinstance(markers_doc, dict) or not markers_doc:
        raise PolicyError("policy needs 'markers'")
    markers = {kind: _rule(kind, rule) for kind, rule in markers_doc.items()}
    positive = _rule("positive_test", _section(doc, "lab_results").get("positive"))
    hours = _section(doc, "approval").get("pending_hours", 24)
    if type(hours) is not int or not 1 <= hours <= 24 * 14:
        raise PolicyError("approval.pending_hours must be a whole number of hours, 1 to 336")
    return Policy(version=doc["version"], meanings=meanings, markers=markers, positive_test=positive,
                  approval_hours=hours)
