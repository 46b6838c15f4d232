"""Supervision policy (电子监察规则): the numbers a city may set differently.

This is the one home of every default limit; settings only override it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """Limits used by the clocks (domain/clock.py) and the violation checks.

    Defaults follow docs/contracts.md §3 and common municipal rules: 5 working days
    for an intake decision (行政许可法 art. 32) and for accepting a complaint, 15 for
    replying to one, 5 to rectify and answer a bad review (差评整改)."""

    warning_share: float = 0.2  # yellow warning in the last share of a limit (预警比例)
    intake_days: int = 5  # 受理期限
    complaint_accept_days: int = 5
    complaint_reply_days: int = 15
    bad_rating_answer_days: int = 5
    backdating_tolerance_days: int = 1  # entered later than this is back-dated (补录)
    instant_conclusion_seconds: int = 60  # 体外循环: submitted to concluded within this …
    instant_conclusion_min_steps: int = 2  # … with at least this many steps done


DEFAULT_POLICY = Policy()
