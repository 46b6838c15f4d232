"""What the generator knows about a case between its stages.

A case is first profiled (who applies for what, and which story the case will tell:
the traits), then planned (its records on working days, in lifecycle order), then
timed (an exact instant for each record). :class:`Case` carries all of it;
:class:`Planned` is one record before its time is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, TypeAlias

from domain.catalogue import ItemVersion
from domain.vocabulary import Outcome

__all__ = ["Case", "IntakePath", "Planned", "Timed"]

#: How the intake decision (受理) goes: accepted directly or after one or two correction
#: notices, accepted late (a planted breach), or rejected with or without a reason.
IntakePath: TypeAlias = Literal[
    "direct", "correction", "correction_twice", "late", "rejected", "rejected_no_reason"
]

#: A record with its exact time: ``(at, kind, fields)``.
Timed: TypeAlias = tuple[datetime, str, dict[str, Any]]


@dataclass
class Planned:
    """One future record: its day and, optionally, a fixed working-second offset."""

    day: date
    kind: str
    fields: dict[str, Any]
    offset: int | None = None


@dataclass
class Case:
    """Everything decided about one case before its records are written."""

    index: int
    item: ItemVersion
    day: date  # submission day
    offset: int  # submission time, in working seconds
    channel: str
    applicant_kind: str
    applicant_name: str
    applicant_id: str
    town: str
    bundle: int | None = None  # 一件事一次办: the bundle's number
    # Traits: the story this case tells (see profiles.py).
    intake: IntakePath = "direct"
    outcome: str = Outcome.APPROVED.value
    instant: bool = False  # 体外循环: everything within a minute
    late: bool = False  # concluded after its due date
    extended: bool = False
    suspensions: int = 0
    mid_correction: bool = False  # a correction notice after acceptance
    deny_without_reason: bool = False
    withdraw_early: bool = False  # withdrawn before the intake decision
    leave_open: bool = False  # still open at the end of the run
    backdate: bool = False  # its last record entered days late
    # Filled in by the later stages.
    case_id: str = ""
    plan: list[Planned] = field(default_factory=list)
    records: list[Timed] = field(default_factory=list)
