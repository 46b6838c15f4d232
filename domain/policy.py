"""Supervision policy (电子监察规则): the numbers a city may set differently."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """Limits used by the clocks and the violation checks.

    Defaults follow CONTRACTS §3 and common municipal rules: 5 working days for
    an intake decision (行政许可法 art. 32) and for accepting a complaint, 15 for
    replying to one, 5 to rectify and answer a bad review (差评整改).
    """

    warning_share: float = 0.2
    intake_days: int = 5
    complaint_accept_days: int = 5
    complaint_reply_days: int = 15
    bad_rating_answer_days: int = 5
    instant_conclusion_seconds: int = 60
    instant_conclusion_min_steps: int = 2
