"""Stored facts about a person, from which the colour is derived (DESIGN §4)."""
from __future__ import annotations

from dataclasses import dataclass, field

LAB_RESULTS = ("negative", "positive")


@dataclass(frozen=True)
class Marker:
    """An authority's marking of a person (确诊, 密接, …), with who set it and why."""

    id: str
    person_id: str
    kind: str
    reason: str
    since: int
    until: int | None
    created_by: str
    status: str = "active"


@dataclass(frozen=True)
class LabResult:
    """A nucleic-acid test result (核酸检测结果)."""

    sampled_at: int
    result: str
    lab: str


@dataclass(frozen=True)
class Facts:
    """Everything the colour of one person depends on."""

    markers: tuple[Marker, ...] = ()
    lab_results: tuple[LabResult, ...] = field(default_factory=tuple)
